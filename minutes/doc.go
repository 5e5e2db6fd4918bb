// Package minutes builds the paper minutes of a key ceremony: before it,
// the script as a checklist (every step of the plan the engine would run,
// who does it, a box for initials and time, the values to be read aloud
// left blank); after it, the same document filled from the ledger (times,
// people, approvals, digests, exceptions), ending with the checkpoint the
// witnesses sign in ink. The script's SHA-256, printed on both and
// recorded in the ceremony's opening record (script_sha256), ties the
// paper to the ledger.
//
// Documents are rendered as HTML with a print stylesheet (A4 or Letter)
// or as Markdown; see render.go.
package minutes

import (
	"encoding/hex"
	"strings"

	"custos/ledger"
)

// Doc is one ceremony's minutes.
type Doc struct {
	// Filled: made from the ledger after the ceremony; otherwise a
	// checklist made from a script before it, with blanks to fill in.
	Filled   bool
	Ledger   string // ledger id
	Ceremony string
	Kind     string // ceremony kind: generate, export, …
	// Script is the script file (before) and ScriptSHA256 its SHA-256;
	// after, ScriptSHA256 is what the opening record carries and
	// ScriptCheck says whether a given script file matches it.
	Script       string
	ScriptSHA256 *Value
	ScriptCheck  string
	Operator     string
	Witnesses    []string
	HSM          string
	Required     string // the policy's approvals, in words
	Notes        string
	// Purpose is what the ceremony is to do (before: from the script) or
	// what its opening record says (after), one readable line each.
	Purpose []string

	Steps      []Step
	Values     []Value // read aloud and written down
	Approvals  []Approval
	Request    *Value // the digest the approvals sign
	Exceptions []string
	Checkpoint *Value
	Head       *Value // the ledger head after the close: a trusted head for later audits
	Signatures []Signature
	Paper      string // "A4" or "letter", for the @page rule
}

// Step is one line of the checklist.
type Step struct {
	N    int
	What string
	Who  string
	// Filled from the ledger: the record of the step.
	Seq    int64
	Kind   string
	Time   string
	Digest []string // hex groups of 4
}

// Value is a value read aloud and written down: hex in groups of 4 and,
// for a SHA-256 digest, the ledger's words. Blank values get boxes.
type Value struct {
	Label string
	Plain string   // shown as is when not hex
	Hex   []string // groups of 4 hex digits
	Words []string
	Note  string
	Blank bool
}

// Approval is one approval of the opening record.
type Approval struct {
	Member string
	Roles  string
	Blank  bool
	// Carried is the SHA-256 of the approval file the approval came in;
	// empty when it was signed in the room.
	Carried string
}

// Signature is a line of the signature block.
type Signature struct {
	Role string
	Name string // blank before, when the person is not known yet
}

// digestValue makes a Value of a digest, a check value or another
// identifier: "sha256:<hex>" or hex is grouped by 4 (a 32-byte digest also
// gets its words); anything else is shown as is.
func digestValue(label, s string) Value {
	v := Value{Label: label}
	h := strings.TrimPrefix(s, "sha256:")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) == 0 {
		v.Plain = s
		return v
	}
	v.Hex = groups(strings.ToLower(h))
	if len(b) == 32 {
		v.Words = ledger.Words(h)
	}
	return v
}

// groups cuts hex into groups of 4 digits.
func groups(h string) []string {
	var out []string
	for len(h) > 4 {
		out = append(out, h[:4])
		h = h[4:]
	}
	if h != "" {
		out = append(out, h)
	}
	return out
}

// blank is a value to be read aloud and written down by hand.
func blank(label, note string) Value { return Value{Label: label, Note: note, Blank: true} }
