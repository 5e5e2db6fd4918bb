package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"custos/internal/ids"
	"custos/ledger/internal/canonical"
)

// recordVersion is the record format version this package writes and reads.
const recordVersion = 1

// Namespaces of the SSH signatures in a ledger.
const (
	NamespaceApproval   = "custos-approval" // approvals inside records
	namespaceGit        = "git"             // commit signatures (stock git)
	namespaceCheckpoint = "custos-checkpoint"
)

// TimeLayout is the only accepted form of a record's time: UTC, whole seconds.
const TimeLayout = "2006-01-02T15:04:05Z"

// Record is one step of a ceremony. Its canonical encoding (Canonical) is
// what is committed and hashed.
type Record struct {
	Version   int
	Seq       int64
	Prev      string // "sha256:<hex>" of the previous record; "" on genesis
	Time      time.Time
	Ledger    string // ledger id, the same in every record of a ledger
	Ceremony  string
	Kind      string
	Actor     string
	Facts     map[string]any
	Approvals []Approval
}

// Approval is a member's SSH signature (armored SSHSIG, namespace
// "custos-approval") over the ASCII text of the record's SigningDigest.
// Carried, when set, is "sha256:<hex>" of the approval file the signature
// came in (custos approve … -o FILE, carried back from another
// workstation); empty, the member signed at the workstation, in the room.
// It is the operator's statement (their commit signature covers it), not
// the approver's: the approver's signature covers the signing digest only.
type Approval struct {
	Member    string `json:"member"`
	Signature string `json:"signature"`
	Carried   string `json:"carried,omitempty"`
}

// The forms of a record's names, as regular expressions; the functions
// below check them by hand (they run several times per record of a
// ledger), and FuzzForms holds them to these expressions:
//
//	kind    ^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$   (and at most 64 bytes)
//	name    ^[a-z][a-z0-9_-]{0,31}$               (a member)
//	id      package ids                           (a ledger, ceremony, key)
//	digest  ^sha256:[0-9a-f]{64}$

func validKind(s string) bool {
	if s == "" || len(s) > 64 || !isLower(s[0]) {
		return false
	}
	sep := false // the byte before was a separator
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case isLower(c) || isDigit(c):
			sep = false
		case (c == '.' || c == '_' || c == '-') && !sep:
			sep = true
		default:
			return false
		}
	}
	return !sep
}

