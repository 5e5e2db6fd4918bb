package shamir

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The word form writes the canonical envelope (checksum included) as
// BIP-39 English words, 11 bits each, the last word padded with zero bits.
// The words go in lines of five, each followed by a check word: 11 bits of
// SHA-256 over a domain prefix, the line number and the five word numbers.
// One wrong word, two swapped words, or a line moved is caught by its line
// (miss odds 1 in 2048 per line); anything that slips through is caught by
// the envelope checksum.

//go:embed english.txt
var englishTxt string

// wordList is the BIP-39 English list: 2048 words, sorted, the first four
// letters of each unique. Its SHA-256 is pinned by a test.
var wordList = strings.Split(strings.TrimSuffix(englishTxt, "\n"), "\n")

const (
	wordBits     = 11
	lineData     = 5            // data words per line
	lineWords    = lineData + 1 // plus the check word
	wordsDomain  = "custos-share-words-v1\x00"
	maxWordsText = 64 << 10
)

// WordError says where share words are wrong. Word is the 1-based position
// among all words typed (0 when the error is about a line or the whole
// card), Line the 1-based card line. The message never contains a word: it
// may reach logs, and every word is 11 bits of the share. No suggestion is
// offered either: cards are typed into a masked field, and a suggestion is
// most likely the share's own word.
type WordError struct {
	Word   int
	Line   int
	Reason string
	Err    error
}

func (e *WordError) Error() string {
	switch {
	case e.Word > 0:
		return fmt.Sprintf("share words: word %d (line %d, word %d) %s", e.Word, e.Line, (e.Word-1)%lineWords+1, e.Reason)
	case e.Line > 0:
		return fmt.Sprintf("share words: line %d %s", e.Line, e.Reason)
	}
	return "share words: " + e.Reason
}

func (e *WordError) Unwrap() error { return e.Err }

// Words returns the share as words, lines of five followed by a check word
// (so len is a multiple of six, but for a shorter last line).
func (s *Share) Words() ([]string, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("shamir: word form: %w", err)
	}
	env := s.envelope()
	defer clear(env)
	data := toWords(env)
	defer clear(data)
	out := make([]string, 0, len(data)+len(data)/lineData+1)
	for line := 0; line*lineData < len(data); line++ {
		grp := data[line*lineData : min(len(data), (line+1)*lineData)]
		for _, w := range grp {
			out = append(out, wordList[w])
		}
		out = append(out, wordList[lineCheck(line+1, grp)])
	}
	return out, nil
}

// Card returns the word form laid out for printing: a header of comment
// lines (ids and numbers only, nothing secret) and numbered lines of six
// words, the check word set apart. ParseWords reads it back as printed.
func (s *Share) Card() ([]byte, error) {
	words, err := s.Words()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(256 + len(s.LedgerID) + len(s.BackupID) + 10*len(words))
	fmt.Fprintf(&b, "# custos share card: keep it secret\n")
	fmt.Fprintf(&b, "# ledger %s, backup %s: share %d of %d, %d needed\n", s.LedgerID, s.BackupID, s.Index, s.N, s.M)
	fmt.Fprintf(&b, "# the last word of each line is its check word\n")
	for i := 0; i < len(words); i += lineWords {
		line := words[i:min(len(words), i+lineWords)]
		fmt.Fprintf(&b, "%02d  %s  %s\n", i/lineWords+1, strings.Join(line[:len(line)-1], " "), line[len(line)-1])
	}
	return b.Bytes(), nil
}

