package ceremony

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"custos/internal/hint"
	"custos/ledger"
	"custos/sign"
)

// Kinds of the rest of a key's life and of the people around it.
const (
	KindRotate     = "rotate"
	KindCompromise = "compromise"
	KindRoster     = "roster"
	KindReview     = "review"
)

// RotatePlan names the key a rotation replaces; the new version is
// described by the script's key section.
type RotatePlan struct {
	Key      string `yaml:"key,required"`
	RetireOn Date   `yaml:"retire_on,required"`
}

// CompromisePlan reports a key compromised.
type CompromisePlan struct {
	Key        string `yaml:"key,required"`
	Reason     string `yaml:"reason,required"`
	ReportedBy string `yaml:"reported_by,required"`
}

// RosterPlan changes the roster or the policy; it is approved under the
// roster and policy in force before it.
type RosterPlan struct {
	Add    []NewMember         `yaml:"add"`
	Remove []string            `yaml:"remove"`
	Roles  map[string][]string `yaml:"roles"`
	// Approvals replaces the policy's requirement for each kind named.
	Approvals map[string]Requirement `yaml:"approvals"`
	// Algorithms replaces the policy's approved algorithms when given.
	Algorithms []string `yaml:"algorithms"`
	Reason     string   `yaml:"reason,required"`
}

// PolicyPlan is the policy section of a roster script: what it changes
// of the policy in force besides approvals and algorithms.
type PolicyPlan struct {
	// Rotation sets the rotation period of each key type named ("1y");
	// an empty period removes the type's rule.
	Rotation map[string]string `yaml:"rotation"`
	// ReviewCadence sets the longest gap between access reviews ("92d").
	ReviewCadence string `yaml:"review_cadence"`
	// GeneratorMayApproveDestruction, when given, sets the policy field.
	GeneratorMayApproveDestruction *bool `yaml:"generator_may_approve_destruction"`
	// Environments and Classifications, when given, replace the policy's
	// vocabularies; an empty list removes one.
	Environments    []string `yaml:"environments"`
	Classifications []string `yaml:"classifications"`
	// ExportOAEP, when given, replaces the RSA-OAEP export hashes; an
	// empty list restores the default.
	ExportOAEP []string `yaml:"export_oaep"`
}

// NewMember is a member joining the roster.
type NewMember struct {
	Name  string   `yaml:"name,required"`
	Roles []string `yaml:"roles,required"`
	Key   string   `yaml:"key,required"`
}

// Requirement is a policy line in a roster script.
type Requirement struct {
	Roles        []string `yaml:"roles,required"`
	Count        int      `yaml:"count,required"`
	SelfApproval bool     `yaml:"self_approval"`
}

// ReviewPlan is a periodic access review signed by a security officer.
type ReviewPlan struct {
	Period   string `yaml:"period,required"`
	Findings string `yaml:"findings,required"`
}

// noHSM lists the kinds that record people's decisions only.
var noHSM = map[string]bool{KindCompromise: true, KindRoster: true, KindReview: true, KindDestroyBackup: true}

// NeedsHSM says whether a ceremony of kind runs on a token (its script
// names one with hsm:); the others record people's decisions only.
func NeedsHSM(kind string) bool { return !noHSM[kind] }

// KindDestroyBackup records a backup destroyed: its media destroyed, and
// each holder's share destroyed, attested by that holder's signature.
const KindDestroyBackup = "destroy-backup"

// DestroyBackupPlan names the backup whose every copy is gone.
type DestroyBackupPlan struct {
	Backup string `yaml:"backup,required"`
	// Media says how the wrapped key's media were destroyed (for the
	// minutes: "shredded by alice and bob").
	Media string `yaml:"media_destroyed,required"`
}

