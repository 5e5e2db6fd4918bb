package shamir

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var textRE = regexp.MustCompile(`^custos-share-1:[A-Za-z0-9._-]{1,64}:[A-Za-z0-9._-]{1,64}:[0-9]{1,3}-of-[0-9]{1,3}:[0-9]{1,3}:[a-z2-7]+:[a-z2-7]{8}$`)

func TestTextRoundTrip(t *testing.T) {
	for _, size := range []int{16, 17, 31, 32, 33, 64, MaxSecret} {
		shares := split(t, randomSecret(t, size), 2, 4, Meta{LedgerID: "L.2026_x", BackupID: "root-2026"})
		for _, s := range shares {
			text, err := s.Text()
			if err != nil {
				t.Fatal(err)
			}
			if !textRE.Match(text) {
				t.Fatalf("text form %q does not match the documented layout", text)
			}
			for _, in := range [][]byte{
				text,
				append(bytes.Clone(text), '\n'),
				append([]byte("  "), append(bytes.Clone(text), "\r\n"...)...),
				caseFold(text, 5), // value and checksum typed in upper case
			} {
				got, err := ParseText(in)
				if err != nil {
					t.Fatalf("ParseText(%d bytes): %v", size, err)
				}
				if !got.Equal(s) {
					t.Fatalf("round trip changed the share")
				}
			}
		}
	}
}

// caseFold upper-cases the text-form fields from number on (5: value and checksum).
func caseFold(text []byte, from int) []byte {
	f := bytes.Split(bytes.Clone(text), []byte(":"))
	for i := from; i < len(f); i++ {
		f[i] = bytes.ToUpper(f[i])
	}
	return bytes.Join(f, []byte(":"))
}

func TestTextRefusesInvalidShare(t *testing.T) {
	s := split(t, randomSecret(t, 32), 2, 3, testMeta)[0]
	s.Checksum[0] ^= 1
	if _, err := s.Text(); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Text of a damaged share: %v", err)
	}
}

func TestParseTextErrorsNameTheField(t *testing.T) {
	s := split(t, randomSecret(t, 32), 3, 5, testMeta)[1]
	good, err := s.Text()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(string(good), ":")
	with := func(i int, v string) []byte {
		g := append([]string(nil), f...)
		g[i] = v
		return []byte(strings.Join(g, ":"))
	}
	flip := func(field string) string {
		b := []byte(field)
		if b[3] == 'a' {
			b[3] = 'b'
		} else {
			b[3] = 'a'
		}
		return string(b)
	}
	cases := []struct {
		name  string
		in    []byte
		field string
	}{
		{"empty", nil, "line"},
		{"blank", []byte(" \n"), "line"},
		{"too long", bytes.Repeat([]byte("a"), maxText+1), "line"},
		{"space inside", []byte(strings.Replace(string(good), ":", ": ", 1)), "line"},
		{"non-ascii", with(1, "lédger"), "line"},
		{"six fields", []byte(strings.Join(f[:6], ":")), "line"},
		{"eight fields", append(bytes.Clone(good), ":x"...), "line"},
		{"not custos", with(0, "vault-share-1"), "version"},
		{"version 2", with(0, "custos-share-2"), "version"},
		{"version 01", with(0, "custos-share-01"), "version"},
		{"no version", with(0, "custos-share-"), "version"},
		{"ledger empty", with(1, ""), "ledger"},
		{"ledger bad", with(1, "a/b"), "ledger"},
		{"backup bad", with(2, strings.Repeat("b", 65)), "backup"},
		{"m-of-n", with(3, "3/5"), "m-of-n"},
		{"m-of-n four", with(3, "3-of-5-x"), "m-of-n"},
		{"m sign", with(3, "+3-of-5"), "m"},
		{"m leading zero", with(3, "03-of-5"), "m"},
		{"n empty", with(3, "3-of-"), "n"},
		{"m too big", with(3, "6-of-5"), "m"},
		{"threshold 1", with(3, "1-of-5"), "m"},
		{"n too big", with(3, "3-of-256"), "n"},
		{"index 0", with(4, "0"), "index"},
		{"index 6", with(4, "6"), "index"},
		{"index hex", with(4, "0x2"), "index"},
		{"value bad char", with(5, f[5][:10]+"1"+f[5][11:]), "value"},
		{"value padded", with(5, f[5]+"="), "value"},
		{"value cut", with(5, f[5][:len(f[5])-2]), "value"}, // 51 characters: no base32 length
		{"value empty", with(5, ""), "value"},
		{"value flipped", with(5, flip(f[5])), "checksum"},
		{"checksum short", with(6, f[6][:7]), "checksum"},
		{"checksum bad char", with(6, f[6][:7]+"8"), "checksum"},
		{"checksum flipped", with(6, flip(f[6])), "checksum"},
		{"index changed", with(4, "3"), "checksum"},
		{"backup changed", with(2, "backup-2"), "checksum"},
		{"ledger case", with(1, strings.ToUpper(f[1])), "checksum"},
		{"threshold changed", with(3, "2-of-5"), "checksum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseText(c.in)
			if err == nil || got != nil {
				t.Fatalf("ParseText accepted %q", c.in)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("error %v, want field %q", err, c.field)
			}
			if !strings.HasPrefix(err.Error(), `share: field "`+c.field+`": `) {
				t.Errorf("error %q does not start by naming the field", err)
			}
			assertNoValue(t, err.Error(), s)
			assertNoInput(t, err.Error(), c.in)
		})
	}
}

