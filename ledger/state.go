package ledger

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"custos/sign"
)

// Key lifecycle states in keys/<id>.json.
const (
	KeyGenerating = "generating" // intent committed, outcome not yet
	KeyActive     = "active"
	KeyDestroyed  = "destroyed"
	KeyAborted    = "aborted" // generation aborted: the key never existed
)

// KeyEvent is one record that touched a key.
type KeyEvent struct {
	Seq  int64  `json:"seq"`
	Kind string `json:"kind"`
	Time string `json:"time"`
}

// KeyState is a key's state from the replay (keys/<id>.json).
type KeyState struct {
	ID          string         `json:"id"`
	Label       string         `json:"label,omitempty"`
	Type        string         `json:"type,omitempty"`
	State       string         `json:"state"`
	CreatedSeq  int64          `json:"created_seq"`
	CreatedTime string         `json:"created_time"`
	Facts       map[string]any `json:"facts"`
	History     []KeyEvent     `json:"history"`
	// BackupsOutstanding lists the key's backups (backup.split) not yet
	// destroyed (backup.destroyed): while one is, a key destroyed on its
	// HSM can still be restored, and is not destroyed everywhere.
	BackupsOutstanding []string `json:"backups_outstanding,omitempty"`
	// PolicyRotation is the rotation period the policy gave the key's type
	// when the key was created ("" when none): a later policy change does
	// not move a key's due date. Not part of the key file.
	PolicyRotation string `json:"-"`

	histJSON  []byte // canonical encoding of History's elements, kept as it grows
	compacted bool   // kept small by compactKey
	// generatedBy is the member who operated the generation; on holds
	// the serials of the HSMs that hold the key. Not part of the key file.
	generatedBy string
	on          []string
}

// State is the replay of a ledger up to Seq.
type State struct {
	LedgerID   string
	Genesis    string // digest of record 1
	Roster     Roster
	Policy     Policy
	RosterSeq  int64 // seq of the record that set the roster
	Keys       map[string]*KeyState
	Head       string // digest of record Seq
	Seq        int64
	Time       time.Time
	OpenIntent *Record
	// HSMs maps the serial of every enrolled HSM (hsm.enrolled) to the
	// record that enrolled it; Backups maps every backup id (backup.split)
	// to its record. The replay keeps them so that no ceremony has to read
	// the whole history again to find them.
	HSMs    map[string]int64
	Backups map[string]int64

	// cer is the ceremony of the last record; ceremonies maps every
	// ceremony id used to its first record: ids are never reused.
	cer        *ceremonyState
	ceremonies cowMap[int64]
	backups    cowMap[*backupInfo]
	labels     cowMap[string] // a key's label → the last key given it
	// notAfter, when set, is the latest record time accepted (the
	// writer's or the verifier's clock plus a margin); parentCommit, when
	// set, is the commit of record Seq, which a checkpoint must name.
	notAfter     time.Time
	parentCommit string

	signers []signerKey              // every key the roster ever held, for allowed_signers
	keys    map[string]ssh.PublicKey // parsed member keys, by authorized-key line
	dirty   dirtySet
	owned   map[string]bool // keys copied by ownKey in a clone

	// compact (verify's replay only): a key that can no longer change is
	// kept small once its file is known (compactKey); touchedCompact is
	// set if a record changes one anyway, and verify then replays again
	// with every key whole.
	compact, touchedCompact bool
}

// signerKey is a member key with its validity window (record times).
type signerKey struct {
	Name, Key   string
	From, Until time.Time // Until zero: still valid
}

type dirtySet struct {
	roster bool
	keys   map[string]bool
}

// Approver is a checked approval: who, with which key.
type approvalCheck struct {
	member string
	pub    ssh.PublicKey
	sig    []byte
	// msg, when set, is what was signed in namespace ns (a witness's
	// checkpoint, a holder's attestation); otherwise sig is an approval
	// of the record.
	ns  string
	msg []byte
}

// what names the signature in messages; check and over name the check
// verify reports it under and what it signs.
func (c approvalCheck) what() string {
	switch c.ns {
	case namespaceCheckpoint:
		return "checkpoint signature by witness " + c.member
	case NamespaceShareDestroyed:
		return "attestation by " + c.member + " that their share is destroyed"
	case NamespaceSharePresented:
		return "signature by " + c.member + " that they presented their share"
	}
	return "approval by " + c.member
}

func (c approvalCheck) check() string {
	switch c.ns {
	case namespaceCheckpoint:
		return "witness"
	case NamespaceShareDestroyed:
		return "attestation"
	case NamespaceSharePresented:
		return "presented"
	}
	return "approval"
}

func (c approvalCheck) over() string {
	switch c.ns {
	case namespaceCheckpoint:
		return "checkpoint"
	case NamespaceShareDestroyed, NamespaceSharePresented:
		return "share"
	}
	return "record"
}

