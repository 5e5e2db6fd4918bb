package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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

// TestParseDigest: a digest as a person copies it — hex with or without
// sha256:, in blocks, any case, or its words numbered or not — reads as
// the digest; a commit id is not a digest; a misheard word is named.
func TestParseDigest(t *testing.T) {
	d := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	words := Words(d)
	var numbered []string
	for i, w := range words {
		numbered = append(numbered, fmt.Sprintf("%d.", i+1), w)
	}
	for _, in := range []string{
		d, strings.TrimPrefix(d, "sha256:"), strings.ToUpper(d),
		"sha256: 0123 4567 89ab cdef 0123 4567 89ab cdef 0123 4567 89ab cdef 0123 4567 89ab cdef",
		strings.Join(words, " "), strings.Join(numbered, " "), strings.ToLower(strings.Join(words, "\n")),
	} {
		got, ok, err := ParseDigest(in)
		if err != nil || !ok || got != d {
			t.Errorf("ParseDigest(%q) = %q, %v, %v; want %s", in, got, ok, err, d)
		}
	}
	if _, ok, err := ParseDigest(strings.Repeat("ab", 20)); ok || err != nil {
		t.Errorf("a commit id read as a digest: %v %v", ok, err)
	}
	bad := append([]string{}, words...)
	bad[4] = words[5]
	if _, ok, err := ParseDigest(strings.Join(bad, " ")); !ok || err == nil || !strings.Contains(err.Error(), "word 5") {
		t.Errorf("a swapped word: %v %v", ok, err)
	}
}

// FuzzParseDigest: any text is read or refused without a panic; what is
// read is a normalized digest.
func FuzzParseDigest(f *testing.F) {
	f.Add("sha256:" + strings.Repeat("ab", 32))
	f.Add("1. " + strings.Join(Words("sha256:"+strings.Repeat("cd", 32)), " 2. "))
	f.Add("0123 4567")
	f.Fuzz(func(t *testing.T, s string) {
		d, ok, err := ParseDigest(s)
		if ok && err == nil && NormalizeDigest(d) != d {
			t.Fatalf("ParseDigest(%q) = %q, not a normalized digest", s, d)
		}
		if !ok && (d != "" || err != nil) {
			t.Fatalf("ParseDigest(%q) = %q, %v without ok", s, d, err)
		}
	})
}
