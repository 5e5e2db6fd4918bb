package shamir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The embedded list is the official BIP-39 English file, byte for byte.
func TestWordListPinned(t *testing.T) {
	sum := sha256.Sum256([]byte(englishTxt))
	if got := hex.EncodeToString(sum[:]); got != "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda" {
		t.Fatalf("english.txt sha256 = %s", got)
	}
	if len(wordList) != 2048 || !sort.StringsAreSorted(wordList) {
		t.Fatalf("%d words, sorted %v", len(wordList), sort.StringsAreSorted(wordList))
	}
	prefixes := map[string]bool{}
	for _, w := range wordList {
		if !regexp.MustCompile(`^[a-z]{3,8}$`).MatchString(w) {
			t.Fatalf("word %q", w)
		}
		prefixes[w[:min(4, len(w))]] = true
	}
	if len(prefixes) != 2048 {
		t.Fatalf("first four letters not unique: %d prefixes", len(prefixes))
	}
	for i, w := range map[int]string{0: "abandon", 1: "ability", 3: "about", 85: "apple", 2037: "wrong", 2047: "zoo"} {
		if wordList[i] != w {
			t.Errorf("word %d = %q, want %q", i, wordList[i], w)
		}
	}
}

// BIP-39's own test vectors (128-bit entropy, 4 checksum bits) pin both
// the list positions and the 11-bit cutting in toWords.
func TestBIP39Vectors(t *testing.T) {
	for entropy, want := range map[string]string{
		"00000000000000000000000000000000": "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
		"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f": "legal winner thank year wave sausage worth useful legal winner thank yellow",
		"80808080808080808080808080808080": "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
		"ffffffffffffffffffffffffffffffff": "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong",
	} {
		e := unhex(t, entropy)
		sum := sha256.Sum256(e)
		w := toWords(append(e, sum[0]&0xf0))[:12]
		var got []string
		for _, i := range w {
			got = append(got, wordList[i])
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: %s\nwant %s", entropy, strings.Join(got, " "), want)
		}
	}
}

func TestBitsRoundTrip(t *testing.T) {
	for n := 0; n < 40; n++ {
		b := randomSecret(t, n+1)
		w := toWords(b)
		back, pad := fromWords(w)
		if !bytes.Equal(back[:len(b)], b) || pad != 0 || !allZero(back[len(b):]) {
			t.Fatalf("%d bytes: round trip failed", n+1)
		}
	}
}

func TestWordsRoundTrip(t *testing.T) {
	for _, size := range []int{16, 19, 32, 100} {
		for _, s := range split(t, randomSecret(t, size), 2, 3, Meta{LedgerID: "ledger-7f3a", BackupID: "root-2026.bk1"}) {
			words, err := s.Words()
			if err != nil {
				t.Fatal(err)
			}
			card, err := s.Card()
			if err != nil {
				t.Fatal(err)
			}
			for name, in := range map[string][]byte{
				"words":      []byte(strings.Join(words, " ")),
				"one a line": []byte(strings.Join(words, "\n")),
				"card":       card,
				"upper card": bytes.ToUpper(card),
				"numbered":   []byte("1. " + strings.Join(words[:6], " ") + "\n2: " + strings.Join(words[6:], "  ")),
			} {
				got, err := ParseWords(in)
				if err != nil {
					t.Fatalf("%d bytes, %s: %v", size, name, err)
				}
				if !got.Equal(s) {
					t.Fatalf("%d bytes, %s: round trip changed the share", size, name)
				}
			}
			// The card holds nothing but the words, numbers and public ids.
			if !regexp.MustCompile(`^(# [^\n]*\n){3}(\d\d  [a-z ]+\n)+$`).Match(card) {
				t.Fatalf("card layout:\n%s", card)
			}
		}
	}
}

func vectorWords(t *testing.T) ([]string, *Share) {
	v := loadVectors(t)[0].Shares[0]
	return strings.Fields(v.Words), v.share(t)
}

// A word not in the list is named by position, never by the word.
func TestWordNotInList(t *testing.T) {
	words, s := vectorWords(t)
	typed := append([]string(nil), words...)
	typed[16] = "appel" // word 17: line 3, word 5
	text := []byte(strings.Join(typed, " "))
	_, err := ParseWords(text)
	var we *WordError
	if !errors.As(err, &we) || we.Word != 17 || we.Line != 3 {
		t.Fatalf("err = %v", err)
	}
	if err.Error() != "share words: word 17 (line 3, word 5) is not in the word list" {
		t.Errorf("message %q", err)
	}
	checkWordError(t, err, s)
}

// Substituting any one word with another list word is caught, and (but
// for a 1-in-2048 collision of the line's check word, computed here) the
// line is named.
func TestWrongWordNamesLine(t *testing.T) {
	named, total := 0, 0
	for _, bk := range loadVectors(t) {
		v := bk.Shares[0]
		words := strings.Fields(v.Words)
		s := v.share(t)
		for i := range words {
			typed := append([]string(nil), words...)
			w, _ := lookup([]byte(words[i]))
			typed[i] = wordList[(int(w)+1+i)%2048]
			total++
			if expectLineError(t, typed, i/lineWords+1, s) {
				named++
			}
		}
	}
	if named < total-2 {
		t.Fatalf("only %d of %d wrong words had their line named", named, total)
	}
}

