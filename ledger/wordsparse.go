package ledger

import (
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
)

var (
	wordIndexOnce sync.Once
	evenIndex     map[string]byte
	oddIndex      map[string]byte
)

func wordIndexes() {
	evenIndex, oddIndex = make(map[string]byte, 256), make(map[string]byte, 256)
	for i := range 256 {
		evenIndex[strings.ToLower(evenWords[i])] = byte(i)
		oddIndex[strings.ToLower(oddWords[i])] = byte(i)
	}
}

// LooksLikeWords reports whether s is meant as words (Words' output, as
// printed or written down) rather than a digest or a commit id.
func LooksLikeWords(s string) bool {
	return len(strings.Fields(s)) > 1
}

// DigestFromWords turns the 32 words of a SHA-256 digest, as Words gives
// them ("head words", "genesis words"), back into "sha256:<hex>". Case
// and spacing do not matter; each word must be from the list of its
// position (two syllables at odd positions counted from 1, three at even
// ones), so a swapped or misheard word is named, not taken for another
// digest.
func DigestFromWords(s string) (string, error) {
	wordIndexOnce.Do(wordIndexes)
	words := strings.Fields(s)
	if len(words) != 32 {
		return "", fmt.Errorf("%d words: a digest is 32 words", len(words))
	}
	b := make([]byte, len(words))
	for i, w := range words {
		lw := strings.ToLower(w)
		own, other, list := evenIndex, oddIndex, "two-syllable"
		if i%2 == 1 {
			own, other, list = oddIndex, evenIndex, "three-syllable"
		}
		c, ok := own[lw]
		if !ok {
			if _, swapped := other[lw]; swapped {
				return "", fmt.Errorf("word %d %q belongs at the other position: two words swapped or one left out?", i+1, trimLine(w))
			}
			return "", fmt.Errorf("word %d %q is not in the %s word list", i+1, trimLine(w), list)
		}
		b[i] = c
	}
	return "sha256:" + hex.EncodeToString(b), nil
}

// ParseDigest reads a digest as a person copies it from the minutes: hex
// with or without sha256:, in blocks of four or not, or its 32 words,
// numbered ("1 lemon 2. sawdust 3) …") or not. ok is false when s is
// neither hex nor words (a commit id, say); err names what is wrong with
// words that are not a digest's.
func ParseDigest(s string) (digest string, ok bool, err error) {
	all := strings.Fields(strings.TrimPrefix(strings.TrimSpace(strings.ToLower(s)), "sha256:"))
	if d := NormalizeDigest(strings.Join(all, "")); d != "" {
		return d, true, nil
	}
	var toks []string
	for _, t := range all {
		if n := strings.TrimRight(t, ".):"); n != "" && len(n) <= 2 && strings.Trim(n, "0123456789") == "" {
			continue // the number before a word
		}
		toks = append(toks, t)
	}
	if !LooksLikeWords(strings.Join(toks, " ")) {
		return "", false, nil
	}
	d, err := DigestFromWords(strings.Join(toks, " "))
	if err != nil {
		return "", true, err
	}
	return d, true, nil
}
