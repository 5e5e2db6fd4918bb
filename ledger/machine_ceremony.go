// The state machine's rules for ceremonies: each record's place in its
// ceremony, who may witness it, and the checkpoint that closes it.

package ledger

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"custos/sign"
)

// ceremonyState is the ceremony the last record belongs to.
type ceremonyState struct {
	id      string
	opening *Record // its first record (the intent, or the single record)
	// intentOpen: the opening is an intent and nothing settled it yet.
	// outcome is the kind that settled it ("ceremony.aborted" included).
	intentOpen bool
	outcome    string
	outcomeRec *Record
	retired    bool // a rotation's key.retirement.scheduled is recorded
	closed     int64
}

// ceremonyStep checks that rec may come next in its ceremony and moves
// the ceremony on; it returns the intent rec settles or follows, if any.
func (s *State) ceremonyStep(rec *Record, spec kindSpec) (*Record, error) {
	c := s.cer
	if c != nil {
		cc := *c // the state may be a clone: never change the original's
		c, s.cer = &cc, &cc
	}
	if c != nil && c.id == rec.Ceremony {
		if c.closed != 0 {
			return nil, fmt.Errorf("ceremony %s was closed by record %d: a closed ceremony stays closed", c.id, c.closed)
		}
		op := c.opening
		switch {
		case c.intentOpen && (rec.Kind == kinds[op.Kind].settledBy || rec.Kind == "ceremony.aborted"):
			c.intentOpen, c.outcome, c.outcomeRec = false, rec.Kind, rec
			s.OpenIntent = nil
			return op, nil
		case c.intentOpen:
			return nil, fmt.Errorf("%s inside ceremony %s, whose intent %s (record %d) only %s or ceremony.aborted may follow", rec.Kind, c.id, op.Kind, op.Seq, kinds[op.Kind].settledBy)
		case rec.Kind == "ceremony.closed":
			c.closed = rec.Seq
			return op, nil
		case rec.Kind == "key.retirement.scheduled" && op.Kind == "key.generate.intent" && c.outcome == "key.generated" && factString(op.Facts, "rotates") != "" && !c.retired:
			c.retired = true
			if id, want := factString(rec.Facts, "key_id"), factString(op.Facts, "rotates"); id != want {
				return nil, fmt.Errorf("key.retirement.scheduled is for key %q but rotation %s (record %d) rotates %q", id, c.id, op.Seq, want)
			}
			if succ, want := factString(rec.Facts, "successor"), factString(op.Facts, "key_id"); succ != want {
				return nil, fmt.Errorf("facts.successor %q is not the key rotation %s generated (%q)", succ, c.id, want)
			}
			if r, want := factString(rec.Facts, "retire_on"), factString(op.Facts, "retire_on"); r != want {
				return nil, fmt.Errorf("facts.retire_on %q is not the date rotation %s was approved for (%q)", r, c.id, want)
			}
			return nil, nil
		default:
			return nil, fmt.Errorf("%s cannot follow %s in ceremony %s (opened by %s, record %d)", rec.Kind, c.lastKind(), c.id, op.Kind, op.Seq)
		}
	}
	if c != nil && c.intentOpen {
		return nil, fmt.Errorf("intent %s (record %d, ceremony %s) has no outcome before ceremony %s", c.opening.Kind, c.opening.Seq, c.id, rec.Ceremony)
	}
	if first, used := s.ceremonies.get(rec.Ceremony); used {
		return nil, fmt.Errorf("ceremony id %s is already used (record %d): ceremony ids are unique in a ledger", rec.Ceremony, first)
	}
	if !spec.opens {
		return nil, fmt.Errorf("%s cannot begin ceremony %s: it only follows %s", rec.Kind, rec.Ceremony, openerOf(rec.Kind))
	}
	s.ceremonies.set(rec.Ceremony, rec.Seq)
	s.cer = &ceremonyState{id: rec.Ceremony, opening: rec, intentOpen: spec.intent}
	if spec.intent {
		s.OpenIntent = rec
	} else {
		s.OpenIntent = nil
	}
	return nil, nil
}

func (c *ceremonyState) lastKind() string {
	if c.outcome != "" {
		return c.outcome
	}
	return c.opening.Kind
}

// openerOf names what a kind that opens nothing may follow.
func openerOf(kind string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		if kinds[k].settledBy == kind {
			out = append(out, "its intent "+k)
		}
	}
	switch kind {
	case "ceremony.aborted":
		out = append(out, "an open intent of its ceremony")
	case "ceremony.closed":
		out = append(out, "the records of its own ceremony")
	case "key.retirement.scheduled":
		out = append(out, "the key.generated of a rotation")
	}
	return strings.Join(out, ", ")
}

// CeremonyUsed reports whether a record of the ledger already uses the
// ceremony id, and the first such record.
func (s *State) CeremonyUsed(id string) (int64, bool) { return s.ceremonies.get(id) }