// verify checks the signature: an approval over the record's signing
// digest, or a statement (checkpoint, attestation) in its namespace.
func (c approvalCheck) verify(signingDigest string) error {
	if c.msg != nil {
		return sign.Verify(c.pub, c.ns, c.msg, c.sig)
	}
	return verifyApproval(c.pub, signingDigest, c.sig)
}

// chainError marks a record that does not follow the one before it (seq,
// ledger id, prev): verify reports it under the check "chain".
type chainError struct{ error }

func (e chainError) Unwrap() error { return e.error }

// authorize checks that rec may follow the state: place in the chain,
// actor and approvals against the roster and policy in force (the OLD
// roster for roster.changed). It returns the actor's key and the approval
// signatures still to be verified cryptographically.
func (s *State) authorize(rec *Record) (ssh.PublicKey, []approvalCheck, error) {
	if rec.Seq != s.Seq+1 {
		return nil, nil, chainError{fmt.Errorf("seq is %d, want %d (a record is missing, repeated or out of order)", rec.Seq, s.Seq+1)}
	}
	if rec.Seq > 1 && rec.Ledger != s.LedgerID {
		return nil, nil, chainError{fmt.Errorf("ledger id is %q, this ledger is %q (record from another ledger)", rec.Ledger, s.LedgerID)}
	}
	if rec.Prev != s.Head {
		return nil, nil, chainError{fmt.Errorf("prev is %s, want %s (digest of record %d)", short(rec.Prev), short(s.Head), s.Seq)}
	}
	if rec.Seq > 1 && rec.Time.Before(s.Time) {
		return nil, nil, fmt.Errorf("time %s is before the previous record's %s", rec.Time.Format(TimeLayout), s.Time.Format(TimeLayout))
	}
	if !s.notAfter.IsZero() && rec.Time.After(s.notAfter) {
		return nil, nil, fmt.Errorf("time %s is in the future (later than %s): a record may not be dated ahead of the clock", rec.Time.Format(TimeLayout), s.notAfter.Format(TimeLayout))
	}
	spec, known := kinds[rec.Kind]
	if !known {
		return nil, nil, fmt.Errorf("unknown record kind %q: no row of the ledger's state machine (docs/ledger-format.md) allows it", rec.Kind)
	}
	if (rec.Seq == 1) != (rec.Kind == "ledger.genesis") {
		return nil, nil, errors.New("ledger.genesis must be record 1 and only record 1")
	}
	roster, policy := &s.Roster, &s.Policy
	if rec.Seq == 1 {
		r, p, err := parseRosterFacts(rec.Facts)
		if err != nil {
			return nil, nil, fmt.Errorf("genesis roster: %w", err)
		}
		roster, policy = r, p
	}
	if rec.Kind == "roster.changed" {
		// The new roster must be valid (its keys among other things)
		// before anything is approved under the old one.
		next, _, err := parseRosterFacts(rec.Facts)
		if err != nil {
			return nil, nil, fmt.Errorf("new roster: %w", err)
		}
		if err := s.resplitRule(rec, next); err != nil {
			return nil, nil, err
		}
	}
	actor := roster.Member(rec.Actor)
	if actor == nil {
		return nil, nil, fmt.Errorf("actor %q is not a member of the roster", rec.Actor)
	}
	if roles := s.actorRoles(rec, spec); !actor.HasRole(roles...) {
		return nil, nil, fmt.Errorf("actor %s holds the roles %s; %s is written only by a member with one of the roles %s", rec.Actor, strings.Join(actor.Roles, "/"), rec.Kind, strings.Join(roles, "/"))
	}
	actorKey, err := s.pub(actor)
	if err != nil {
		return nil, nil, fmt.Errorf("actor %s: %w", rec.Actor, err)
	}
	var checks []approvalCheck
	seen := map[string]bool{}
	for i, a := range rec.Approvals {
		m := roster.Member(a.Member)
		if m == nil {
			return nil, nil, fmt.Errorf("approvals[%d]: %q is not a member of the roster", i, a.Member)
		}
		if seen[a.Member] {
			return nil, nil, fmt.Errorf("approvals[%d]: %s approves twice", i, a.Member)
		}
		seen[a.Member] = true
		pub, err := s.pub(m)
		if err != nil {
			return nil, nil, fmt.Errorf("approvals[%d]: %w", i, err)
		}
		checks = append(checks, approvalCheck{member: a.Member, pub: pub, sig: []byte(a.Signature)})
	}
	if rec.Seq == 1 {
		// Genesis: every founding member signs, and nobody else.
		for _, m := range roster.Members {
			if !seen[m.Name] {
				return nil, nil, fmt.Errorf("genesis lacks the approval of founding member %s", m.Name)
			}
		}
		return actorKey, checks, nil
	}
	req := policy.Required(rec.Kind)
	n := 0
	for _, a := range rec.Approvals {
		m := roster.Member(a.Member)
		if a.Member == rec.Actor && !req.SelfApproval {
			if req.Count > 0 {
				return nil, nil, fmt.Errorf("approval by %s, the operator, who may not approve their own %s", a.Member, rec.Kind)
			}
			continue
		}
		if m.HasRole(req.Roles...) {
			n++
		} else if req.Count > 0 {
			return nil, nil, fmt.Errorf("approval by %s, who holds none of the roles %s required for %s", a.Member, strings.Join(req.Roles, "/"), rec.Kind)
		}
	}
	if n < req.Count {
		return nil, nil, fmt.Errorf("%d of %d required approvals by %s for %s", n, req.Count, strings.Join(req.Roles, "/"), rec.Kind)
	}
	wc, err := s.witnessChecks(rec)
	if err != nil {
		return nil, nil, err
	}
	ac, err := s.attestChecks(rec)
	if err != nil {
		return nil, nil, err
	}
	pc, err := s.presentChecks(rec)
	if err != nil {
		return nil, nil, err
	}
	return actorKey, append(append(append(checks, wc...), ac...), pc...), nil
}

