package shamir

import (
	"bytes"
	"strings"
	"testing"
)

// Seeds: the vectors (valid), and damaged or odd variants of them.
func fuzzSeeds(f *testing.F, pick func(v vectorShare) string) {
	for _, bk := range loadVectors(f) {
		for _, v := range bk.Shares {
			s := pick(v)
			f.Add([]byte(s))
			f.Add([]byte(strings.ToUpper(s)))
			f.Add([]byte(s[:len(s)/2]))
			f.Add([]byte(s + s))
			b := []byte(s)
			b[len(b)/3] ^= 0x20
			f.Add(b)
		}
	}
	f.Add([]byte(""))
	f.Add([]byte("\x00\xff:::::::"))
	f.Add([]byte("# comment only\n01 02 03"))
}

// FuzzParseText: never panics; whatever it accepts is a valid share whose
// text form parses back to the same share, and matches the input but for
// surrounding space and letter case.
func FuzzParseText(f *testing.F) {
	fuzzSeeds(f, func(v vectorShare) string { return v.Text })
	f.Fuzz(func(t *testing.T, in []byte) {
		s := accepted(t, ParseText, in)
		if s == nil {
			return
		}
		text, _ := bothForms(t, s)
		if !bytes.EqualFold(text, bytes.TrimSpace(in)) {
			t.Fatalf("accepted %q, canonical form %q", in, text)
		}
	})
}

// FuzzParseWords: never panics; whatever it accepts round-trips through
// the word form and the text form.
func FuzzParseWords(f *testing.F) {
	fuzzSeeds(f, func(v vectorShare) string { return v.Words })
	for _, bk := range loadVectors(f) {
		s := bk.Shares[0].share(f)
		card, err := s.Card()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(card)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := accepted(t, ParseWords, in)
		if s == nil {
			return
		}
		_, words := bothForms(t, s)
		got := tokens(in)
		if len(got) != len(words) {
			t.Fatalf("accepted %d words, canonical form has %d", len(got), len(words))
		}
		for i := range got {
			if !strings.EqualFold(string(got[i]), words[i]) {
				t.Fatalf("word %d differs from the canonical form", i+1)
			}
		}
	})
}

// accepted parses in; on refusal it checks no share came with the error
// and returns nil, else it returns the share after checking it is valid.
func accepted(t *testing.T, parse func([]byte) (*Share, error), in []byte) *Share {
	t.Helper()
	s, err := parse(in)
	if err != nil {
		if s != nil {
			t.Fatal("share and error both returned")
		}
		return nil
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("accepted an invalid share: %v", err)
	}
	return s
}

// bothForms checks s round-trips through its text form and its word form,
// and returns both forms.
func bothForms(t *testing.T, s *Share) ([]byte, []string) {
	t.Helper()
	text, err := s.Text()
	if err != nil {
		t.Fatal(err)
	}
	if back, err := ParseText(text); err != nil || !back.Equal(s) {
		t.Fatalf("text form round trip: %v", err)
	}
	words, err := s.Words()
	if err != nil {
		t.Fatal(err)
	}
	if back, err := ParseWords([]byte(strings.Join(words, " "))); err != nil || !back.Equal(s) {
		t.Fatalf("word form round trip: %v", err)
	}
	return text, words
}

// FuzzAgeStanzas: reading an age header never panics, and a file it
// calls a passphrase file has exactly the one scrypt stanza.
func FuzzAgeStanzas(f *testing.F) {
	f.Add([]byte("age-encryption.org/v1\n-> scrypt c2FsdA 18\nAAAA\n--- AAAA\n"))
	f.Add([]byte("-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n"))
	f.Add([]byte("custos-share-1:x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := AgeStanzas(data)
		if IsPassphraseFile(data) && (err != nil || len(st) != 1 || st[0] != "scrypt") {
			t.Fatalf("passphrase file with stanzas %v, %v", st, err)
		}
	})
}