// planLifecycle validates and plans rotate, compromise, roster and review.
func (e *Engine) planLifecycle(p *Plan) error {
	s, st := e.Script, e.Ledger.State()
	switch s.Kind {
	case KindRotate:
		old, err := e.lookupKey(s.Rotate.Key, "rotate.key", keyUse{compromised: true})
		if err != nil {
			return err
		}
		e.target = old
		if s.Key.Type != old.Type {
			// Allowed, but said: a rotation may also change the algorithm.
			p.Steps = append(p.Steps, fmt.Sprintf("note: the new version is %s, the old one %s", s.Key.Type, old.Type))
		}
		last := len(p.Steps) - 1 // keep the closing checkpoint last
		p.Steps = append(p.Steps[:last:last], fmt.Sprintf("schedule the retirement of %q (%s) on %s", old.Label, old.ID, s.Rotate.RetireOn), p.Steps[last])
	case KindCompromise:
		ks, err := e.lookupKey(s.Compromise.Key, "compromise.key", keyUse{compromised: true})
		if err != nil {
			return err
		}
		if st.Roster.Member(s.Compromise.ReportedBy) == nil {
			return hint.With(fmt.Errorf("%s: compromise.reported_by: %q is not a member of the roster", s.File, s.Compromise.ReportedBy), "members: "+memberNames(st))
		}
		e.target = ks
		p.KeyID, p.Label = ks.ID, ks.Label
		p.Steps = []string{
			fmt.Sprintf("record key %q (%s) as compromised: %s", ks.Label, ks.ID, s.Compromise.Reason),
			"list its exports and backups for follow-up; refuse its use by later ceremonies",
			"start a rotation: run a rotate script naming this key",
		}
	case KindRoster:
		r, pol, err := e.newRoster()
		if err != nil {
			return err
		}
		p.Steps = []string{
			fmt.Sprintf("change the roster: %d members after the change (%s)", len(r.Members), rosterNames(r)),
			fmt.Sprintf("policy after the change: %d approval rules, algorithms %s", len(pol.Approvals), strings.Join(pol.Algorithms, ", ")),
			"approved under the roster and policy in force now",
		}
		if s.Policy != nil {
			p.Steps = append(p.Steps[:2:2], append([]string{policyChange(&st.Policy, pol)}, p.Steps[2:]...)...)
		}
		held, err := e.sharesHeldBy(s.Roster.Remove)
		if err != nil {
			return err
		}
		e.resplit = held
		for _, name := range s.Roster.Remove {
			if ids := held[name]; len(ids) > 0 {
				p.Steps = append(p.Steps, fmt.Sprintf("%s holds a share of backup %s: each is re-share due until a reshare ceremony (kind: reshare) gives its shares to members who stay", name, strings.Join(ids, ", ")))
			}
		}
	case KindDestroyBackup:
		b, ok := st.Backup(s.DestroyBackup.Backup)
		if !ok {
			return hint.With(fmt.Errorf("%s: destroy_backup.backup: no backup %q in the ledger", s.File, s.DestroyBackup.Backup), "custos report lists each key's backups")
		}
		if b.Destroyed != 0 {
			return fmt.Errorf("%s: destroy_backup.backup: backup %s was already destroyed (record %d)", s.File, s.DestroyBackup.Backup, b.Destroyed)
		}
		ks := st.Keys[b.KeyID]
		e.target = ks
		p.KeyID, p.Label = ks.ID, ks.Label
		var holders []string
		for _, idx := range slices.Sorted(maps.Keys(b.Holders)) {
			holders = append(holders, fmt.Sprintf("share %d: %s", idx, b.Holders[idx]))
		}
		p.Steps = []string{
			fmt.Sprintf("record backup %s of key %q (%s) destroyed: media %s", s.DestroyBackup.Backup, ks.Label, ks.ID, s.DestroyBackup.Media),
			"each holder destroys their share and signs that they did, with their own key (--key NAME=REF for each): " + strings.Join(holders, ", "),
			"after this no restore of the key from this backup is possible",
		}
	case KindReview:
		p.Steps = []string{
			fmt.Sprintf("review of %s: %d members, %d keys, ledger head %s", s.Review.Period, len(st.Roster.Members), len(st.Keys), short(st.Head)),
			"the security officer signs the review with the findings",
		}
	}
	return nil
}

// keyUse says which keys besides active, uncompromised ones a ceremony
// may name.
type keyUse struct {
	compromised bool // rotate and destroy a compromised key away
	destroyed   bool // restore a destroyed key from its backup
}

