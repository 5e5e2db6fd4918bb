package termtext

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"kek-2026":                 "kek-2026",
		"payments ünd Zahlungen":   "payments ünd Zahlungen",
		`C:\keys`:                  `C:\keys`,
		"ok\x1b[1A\x1b[2Kroot":     `ok\x1b[1A\x1b[2Kroot`,
		"a\rb\tc\x00":              `a\x0db\x09c\x00`,
		"key-\u202egnp.exe":        `key-\u202egnp.exe`,
		"bad \xff byte":            `bad \xff byte`,
		"c1 \u009b31m":             `c1 \x9b31m`,
		"isolate \u2066x\u2069 ok": `isolate \u2066x\u2069 ok`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Lines("plan:\n  step \x1b[2K1\n"); got != "plan:\n  step \\x1b[2K1\n" {
		t.Errorf("Lines: %q", got)
	}
}

// FuzzPrintable: the output is valid UTF-8 with no control, DEL, C1 or
// bidirectional character, and clean text is returned unchanged.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"", "kek", "\x1b[2K", "\u202e", "\xff\xfe", "a\\x1b", "\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Printable(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Printable(%q) = %q is not valid UTF-8", s, out)
		}
		if strings.ContainsFunc(out, unsafe) {
			t.Fatalf("Printable(%q) = %q keeps an unsafe character", s, out)
		}
		if utf8.ValidString(s) && !strings.ContainsFunc(s, unsafe) && out != s {
			t.Fatalf("clean %q changed to %q", s, out)
		}
	})
}

func TestControl(t *testing.T) {
	for _, c := range []struct {
		in string
		r  rune
		ok bool
	}{
		{"plain", 0, false},
		{"two\nlines\tand a tab", 0, false},
		{"esc\x1b[2K", 0x1b, true},
		{"nul\x00", 0, true},
		{"bidi \u202e", 0x202e, true},
		{"bad \xff", utf8.RuneError, true},
	} {
		if r, ok := control(c.in); r != c.r || ok != c.ok {
			t.Errorf("control(%q) = %U, %v; want %U, %v", c.in, r, ok, c.r, c.ok)
		}
		if err := Plain(c.in); (err != nil) != c.ok || (c.ok && !strings.Contains(err.Error(), fmt.Sprintf("%U", c.r))) {
			t.Errorf("Plain(%q) = %v", c.in, err)
		}
	}
}

func TestHexGroups(t *testing.T) {
	for in, want := range map[string]string{
		"sha256:853fc1b872722c5f":      "sha256: 853f c1b8 7272 2c5f",
		"0a1b2c3d4e":                   "0a1b 2c3d 4e",
		"kek-2026":                     "kek-2026",
		"0a1b2c":                       "0a1b2c",
		"sha256:0a1b2c3d4e:0f0f0f0f0f": "sha256: 0a1b 2c3d 4e: 0f0f 0f0f 0f",
		"2026-11-23T13:01:17Z":         "2026-11-23T13:01:17Z",
	} {
		if got := HexGroups(in); got != want {
			t.Errorf("HexGroups(%q) = %q, want %q", in, got, want)
		}
	}
	got := Numbered([]string{"music", "customer", "a", "b", "c", "d", "e", "f", "g", "Burbank"})
	if got[0] != " 1 music   " || got[9] != "10 Burbank " {
		t.Errorf("Numbered: %q", got)
	}
}