func validName(s string) bool {
	if s == "" || len(s) > 32 || !isLower(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLower(c) && !isDigit(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validID is the id rule of package ids.
func validID(s string) bool { return ids.Valid(s) }

func validDigest(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for i := range len(hex) {
		if c := hex[i]; !isDigit(c) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Canonical returns the record's canonical JSON bytes (without a trailing
// newline; the record's file under records/ holds these bytes and "\n").
func (r *Record) Canonical() ([]byte, error) { return r.encode(true) }

// Digest is "sha256:<hex>" of the canonical bytes, approvals included; the
// next record's prev.
func (r *Record) Digest() (string, error) {
	b, err := r.encode(true)
	if err != nil {
		return "", err
	}
	return digestOf(b), nil
}

// SigningDigest is "sha256:<hex>" of the canonical bytes without the
// approvals field: what approvers sign. It covers seq and prev, so an
// approval is bound to one place in one history.
func (r *Record) SigningDigest() (string, error) {
	b, err := r.encode(false)
	if err != nil {
		return "", err
	}
	return digestOf(b), nil
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func (r *Record) encode(withApprovals bool) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(512)
	// Keys in sorted order: actor approvals ceremony facts kind ledger prev seq time version.
	b.WriteString(`{"actor":`)
	canonical.WriteString(&b, r.Actor)
	if withApprovals {
		b.WriteString(`,"approvals":[`)
		for i, a := range r.Approvals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('{')
			if a.Carried != "" {
				b.WriteString(`"carried":`)
				canonical.WriteString(&b, a.Carried)
				b.WriteByte(',')
			}
			b.WriteString(`"member":`)
			canonical.WriteString(&b, a.Member)
			b.WriteString(`,"signature":`)
			if err := canonical.WriteString(&b, a.Signature); err != nil {
				return nil, fmt.Errorf("approval %d: %w", i, err)
			}
			b.WriteByte('}')
		}
		b.WriteByte(']')
	}
	b.WriteString(`,"ceremony":`)
	canonical.WriteString(&b, r.Ceremony)
	b.WriteString(`,"facts":`)
	facts := r.Facts
	if facts == nil {
		facts = map[string]any{}
	}
	if err := canonical.Write(&b, facts); err != nil {
		return nil, fmt.Errorf("record %d facts: %w", r.Seq, err)
	}
	b.WriteString(`,"kind":`)
	canonical.WriteString(&b, r.Kind)
	b.WriteString(`,"ledger":`)
	canonical.WriteString(&b, r.Ledger)
	if r.Prev != "" {
		b.WriteString(`,"prev":`)
		canonical.WriteString(&b, r.Prev)
	}
	b.WriteString(`,"seq":`)
	b.WriteString(strconv.FormatInt(r.Seq, 10))
	b.WriteString(`,"time":`)
	canonical.WriteString(&b, r.Time.UTC().Format(TimeLayout))
	b.WriteString(`,"version":`)
	b.WriteString(strconv.Itoa(r.Version))
	b.WriteByte('}')
	return b.Bytes(), nil
}

// check validates the fields' forms (not their place in a ledger).
func (r *Record) check() error {
	switch {
	case r.Version != recordVersion:
		return fmt.Errorf("record version %d is not supported (want %d)", r.Version, recordVersion)
	case r.Seq < 1 || r.Seq > 999999:
		return fmt.Errorf("record seq %d is out of range 1..999999", r.Seq)
	case r.Seq == 1 && r.Prev != "":
		return errors.New("record 1 must not have prev")
	case r.Seq > 1 && !validDigest(r.Prev):
		return fmt.Errorf("record %d: prev %.80q is not a sha256:<hex> digest", r.Seq, r.Prev)
	case !validID(r.Ledger):
		return fmt.Errorf("record %d: ledger id %.80q is not valid", r.Seq, r.Ledger)
	case !validID(r.Ceremony):
		return fmt.Errorf("record %d: ceremony id %.80q is not valid", r.Seq, r.Ceremony)
	case !validKind(r.Kind):
		return fmt.Errorf("record %d: kind %.80q is not valid", r.Seq, r.Kind)
	case !validName(r.Actor):
		return fmt.Errorf("record %d: actor %.80q is not a valid member name", r.Seq, r.Actor)
	case r.Time.IsZero() || r.Time.Year() < 2000 || r.Time.Year() > 9999 || r.Time.Nanosecond() != 0:
		return fmt.Errorf("record %d: time must be a whole second between 2000 and 9999", r.Seq)
	}
	for i, a := range r.Approvals {
		if !validName(a.Member) {
			return fmt.Errorf("record %d: approvals[%d].member %.80q is not a valid member name", r.Seq, i, a.Member)
		}
		if a.Signature == "" {
			return fmt.Errorf("record %d: approvals[%d].signature is empty", r.Seq, i)
		}
		if a.Carried != "" && !validDigest(a.Carried) {
			return fmt.Errorf("record %d: approvals[%d].carried %.80q is not a sha256:<hex> digest", r.Seq, i, a.Carried)
		}
	}
	return nil
}

var recordFields = map[string]bool{
	"version": true, "seq": true, "prev": true, "time": true, "ledger": true,
	"ceremony": true, "kind": true, "actor": true, "facts": true, "approvals": true,
}

// DecodeRecord parses a record strictly: unknown or duplicate fields, a
// missing field, a wrong type, a float, invalid UTF-8 or trailing data are
// errors. It accepts any JSON spacing; the ledger itself additionally
// requires the exact canonical bytes.
func DecodeRecord(data []byte) (*Record, error) {
	v, err := canonical.ParseJSON(bytes.TrimSuffix(data, []byte("\n")))
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	return recordOf(v)
}

// decodeStored decodes a record file as it must be stored: canonical JSON
// and one "\n", nothing else; it returns the record, its canonical bytes
// and the digest its approvals sign. Verify uses it: accepting only the
// canonical form, it needs no re-encoding to prove the file was not edited
// by hand, and the signing bytes are the canonical bytes without the
// approvals member.
func decodeStored(file []byte) (*Record, []byte, string, error) {
	canon, ok := bytes.CutSuffix(file, []byte("\n"))
	if !ok {
		return nil, nil, "", fmt.Errorf("record: %w", canonical.ErrNotCanonical)
	}
	p := canonical.Parser{Data: canon}
	v, err := p.Parse()
	if err != nil {
		if _, err2 := canonical.ParseJSON(canon); err2 != nil {
			err = err2 // say what is wrong with it as JSON
		}
		return nil, nil, "", fmt.Errorf("record: %w", err)
	}
	r, err := recordOf(v)
	if err != nil {
		return nil, nil, "", err
	}
	if p.ApEnd == 0 { // recordOf requires approvals, after actor
		return nil, nil, "", fmt.Errorf("record: %w", canonical.ErrNotCanonical)
	}
	h := sha256.New()
	h.Write(canon[:p.ApStart])
	h.Write(canon[p.ApEnd:])
	return r, canon, "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// recordOf builds a record from its decoded JSON.
func recordOf(v any) (*Record, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("record: not a json object")
	}
	for k := range m {
		if !recordFields[k] {
			return nil, fmt.Errorf("record: unknown field %.40q", k)
		}
	}
	r := &Record{}
	str := func(k string) (string, error) {
		s, ok := m[k].(string)
		if !ok {
			return "", fmt.Errorf("record: field %q must be a string", k)
		}
		return s, nil
	}
	num := func(k string) (int64, error) {
		n, ok := m[k].(json.Number)
		if !ok {
			return 0, fmt.Errorf("record: field %q must be an integer", k)
		}
		return n.Int64()
	}
	ver, err := num("version")
	if err != nil {
		return nil, err
	}
	if ver != recordVersion {
		return nil, fmt.Errorf("record: version %d is not supported (want %d)", ver, recordVersion)
	}
	r.Version = int(ver)
	if r.Seq, err = num("seq"); err != nil {
		return nil, err
	}
	if _, has := m["prev"]; has {
		if r.Prev, err = str("prev"); err != nil {
			return nil, err
		}
		if r.Prev == "" {
			return nil, errors.New("record: prev is empty")
		}
	}
	ts, err := str("time")
	if err != nil {
		return nil, err
	}
	if r.Time, err = parseTime(ts); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	for _, f := range []struct {
		k string
		p *string
	}{{"ledger", &r.Ledger}, {"ceremony", &r.Ceremony}, {"kind", &r.Kind}, {"actor", &r.Actor}} {
		if *f.p, err = str(f.k); err != nil {
			return nil, err
		}
	}
	facts, ok := m["facts"].(map[string]any)
	if !ok {
		return nil, errors.New(`record: field "facts" must be an object`)
	}
	r.Facts = facts
	apps, ok := m["approvals"].([]any)
	if !ok {
		return nil, errors.New(`record: field "approvals" must be an array`)
	}
	for i, a := range apps {
		am, ok := a.(map[string]any)
		car, hasCarried := am["carried"]
		if !ok || len(am) != 2 && !(len(am) == 3 && hasCarried) {
			return nil, fmt.Errorf("record: approvals[%d] must be an object with member, signature and, where carried, carried", i)
		}
		mem, ok1 := am["member"].(string)
		sig, ok2 := am["signature"].(string)
		carried, ok3 := car.(string)
		if !ok1 || !ok2 || hasCarried && (!ok3 || carried == "") {
			return nil, fmt.Errorf("record: approvals[%d] must be an object with member, signature and, where carried, carried", i)
		}
		r.Approvals = append(r.Approvals, Approval{Member: mem, Signature: sig, Carried: carried})
	}
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	return r, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, s)
	if err != nil || t.Format(TimeLayout) != s {
		return time.Time{}, fmt.Errorf("time %.40q is not UTC RFC 3339 in whole seconds (like 2026-01-02T15:04:05Z)", s)
	}
	return t, nil
}

// FactsOf turns v (a struct or map) into a facts object in canonical form.
func FactsOf(v any) (map[string]any, error) {
	b, err := canonical.Marshal(v)
	if err != nil {
		return nil, err
	}
	t, err := canonical.ParseJSON(b)
	if err != nil {
		return nil, err
	}
	m, ok := t.(map[string]any)
	if !ok {
		return nil, errors.New("facts must be a json object")
	}
	return m, nil
}

// factString returns facts[k] when it is a string.
func factString(facts map[string]any, k string) string {
	s, _ := facts[k].(string)
	return s
}