// Changing any one character of a text-form share to any other allowed
// character is caught, except a change of letter case in the
// case-insensitive fields, which gives back the same share.
func TestParseTextCatchesEverySubstitution(t *testing.T) {
	s := split(t, randomSecret(t, 32), 2, 3, testMeta)[0]
	good, _ := s.Text()
	alphabet := []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-._")
	accepted := 0
	for i := range good {
		for _, c := range alphabet {
			if c == good[i] {
				continue
			}
			in := bytes.Clone(good)
			in[i] = c
			got, err := ParseText(in)
			if err == nil {
				if !got.Equal(s) || !bytes.EqualFold(in, good) {
					t.Fatalf("substitution at %d accepted as a different share", i)
				}
				accepted++
				continue
			}
			assertNoValue(t, err.Error(), s)
			assertNoInput(t, err.Error(), in)
		}
	}
	if accepted == 0 {
		t.Fatal("no case change was accepted: the value field should be case-insensitive")
	}
}

// A share cannot have two text forms: non-zero bits in the last base32
// character are refused.
func TestParseTextCanonical(t *testing.T) {
	s := split(t, randomSecret(t, 32), 2, 3, testMeta)[0] // 33 bytes: 53 characters, 1 spare bit
	good, _ := s.Text()
	f := bytes.Split(good, []byte(":"))
	v := f[5]
	last := bytes.IndexByte([]byte("abcdefghijklmnopqrstuvwxyz234567"), v[len(v)-1])
	v[len(v)-1] = "abcdefghijklmnopqrstuvwxyz234567"[last|1]
	if last|1 == last {
		v[len(v)-1] = "abcdefghijklmnopqrstuvwxyz234567"[last&^1]
	}
	_, err := ParseText(bytes.Join(f, []byte(":")))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "value" {
		t.Fatalf("non-canonical value: %v", err)
	}
}

// ParseText must not change its input (it upper-cases a copy).
func TestParseTextKeepsInput(t *testing.T) {
	s := split(t, randomSecret(t, 32), 2, 3, testMeta)[0]
	good, _ := s.Text()
	keep := bytes.Clone(good)
	if _, err := ParseText(good); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(good, keep) {
		t.Fatal("ParseText changed its input")
	}
}

// assertNoInput fails if the error echoes any 6-character piece of input.
func assertNoInput(t *testing.T, msg string, in []byte) {
	t.Helper()
	low := strings.ToLower(msg)
	s := strings.ToLower(string(in))
	for i := 0; i+6 <= len(s); i++ {
		piece := s[i : i+6]
		if strings.Contains(`custos-share- share: field "ledger" "backup"`, piece) {
			continue // the format's own words may appear
		}
		if strings.Contains(low, piece) {
			t.Fatalf("error %q echoes input %q", msg, piece)
		}
	}
}