// lookupKey resolves a key named by label or id in the ledger and checks
// that the ceremony may use it.
func (e *Engine) lookupKey(ref, field string, use keyUse) (*ledger.KeyState, error) {
	st := e.Ledger.State()
	ks := st.Keys[ref]
	if ks == nil {
		ks = keyByLabel(st, ref, false)
	}
	if ks == nil {
		return nil, hint.With(fmt.Errorf("%s: %s: no key %q in the ledger", e.Script.File, field, ref), "custos inventory LEDGER lists the keys")
	}
	ok := ks.State == ledger.KeyActive || (use.destroyed && ks.State == ledger.KeyDestroyed)
	if !ok {
		return nil, fmt.Errorf("%s: %s: key %q (%s) is %s (record %d) and cannot be used", e.Script.File, field, ks.Label, ks.ID, ks.State, lastEvent(ks))
	}
	if seq := compromisedAt(ks); seq > 0 && !use.compromised {
		return nil, hint.With(fmt.Errorf("%s: %s: key %q (%s) was reported compromised (record %d) and cannot be used", e.Script.File, field, ks.Label, ks.ID, seq),
			"rotate it, then destroy it")
	}
	return ks, nil
}

// compromisedAt is the record that reported the key compromised, or 0.
func compromisedAt(ks *ledger.KeyState) int64 {
	for _, ev := range ks.History {
		if ev.Kind == "key.compromised" {
			return ev.Seq
		}
	}
	return 0
}

