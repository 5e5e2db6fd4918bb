package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestDigestFromWords(t *testing.T) {
	sum := sha256.Sum256([]byte("custos"))
	d := "sha256:" + hex.EncodeToString(sum[:])
	w := Words(d)
	got, err := DigestFromWords(strings.Join(w, " "))
	if err != nil || got != d {
		t.Fatalf("round trip: %q, %v; want %s", got, err, d)
	}
	// as written down: other case, several spaces, a line break
	got, err = DigestFromWords(strings.ToUpper(strings.Join(w[:16], "  ")) + "\n" + strings.Join(w[16:], " "))
	if err != nil || got != d {
		t.Fatalf("case and spacing: %q, %v", got, err)
	}
	swapped := append([]string{w[1], w[0]}, w[2:]...)
	if _, err := DigestFromWords(strings.Join(swapped, " ")); err == nil || !strings.Contains(err.Error(), "word 1") || !strings.Contains(err.Error(), "swapped") {
		t.Fatalf("swapped words: %v", err)
	}
	if _, err := DigestFromWords(strings.Join(w[:31], " ")); err == nil || !strings.Contains(err.Error(), "31 words") {
		t.Fatalf("31 words: %v", err)
	}
	bad := append([]string{"custos"}, w[1:]...)
	if _, err := DigestFromWords(strings.Join(bad, " ")); err == nil || !strings.Contains(err.Error(), `word 1 "custos" is not in the two-syllable word list`) {
		t.Fatalf("unknown word: %v", err)
	}
}

// FuzzDigestFromWords: any text gives an error or a digest whose words
// read back to the same digest; never a panic.
func FuzzDigestFromWords(f *testing.F) {
	sum := sha256.Sum256(nil)
	f.Add(strings.Join(Words(hex.EncodeToString(sum[:])), " "))
	f.Add("aardvark adroitness")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := DigestFromWords(s)
		if err != nil {
			return
		}
		again, err := DigestFromWords(strings.Join(Words(d), " "))
		if err != nil || again != d {
			t.Fatalf("%q gave %s, whose words give %s, %v", s, d, again, err)
		}
	})
}
