package shamir

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	vault "github.com/hashicorp/vault/shamir"

	"custos/internal/hint"
	"custos/internal/ids"
)

// Version is the envelope format version this package writes and reads.
const Version = 1

// Limits of the envelope.
const (
	// ChecksumSize is the length of the envelope checksum: 40 bits, so a
	// random corruption slips through with odds of about 1 in 10^12.
	ChecksumSize = 5
	// MinSecret is the shortest secret Split accepts: a shorter one, and
	// so each share and its commitment, could be found by guessing.
	MinSecret = 16
	// MaxSecret is the longest secret Split accepts; a wrapping key is 32.
	MaxSecret = 1024
	// MaxN is the most shares vault's GF(2^8) scheme can make.
	MaxN = 255
	// MaxIDLen bounds ledger and backup ids (package ids).
	MaxIDLen = ids.MaxLen
)

// Domain-separation prefixes: the checksum and the commitment hash the same
// envelope and must never be confused with each other or any other hash.
const (
	checksumDomain   = "custos-share-checksum-v1\x00"
	commitmentDomain = "custos-share-commitment-v1\x00"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrChecksum: the envelope's checksum does not match its contents.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrMismatch: shares given together do not belong together.
	ErrMismatch = errors.New("shares do not belong together")
	// ErrTooFew: fewer shares than the threshold.
	ErrTooFew = errors.New("too few shares")
	// ErrCommitment: a share does not match the ledger's commitment.
	ErrCommitment = errors.New("share does not match its commitment")
)

// Meta names what a share belongs to; both ids are public and appear in
// every encoding. Ids follow package ids: 1 to 64 letters, digits, '.',
// '_' and '-', beginning with a letter or a digit.
type Meta struct {
	LedgerID string
	BackupID string
}

// Share is one share in its envelope. Value holds vault's share bytes: the
// y-values followed by one byte, the x-coordinate. Index (1..N) is Custos'
// own numbering, used to name the share and its holder.
type Share struct {
	Version  int
	LedgerID string
	BackupID string
	M, N     int
	Index    int
	Value    []byte
	Checksum [ChecksumSize]byte
}

// FieldError says which field of a share envelope or encoding is wrong. Its
// message never contains the input.
type FieldError struct {
	Field  string
	Reason string
	Err    error // a sentinel such as ErrChecksum, or nil
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("share: field %q: %s", e.Field, e.Reason)
}

func (e *FieldError) Unwrap() error { return e.Err }

// ShareError names the share, among several given together, that was
// refused: Pos is its 1-based position in the list given, Index its
// envelope index (0 when unknown).
type ShareError struct {
	Pos    int
	Index  int
	Reason string
	Err    error
}

func (e *ShareError) Error() string {
	if e.Index > 0 {
		return fmt.Sprintf("share %d (index %d): %s", e.Pos, e.Index, e.Reason)
	}
	return fmt.Sprintf("share %d: %s", e.Pos, e.Reason)
}

func (e *ShareError) Unwrap() error { return e.Err }

func (m Meta) check() error {
	if !ids.Valid(m.LedgerID) {
		return hint.With(&FieldError{Field: "ledger", Reason: "not a valid ledger id"}, ids.Rule)
	}
	if !ids.Valid(m.BackupID) {
		return hint.With(&FieldError{Field: "backup", Reason: "not a valid backup id"}, ids.Rule)
	}
	return nil
}

// Split splits secret into n shares, any m of which rebuild it. The secret
// is not modified; the caller zeroes it. Threshold 1 is refused: every
// share would be the key in clear.
func Split(secret []byte, m, n int, meta Meta) ([]*Share, error) {
	switch {
	case m < 2:
		return nil, hint.With(fmt.Errorf("shamir: split: threshold %d refused: threshold 1 would be the key in clear", m),
			"choose a threshold of at least 2")
	case n > MaxN:
		return nil, fmt.Errorf("shamir: split: %d shares refused: at most %d", n, MaxN)
	case m > n:
		return nil, fmt.Errorf("shamir: split: threshold %d is more than the %d shares", m, n)
	case len(secret) == 0:
		return nil, errors.New("shamir: split: the secret is empty")
	case len(secret) < MinSecret:
		return nil, fmt.Errorf("shamir: split: the secret is %d bytes, at least %d: shorter ones can be guessed", len(secret), MinSecret)
	case len(secret) > MaxSecret:
		return nil, fmt.Errorf("shamir: split: the secret is %d bytes, at most %d", len(secret), MaxSecret)
	}
	if err := meta.check(); err != nil {
		return nil, fmt.Errorf("shamir: split: %w", err)
	}
	parts, err := vault.Split(secret, n, m)
	if err != nil {
		return nil, fmt.Errorf("shamir: split: %w", err)
	}
	shares := make([]*Share, n)
	for i, p := range parts {
		s := &Share{
			Version:  Version,
			LedgerID: meta.LedgerID,
			BackupID: meta.BackupID,
			M:        m,
			N:        n,
			Index:    i + 1,
			Value:    p,
		}
		s.Checksum = s.Sum()
		shares[i] = s
	}
	return shares, nil
}

