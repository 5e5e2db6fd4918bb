package ids

import (
	"regexp"
	"strings"
	"testing"
)

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// FuzzValid holds Valid to the regular expression of the package comment.
func FuzzValid(f *testing.F) {
	for _, s := range []string{"", "a", "A", "0", "-a", ".a", "_a", "a-", "gen-1.x", "Key_07", "k 1", "é", "a\n",
		strings.Repeat("a", 64), strings.Repeat("a", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Valid(s), idRE.MatchString(s); got != want {
			t.Fatalf("%q: Valid says %v, the expression %v", s, got, want)
		}
	})
}

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{"backup-2024.1": true, "x": true, ".hidden": false, "-x": false, "": false,
		strings.Repeat("b", 64): true, strings.Repeat("b", 65): false, "a/b": false} {
		if Valid(s) != want {
			t.Errorf("%q: %v, want %v", s, !want, want)
		}
	}
}