// apply replays rec (already authorized) into the state.
func (s *State) apply(rec *Record, digest string) error {
	ts := rec.Time.Format(TimeLayout)
	switch rec.Kind {
	case "ledger.genesis", "roster.changed":
		r, p, err := parseRosterFacts(rec.Facts)
		if err != nil {
			return fmt.Errorf("roster: %w", err)
		}
		s.setRoster(r, p, rec)
		if rec.Seq == 1 {
			s.LedgerID, s.Genesis = rec.Ledger, digest
		}
	}
	if err := s.lifecycle(rec, ts); err != nil {
		return err
	}
	s.index(rec)
	s.Seq, s.Head, s.Time = rec.Seq, digest, rec.Time
	return nil
}

// lastEvent is the seq of the last record of kind that touched k, or 0.
// Not simply the last event: an aborted restore may follow a destruction.
func lastEvent(k *KeyState, kind string) int64 {
	for i := len(k.History) - 1; i >= 0; i-- {
		if k.History[i].Kind == kind {
			return k.History[i].Seq
		}
	}
	return 0
}

func (s *State) touch(k *KeyState, rec *Record, ts string) {
	if k.compacted {
		s.touchedCompact = true
	}
	ev := KeyEvent{Seq: rec.Seq, Kind: rec.Kind, Time: ts}
	k.History = append(k.History, ev)
	k.histJSON = appendEvent(k.histJSON, len(k.History) > 1, ev)
	if s.dirty.keys == nil {
		s.dirty.keys = map[string]bool{}
	}
	s.dirty.keys[k.ID] = true
}

func (s *State) setRoster(r *Roster, p *Policy, rec *Record) {
	now := map[string]bool{}
	for _, m := range r.Members {
		now[m.Name+" "+m.Key] = true
	}
	held := map[string]bool{}
	for i := range s.signers {
		sk := &s.signers[i]
		if sk.Until.IsZero() {
			if now[sk.Name+" "+sk.Key] {
				held[sk.Name+" "+sk.Key] = true
			} else {
				sk.Until = rec.Time
			}
		}
	}
	for _, m := range r.Members {
		if !held[m.Name+" "+m.Key] {
			from := rec.Time
			if rec.Seq == 1 {
				from = time.Time{}
			}
			s.signers = append(s.signers, signerKey{Name: m.Name, Key: m.Key, From: from})
		}
	}
	s.Roster, s.Policy, s.RosterSeq = *r, *p, rec.Seq
	s.dirty.roster = true
}

func newState() *State {
	return &State{Keys: map[string]*KeyState{}, HSMs: map[string]int64{}, Backups: map[string]int64{}}
}

// index notes the records later ceremonies look up by name.
func (s *State) index(rec *Record) {
	switch rec.Kind {
	case "hsm.enrolled":
		if h, ok := rec.Facts["hsm"].(map[string]any); ok {
			if serial, _ := h["serial"].(string); serial != "" {
				s.HSMs[serial] = rec.Seq
			}
		}
	case "backup.split":
		if id := factString(rec.Facts, "backup_id"); id != "" {
			s.Backups[id] = rec.Seq
		}
	}
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	if d == "" {
		return "(none)"
	}
	return d
}

// verifyApproval checks one approval signature over the signing digest.
func verifyApproval(pub ssh.PublicKey, signingDigest string, sig []byte) error {
	return sign.Verify(pub, NamespaceApproval, []byte(signingDigest), sig)
}

// pub parses m's key once per state.
func (s *State) pub(m *Member) (ssh.PublicKey, error) {
	if k, ok := s.keys[m.Key]; ok {
		return k, nil
	}
	k, err := m.PublicKey()
	if err != nil {
		return nil, err
	}
	if s.keys == nil {
		s.keys = map[string]ssh.PublicKey{}
	}
	s.keys[m.Key] = k
	return k, nil
}