// draftLifecycle adds the facts of rotate, compromise, roster and review.
func (e *Engine) draftLifecycle(facts map[string]any) error {
	s, st := e.Script, e.Ledger.State()
	switch s.Kind {
	case KindRotate:
		facts["rotates"] = e.target.ID
		facts["rotates_label"] = e.target.Label
		facts["retire_on"] = s.Rotate.RetireOn.String()
	case KindCompromise:
		c := s.Compromise
		facts["key_id"] = e.target.ID
		facts["label"] = e.target.Label
		facts["reason"] = c.Reason
		facts["reported_by"] = c.ReportedBy
		var follow []any
		for _, ev := range e.target.History {
			if ev.Kind == "key.exported" || ev.Kind == "backup.split" {
				follow = append(follow, map[string]any{"seq": ev.Seq, "kind": ev.Kind, "time": ev.Time})
			}
		}
		if follow == nil {
			follow = []any{}
		}
		facts["follow_up"] = follow
	case KindRoster:
		r, pol, err := e.newRoster()
		if err != nil {
			return err
		}
		rf, err := ledger.FactsOf(map[string]any{"roster": r, "policy": pol})
		if err != nil {
			return err
		}
		facts["roster"], facts["policy"] = rf["roster"], rf["policy"]
		facts["reason"] = s.Roster.Reason
		var revoked []any
		for _, name := range s.Roster.Remove {
			for _, id := range e.resplit[name] {
				revoked = append(revoked, map[string]any{"backup": id, "holder": name})
			}
		}
		if revoked != nil {
			facts["shares_to_resplit"] = revoked
		}
	case KindDestroyBackup:
		b, _ := st.Backup(s.DestroyBackup.Backup)
		facts["key_id"] = e.target.ID
		facts["label"] = e.target.Label
		facts["backup_id"] = s.DestroyBackup.Backup
		facts["media_destroyed"] = s.DestroyBackup.Media
		var attested []any
		for _, idx := range slices.Sorted(maps.Keys(b.Holders)) {
			name := b.Holders[idx]
			sg, err := e.signer(name, "the attestation that their share is destroyed")
			if err != nil {
				return err
			}
			sig, err := sg.Sign(ledger.NamespaceShareDestroyed, ledger.ShareDestroyedMessage(st.LedgerID, s.DestroyBackup.Backup, idx, name))
			if err != nil {
				return fmt.Errorf("attestation by %s: %w", name, err)
			}
			attested = append(attested, map[string]any{"index": idx, "member": name, "signature": string(sig)})
		}
		facts["attested"] = attested
	case KindReview:
		facts["period"] = s.Review.Period
		facts["findings"] = s.Review.Findings
		facts["reviewed_head"] = st.Head
		var members []any
		for _, m := range st.Roster.Members {
			fp := ""
			if pub, err := m.PublicKey(); err == nil {
				fp = sign.Fingerprint(pub)
			}
			members = append(members, map[string]any{"name": m.Name, "roles": toAny(m.Roles), "key": fp})
		}
		facts["roster"] = members
		ids := make([]string, 0, len(st.Keys))
		for id := range st.Keys {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		var inv []any
		for _, id := range ids {
			k := st.Keys[id]
			inv = append(inv, map[string]any{"key_id": id, "label": k.Label, "type": k.Type, "state": k.State})
		}
		if inv == nil {
			inv = []any{}
		}
		facts["inventory"] = inv
	}
	return nil
}

// retirementRecord schedules the old key's retirement after a rotation.
func (e *Engine) retirementRecord(successor string) *ledger.Record {
	facts := map[string]any{"key_id": e.target.ID, "label": e.target.Label, "retire_on": e.Script.Rotate.RetireOn.String(), "successor": successor}
	return e.Ledger.Draft("key.retirement.scheduled", e.plan.Ceremony, e.Script.Operator, facts, e.now())
}

// newRoster applies the roster script to the roster and policy in force.
func (e *Engine) newRoster() (*ledger.Roster, *ledger.Policy, error) {
	s, st := e.Script, e.Ledger.State()
	rp := s.Roster
	r := &ledger.Roster{Members: slices.Clone(st.Roster.Members)}
	for i, name := range rp.Remove {
		j := slices.IndexFunc(r.Members, func(m ledger.Member) bool { return m.Name == name })
		if j < 0 {
			return nil, nil, fmt.Errorf("%s: roster.remove[%d]: %q is not a member", s.File, i, name)
		}
		if name == s.Operator {
			return nil, nil, fmt.Errorf("%s: roster.remove[%d]: the operator cannot remove themself", s.File, i)
		}
		r.Members = slices.Delete(r.Members, j, j+1)
	}
	for i, nm := range rp.Add {
		if r.Member(nm.Name) != nil {
			return nil, nil, fmt.Errorf("%s: roster.add[%d].name: %q is already a member", s.File, i, nm.Name)
		}
		pub, err := sign.ParsePublicKey(nm.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: roster.add[%d].key: %w", s.File, i, err)
		}
		if err := sign.CheckMemberKey(pub, st.Policy.RSAMinBits()); err != nil {
			return nil, nil, fmt.Errorf("%s: roster.add[%d].key: %w", s.File, i, err)
		}
		key := strings.Join(strings.Fields(sign.AuthorizedKey(pub))[:2], " ")
		r.Members = append(r.Members, ledger.Member{Name: nm.Name, Roles: slices.Clone(nm.Roles), Key: key})
	}
	names := make([]string, 0, len(rp.Roles))
	for n := range rp.Roles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		j := slices.IndexFunc(r.Members, func(m ledger.Member) bool { return m.Name == n })
		if j < 0 {
			return nil, nil, fmt.Errorf("%s: roster.roles.%s: not a member", s.File, n)
		}
		r.Members[j].Roles = slices.Clone(rp.Roles[n])
	}
	// Every field of the policy in force carries over unless the script
	// changes it.
	pol := &ledger.Policy{Approvals: map[string]ledger.Requirement{}, Algorithms: slices.Clone(st.Policy.Algorithms), Rotation: maps.Clone(st.Policy.Rotation),
		MemberKeyRSAMinBits: st.Policy.MemberKeyRSAMinBits, ReviewCadence: st.Policy.ReviewCadence,
		GeneratorMayApproveDestruction: st.Policy.GeneratorMayApproveDestruction,
		Environments:                   slices.Clone(st.Policy.Environments), Classifications: slices.Clone(st.Policy.Classifications),
		ExportOAEP: slices.Clone(st.Policy.ExportOAEP)}
	for k, v := range st.Policy.Approvals {
		pol.Approvals[k] = v
	}
	for k, v := range rp.Approvals {
		pol.Approvals[k] = ledger.Requirement{Roles: v.Roles, Count: v.Count, SelfApproval: v.SelfApproval}
	}
	if rp.Algorithms != nil {
		pol.Algorithms = slices.Clone(rp.Algorithms)
	}
	if pp := s.Policy; pp != nil {
		for _, t := range slices.Sorted(maps.Keys(pp.Rotation)) {
			if pol.Rotation == nil {
				pol.Rotation = map[string]string{}
			}
			if pp.Rotation[t] == "" {
				delete(pol.Rotation, t)
			} else {
				pol.Rotation[t] = pp.Rotation[t]
			}
		}
		if len(pol.Rotation) == 0 {
			pol.Rotation = nil
		}
		if pp.ReviewCadence != "" {
			pol.ReviewCadence = pp.ReviewCadence
		}
		if pp.GeneratorMayApproveDestruction != nil {
			pol.GeneratorMayApproveDestruction = *pp.GeneratorMayApproveDestruction
		}
		if pp.Environments != nil {
			pol.Environments = slices.Clone(pp.Environments)
		}
		if pp.Classifications != nil {
			pol.Classifications = slices.Clone(pp.Classifications)
		}
		if pp.ExportOAEP != nil {
			pol.ExportOAEP = slices.Clone(pp.ExportOAEP)
		}
		if len(pol.ExportOAEP) == 0 {
			pol.ExportOAEP = nil
		}
		if len(pol.Environments) == 0 {
			pol.Environments = nil
		}
		if len(pol.Classifications) == 0 {
			pol.Classifications = nil
		}
	}
	if err := ledger.Validate(r, pol); err != nil {
		return nil, nil, hint.With(fmt.Errorf("%s: roster: the roster after the change is not valid: %w", s.File, err),
			"every policy rule must remain satisfiable by the members left")
	}
	return r, pol, nil
}

