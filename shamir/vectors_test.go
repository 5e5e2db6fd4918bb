package shamir

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The vectors come from testdata/gen_vectors.py, an implementation of the
// formats (and of Shamir over GF(2^8)) written separately from this package.

type vectorShare struct {
	Ledger      string `json:"ledger"`
	Backup      string `json:"backup"`
	M           int    `json:"m"`
	N           int    `json:"n"`
	Index       int    `json:"index"`
	ValueHex    string `json:"value_hex"`
	ChecksumHex string `json:"checksum_hex"`
	EnvelopeHex string `json:"envelope_hex"`
	PaddingBits int    `json:"padding_bits"`
	Text        string `json:"text"`
	Words       string `json:"words"`
	SaltHex     string `json:"salt_hex"`
	Commitment  string `json:"commitment"`
}

type vectorBackup struct {
	SecretHex string        `json:"secret_hex"`
	M         int           `json:"m"`
	N         int           `json:"n"`
	Shares    []vectorShare `json:"shares"`
}

func loadVectors(t testing.TB) []vectorBackup {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Comment string         `json:"comment"`
		Backups []vectorBackup `json:"backups"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if len(v.Backups) < 3 {
		t.Fatalf("only %d backups in vectors", len(v.Backups))
	}
	return v.Backups
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (v vectorShare) share(t testing.TB) *Share {
	s := &Share{Version: 1, LedgerID: v.Ledger, BackupID: v.Backup, M: v.M, N: v.N, Index: v.Index, Value: unhex(t, v.ValueHex)}
	copy(s.Checksum[:], unhex(t, v.ChecksumHex))
	return s
}

func TestVectors(t *testing.T) {
	paddings := map[int]bool{}
	for bi, bk := range loadVectors(t) {
		var shares []*Share
		for _, v := range bk.Shares {
			s := v.share(t)
			paddings[v.PaddingBits] = true
			if got := s.Sum(); hex.EncodeToString(got[:]) != v.ChecksumHex {
				t.Errorf("backup %d share %d: checksum %x, want %s", bi, v.Index, got, v.ChecksumHex)
			}
			if got := hex.EncodeToString(s.envelope()); got != v.EnvelopeHex {
				t.Errorf("backup %d share %d: envelope\n got %s\nwant %s", bi, v.Index, got, v.EnvelopeHex)
			}
			text, err := s.Text()
			if err != nil || string(text) != v.Text {
				t.Errorf("backup %d share %d: text %q, %v\nwant %q", bi, v.Index, text, err, v.Text)
			}
			words, err := s.Words()
			if err != nil || strings.Join(words, " ") != v.Words {
				t.Errorf("backup %d share %d: words %q, %v\nwant %q", bi, v.Index, strings.Join(words, " "), err, v.Words)
			}
			var salt [SaltSize]byte
			copy(salt[:], unhex(t, v.SaltHex))
			if got := Commit(s, salt).String(); got != v.Commitment {
				t.Errorf("backup %d share %d: commitment %s, want %s", bi, v.Index, got, v.Commitment)
			}
			c, err := ParseCommitment(v.Commitment)
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(s, c); err != nil {
				t.Errorf("backup %d share %d: check: %v", bi, v.Index, err)
			}

			// And back: both encodings parse to the same envelope.
			fromText, err := ParseText([]byte(v.Text))
			if err != nil || !fromText.Equal(s) {
				t.Errorf("backup %d share %d: ParseText: %v", bi, v.Index, err)
			}
			fromWords, err := ParseWords([]byte(v.Words))
			if err != nil || !fromWords.Equal(s) {
				t.Errorf("backup %d share %d: ParseWords: %v", bi, v.Index, err)
			}
			shares = append(shares, s)
		}
		// The vectors' shares are real Shamir shares of a known secret, made
		// by the Python code: vault's Combine must agree with it.
		secret, err := Combine(shares[:bk.M])
		if err != nil || hex.EncodeToString(secret) != bk.SecretHex {
			t.Errorf("backup %d: combine = %x, %v; want %s", bi, secret, err, bk.SecretHex)
		}
		secret, err = Combine(shares[len(shares)-bk.M:])
		if err != nil || hex.EncodeToString(secret) != bk.SecretHex {
			t.Errorf("backup %d: combine last M = %x, %v; want %s", bi, secret, err, bk.SecretHex)
		}
	}
	// The vectors must cover the padding edge cases of the word form.
	for _, p := range []int{1, 10} {
		if !paddings[p] {
			t.Errorf("no vector with %d bits of word padding", p)
		}
	}
}
