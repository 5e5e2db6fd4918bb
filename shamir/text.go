package shamir

import (
	"bytes"
	"encoding/base32"
	"fmt"
	"strconv"

	"custos/internal/ids"
)

// The text form is one line:
//
//	custos-share-1:<ledger>:<backup>:<m>-of-<n>:<index>:<value>:<checksum>
//
// value and checksum are RFC 4648 base32 without padding, written in lower
// case and read in either case (easier to type; no 0/O or 1/l confusion).
// Ledger and backup ids are case-sensitive; the checksum covers them.

const (
	textPrefix = "custos-share-"
	// maxText bounds the input before any work is done: the longest valid
	// line is under 1,900 bytes.
	maxText = 4096
	// textFields is the number of ':'-separated fields.
	textFields = 7
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Text returns the share in text form, one line without a newline. The
// caller zeroes the returned bytes once written.
func (s *Share) Text() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("shamir: text form: %w", err)
	}
	var b bytes.Buffer
	// One allocation, so no stray copy of the value is left behind by growth.
	b.Grow(64 + len(s.LedgerID) + len(s.BackupID) + b32.EncodedLen(len(s.Value)))
	fmt.Fprintf(&b, "%s%d:%s:%s:%d-of-%d:%d:", textPrefix, s.Version, s.LedgerID, s.BackupID, s.M, s.N, s.Index)
	v := make([]byte, b32.EncodedLen(len(s.Value)))
	b32.Encode(v, s.Value)
	lower(v)
	b.Write(v)
	clear(v)
	b.WriteByte(':')
	c := make([]byte, b32.EncodedLen(ChecksumSize))
	b32.Encode(c, s.Checksum[:])
	lower(c)
	b.Write(c)
	return b.Bytes(), nil
}

func lower(b []byte) {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

func upper(b []byte) {
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
}

// ParseText reads a share in text form. Surrounding white space (a
// trailing newline) is allowed, nothing else. Every error names the field
// and never contains any part of the input. The checksum is checked.
func ParseText(text []byte) (*Share, error) {
	if len(text) > maxText {
		return nil, &FieldError{Field: "line", Reason: fmt.Sprintf("longer than %d bytes: not a share", maxText)}
	}
	line := bytes.TrimSpace(text)
	if len(line) == 0 {
		return nil, &FieldError{Field: "line", Reason: "empty"}
	}
	for _, c := range line {
		if c < 0x21 || c > 0x7e {
			return nil, &FieldError{Field: "line", Reason: "contains a space, a control character or a non-ASCII character"}
		}
	}
	f := bytes.Split(line, []byte(":"))
	if len(f) != textFields {
		return nil, &FieldError{Field: "line", Reason: fmt.Sprintf("has %d fields separated by ':', want %d", len(f), textFields)}
	}
	s := &Share{}

	if len(f[0]) <= len(textPrefix) || !bytes.EqualFold(f[0][:len(textPrefix)], []byte(textPrefix)) {
		return nil, &FieldError{Field: "version", Reason: "does not start with " + strconv.Quote(textPrefix) + ": not a custos share"}
	}
	v, ok := number(f[0][len(textPrefix):])
	if !ok {
		return nil, &FieldError{Field: "version", Reason: "not a number"}
	}
	if v != Version {
		return nil, &FieldError{Field: "version", Reason: fmt.Sprintf("version %d is not supported (this is version %d)", v, Version)}
	}
	s.Version = v

	s.LedgerID = string(f[1])
	if !ids.Valid(s.LedgerID) {
		return nil, &FieldError{Field: "ledger", Reason: "not a valid ledger id"}
	}
	s.BackupID = string(f[2])
	if !ids.Valid(s.BackupID) {
		return nil, &FieldError{Field: "backup", Reason: "not a valid backup id"}
	}

	mn := bytes.Split(f[3], []byte("-"))
	if len(mn) != 3 || !bytes.EqualFold(mn[1], []byte("of")) {
		return nil, &FieldError{Field: "m-of-n", Reason: "not of the form <m>-of-<n>"}
	}
	if s.M, ok = number(mn[0]); !ok {
		return nil, &FieldError{Field: "m", Reason: "not a number"}
	}
	if s.N, ok = number(mn[2]); !ok {
		return nil, &FieldError{Field: "n", Reason: "not a number"}
	}
	if s.Index, ok = number(f[4]); !ok {
		return nil, &FieldError{Field: "index", Reason: "not a number"}
	}

	// Decode a copy: upper-casing in place would change the caller's buffer.
	val := bytes.Clone(f[5])
	defer clear(val)
	upper(val)
	s.Value = make([]byte, b32.DecodedLen(len(val)))
	n, err := b32.Decode(s.Value, val)
	if err != nil || !canonical32(s.Value[:n], val) {
		s.Zero()
		return nil, &FieldError{Field: "value", Reason: "not base32 (letters a-z and digits 2-7), or cut short"}
	}
	s.Value = s.Value[:n]

	sum := bytes.Clone(f[6])
	upper(sum)
	var cs [ChecksumSize + 1]byte
	if len(sum) != b32.EncodedLen(ChecksumSize) {
		s.Zero()
		return nil, &FieldError{Field: "checksum", Reason: fmt.Sprintf("must be %d base32 characters", b32.EncodedLen(ChecksumSize))}
	}
	if n, err := b32.Decode(cs[:], sum); err != nil || n != ChecksumSize || !canonical32(cs[:n], sum) {
		s.Zero()
		return nil, &FieldError{Field: "checksum", Reason: "not base32 (letters a-z and digits 2-7)"}
	}
	copy(s.Checksum[:], cs[:ChecksumSize])

	if err := s.Validate(); err != nil {
		s.Zero()
		return nil, err
	}
	return s, nil
}

// canonical32 reports whether enc (upper case) is the one encoding of dec:
// Go's decoder ignores non-zero bits in the last character, which would
// let two lines carry one share.
func canonical32(dec, enc []byte) bool {
	re := make([]byte, b32.EncodedLen(len(dec)))
	b32.Encode(re, dec)
	ok := bytes.Equal(re, enc)
	clear(re)
	return ok
}

// number parses a plain decimal of 1 to 3 digits without a sign or leading
// zeros, so every share has exactly one text form.
func number(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 3 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
