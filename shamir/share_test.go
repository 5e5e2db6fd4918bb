package shamir

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"custos/internal/hint"
)

var testMeta = Meta{LedgerID: "ledger-1", BackupID: "backup-1"}

func randomSecret(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func split(t testing.TB, secret []byte, m, n int, meta Meta) []*Share {
	t.Helper()
	shares, err := Split(secret, m, n, meta)
	if err != nil {
		t.Fatalf("Split(%d of %d): %v", m, n, err)
	}
	return shares
}

// subsets calls f with every subset of {0..n-1} (as index lists).
func subsets(n int, f func([]int)) {
	for mask := 1; mask < 1<<n; mask++ {
		var idx []int
		for i := 0; i < n; i++ {
			if mask&(1<<i) != 0 {
				idx = append(idx, i)
			}
		}
		f(idx)
	}
}

// Every subset of every M-of-N split for N up to 6: those of M or more
// shares rebuild the secret, smaller ones are refused as too few.
func TestSplitCombineEverySubset(t *testing.T) {
	for n := 2; n <= 6; n++ {
		for m := 2; m <= n; m++ {
			secret := randomSecret(t, 32)
			shares := split(t, secret, m, n, testMeta)
			if len(shares) != n {
				t.Fatalf("%d-of-%d: %d shares", m, n, len(shares))
			}
			for i, s := range shares {
				if s.Index != i+1 || s.M != m || s.N != n || s.Version != Version || s.Meta() != testMeta {
					t.Fatalf("%d-of-%d: share %d envelope wrong: %v", m, n, i+1, s)
				}
				if err := s.Validate(); err != nil {
					t.Fatalf("%d-of-%d: share %d: %v", m, n, i+1, err)
				}
				if len(s.Value) != len(secret)+1 {
					t.Fatalf("share value is %d bytes", len(s.Value))
				}
			}
			subsets(n, func(idx []int) {
				pick := make([]*Share, len(idx))
				for i, j := range idx {
					pick[i] = shares[j]
				}
				got, err := Combine(pick)
				if len(idx) < m {
					if !errors.Is(err, ErrTooFew) {
						t.Errorf("%d-of-%d with %v: err = %v, want too few", m, n, idx, err)
					}
					return
				}
				if err != nil || !bytes.Equal(got, secret) {
					t.Errorf("%d-of-%d with %v: %x, %v", m, n, idx, got, err)
				}
			})
		}
	}
}

func TestSplitLarge(t *testing.T) {
	secret := randomSecret(t, MaxSecret)
	shares := split(t, secret, 3, MaxN, testMeta)
	got, err := Combine([]*Share{shares[254], shares[0], shares[100]})
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("combine 3 of 255: %v", err)
	}
}

func TestSplitLeavesSecretAlone(t *testing.T) {
	secret := randomSecret(t, 32)
	keep := bytes.Clone(secret)
	shares := split(t, secret, 2, 3, testMeta)
	if !bytes.Equal(secret, keep) {
		t.Fatal("Split changed the secret")
	}
	for _, s := range shares {
		if bytes.Contains(s.Value, secret[:16]) {
			t.Fatal("a share holds the secret in clear")
		}
	}
}

