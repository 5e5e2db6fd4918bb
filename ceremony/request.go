package ceremony

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"custos/internal/hint"
	"custos/ledger"
	"custos/sign"
)

// Request is a drafted record waiting for approvals from elsewhere: it is
// carried (removable media) to an approver, who signs its digest with
// custos approve.
type Request struct {
	File    string         `json:"-"`
	Record  *ledger.Record `json:"-"`
	Digest  string         `json:"-"` // signing digest of Record
	Summary string         `json:"-"`
}

type requestJSON struct {
	Version int             `json:"custos_request"`
	Digest  string          `json:"digest"`
	Summary string          `json:"summary"`
	Record  json.RawMessage `json:"record"`
}

// ApprovalFile is one approver's signature over a request's digest.
type ApprovalFile struct {
	File string `json:"-"`
	// Digest is "sha256:<hex>" of the file's bytes as read, recorded as
	// the approval's carried.
	Digest    string `json:"-"`
	Version   int    `json:"custos_approval"`
	Request   string `json:"request"`
	Member    string `json:"member"`
	Signature string `json:"signature"`
}

// NewRequest wraps a drafted record as a request.
func NewRequest(rec *ledger.Record, plan *Plan) (*Request, error) {
	d, err := rec.SigningDigest()
	if err != nil {
		return nil, err
	}
	return &Request{Record: rec, Digest: d, Summary: plan.String()}, nil
}

// WriteRequest writes a request file, never over an existing file.
func WriteRequest(path string, r *Request) error {
	canon, err := r.Record.Canonical()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(requestJSON{Version: 1, Digest: r.Digest, Summary: r.Summary, Record: canon}, "", "  ")
	if err != nil {
		return err
	}
	return writeExclusive(path, append(b, '\n'))
}

// ReadRequest reads and checks a request file: its digest must be the
// digest of the record it carries.
func ReadRequest(path string) (*Request, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	var rj requestJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rj); err != nil || rj.Version != 1 || len(rj.Record) == 0 {
		return nil, hint.With(fmt.Errorf("request %s: not a custos request file", path), "a request is written by custos run … --request-out FILE")
	}
	rec, err := ledger.DecodeRecord(rj.Record)
	if err != nil {
		return nil, fmt.Errorf("request %s: record: %w", path, err)
	}
	d, err := rec.SigningDigest()
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", path, err)
	}
	if d != rj.Digest {
		return nil, fmt.Errorf("request %s: digest %s does not match its record (%s): the file was altered", path, short(rj.Digest), short(d))
	}
	return &Request{File: path, Record: rec, Digest: d, Summary: rj.Summary}, nil
}

// SignRequest makes member's approval of r.
func SignRequest(r *Request, member string, s sign.Signer) (*ApprovalFile, error) {
	a, err := ledger.Approve(r.Record, member, s)
	if err != nil {
		return nil, err
	}
	return &ApprovalFile{Version: 1, Request: r.Digest, Member: member, Signature: a.Signature}, nil
}

// WriteApproval writes an approval file, never over an existing file.
func WriteApproval(path string, a *ApprovalFile) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	return writeExclusive(path, append(b, '\n'))
}

// ReadApproval reads an approval file.
func ReadApproval(path string) (*ApprovalFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("approval: %w", err)
	}
	var a ApprovalFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || a.Version != 1 || a.Member == "" || !strings.HasPrefix(a.Request, "sha256:") {
		return nil, hint.With(fmt.Errorf("approval %s: not a custos approval file", path), "an approval is written by custos approve REQUEST -o FILE")
	}
	a.File = path
	sum := sha256.Sum256(data)
	a.Digest = "sha256:" + hex.EncodeToString(sum[:])
	return &a, nil
}

// Readable returns a record's facts as lines a person can check before
// signing or print on the minutes: "name: value" in name order, an object
// as its name followed by its fields indented, a list of plain values
// joined with commas, a list of objects one "- " line per item. SSH
// signatures inside facts are shown as "(SSH signature)". Text is
// returned as written: a caller that prints to a terminal escapes it.
func Readable(facts map[string]any) []string {
	var out []string
	var walk func(indent string, m map[string]any)
	walk = func(indent string, m map[string]any) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			switch v := m[k].(type) {
			case map[string]any:
				out = append(out, indent+k+":")
				walk(indent+"  ", v)
			case []any:
				if item, ok := objects(v); ok {
					out = append(out, indent+k+":")
					for _, o := range item {
						out = append(out, indent+"  - "+inline(o))
					}
					continue
				}
				out = append(out, indent+k+": "+scalars(v))
			default:
				out = append(out, indent+k+": "+scalar(k, v))
			}
		}
	}
	walk("", facts)
	return out
}

func objects(l []any) ([]map[string]any, bool) {
	if len(l) == 0 {
		return nil, false
	}
	out := make([]map[string]any, 0, len(l))
	for _, v := range l {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		out = append(out, m)
	}
	return out, true
}

func inline(m map[string]any) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch v := m[k].(type) {
		case map[string]any:
			parts = append(parts, k+": {"+inline(v)+"}")
		case []any:
			parts = append(parts, k+": ["+scalars(v)+"]")
		default:
			parts = append(parts, k+": "+scalar(k, v))
		}
	}
	return strings.Join(parts, ", ")
}

func scalars(l []any) string {
	if len(l) == 0 {
		return "(none)"
	}
	parts := make([]string, len(l))
	for i, v := range l {
		if m, ok := v.(map[string]any); ok {
			parts[i] = "{" + inline(m) + "}"
			continue
		}
		parts[i] = scalar("", v)
	}
	return strings.Join(parts, ", ")
}

func scalar(name string, v any) string {
	switch x := v.(type) {
	case nil:
		return "(none)"
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case string:
		if name == "signature" || strings.HasPrefix(x, "-----BEGIN SSH SIGNATURE-----") {
			return "(SSH signature)"
		}
		return x
	}
	return fmt.Sprint(v)
}