// Combine rebuilds the secret from shares. Every share is validated on its
// own first (checksum, fields), then against the first share: same ledger,
// backup, threshold, count and length, no index or x-coordinate twice, and
// at least M of them. A refusal names the share by position and index.
func Combine(shares []*Share) ([]byte, error) {
	if len(shares) == 0 {
		return nil, fmt.Errorf("shamir: combine: %w: none given", ErrTooFew)
	}
	for i, s := range shares {
		if s == nil {
			return nil, fmt.Errorf("shamir: combine: %w", &ShareError{Pos: i + 1, Reason: "missing"})
		}
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("shamir: combine: %w",
				&ShareError{Pos: i + 1, Index: s.Index, Reason: "is damaged: " + err.Error(), Err: err})
		}
	}
	first := shares[0]
	seenIndex := map[int]int{}
	seenX := map[byte]int{}
	for i, s := range shares {
		bad := func(reason string, err error) error {
			return fmt.Errorf("shamir: combine: %w", &ShareError{Pos: i + 1, Index: s.Index, Reason: reason, Err: err})
		}
		switch {
		case s.LedgerID != first.LedgerID:
			return nil, bad(fmt.Sprintf("belongs to ledger %q, share 1 to %q", s.LedgerID, first.LedgerID), ErrMismatch)
		case s.BackupID != first.BackupID:
			return nil, bad(fmt.Sprintf("belongs to backup %q, share 1 to %q", s.BackupID, first.BackupID), ErrMismatch)
		case s.M != first.M || s.N != first.N:
			return nil, bad(fmt.Sprintf("is %d-of-%d, share 1 is %d-of-%d", s.M, s.N, first.M, first.N), ErrMismatch)
		case len(s.Value) != len(first.Value):
			return nil, bad("has a different length from share 1", ErrMismatch)
		}
		if j, ok := seenIndex[s.Index]; ok {
			return nil, bad(fmt.Sprintf("is a duplicate of share %d", j), ErrMismatch)
		}
		seenIndex[s.Index] = i + 1
		x := s.Value[len(s.Value)-1]
		if j, ok := seenX[x]; ok {
			return nil, bad(fmt.Sprintf("has the same x-coordinate as share %d: a copy under another index", j), ErrMismatch)
		}
		seenX[x] = i + 1
	}
	if len(shares) < first.M {
		return nil, hint.With(
			fmt.Errorf("shamir: combine: %w: %d given, backup %q needs %d of %d",
				ErrTooFew, len(shares), first.BackupID, first.M, first.N),
			fmt.Sprintf("collect %d more share(s) from their holders", first.M-len(shares)))
	}
	parts := make([][]byte, len(shares))
	for i, s := range shares {
		parts[i] = s.Value
	}
	secret, err := vault.Combine(parts)
	if err != nil {
		return nil, fmt.Errorf("shamir: combine: %w", err)
	}
	return secret, nil
}

// Validate checks the envelope's fields and its checksum. It does not tell
// whether the share belongs to a given backup: see Combine and Check.
func (s *Share) Validate() error {
	if err := s.checkFields(); err != nil {
		return err
	}
	want := s.Sum()
	if subtle.ConstantTimeCompare(want[:], s.Checksum[:]) != 1 {
		return &FieldError{Field: "checksum", Reason: "does not match the share: it was mistyped or damaged", Err: ErrChecksum}
	}
	return nil
}

// checkFields checks everything but the checksum.
func (s *Share) checkFields() error {
	switch {
	case s.Version != Version:
		return &FieldError{Field: "version", Reason: fmt.Sprintf("version %d is not supported (this is version %d)", s.Version, Version)}
	case !ids.Valid(s.LedgerID):
		return &FieldError{Field: "ledger", Reason: "not a valid ledger id"}
	case !ids.Valid(s.BackupID):
		return &FieldError{Field: "backup", Reason: "not a valid backup id"}
	case s.N < 2 || s.N > MaxN:
		return &FieldError{Field: "n", Reason: fmt.Sprintf("share count must be between 2 and %d", MaxN)}
	case s.M < 2 || s.M > s.N:
		return &FieldError{Field: "m", Reason: "threshold must be between 2 and the share count"}
	case s.Index < 1 || s.Index > s.N:
		return &FieldError{Field: "index", Reason: "must be between 1 and the share count"}
	case len(s.Value) < 2 || len(s.Value) > MaxSecret+1:
		return &FieldError{Field: "value", Reason: fmt.Sprintf("must be 2 to %d bytes", MaxSecret+1)}
	case s.Value[len(s.Value)-1] == 0:
		// x = 0 is where the secret itself lies on the polynomial.
		return &FieldError{Field: "value", Reason: "x-coordinate 0 is not a share"}
	}
	return nil
}