// ParseWords reads a share in word form: words separated by any white
// space or line breaks, in any case. Lines starting with '#' and line
// numbers ("01", "1.", "1:") are skipped, so a card is read as printed.
// Errors are *WordError or *FieldError and name the word or line at fault.
func ParseWords(text []byte) (*Share, error) {
	if len(text) > maxWordsText {
		return nil, &WordError{Reason: fmt.Sprintf("more than %d bytes: not a share card", maxWordsText)}
	}
	toks := tokens(text)
	idx := make([]uint16, 0, len(toks))
	defer clear(idx)
	for i, t := range toks {
		w, ok := lookup(t)
		if !ok {
			return nil, &WordError{Word: i + 1, Line: i/lineWords + 1, Reason: "is not in the word list"}
		}
		idx = append(idx, w)
	}
	if len(idx) == 0 {
		return nil, &WordError{Reason: "no words"}
	}
	if len(idx)%lineWords == 1 {
		return nil, &WordError{Line: len(idx)/lineWords + 1, Reason: "has only one word: a line is cut short"}
	}
	data := make([]uint16, 0, len(idx))
	defer clear(data)
	for i := 0; i < len(idx); i += lineWords {
		line := idx[i:min(len(idx), i+lineWords)]
		grp := line[:len(line)-1]
		if lineCheck(i/lineWords+1, grp) != line[len(line)-1] {
			return nil, &WordError{Line: i/lineWords + 1, Reason: "does not add up: a word on it is wrong, two words are swapped, or a line is missing",
				Err: ErrChecksum}
		}
		data = append(data, grp...)
	}
	raw, pad := fromWords(data)
	defer clear(raw)
	s, used, err := parseEnvelope(raw)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) && fe.Reason == "cut short" {
			return nil, &WordError{Reason: "too few words: the card is cut short"}
		}
		if errors.Is(err, ErrChecksum) {
			return nil, &WordError{Reason: "every line adds up but the share does not: lines are missing, repeated or from another card", Err: ErrChecksum}
		}
		return nil, err
	}
	// Exactly the words the envelope needs, zero padding: one word form per share.
	if (used*8+wordBits-1)/wordBits != len(data) || pad != 0 || !allZero(raw[used:]) {
		s.Zero()
		return nil, &WordError{Reason: "more words than the share holds"}
	}
	return s, nil
}

// tokens splits text into words, skipping comment lines and line numbers.
func tokens(text []byte) [][]byte {
	var out [][]byte
	for _, line := range bytes.Split(text, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		for _, f := range bytes.Fields(line) {
			if isLineNumber(f) {
				continue
			}
			out = append(out, f)
		}
	}
	return out
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func isLineNumber(f []byte) bool {
	n := len(f)
	if n > 1 && (f[n-1] == '.' || f[n-1] == ':' || f[n-1] == ')') {
		n--
	}
	if n == 0 || n > 4 {
		return false
	}
	for _, c := range f[:n] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// lookup finds a word's number, ignoring ASCII case.
func lookup(t []byte) (uint16, bool) {
	if len(t) == 0 || len(t) > 8 {
		return 0, false
	}
	var buf [8]byte
	w := buf[:len(t)]
	copy(w, t)
	lower(w)
	defer clear(buf[:])
	i := sort.SearchStrings(wordList, string(w))
	if i < len(wordList) && wordList[i] == string(w) {
		return uint16(i), true
	}
	return 0, false
}

// lineCheck is the check word of a card line: 11 bits of SHA-256 over the
// domain, the line number and the line's word numbers, so a word changed
// or moved within the line, or the line moved, changes it.
func lineCheck(line int, grp []uint16) uint16 {
	b := make([]byte, 0, len(wordsDomain)+2+2*len(grp))
	b = append(b, wordsDomain...)
	b = binary.BigEndian.AppendUint16(b, uint16(line))
	for _, w := range grp {
		b = binary.BigEndian.AppendUint16(b, w)
	}
	sum := sha256.Sum256(b)
	clear(b)
	return binary.BigEndian.Uint16(sum[:2]) >> (16 - wordBits)
}

// toWords cuts b into 11-bit big-endian word numbers, zero-padding the last.
func toWords(b []byte) []uint16 {
	out := make([]uint16, 0, (len(b)*8+wordBits-1)/wordBits)
	var acc uint32
	n := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		n += 8
		for n >= wordBits {
			out = append(out, uint16(acc>>(n-wordBits))&0x7ff)
			n -= wordBits
		}
		acc &= 1<<n - 1
	}
	if n > 0 {
		out = append(out, uint16(acc<<(wordBits-n))&0x7ff)
	}
	return out
}

// fromWords joins word numbers into whole bytes and returns the left-over
// bits (fewer than 8), which must be zero padding.
func fromWords(w []uint16) ([]byte, uint32) {
	out := make([]byte, 0, len(w)*wordBits/8)
	var acc uint32
	n := 0
	for _, x := range w {
		acc = acc<<wordBits | uint32(x&0x7ff)
		n += wordBits
		for n >= 8 {
			out = append(out, byte(acc>>(n-8)))
			n -= 8
		}
		acc &= 1<<n - 1
	}
	return out, acc
}