// Swapping two different words, within a line or across lines, and
// swapping whole lines, are caught with the (first) line named.
func TestSwappedWordsNameLine(t *testing.T) {
	words, s := vectorWords(t)
	for i := 0; i+1 < len(words); i++ {
		for _, j := range []int{i + 1, i + 2, i + 6} {
			if j >= len(words) || words[i] == words[j] {
				continue
			}
			typed := append([]string(nil), words...)
			typed[i], typed[j] = typed[j], typed[i]
			expectLineError(t, typed, i/lineWords+1, s)
		}
	}
	typed := append(append(append([]string(nil), words[6:12]...), words[:6]...), words[12:]...)
	expectLineError(t, typed, 1, s)
}

// expectLineError parses typed words and wants them refused; when the
// check word of line `line` no longer adds up, that line must be named.
// It reports whether the line was named.
func expectLineError(t *testing.T, typed []string, line int, s *Share) bool {
	t.Helper()
	got, err := ParseWords([]byte(strings.Join(typed, " ")))
	if err == nil {
		t.Fatalf("accepted a changed card (share equal: %v)", got.Equal(s))
	}
	checkWordError(t, err, s)
	idx := make([]uint16, 0, len(typed))
	for _, w := range typed {
		i, _ := lookup([]byte(w))
		idx = append(idx, i)
	}
	grp := idx[(line-1)*lineWords : min(len(idx), line*lineWords)]
	if lineCheck(line, grp[:len(grp)-1]) == grp[len(grp)-1] {
		return false // a check-word collision: the envelope checksum caught it
	}
	var we *WordError
	if !errors.As(err, &we) || we.Line != line || we.Word != 0 || !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v, want line %d named", err, line)
	}
	return true
}

func TestWordsCutOrPadded(t *testing.T) {
	words, s := vectorWords(t)
	last := len(words) - len(words)%lineWords
	cases := map[string][]string{
		"no words":          nil,
		"last line dropped": words[:last],
		"two lines dropped": words[:last-lineWords],
		"one word on last":  append(append([]string(nil), words[:last]...), words[last]),
		"extra line":        append(append([]string(nil), words...), words[:6]...),
		"extra word":        append(append([]string(nil), words...), "abandon"),
		"middle line gone":  append(append([]string(nil), words[:6]...), words[12:]...),
		"long token":        {"abandonabandon"},
		"non-ascii":         {"abändon"},
	}
	for name, typed := range cases {
		_, err := ParseWords([]byte(strings.Join(typed, " ")))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		checkWordError(t, err, s)
	}
	if _, err := ParseWords(bytes.Repeat([]byte("zoo "), maxWordsText)); err == nil {
		t.Error("huge input accepted")
	}
}

// A card whose lines all add up but whose envelope does not (a forged or
// miscomputed card) is refused by the envelope checksum.
func TestWordsEnvelopeChecksum(t *testing.T) {
	_, s := vectorWords(t)
	bad := *s
	bad.Value = bytes.Clone(s.Value)
	bad.Value[0] ^= 1 // checksum left stale
	env := bad.envelope()
	data := toWords(env)
	var typed []string
	for line := 0; line*lineData < len(data); line++ {
		grp := data[line*lineData : min(len(data), (line+1)*lineData)]
		for _, w := range grp {
			typed = append(typed, wordList[w])
		}
		typed = append(typed, wordList[lineCheck(line+1, grp)])
	}
	_, err := ParseWords([]byte(strings.Join(typed, " ")))
	var we *WordError
	if !errors.As(err, &we) || !errors.Is(err, ErrChecksum) || we.Line != 0 {
		t.Fatalf("err = %v", err)
	}
	checkWordError(t, err, s)
}

// Word-form errors use fixed wording with numbers only: no word of the
// share (each one is 11 bits of it) and no input can reach a log.
var wordErrorTemplates = map[string]bool{
	"share words: word N (line N, word N) is not in the word list":                                            true,
	"share words: line N does not add up: a word on it is wrong, two words are swapped, or a line is missing": true,
	"share words: line N has only one word: a line is cut short":                                              true,
	"share words: no words":                             true,
	"share words: too few words: the card is cut short": true,
	"share words: more words than the share holds":      true,
	"share words: every line adds up but the share does not: lines are missing, repeated or from another card": true,
	"share words: more than N bytes: not a share card":                                                         true,
	"share: field \"version\": version N is not supported (this is version N)":                                 true,
	"share: field \"ledger\": not a valid ledger id":                                                           true,
	"share: field \"backup\": not a valid backup id":                                                           true,
	"share: field \"m\": threshold must be between N and the share count":                                      true,
	"share: field \"n\": share count must be between N and N":                                                  true,
	"share: field \"index\": must be between N and the share count":                                            true,
	"share: field \"value\": must be N to N bytes":                                                             true,
	"share: field \"value\": x-coordinate N is not a share":                                                    true,
	"share: field \"checksum\": does not match the share: it was mistyped or damaged":                          true,
}

var digits = regexp.MustCompile(`[0-9]+`)

func checkWordError(t *testing.T, err error, s *Share) {
	t.Helper()
	if tmpl := digits.ReplaceAllString(err.Error(), "N"); !wordErrorTemplates[tmpl] {
		t.Fatalf("error %q is not one of the fixed messages", err)
	}
	assertNoValue(t, err.Error(), s)
}
