package shamir

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"

	"custos/internal/hint"
)

// SaltSize is the length of a commitment's salt.
const SaltSize = 32

// Commitment is what the ledger records for a share instead of the share:
// a random salt and SHA-256 over a domain prefix, the salt and the
// canonical envelope (without checksum). A share's value is uniformly
// random on its own and at least MinSecret bytes long (32 for a wrapping
// key), so the digest cannot be inverted or guessed and reveals nothing
// useful; the salt keeps digests of different records unrelated.
type Commitment struct {
	Salt   [SaltSize]byte
	Digest [sha256.Size]byte
}

const commitmentPrefix = "sha256:"

// newSalt returns SaltSize random bytes.
func newSalt() ([SaltSize]byte, error) {
	var s [SaltSize]byte
	if _, err := rand.Read(s[:]); err != nil {
		return s, fmt.Errorf("shamir: salt: %w", err)
	}
	return s, nil
}

// Commit computes the share's commitment under salt. For a share whose
// fields are invalid the digest is left zero, which Check never accepts.
func Commit(s *Share, salt [SaltSize]byte) Commitment {
	c := Commitment{Salt: salt}
	if s == nil || s.checkFields() != nil {
		return c
	}
	body := s.body()
	defer clear(body)
	h := sha256.New()
	h.Write([]byte(commitmentDomain))
	h.Write(salt[:])
	h.Write(body)
	copy(c.Digest[:], h.Sum(nil))
	return c
}

// CommitAll commits every share, each under its own fresh salt; the
// commitments are in the order of the shares.
func CommitAll(shares []*Share) ([]Commitment, error) {
	out := make([]Commitment, len(shares))
	for i, s := range shares {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("shamir: commit share %d: %w", i+1, err)
		}
		salt, err := newSalt()
		if err != nil {
			return nil, err
		}
		out[i] = Commit(s, salt)
	}
	return out, nil
}

// Check verifies a share as it is entered: its own checksum first (a
// mistyped share), then the ledger's commitment (a share of another backup,
// another index, or a well-formed forgery). The error names the share by
// index and backup, never by value.
func Check(s *Share, c Commitment) error {
	if s == nil {
		return fmt.Errorf("shamir: check: no share")
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("shamir: check share %d: %w", s.Index, err)
	}
	got := Commit(s, c.Salt)
	if subtle.ConstantTimeCompare(got.Digest[:], c.Digest[:]) != 1 {
		return hint.With(
			fmt.Errorf("shamir: check share %d of backup %q: %w", s.Index, s.BackupID, ErrCommitment),
			"this is not the share the ledger recorded for this index: ask its holder for the right card or file")
	}
	return nil
}

// String is the text form kept in ledger records:
// sha256:<salt, 64 hex>:<digest, 64 hex>.
func (c Commitment) String() string {
	return commitmentPrefix + hex.EncodeToString(c.Salt[:]) + ":" + hex.EncodeToString(c.Digest[:])
}

// IsZero reports whether c is the zero value (no commitment).
func (c Commitment) IsZero() bool { return c == Commitment{} }

// MarshalText implements encoding.TextMarshaler (JSON strings in records).
func (c Commitment) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Commitment) UnmarshalText(b []byte) error {
	p, err := ParseCommitment(string(b))
	if err != nil {
		return err
	}
	*c = p
	return nil
}

// ParseCommitment reads the String form, strictly (lower-case hex only).
func ParseCommitment(s string) (Commitment, error) {
	var c Commitment
	rest, ok := strings.CutPrefix(s, commitmentPrefix)
	if !ok {
		return c, fmt.Errorf("shamir: commitment: does not start with %q", commitmentPrefix)
	}
	salt, digest, ok := strings.Cut(rest, ":")
	if !ok {
		return c, fmt.Errorf("shamir: commitment: want %q<salt>:<digest>", commitmentPrefix)
	}
	if err := strictHex(c.Salt[:], salt); err != nil {
		return Commitment{}, fmt.Errorf("shamir: commitment: salt: %w", err)
	}
	if err := strictHex(c.Digest[:], digest); err != nil {
		return Commitment{}, fmt.Errorf("shamir: commitment: digest: %w", err)
	}
	return c, nil
}

func strictHex(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("want %d hex digits, got %d", 2*len(dst), len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("character %d is not a lower-case hex digit", i+1)
		}
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}