// policyChange says what a roster script's policy section changes, for
// the plan the approvers read.
func policyChange(old, next *ledger.Policy) string {
	var ch []string
	types := maps.Clone(next.Rotation)
	if types == nil {
		types = map[string]string{}
	}
	maps.Copy(types, old.Rotation)
	for _, t := range slices.Sorted(maps.Keys(types)) {
		if a, b := old.Rotation[t], next.Rotation[t]; a != b {
			ch = append(ch, fmt.Sprintf("rotation of %s %s → %s", t, orNone(a), orNone(b)))
		}
	}
	if a, b := old.ReviewCadenceDays(), next.ReviewCadenceDays(); a != b {
		ch = append(ch, fmt.Sprintf("review cadence %d → %d days", a, b))
	}
	for _, v := range []struct {
		name      string
		old, next []string
	}{{"environments", old.Environments, next.Environments}, {"classifications", old.Classifications, next.Classifications},
		{"RSA-OAEP export hashes", old.ExportOAEPHashes(), next.ExportOAEPHashes()}} {
		if !slices.Equal(v.old, v.next) {
			ch = append(ch, fmt.Sprintf("%s %s → %s", v.name, orNone(strings.Join(v.old, ", ")), orNone(strings.Join(v.next, ", "))))
		}
	}
	if old.GeneratorMayApproveDestruction != next.GeneratorMayApproveDestruction {
		ch = append(ch, fmt.Sprintf("generator may approve destruction: %v → %v", old.GeneratorMayApproveDestruction, next.GeneratorMayApproveDestruction))
	}
	if len(ch) == 0 {
		return "the policy section changes nothing"
	}
	return "change the policy: " + strings.Join(ch, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func rosterNames(r *ledger.Roster) string {
	var n []string
	for _, m := range r.Members {
		n = append(n, m.Name+" ("+strings.Join(m.Roles, ", ")+")")
	}
	return strings.Join(n, ", ")
}

// sharesHeldBy lists, for each of names, the live backups (not
// destroyed) whose shares in force they hold: the split's holders, or
// those of the last reshare.
func (e *Engine) sharesHeldBy(names []string) (map[string][]string, error) {
	st := e.Ledger.State()
	out := map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(st.Backups)) {
		b, _ := st.Backup(id)
		if b.Destroyed != 0 {
			continue
		}
		for _, idx := range slices.Sorted(maps.Keys(b.Holders)) {
			if h := b.Holders[idx]; slices.Contains(names, h) {
				out[h] = append(out[h], id)
			}
		}
	}
	return out, nil
}

// destroyConfirmed refuses a destroy whose key label was not typed in
// full: in the script (destroy.confirm), at the TUI's prompt or at
// custos run's. Plan already refused a confirm naming another key; this
// refuses none at all, on every path that runs a destroy.
func (e *Engine) destroyConfirmed() error {
	s := e.Script
	if s.Kind != KindDestroy || s.Destroy == nil {
		return nil
	}
	if s.Destroy.Confirm == "" {
		label := s.Destroy.Key
		if e.plan != nil && e.plan.Label != "" {
			label = e.plan.Label
		}
		return hint.With(fmt.Errorf("%s: destroy.confirm: the label of the key to destroy (%q) was not typed; nothing was done", s.File, label),
			"type it in full when custos run asks at the terminal, or write confirm: "+label+" in the script's destroy section")
	}
	return nil
}