// body is the canonical envelope without the checksum:
//
//	version u8 | len u8 | ledger | len u8 | backup | m u8 | n u8 | index u8 | len u16be | value
//
// It is only meaningful for a share whose fields pass checkFields.
func (s *Share) body() []byte {
	b := make([]byte, 0, 9+len(s.LedgerID)+len(s.BackupID)+len(s.Value))
	b = append(b, byte(s.Version))
	b = append(b, byte(len(s.LedgerID)))
	b = append(b, s.LedgerID...)
	b = append(b, byte(len(s.BackupID)))
	b = append(b, s.BackupID...)
	b = append(b, byte(s.M), byte(s.N), byte(s.Index))
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Value)))
	b = append(b, s.Value...)
	return b
}

// envelope is the canonical envelope: body followed by the checksum.
func (s *Share) envelope() []byte {
	return append(s.body(), s.Checksum[:]...)
}

// parseEnvelope decodes a canonical envelope from the start of b and
// returns the share and the number of bytes used. The checksum is checked.
func parseEnvelope(b []byte) (*Share, int, error) {
	r := reader{b: b}
	s := &Share{}
	s.Version = int(r.u8("version"))
	if r.err == nil && s.Version != Version {
		return nil, 0, &FieldError{Field: "version", Reason: fmt.Sprintf("version %d is not supported (this is version %d)", s.Version, Version)}
	}
	s.LedgerID = string(r.bytes("ledger", int(r.u8("ledger"))))
	s.BackupID = string(r.bytes("backup", int(r.u8("backup"))))
	s.M = int(r.u8("m"))
	s.N = int(r.u8("n"))
	s.Index = int(r.u8("index"))
	n := int(r.u16("value"))
	if r.err == nil && n > MaxSecret+1 {
		return nil, 0, &FieldError{Field: "value", Reason: fmt.Sprintf("must be 2 to %d bytes", MaxSecret+1)}
	}
	s.Value = append([]byte(nil), r.bytes("value", n)...)
	copy(s.Checksum[:], r.bytes("checksum", ChecksumSize))
	if r.err != nil {
		return nil, 0, r.err
	}
	if err := s.Validate(); err != nil {
		s.Zero()
		return nil, 0, err
	}
	return s, r.off, nil
}

type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) bytes(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off {
		r.err = &FieldError{Field: field, Reason: "cut short"}
		return nil
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) u8(field string) byte {
	b := r.bytes(field, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) u16(field string) uint16 {
	b := r.bytes(field, 2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

// Sum computes the checksum the envelope should carry: the first 5 bytes
// of SHA-256 over a domain prefix and the canonical envelope without the
// checksum.
func (s *Share) Sum() [ChecksumSize]byte {
	h := sha256.New()
	h.Write([]byte(checksumDomain))
	h.Write(s.body())
	var sum [ChecksumSize]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// Zero wipes the share bytes. The share is unusable afterwards.
func (s *Share) Zero() {
	if s == nil {
		return
	}
	clear(s.Value)
	s.Value = nil
}

// ZeroAll wipes every share in the list.
func ZeroAll(shares []*Share) {
	for _, s := range shares {
		s.Zero()
	}
}

// Meta returns the ids the share belongs to.
func (s *Share) Meta() Meta { return Meta{LedgerID: s.LedgerID, BackupID: s.BackupID} }

// Equal reports whether two shares are the same envelope, in constant time
// over the share bytes.
func (s *Share) Equal(o *Share) bool {
	if s == nil || o == nil {
		return s == o
	}
	return s.Version == o.Version && s.LedgerID == o.LedgerID && s.BackupID == o.BackupID &&
		s.M == o.M && s.N == o.N && s.Index == o.Index && s.Checksum == o.Checksum &&
		subtle.ConstantTimeCompare(s.Value, o.Value) == 1
}

// String describes the share without its value, so a share passed to fmt
// or a logger by mistake does not leak.
func (s Share) String() string {
	return fmt.Sprintf("share %d of %d (threshold %d, ledger %q, backup %q)", s.Index, s.N, s.M, s.LedgerID, s.BackupID)
}

// GoString is the redacted form for %#v.
func (s Share) GoString() string { return "shamir.Share{" + s.String() + "}" }

// LogValue is the redacted form for log/slog.
func (s Share) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON refuses: share values must never reach the ledger or any
// JSON document. Record a Commitment instead.
func (s Share) MarshalJSON() ([]byte, error) {
	return nil, errors.New("shamir: a share is never marshalled to JSON: record its commitment instead")
}