func TestSplitRefuses(t *testing.T) {
	good := randomSecret(t, 32)
	cases := []struct {
		name   string
		secret []byte
		m, n   int
		meta   Meta
		want   string
	}{
		{"threshold 1", good, 1, 3, testMeta, "threshold 1 would be the key in clear"},
		{"threshold 0", good, 0, 3, testMeta, "threshold 1 would be the key in clear"},
		{"m > n", good, 4, 3, testMeta, "threshold 4 is more than the 3 shares"},
		{"n > 255", good, 2, 256, testMeta, "256 shares refused: at most 255"},
		{"empty", nil, 2, 3, testMeta, "the secret is empty"},
		{"short", good[:15], 2, 3, testMeta, "at least 16"},
		{"long", make([]byte, MaxSecret+1), 2, 3, testMeta, "at most 1024"},
		{"no ledger", good, 2, 3, Meta{BackupID: "b"}, `field "ledger"`},
		{"bad backup", good, 2, 3, Meta{LedgerID: "l", BackupID: "a:b"}, `field "backup"`},
		{"long backup", good, 2, 3, Meta{LedgerID: "l", BackupID: strings.Repeat("b", 65)}, `field "backup"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			shares, err := Split(c.secret, c.m, c.n, c.meta)
			if err == nil || shares != nil {
				t.Fatalf("Split accepted: %v", shares)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "shamir: split: ") {
				t.Errorf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
	_, err := Split(good, 1, 3, testMeta)
	if hint.Of(err) == "" {
		t.Error("threshold 1 refusal has no hint")
	}
}

// Every way to hand Combine a bad set is refused, naming the share.
func TestCombineRefuses(t *testing.T) {
	secret := randomSecret(t, 32)
	shares := split(t, secret, 3, 5, testMeta)
	other := split(t, secret, 3, 5, Meta{LedgerID: "ledger-1", BackupID: "backup-2"})
	otherLedger := split(t, secret, 3, 5, Meta{LedgerID: "ledger-2", BackupID: "backup-1"})
	twoOf5 := split(t, secret, 2, 5, testMeta)

	flipped := *shares[2]
	flipped.Value = bytes.Clone(shares[2].Value)
	flipped.Value[7] ^= 0x01

	// A copy of share 1 relabelled as index 4 with a fresh checksum: only
	// the x-coordinate gives it away.
	relabelled := *shares[0]
	relabelled.Value = bytes.Clone(shares[0].Value)
	relabelled.Index = 4
	relabelled.Checksum = relabelled.Sum()

	cases := []struct {
		name   string
		shares []*Share
		want   string
		is     error
	}{
		{"flipped byte", []*Share{shares[0], shares[1], &flipped}, `share 3 (index 3): is damaged: share: field "checksum"`, ErrChecksum},
		{"other backup", []*Share{shares[0], other[1], shares[2]}, `share 2 (index 2): belongs to backup "backup-2", share 1 to "backup-1"`, ErrMismatch},
		{"other ledger", []*Share{otherLedger[3], shares[1], shares[2]}, `share 2 (index 2): belongs to ledger "ledger-1", share 1 to "ledger-2"`, ErrMismatch},
		{"duplicate", []*Share{shares[0], shares[1], shares[1]}, `share 3 (index 2): is a duplicate of share 2`, ErrMismatch},
		{"same x", []*Share{shares[0], shares[1], &relabelled}, `share 3 (index 4): has the same x-coordinate as share 1`, ErrMismatch},
		{"too few", []*Share{shares[4], shares[1]}, `too few shares: 2 given, backup "backup-1" needs 3 of 5`, ErrTooFew},
		{"none", nil, "too few shares: none given", ErrTooFew},
		{"mixed thresholds", []*Share{shares[0], twoOf5[1], shares[2]}, `share 2 (index 2): is 2-of-5, share 1 is 3-of-5`, ErrMismatch},
		{"nil share", []*Share{shares[0], nil, shares[2]}, "share 2: missing", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Combine(c.shares)
			if err == nil || got != nil {
				t.Fatal("Combine accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\nwant it to contain %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", err, c.is)
			}
			assertNoValue(t, err.Error(), append(c.shares, shares...)...)
		})
	}
	var se *ShareError
	_, err := Combine([]*Share{shares[0], shares[1], &flipped})
	if !errors.As(err, &se) || se.Pos != 3 || se.Index != 3 {
		t.Errorf("ShareError = %+v", se)
	}
	_, err = Combine([]*Share{shares[0]})
	if hint.Of(err) == "" {
		t.Error("too few: no hint")
	}
}

func TestValidate(t *testing.T) {
	shares := split(t, randomSecret(t, 16), 2, 3, testMeta)
	mod := func(f func(s *Share)) *Share {
		s := *shares[0]
		s.Value = bytes.Clone(s.Value)
		f(&s)
		s.Checksum = s.Sum() // a well-formed checksum: the fields must catch it
		return &s
	}
	cases := map[string]*Share{
		"version": mod(func(s *Share) { s.Version = 2 }),
		"ledger":  mod(func(s *Share) { s.LedgerID = "" }),
		"backup":  mod(func(s *Share) { s.BackupID = "a b" }),
		"n":       mod(func(s *Share) { s.N = 256 }),
		"m":       mod(func(s *Share) { s.M = 1 }),
		"index":   mod(func(s *Share) { s.Index = 4 }),
		"value":   mod(func(s *Share) { s.Value = s.Value[:1] }),
	}
	cases["x0"] = mod(func(s *Share) { s.Value[len(s.Value)-1] = 0 })
	for field, s := range cases {
		err := s.Validate()
		var fe *FieldError
		want := field
		if field == "x0" {
			want = "value"
		}
		if !errors.As(err, &fe) || fe.Field != want {
			t.Errorf("%s: Validate = %v", field, err)
		}
	}
	bad := *shares[1]
	bad.Checksum[0] ^= 1
	if err := bad.Validate(); !errors.Is(err, ErrChecksum) {
		t.Errorf("checksum: %v", err)
	}
}

func TestZero(t *testing.T) {
	shares := split(t, randomSecret(t, 32), 2, 3, testMeta)
	v := shares[0].Value
	ZeroAll(shares)
	for _, b := range v {
		if b != 0 {
			t.Fatal("Zero left share bytes")
		}
	}
	if shares[0].Value != nil {
		t.Fatal("Zero kept the slice")
	}
	if err := shares[0].Validate(); err == nil {
		t.Fatal("a zeroed share still validates")
	}
	var nilShare *Share
	nilShare.Zero() // no panic
}

// A share handed to fmt, slog or encoding/json by mistake must not leak.
func TestShareRedacted(t *testing.T) {
	s := split(t, randomSecret(t, 32), 2, 3, testMeta)[0]
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("x", "share", s, "value", *s)
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", s, s, s, s, *s, *s, *s) + buf.String()
	assertNoValue(t, out, s)
	if !strings.Contains(out, `share 1 of 3 (threshold 2, ledger "ledger-1", backup "backup-1")`) {
		t.Errorf("redacted form missing: %s", out)
	}
	if b, err := json.Marshal(struct{ S *Share }{s}); err == nil {
		t.Fatalf("json.Marshal gave %s", b)
	}
}

// assertNoValue fails if text contains any encoding (or a long piece of
// one) of the shares' values.
func assertNoValue(t *testing.T, text string, shares ...*Share) {
	t.Helper()
	low := strings.ToLower(text)
	for _, s := range shares {
		if s == nil || len(s.Value) == 0 {
			continue
		}
		encs := []string{
			hex.EncodeToString(s.Value),
			strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(s.Value)),
			strings.ToLower(base64.StdEncoding.EncodeToString(s.Value)),
			strings.ToLower(base64.RawURLEncoding.EncodeToString(s.Value)),
			strings.ToLower(fmt.Sprint(s.Value)),
		}
		for _, e := range encs {
			for i := 0; i+8 <= len(e); i++ {
				if strings.Contains(low, e[i:i+8]) {
					t.Fatalf("text contains part of a share value: %q", text)
				}
			}
		}
	}
}