// witnessChecks checks who may witness a ceremony (the opening's named
// witnesses: members with a witness role, not the operator) and, on
// ceremony.closed, that only named witnesses signed the checkpoint, each
// once. It returns the signatures to verify.
func (s *State) witnessChecks(rec *Record) ([]approvalCheck, error) {
	if w, has := rec.Facts["witnesses"]; has {
		l, _ := w.([]any)
		for i, e := range l {
			name, _ := e.(string)
			m := s.Roster.Member(name)
			switch {
			case m == nil:
				return nil, fmt.Errorf("facts.witnesses[%d]: %.40q is not a member of the roster", i, name)
			case name == rec.Actor:
				return nil, fmt.Errorf("facts.witnesses[%d]: %s operates this ceremony and cannot also witness it", i, name)
			case !m.HasRole(witnessRoles...):
				return nil, fmt.Errorf("facts.witnesses[%d]: %s holds none of the roles %s that may witness", i, name, strings.Join(witnessRoles, "/"))
			}
		}
	}
	if rec.Kind != "ceremony.closed" {
		return nil, nil
	}
	var want []string
	if c := s.cer; c != nil && c.id == rec.Ceremony {
		want = factNames(c.opening.Facts, "witnesses")
	}
	cp, _ := rec.Facts["checkpoint"].(map[string]any)
	msg := checkpointMessage(factString(cp, "ledger"), s.Seq, factString(cp, "head"), factString(cp, "commit"))
	l, _ := rec.Facts["witnessed"].([]any)
	var checks []approvalCheck
	seen := map[string]bool{}
	for i, e := range l {
		w, _ := e.(map[string]any)
		name, sig := factString(w, "member"), factString(w, "signature")
		if len(w) != 2 || name == "" || sig == "" {
			return nil, fmt.Errorf("facts.witnessed[%d] must be {member, signature}", i)
		}
		if !slices.Contains(want, name) || seen[name] {
			return nil, fmt.Errorf("facts.witnessed[%d]: %s signs the checkpoint but is not a witness named when ceremony %s opened (witnesses: %s)", i, name, rec.Ceremony, orNone(strings.Join(want, ", ")))
		}
		seen[name] = true
		m := s.Roster.Member(name)
		if m == nil { // a roster change in this ceremony removed them
			return nil, fmt.Errorf("facts.witnessed[%d]: %s is no longer a member of the roster", i, name)
		}
		pub, err := s.pub(m)
		if err != nil {
			return nil, fmt.Errorf("facts.witnessed[%d]: %w", i, err)
		}
		checks = append(checks, approvalCheck{member: name, pub: pub, sig: []byte(sig), ns: namespaceCheckpoint, msg: msg})
	}
	// A named witness who did not sign (a resumed ceremony closes
	// without them) is not a witness: readers show the signers only.
	return checks, nil
}

// checkpointMessage is the text witnesses sign in namespace
// custos-checkpoint: the ledger, its size, its head record digest and the
// head's commit, one per line, so that `ssh-keygen -Y verify` checks it
// from the minutes alone.
func checkpointMessage(ledger string, size int64, head, commit string) []byte {
	return []byte("custos checkpoint v1\nledger " + ledger + "\nsize " + strconv.FormatInt(size, 10) + "\nhead " + head + "\ncommit " + commit + "\n")
}

// checkpoint checks the checkpoint of a ceremony.closed record: it must
// name this ledger, its size, the record before it and that record's
// commit, so witnesses co-sign exactly the history they saw.
func (s *State) checkpoint(rec *Record) error {
	cp, _ := rec.Facts["checkpoint"].(map[string]any)
	for k := range cp {
		if k != "ledger" && k != "size" && k != "head" && k != "commit" {
			return fmt.Errorf("facts.checkpoint.%s is not a field of a checkpoint (ledger, size, head, commit)", k)
		}
	}
	if l := factString(cp, "ledger"); l != s.LedgerID {
		return fmt.Errorf("checkpoint names ledger %.40q, this ledger is %s", l, s.LedgerID)
	}
	if h := factString(cp, "head"); h != rec.Prev {
		return fmt.Errorf("checkpoint head %s is not the digest of record %d (%s)", short(h), rec.Seq-1, short(rec.Prev))
	}
	if size, ok := factInt(cp, "size"); !ok || size != rec.Seq-1 {
		return fmt.Errorf("checkpoint size %v is not %d, the records before it", cp["size"], rec.Seq-1)
	}
	commit := factString(cp, "commit")
	if !isHex40(commit) {
		return fmt.Errorf("checkpoint commit %.50q is not a commit id", commit)
	}
	if s.parentCommit != "" && commit != s.parentCommit {
		return fmt.Errorf("checkpoint commit %s is not %s, the commit of record %d", commit, s.parentCommit, rec.Seq-1)
	}
	return nil
}

func isHex40(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !isDigit(c) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CloseFacts are the facts of the ceremony.closed that would follow the
// ledger's head now: the checkpoint (ledger, size, head digest, commit)
// and each witness's signature over it in namespace custos-checkpoint.
func (l *Ledger) CloseFacts(witnesses []string, signers map[string]sign.Signer) (map[string]any, error) {
	st := l.state
	commit := l.head.String()
	msg := checkpointMessage(st.LedgerID, st.Seq, st.Head, commit)
	facts := map[string]any{"checkpoint": map[string]any{
		"ledger": st.LedgerID, "size": st.Seq, "head": st.Head, "commit": commit,
	}}
	if len(witnesses) == 0 {
		return facts, nil
	}
	var signed []any
	for _, w := range witnesses {
		s := signers[w]
		if s == nil {
			return nil, fmt.Errorf("checkpoint: no key for witness %s", w)
		}
		sig, err := s.Sign(namespaceCheckpoint, msg)
		if err != nil {
			return nil, fmt.Errorf("checkpoint signature by %s: %w", w, err)
		}
		signed = append(signed, map[string]any{"member": w, "signature": string(sig)})
	}
	facts["witnessed"] = signed
	return facts, nil
}
