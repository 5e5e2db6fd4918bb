// The builder's view of ceremonies and the roster: a ceremony opened,
// aborted or closed, its kind, each roster change, and the records it saw.

package report

import (
	"encoding/json"
	"fmt"
	"slices"

	"golang.org/x/crypto/ssh"

	"custos/ledger"
)

// abortCeremony settles a generation aborted by a record without key_id.
func (b *builder) abortCeremony(rec *ledger.Record, ev Event) {
	for key, ir := range b.intents {
		if ir.Ceremony != rec.Ceremony {
			continue
		}
		delete(b.intents, key)
		k := b.keys[str(ir.Facts, "key_id")]
		if k != nil && k.State == ledger.KeyGenerating {
			e := ev
			e.ApprovedBy, e.Carried, e.IntentSeq, e.Reason = approvers(ir), carried(ir), ir.Seq, str(rec.Facts, "reason")
			k.Aborted, k.State = &e, ledger.KeyAborted
			k.History = append(k.History, KeyEvent{Seq: rec.Seq, Time: ev.Time, Ceremony: rec.Ceremony, Kind: rec.Kind, Actor: rec.Actor})
		}
	}
}

func (b *builder) ceremony(rec *ledger.Record, step Step, in bool) {
	c := b.cers[rec.Ceremony]
	if c == nil {
		c = &Ceremony{ID: rec.Ceremony, Start: step.Time, Operators: []string{}, Approvers: []string{},
			Witnesses: []string{}, Keys: []string{}, HSMs: []HSMRef{}, Steps: []Step{}}
		b.cers[rec.Ceremony] = c
		b.cerOrd = append(b.cerOrd, rec.Ceremony)
	}
	if in {
		b.cerIn[rec.Ceremony] = true
	}
	// A record of a ceremony that was settled (closed, aborted, or a
	// one-record share check) reuses its id.
	if c.Status == "closed" || c.Status == "aborted" || c.Status == "recorded" {
		b.reused[rec.Ceremony] = append(b.reused[rec.Ceremony], rec.Seq)
	}
	c.End = step.Time
	if c.Kind == "" || c.Kind == "other" {
		c.Kind = ceremonyKind(rec.Kind)
	}
	c.Operators = addOnce(c.Operators, rec.Actor)
	for _, a := range step.ApprovedBy {
		c.Approvers = addOnce(c.Approvers, a)
	}
	if rec.Kind == "ceremony.closed" {
		// Only those who signed the checkpoint (verify checked each
		// signature) are the ceremony's witnesses.
		ws, _ := rec.Facts["witnessed"].([]any)
		for _, w := range ws {
			if m, ok := w.(map[string]any); ok {
				c.Witnesses = addOnce(c.Witnesses, str(m, "member"))
			}
		}
	}
	if step.KeyID != "" {
		c.Keys = addOnce(c.Keys, step.KeyID)
	}
	if h := hsmRef(rec.Facts); h.Serial != "" && !slices.Contains(c.HSMs, h) {
		c.HSMs = append(c.HSMs, h)
	}
	switch rec.Kind {
	case "ceremony.closed":
		c.Status = "closed"
		c.Checkpoint = str(rec.Facts, "checkpoint.head")
	case "ceremony.aborted":
		c.Status = "aborted"
	case "ledger.genesis":
		c.Status = "closed" // one record, signed by every founding member
	case "share.verified":
		// A holder's check of their share is one record, signed by the
		// holder: it has nothing to close.
		if c.Status == "" || c.Status == "recorded" {
			c.Status = "recorded"
		} else {
			c.Status = "unclosed"
		}
	default:
		c.Status = "unclosed"
	}
	if !b.opts.InventoryOnly {
		c.Steps = append(c.Steps, step)
	}
}

// ceremonyKind names a ceremony after the record kinds it holds.
func ceremonyKind(kind string) string {
	switch kind {
	case "ledger.genesis":
		return "genesis"
	case "hsm.enrolled":
		return "enroll"
	case "key.generate.intent", "key.generated":
		return "generate"
	case "key.export.intent", "export.approved", "key.exported":
		return "export"
	case "key.destroy.intent", "key.destroyed":
		return "destroy"
	case "key.restore.intent", "key.restored":
		return "restore"
	case "backup.intent", "backup.split", "backup.reshare.intent", "backup.reshared", "backup.destroyed":
		return "backup"
	case "share.verified":
		return "share-check"
	case "roster.changed":
		return "roster"
	case "review.signed":
		return "review"
	}
	return "other"
}

func (b *builder) rosterChange(rec *ledger.Record, ev Event) error {
	var ro ledger.Roster
	if err := remarshal(rec.Facts["roster"], &ro); err != nil {
		return fmt.Errorf("facts.roster: %w", err)
	}
	var po ledger.Policy
	hasPolicy := rec.Facts["policy"] != nil
	if hasPolicy {
		if err := remarshal(rec.Facts["policy"], &po); err != nil {
			return fmt.Errorf("facts.policy: %w", err)
		}
	}
	v := RosterVersion{Event: ev, Members: []Member{}, Added: []string{}, Removed: []string{}, Changed: []string{}}
	old := map[string]ledger.Member{}
	for _, m := range b.roster.Members {
		old[m.Name] = m
	}
	now := map[string]bool{}
	for _, m := range ro.Members {
		fp := m.Key
		if pk, err := m.PublicKey(); err == nil {
			fp = ssh.FingerprintSHA256(pk)
		}
		roles := append([]string{}, m.Roles...)
		v.Members = append(v.Members, Member{Name: m.Name, Email: m.Email, Roles: roles, Fingerprint: fp})
		now[m.Name] = true
		if rec.Kind == "ledger.genesis" {
			continue
		}
		if o, ok := old[m.Name]; !ok {
			v.Added = append(v.Added, m.Name)
		} else if o.Key != m.Key || !slices.Equal(o.Roles, m.Roles) || o.Email != m.Email {
			v.Changed = append(v.Changed, m.Name)
		}
	}
	for _, m := range b.roster.Members {
		if !now[m.Name] {
			v.Removed = append(v.Removed, m.Name)
		}
	}
	if hasPolicy {
		a, _ := json.Marshal(b.policy)
		c, _ := json.Marshal(po)
		v.PolicyChanged = rec.Kind == "ledger.genesis" || string(a) != string(c)
		if v.PolicyChanged {
			b.r.Policy.Changes = append(b.r.Policy.Changes, rec.Seq)
			b.r.Policy.SinceSeq = rec.Seq
		}
		b.policy = po
	}
	b.roster = ro
	// The roster history shows the version in force when the period
	// starts and every change inside it.
	if b.opts.Contains(rec.Time) || b.opts.Since.IsZero() {
		b.r.Roster = append(b.r.Roster, v)
	} else {
		b.r.Roster = []RosterVersion{v}
	}
	return nil
}

// observe counts records per kind for the policy section.
func (b *builder) observe(rec *ledger.Record) {
	q := b.seen[rec.Kind]
	n := int64(len(rec.Approvals))
	if q == nil {
		q = &Quorum{Kind: rec.Kind, MinApprovals: n}
		b.seen[rec.Kind] = q
	}
	q.Observed++
	q.MinApprovals = min(q.MinApprovals, n)
}

// openIntentCeremony is the ceremony of an intent still open at the end.
func (b *builder) openIntentCeremony() string {
	for _, ir := range b.intents {
		return ir.Ceremony
	}
	return ""
}
