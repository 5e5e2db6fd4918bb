package ledger

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"custos/sign"
)

// The margins of the clock checks: the writer refuses a record dated more
// than WriterClockMargin ahead of its clock; verify fails one dated more
// than ClockMargin ahead of the verifier's (clocks of air-gapped
// workstations drift, so verify allows more).
const (
	WriterClockMargin = 5 * time.Minute
	ClockMargin       = time.Hour
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

// backupInfo is what the replay keeps of a backup.split and of the
// reshares after it.
type backupInfo struct {
	seq         int64
	keyID       string
	m, n        int64            // of the current shares
	setSeq      int64            // the record that made the current shares: the split or the last backup.reshared
	kcv         string           // the wrapping key's check value, as the split recorded it
	holders     map[int64]string // share index → holder
	commitments map[int64]string // share index → its commitment
	// retired maps each commitment a reshare retired to where.
	retired   map[string]RetiredShare
	destroyed int64 // the backup.destroyed record, or 0
}

// RetiredShare is a share a reshare replaced: its index and holder in
// the set it belonged to, and the backup.reshared that retired it.
type RetiredShare struct {
	Index  int64
	Holder string
	Seq    int64
}

// actorRoles are the roles that may write rec: its row's, or for the
// records that settle or close a ceremony, those of the ceremony's
// opening (an auditor closes nothing).
func (s *State) actorRoles(rec *Record, spec kindSpec) []string {
	if spec.roles != nil {
		return spec.roles
	}
	if c := s.cer; c != nil && c.id == rec.Ceremony && c.closed == 0 {
		return kinds[c.opening.Kind].roles
	}
	return anyone
}

// lifecycle moves the ceremony, the key and the backups by one record,
// following its kind's row of the table (kinds.go).
func (s *State) lifecycle(rec *Record, ts string) error {
	spec := kinds[rec.Kind] // authorize refused unknown kinds
	intent, err := s.ceremonyStep(rec, spec)
	if err != nil {
		return err
	}
	if err := checkFacts(spec, rec); err != nil {
		return err
	}
	if serial := hsmSerial(rec.Facts); spec.facts["hsm"].t != 0 && rec.Facts["hsm"] != nil {
		seq, enrolled := s.HSMs[serial]
		switch {
		case rec.Kind == "hsm.enrolled" && (serial == "" || enrolled):
			return fmt.Errorf("facts.hsm.serial %.40q is empty or already enrolled (record %d): an HSM is enrolled once", serial, seq)
		case rec.Kind != "hsm.enrolled" && !enrolled:
			return fmt.Errorf("facts.hsm names HSM serial %q, which no hsm.enrolled record enrolled", serial)
		}
	}
	if intent != nil {
		for _, f := range spec.bind {
			if !sameFact(intent.Facts[f], rec.Facts[f]) {
				return fmt.Errorf("facts.%s of %s is not what intent %s (record %d) was approved for", f, rec.Kind, intent.Kind, intent.Seq)
			}
		}
	}
	if rec.Kind == "ceremony.aborted" && intent != nil {
		if id := factString(rec.Facts, "key_id"); id != "" && id != factString(intent.Facts, "key_id") {
			return fmt.Errorf("ceremony.aborted names key %q but intent %d is for key %q", id, intent.Seq, factString(intent.Facts, "key_id"))
		}
		if intent.Kind == "key.generate.intent" {
			if k := s.ownKey(factString(intent.Facts, "key_id")); k != nil {
				k.State = KeyAborted
				s.touch(k, rec, ts)
			}
		}
		return nil
	}
	switch rec.Kind {
	case "ceremony.closed":
		return s.checkpoint(rec)
	case "review.signed":
		if h := factString(rec.Facts, "reviewed_head"); h != rec.Prev {
			return fmt.Errorf("facts.reviewed_head %s is not the head the review follows (%s)", short(h), short(rec.Prev))
		}
	}
	if spec.key == keyNone {
		return nil
	}
	return s.keyStep(rec, spec, intent, ts)
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

// keyStep checks and moves the key rec names.
func (s *State) keyStep(rec *Record, spec kindSpec, intent *Record, ts string) error {
	keyID := factString(rec.Facts, "key_id")
	if !validID(keyID) {
		return fmt.Errorf("facts.key_id %.70q is not a valid key id", keyID)
	}
	k := s.ownKey(keyID)
	switch {
	case spec.key == keyNew:
		if k != nil {
			return fmt.Errorf("key %s already exists (record %d)", keyID, k.CreatedSeq)
		}
		if err := s.newKeyRules(rec); err != nil {
			return err
		}
		k = &KeyState{ID: keyID, CreatedSeq: rec.Seq, CreatedTime: ts, Facts: map[string]any{}}
		s.Keys[keyID] = k
		s.labels.set(factString(rec.Facts, "label"), keyID)
	case k == nil:
		return fmt.Errorf("key %s does not exist", keyID)
	case spec.key == keyRestorable:
		if k.State != KeyActive && k.State != KeyDestroyed {
			return fmt.Errorf("%s needs key %s to be active or destroyed, it is %s", rec.Kind, keyID, k.State)
		}
		if err := s.restoreRules(rec, k); err != nil {
			return err
		}
	case k.State == KeyDestroyed && spec.key != keyMade:
		return fmt.Errorf("key %s was destroyed (record %d) and cannot be used", keyID, lastEvent(k, "key.destroyed"))
	case spec.key == keyGenerating && k.State != KeyGenerating, spec.key == keyActive && k.State != KeyActive:
		return fmt.Errorf("%s needs key %s to be %s, it is %s", rec.Kind, keyID, map[keyNeed]string{keyGenerating: KeyGenerating, keyActive: KeyActive}[spec.key], k.State)
	case spec.key == keyMade && k.State == KeyDestroyed:
		// A backup of a destroyed key is destroyed after it.
	case spec.key == keyLive && k.State == KeyAborted, spec.key == keyMade && k.State != KeyActive:
		return fmt.Errorf("key %s was never made (its generation was aborted)", keyID)
	}
	// A key's identity is set by its generation and never changes.
	if rec.Kind != "key.generate.intent" {
		identity := keyIdentity
		if !describesKey[rec.Kind] {
			identity = []string{"label", "type"} // an export's purpose is not the key's
		}
		for _, f := range identity {
			v, has := rec.Facts[f]
			if !has {
				continue
			}
			old, set := k.Facts[f]
			switch {
			case set && !sameFact(old, v):
				return fmt.Errorf("facts.%s %s differs from key %s's %s: a key's facts are set once, at its generation", f, brief(v), keyID, brief(old))
			case !set && rec.Kind != "key.generated":
				return fmt.Errorf("facts.%s: %s may not set key %s's %s", f, rec.Kind, keyID, f)
			}
		}
	}
	if id, has := rec.Facts["id"]; has && id != keyID {
		return fmt.Errorf("facts.id %s is not the key's id %s", brief(id), keyID)
	}
	if err := s.hsmHolds(rec, spec, k); err != nil {
		return err
	}
	if err := s.backupRules(rec, k); err != nil {
		return err
	}
	if rec.Kind == "key.destroy.intent" && !s.Policy.GeneratorMayApproveDestruction {
		for _, a := range rec.Approvals {
			if a.Member == k.generatedBy {
				return fmt.Errorf("approval by %s, who generated key %s: the policy forbids one member both generating a key and approving its destruction", a.Member, keyID)
			}
		}
	}
	switch rec.Kind {
	case "key.generated":
		k.generatedBy = rec.Actor
		k.on = []string{hsmSerial(rec.Facts)}
	case "key.restored":
		if serial := hsmSerial(rec.Facts); !slices.Contains(k.on, serial) {
			k.on = append(slices.Clip(k.on), serial)
		}
	case "key.destroyed":
		k.on = slices.DeleteFunc(slices.Clone(k.on), func(s string) bool { return s == hsmSerial(rec.Facts) })
	}
	switch {
	case spec.set == KeyDestroyed && len(k.on) > 0:
		// Another HSM still holds a copy (a restore made one): the key
		// stays active there.
	case spec.set != "":
		k.State = spec.set
	}
	if describesKey[rec.Kind] {
		for fk, fv := range rec.Facts {
			switch fk {
			case "key_id":
			case "label":
				k.Label, _ = fv.(string)
			case "type":
				k.Type, _ = fv.(string)
			}
			k.Facts[fk] = fv
		}
	}
	if spec.key == keyNew {
		k.PolicyRotation = s.Policy.Rotation[k.Type]
	}
	s.touch(k, rec, ts)
	return nil
}

// describesKey lists the kinds whose facts describe the key itself and so
// are merged into keys/<id>.json; the facts of other kinds (an export's
// recipient and purpose, a share check) stay in their records.
//
// An intent other than the generation's is not among them: the key
// changes on outcomes, never on intents (a restore's target HSM is the
// key's only once key.restored says the key is there).
var describesKey = map[string]bool{
	"key.generate.intent": true, "key.generated": true,
	"key.restored": true,
	"backup.split": true, "key.destroyed": true, "key.retirement.scheduled": true,
	"key.compromised": true,
}

// newKeyRules are the policy's rules for a new key: an approved type, a
// label no live key has, a rotation period within the policy's.
func (s *State) newKeyRules(rec *Record) error {
	typ, label := factString(rec.Facts, "type"), factString(rec.Facts, "label")
	if !s.Policy.AlgorithmApproved(typ) {
		return fmt.Errorf("key type %.40q is not on the policy's approved list", typ)
	}
	if id, ok := s.labels.get(label); ok {
		if k := s.Keys[id]; k != nil && (k.State == KeyActive || k.State == KeyGenerating) {
			return fmt.Errorf("label %q is the label of key %s, which is %s: the label of a live key is unique", label, k.ID, k.State)
		}
	}
	if max := PeriodDays(s.Policy.Rotation[typ]); max > 0 {
		if d, ok := factInt(rec.Facts, "rotation_days"); ok && (d <= 0 || d > max) {
			return fmt.Errorf("facts.rotation_days %d is outside the policy's rotation period for %s (%s, %d days)", d, typ, s.Policy.Rotation[typ], max)
		}
	}
	if old := factString(rec.Facts, "rotates"); old != "" {
		k := s.Keys[old]
		if k == nil || k.State != KeyActive {
			return fmt.Errorf("facts.rotates names key %q, which is not an active key", old)
		}
	}
	return nil
}

// hsmHolds checks that a record acting on a key's HSM names one that
// holds the key (a generation or a restore names where the key will be).
func (s *State) hsmHolds(rec *Record, spec kindSpec, k *KeyState) error {
	if !spec.hsm || rec.Kind == "key.generate.intent" || rec.Kind == "key.generated" || spec.key == keyRestorable {
		return nil
	}
	if rec.Kind == "backup.reshare.intent" || rec.Kind == "backup.reshared" {
		return nil // the HSM checks the rebuilt wrapping key; the key itself may be on none
	}
	if serial := hsmSerial(rec.Facts); !slices.Contains(k.on, serial) {
		return fmt.Errorf("facts.hsm names HSM %q, which does not hold key %s (held on: %s)", serial, k.ID, strings.Join(k.on, ", "))
	}
	return nil
}

// restoreRules: a restore comes from a recorded backup of this very key,
// and shows the check values of its generation.
func (s *State) restoreRules(rec *Record, k *KeyState) error {
	id := factString(rec.Facts, "backup_id")
	b, _ := s.backups.get(id)
	if b == nil || b.keyID != k.ID {
		return fmt.Errorf("facts.backup_id %.70q is not a backup of key %s (no backup.split recorded it)", id, k.ID)
	}
	if n, ok := factInt(rec.Facts, "backup_record"); ok && n != b.seq {
		return fmt.Errorf("facts.backup_record %d is not record %d, the backup.split of %s", n, b.seq, id)
	}
	if b.destroyed != 0 {
		return fmt.Errorf("backup %s was destroyed (record %d): nothing is left to restore key %s from", id, b.destroyed, k.ID)
	}
	if rec.Kind == "key.restored" {
		used, _ := rec.Facts["shares_used"].([]any)
		for i, e := range used {
			u, _ := e.(map[string]any)
			c := factString(u, "commitment")
			if c == "" {
				continue // a restore recorded before commitments were
			}
			if r, ok := b.retired[c]; ok {
				return fmt.Errorf("facts.shares_used[%d] is share %d of backup %s held by %s, retired by the reshare of record %d: a retired share restores nothing", i, r.Index, id, r.Holder, r.Seq)
			}
			if idx, _ := factInt(u, "index"); b.commitments[idx] != c {
				return fmt.Errorf("facts.shares_used[%d]: its commitment is not that of share %d of backup %s", i, idx, id)
			}
		}
		for _, f := range checkValues {
			if v, ok := k.Facts[f]; ok && !sameFact(v, rec.Facts[f]) {
				return fmt.Errorf("facts.%s %s is not key %s's %s from its generation (%s): the restored key is another key", f, brief(rec.Facts[f]), k.ID, f, brief(v))
			}
		}
	}
	return nil
}

// backupRules keeps the backups: a backup id names one backup, and a
// share check names a share of it, checked by its holder.
func (s *State) backupRules(rec *Record, k *KeyState) error {
	switch rec.Kind {
	case "backup.intent":
		if seq := lastEvent(k, "key.compromised"); seq > 0 {
			return fmt.Errorf("key %s was reported compromised (record %d): it may only be rotated away and destroyed", k.ID, seq)
		}
		if id := factString(rec.Facts, "backup_id"); !validID(id) || s.hasBackup(id) {
			return fmt.Errorf("facts.backup_id %.70q is already a backup, or not a valid id", id)
		}
		m, _ := factInt(rec.Facts, "m")
		n, _ := factInt(rec.Facts, "n")
		if m < 2 || m > n || n > 255 {
			return fmt.Errorf("facts.m %d of facts.n %d is not a threshold of 2 or more out of at most 255 shares", m, n)
		}
		if h := factNames(rec.Facts, "holders"); len(h) > 0 && int64(len(h)) != n {
			return fmt.Errorf("facts.holders names %d holders for %d shares", len(h), n)
		}
	case "backup.split":
		id := factString(rec.Facts, "backup_id")
		m, _ := factInt(rec.Facts, "m")
		n, _ := factInt(rec.Facts, "n")
		b := &backupInfo{seq: rec.Seq, keyID: k.ID, m: m, n: n, setSeq: rec.Seq, kcv: factString(rec.Facts, "wrapping_key_kcv_cmac")}
		var err error
		if b.holders, b.commitments, err = s.shareSet(rec, n, s.cer.opening, "backup"); err != nil {
			return err
		}
		if s.hasBackup(id) {
			return fmt.Errorf("facts.backup_id %s is already a backup", id)
		}
		s.backups.set(id, b)
		k.BackupsOutstanding = append(slices.Clip(k.BackupsOutstanding), id)
	case "backup.reshare.intent":
		if seq := lastEvent(k, "key.compromised"); seq > 0 {
			return fmt.Errorf("key %s was reported compromised (record %d): it may only be rotated away and destroyed", k.ID, seq)
		}
		b, err := s.liveBackup(rec, k)
		if err != nil {
			return err
		}
		if n, _ := factInt(rec.Facts, "backup_record"); n != b.seq {
			return fmt.Errorf("facts.backup_record %d is not record %d, the backup.split of %s", n, b.seq, factString(rec.Facts, "backup_id"))
		}
		if r, _ := factInt(rec.Facts, "replaces"); r != b.setSeq {
			return fmt.Errorf("facts.replaces %d is not record %d, which made the current shares of backup %s", r, b.setSeq, factString(rec.Facts, "backup_id"))
		}
		m, _ := factInt(rec.Facts, "m")
		n, _ := factInt(rec.Facts, "n")
		if m < 2 || m > n || n > 255 {
			return fmt.Errorf("facts.m %d of facts.n %d is not a threshold of 2 or more out of at most 255 shares", m, n)
		}
		holders := factNames(rec.Facts, "holders")
		if int64(len(holders)) != n {
			return fmt.Errorf("facts.holders names %d holders for %d shares", len(holders), n)
		}
		for i, h := range holders {
			if s.Roster.Member(h) == nil {
				return fmt.Errorf("facts.holders[%d]: %s is not a member of the roster", i, h)
			}
		}
		if err := s.checkDeliveryMap(rec.Facts, holders); err != nil {
			return err
		}
	case "backup.reshared":
		b, err := s.liveBackup(rec, k)
		if err != nil {
			return err
		}
		id := factString(rec.Facts, "backup_id")
		if kcv := factString(rec.Facts, "wrapping_key_kcv_cmac"); b.kcv != "" && kcv != b.kcv {
			return fmt.Errorf("facts.wrapping_key_kcv_cmac %.20q is not backup %s's (%s): the shares rebuild another key", kcv, id, b.kcv)
		}
		// Every share of the set replaced is named retired, as it was.
		rl, _ := rec.Facts["retired"].([]any)
		named := map[int64]bool{}
		for i, e := range rl {
			r, _ := e.(map[string]any)
			idx, _ := factInt(r, "index")
			if b.holders[idx] == "" || named[idx] || factString(r, "member") != b.holders[idx] || factString(r, "commitment") != b.commitments[idx] {
				return fmt.Errorf("facts.retired[%d]: not share %d of the shares record %d made (its holder and commitment), or named twice", i, idx, b.setSeq)
			}
			named[idx] = true
		}
		if len(named) != len(b.holders) {
			return fmt.Errorf("facts.retired names %d of the %d shares record %d made: a reshare retires every old share", len(named), len(b.holders), b.setSeq)
		}
		nb := *b
		n, _ := factInt(rec.Facts, "n")
		if nb.holders, nb.commitments, err = s.shareSet(rec, n, s.cer.opening, "reshare"); err != nil {
			return err
		}
		nb.retired = maps.Clone(b.retired)
		if nb.retired == nil {
			nb.retired = map[string]RetiredShare{}
		}
		for idx, c := range b.commitments {
			if c != "" {
				nb.retired[c] = RetiredShare{Index: idx, Holder: b.holders[idx], Seq: rec.Seq}
			}
		}
		nb.m, _ = factInt(rec.Facts, "m")
		nb.n, nb.setSeq = n, rec.Seq
		s.backups.set(id, &nb)
	case "backup.destroyed":
		id := factString(rec.Facts, "backup_id")
		b, _ := s.backups.get(id)
		if b == nil || b.keyID != k.ID {
			return fmt.Errorf("facts.backup_id %.70q is not a backup of key %s", id, k.ID)
		}
		if b.destroyed != 0 {
			return fmt.Errorf("backup %s was already destroyed (record %d)", id, b.destroyed)
		}
		nb := *b
		nb.destroyed = rec.Seq
		s.backups.set(id, &nb)
		k.BackupsOutstanding = slices.DeleteFunc(slices.Clone(k.BackupsOutstanding), func(x string) bool { return x == id })
	case "key.destroy.intent":
		// The approvers see every copy the key has: the plan and the
		// record list its outstanding backups and its exports.
		if want := k.BackupsOutstanding; len(want) > 0 && !sameFact(toList(want), rec.Facts["backups"]) {
			return fmt.Errorf("facts.backups %s is not the key's outstanding backups %s: the destruction must name every copy", brief(rec.Facts["backups"]), brief(toList(want)))
		}
		if want := ExportsOf(k); len(want) > 0 && !sameFact(want, rec.Facts["exports"]) {
			return fmt.Errorf("facts.exports %s is not the key's exports %s (their records): the destruction must name every copy", brief(rec.Facts["exports"]), brief(want))
		}
	case "share.verified":
		id := factString(rec.Facts, "backup_id")
		b, _ := s.backups.get(id)
		if b == nil || b.keyID != k.ID {
			return fmt.Errorf("facts.backup_id %.70q is not a backup of key %s", id, k.ID)
		}
		idx, _ := factInt(rec.Facts, "index")
		if holder := factString(rec.Facts, "holder"); b.holders[idx] != holder || holder != rec.Actor {
			return fmt.Errorf("share %d of backup %s is held by %s: only its holder checks it and signs the record (holder %q, actor %s)", idx, id, orNone(b.holders[idx]), holder, rec.Actor)
		}
		if n, ok := factInt(rec.Facts, "backup_record"); ok && n != b.seq {
			return fmt.Errorf("facts.backup_record %d is not record %d, the backup.split of %s", n, b.seq, id)
		}
		if c := factString(rec.Facts, "commitment"); c != b.commitments[idx] {
			if r, ok := b.retired[c]; ok {
				return fmt.Errorf("facts.commitment is that of share %d of backup %s held by %s, retired by the reshare of record %d: a retired share is never checked again", r.Index, id, r.Holder, r.Seq)
			}
			return fmt.Errorf("facts.commitment is not the commitment backup %s recorded for share %d: the share checked is another share", id, idx)
		}
		if b.destroyed != 0 {
			return fmt.Errorf("backup %s was destroyed (record %d): there is no share left to check", id, b.destroyed)
		}
	case "key.export.intent":
		if seq := lastEvent(k, "key.compromised"); seq > 0 {
			return fmt.Errorf("key %s was reported compromised (record %d): it may only be rotated away and destroyed", k.ID, seq)
		}
	}
	return nil
}

// shareSet reads the holders of a backup.split or backup.reshared: n
// shares, each with a new index 1..n and a member of the roster, in the
// order and with the deliveries their intent was approved for. It
// returns index → holder and index → commitment.
func (s *State) shareSet(rec *Record, n int64, intent *Record, what string) (map[int64]string, map[int64]string, error) {
	holders, commitments := map[int64]string{}, map[int64]string{}
	hs, _ := rec.Facts["holders"].([]any)
	if int64(len(hs)) != n {
		return nil, nil, fmt.Errorf("facts.holders lists %d shares for n=%d", len(hs), n)
	}
	var want []string
	var delivery map[string]any
	if intent != nil {
		want = factNames(intent.Facts, "holders")
		delivery, _ = intent.Facts["delivery"].(map[string]any)
	}
	for i, h := range hs {
		e, _ := h.(map[string]any)
		idx, ok := factInt(e, "index")
		member := factString(e, "member")
		if !ok || idx < 1 || idx > n || holders[idx] != "" || s.Roster.Member(member) == nil {
			return nil, nil, fmt.Errorf("facts.holders[%d]: needs a new share index 1..%d and a member of the roster", i, n)
		}
		holders[idx] = member
		commitments[idx] = factString(e, "commitment")
		d := factString(e, "delivery")
		if err := s.checkDelivery(member, d); err != nil {
			return nil, nil, fmt.Errorf("facts.holders[%d]: %w", i, err)
		}
		if approved, has := delivery[member]; has && approved != orSSH(d) {
			return nil, nil, fmt.Errorf("facts.holders[%d]: %s's share was delivered by %s, but the %s was approved for delivery by %v", i, member, orSSH(d), what, approved)
		}
	}
	for i, name := range want {
		if holders[int64(i+1)] != name {
			return nil, nil, fmt.Errorf("facts.holders: share %d is %s's, but the %s was approved for holders %s", i+1, orNone(holders[int64(i+1)]), what, strings.Join(want, ", "))
		}
	}
	return holders, commitments, nil
}

func orSSH(d string) string {
	if d == "" {
		return DeliverySSH
	}
	return d
}

// checkDelivery: a delivery is one of Deliveries, and a share goes to an
// SSH key only when age can encrypt to that key.
func (s *State) checkDelivery(member, d string) error {
	switch d {
	case "", DeliveryPassphrase, DeliveryCard:
		return nil
	case DeliverySSH:
		if m := s.Roster.Member(member); m != nil && !AgeRecipientKey(m.Key) {
			return fmt.Errorf("delivery ssh to %s, whose key on the roster is not ssh-ed25519 or ssh-rsa: no age file can be encrypted to it", member)
		}
		return nil
	}
	return fmt.Errorf("delivery %.20q is not one of %s", d, strings.Join(Deliveries, ", "))
}

// checkDeliveryMap checks an intent's delivery: holder → a delivery each
// holder may be given, and nobody else.
func (s *State) checkDeliveryMap(facts map[string]any, holders []string) error {
	d, _ := facts["delivery"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(d)) {
		v, _ := d[name].(string)
		if !slices.Contains(holders, name) {
			return fmt.Errorf("facts.delivery.%s: %s is not a holder", name, name)
		}
		if v == "" {
			return fmt.Errorf("facts.delivery.%s must be one of %s", name, strings.Join(Deliveries, ", "))
		}
		if err := s.checkDelivery(name, v); err != nil {
			return fmt.Errorf("facts.delivery.%s: %w", name, err)
		}
	}
	return nil
}

// liveBackup is the backup a reshare record names: of this key, not
// destroyed.
func (s *State) liveBackup(rec *Record, k *KeyState) (*backupInfo, error) {
	id := factString(rec.Facts, "backup_id")
	b, _ := s.backups.get(id)
	if b == nil || b.keyID != k.ID {
		return nil, fmt.Errorf("facts.backup_id %.70q is not a backup of key %s", id, k.ID)
	}
	if b.destroyed != 0 {
		return nil, fmt.Errorf("backup %s was destroyed (record %d): there are no shares left to reshare", id, b.destroyed)
	}
	return b, nil
}

// NamespaceSharePresented is the namespace of a holder's signature that
// they presented their share to a reshare.
const NamespaceSharePresented = "custos-share-presented"

// SharePresentedMessage is what a holder signs when their share, checked
// against its commitment, is presented to reshare ceremony cer.
func SharePresentedMessage(ledger, backup string, index int64, holder, commitment, cer string) []byte {
	return []byte("custos share presented v1\nledger " + ledger + "\nbackup " + backup + "\nshare " + strconv.FormatInt(index, 10) +
		"\nholder " + holder + "\ncommitment " + commitment + "\nceremony " + cer + "\n")
}

// presentChecks checks a backup.reshare.intent's presented shares: at
// least the current threshold of them, each a current share named with
// its holder and commitment, each signed by that holder. One member
// alone cannot reshare: the old shares' holders sign that they took part.
func (s *State) presentChecks(rec *Record) ([]approvalCheck, error) {
	if rec.Kind != "backup.reshare.intent" {
		return nil, nil
	}
	id := factString(rec.Facts, "backup_id")
	b, _ := s.backups.get(id)
	if b == nil {
		return nil, fmt.Errorf("facts.backup_id %.70q is not a backup of this ledger", id)
	}
	l, _ := rec.Facts["presented"].([]any)
	seen := map[int64]bool{}
	var checks []approvalCheck
	for i, e := range l {
		p, _ := e.(map[string]any)
		idx, ok := factInt(p, "index")
		member, c, sig := factString(p, "member"), factString(p, "commitment"), factString(p, "signature")
		if len(p) != 4 || !ok || member == "" || sig == "" {
			return nil, fmt.Errorf("facts.presented[%d] must be {index, member, commitment, signature}", i)
		}
		if r, ok := b.retired[c]; ok {
			return nil, fmt.Errorf("facts.presented[%d]: share %d of backup %s held by %s was retired by the reshare of record %d", i, r.Index, id, r.Holder, r.Seq)
		}
		if b.holders[idx] != member || b.commitments[idx] != c || seen[idx] {
			return nil, fmt.Errorf("facts.presented[%d]: share %d of backup %s is held by %s with another commitment, not presented by %s (or presented twice)", i, idx, id, orNone(b.holders[idx]), member)
		}
		seen[idx] = true
		m := s.Roster.Member(member)
		if m == nil {
			return nil, fmt.Errorf("facts.presented[%d]: %s is no longer a member: their share cannot be presented", i, member)
		}
		pub, err := s.pub(m)
		if err != nil {
			return nil, fmt.Errorf("facts.presented[%d]: %w", i, err)
		}
		checks = append(checks, approvalCheck{member: member, pub: pub, sig: []byte(sig), ns: NamespaceSharePresented,
			msg: SharePresentedMessage(s.LedgerID, id, idx, member, c, rec.Ceremony)})
	}
	if int64(len(seen)) < b.m {
		return nil, fmt.Errorf("%d shares of backup %s presented, its threshold is %d: a reshare needs that many holders to present their shares", len(seen), id, b.m)
	}
	return checks, nil
}

// resplitRule: a roster change that removes a holder of a live backup's
// current shares names that backup in shares_to_resplit (and names no
// other), so the approvers see what the change leaves to do.
func (s *State) resplitRule(rec *Record, next *Roster) error {
	want := map[string]bool{}
	for _, id := range s.backups.keys() {
		b, _ := s.backups.get(id)
		if b.destroyed != 0 {
			continue
		}
		for _, h := range b.holders {
			if s.Roster.Member(h) != nil && next.Member(h) == nil {
				want[id+"\x00"+h] = true
			}
		}
	}
	l, _ := rec.Facts["shares_to_resplit"].([]any)
	got := map[string]bool{}
	for i, e := range l {
		r, _ := e.(map[string]any)
		k := factString(r, "backup") + "\x00" + factString(r, "holder")
		if len(r) != 2 || !want[k] || got[k] {
			return fmt.Errorf("facts.shares_to_resplit[%d] is not {backup, holder} of a live backup whose share a member leaving holds (or is named twice)", i)
		}
		got[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !got[k] {
			id, h, _ := strings.Cut(k, "\x00")
			return fmt.Errorf("%s holds a share of backup %s and leaves the roster: facts.shares_to_resplit must name it", h, id)
		}
	}
	return nil
}

// ReshareDue lists, for each live backup whose current shares a member
// no longer on the roster holds, those holders: the backup must be
// reshared (or destroyed).
func (s *State) ReshareDue() map[string][]string {
	out := map[string][]string{}
	for _, id := range s.backups.keys() {
		b, _ := s.backups.get(id)
		if b.destroyed != 0 {
			continue
		}
		for _, idx := range slices.Sorted(maps.Keys(b.holders)) {
			if h := b.holders[idx]; s.Roster.Member(h) == nil {
				out[id] = append(out[id], h)
			}
		}
	}
	return out
}

// CeremonyUsed reports whether a record of the ledger already uses the
// ceremony id, and the first such record.
func (s *State) CeremonyUsed(id string) (int64, bool) { return s.ceremonies.get(id) }

// ExportsOf lists the records that exported k, oldest first.
func ExportsOf(k *KeyState) []any {
	var out []any
	for _, ev := range k.History {
		if ev.Kind == "key.exported" {
			out = append(out, ev.Seq)
		}
	}
	return out
}

// Disposition says where a key stands: its state, and for a key
// destroyed on its HSM whose backups are not all destroyed, which are
// outstanding — it is destroyed only when every copy is.
func (k *KeyState) Disposition() string {
	if k.State == KeyDestroyed && len(k.BackupsOutstanding) > 0 {
		return "destroyed on the HSM; backup " + strings.Join(k.BackupsOutstanding, ", ") + " outstanding"
	}
	return k.State
}

func toList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// BackupState is what the ledger knows of one backup.
type BackupState struct {
	Seq   int64  // its backup.split record
	KeyID string // the key it holds
	// M, N, Holders and Commitments are of the current shares, made by
	// record SetSeq (the split, or the last backup.reshared).
	M, N        int64
	SetSeq      int64
	Holders     map[int64]string // share index → holder
	Commitments map[int64]string // share index → commitment
	Retired     map[string]RetiredShare
	Destroyed   int64 // its backup.destroyed record, or 0
}

// Backup returns the backup with id.
func (s *State) Backup(id string) (BackupState, bool) {
	b, ok := s.backups.get(id)
	if !ok {
		return BackupState{}, false
	}
	return BackupState{Seq: b.seq, KeyID: b.keyID, M: b.m, N: b.n, SetSeq: b.setSeq, Holders: maps.Clone(b.holders),
		Commitments: maps.Clone(b.commitments), Retired: maps.Clone(b.retired), Destroyed: b.destroyed}, true
}

func (s *State) hasBackup(id string) bool {
	_, ok := s.backups.get(id)
	return ok
}

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
	msg := CheckpointMessage(factString(cp, "ledger"), s.Seq, factString(cp, "head"), factString(cp, "commit"))
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
		checks = append(checks, approvalCheck{member: name, pub: pub, sig: []byte(sig), ns: NamespaceCheckpoint, msg: msg})
	}
	// A named witness who did not sign (a resumed ceremony closes
	// without them) is not a witness: readers show the signers only.
	return checks, nil
}

// NamespaceShareDestroyed is the namespace of a holder's signature that
// their share of a backup is destroyed.
const NamespaceShareDestroyed = "custos-share-destroyed"

// ShareDestroyedMessage is what a holder signs to attest that they
// destroyed their share of a backup.
func ShareDestroyedMessage(ledger, backup string, index int64, holder string) []byte {
	return []byte("custos share destroyed v1\nledger " + ledger + "\nbackup " + backup + "\nshare " + strconv.FormatInt(index, 10) + "\nholder " + holder + "\n")
}

// attestChecks checks a backup.destroyed's attestations: one per share of
// the backup, by the share's holder, each a signature only that holder
// could make. It returns the signatures to verify.
func (s *State) attestChecks(rec *Record) ([]approvalCheck, error) {
	if rec.Kind != "backup.destroyed" {
		return nil, nil
	}
	id := factString(rec.Facts, "backup_id")
	b, _ := s.backups.get(id)
	if b == nil {
		return nil, fmt.Errorf("facts.backup_id %.70q is not a backup of this ledger", id)
	}
	l, _ := rec.Facts["attested"].([]any)
	seen := map[int64]bool{}
	var checks []approvalCheck
	for i, e := range l {
		a, _ := e.(map[string]any)
		idx, ok := factInt(a, "index")
		member, sig := factString(a, "member"), factString(a, "signature")
		if len(a) != 3 || !ok || member == "" || sig == "" {
			return nil, fmt.Errorf("facts.attested[%d] must be {index, member, signature}", i)
		}
		if b.holders[idx] != member || seen[idx] {
			return nil, fmt.Errorf("facts.attested[%d]: share %d of backup %s is held by %s, not %s (or is attested twice)", i, idx, id, orNone(b.holders[idx]), member)
		}
		seen[idx] = true
		m := s.Roster.Member(member)
		if m == nil {
			return nil, fmt.Errorf("facts.attested[%d]: %s is no longer a member: their share cannot be attested destroyed by them", i, member)
		}
		pub, err := s.pub(m)
		if err != nil {
			return nil, fmt.Errorf("facts.attested[%d]: %w", i, err)
		}
		checks = append(checks, approvalCheck{member: member, pub: pub, sig: []byte(sig), ns: NamespaceShareDestroyed,
			msg: ShareDestroyedMessage(s.LedgerID, id, idx, member)})
	}
	for idx, h := range b.holders {
		if !seen[idx] {
			return nil, fmt.Errorf("share %d of backup %s (held by %s) is not attested destroyed: every holder signs for their share", idx, id, h)
		}
	}
	return checks, nil
}

// CheckpointMessage is the text witnesses sign in namespace
// custos-checkpoint: the ledger, its size, its head record digest and the
// head's commit, one per line, so that `ssh-keygen -Y verify` checks it
// from the minutes alone.
func CheckpointMessage(ledger string, size int64, head, commit string) []byte {
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

// brief prints a fact value for an error, bounded.
func brief(v any) string {
	b, err := Canonical(v)
	if err != nil {
		return "?"
	}
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// CloseFacts are the facts of the ceremony.closed that would follow the
// ledger's head now: the checkpoint (ledger, size, head digest, commit)
// and each witness's signature over it in namespace custos-checkpoint.
func (l *Ledger) CloseFacts(witnesses []string, signers map[string]sign.Signer) (map[string]any, error) {
	st := l.state
	commit := l.head.String()
	msg := CheckpointMessage(st.LedgerID, st.Seq, st.Head, commit)
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
		sig, err := s.Sign(NamespaceCheckpoint, msg)
		if err != nil {
			return nil, fmt.Errorf("checkpoint signature by %s: %w", w, err)
		}
		signed = append(signed, map[string]any{"member": w, "signature": string(sig)})
	}
	facts["witnessed"] = signed
	return facts, nil
}

// cowMap is a map an append's clone of the state can add to without
// changing the state it was cloned from: additions go to add until the
// clone is the ledger's state and is cloned in turn (fork).
type cowMap[V any] struct{ base, add map[string]V }

func (m *cowMap[V]) get(k string) (V, bool) {
	if v, ok := m.add[k]; ok {
		return v, true
	}
	v, ok := m.base[k]
	return v, ok
}

// keys lists the map's keys, sorted.
func (m *cowMap[V]) keys() []string {
	all := map[string]bool{}
	for k := range m.base {
		all[k] = true
	}
	for k := range m.add {
		all[k] = true
	}
	return slices.Sorted(maps.Keys(all))
}

func (m *cowMap[V]) set(k string, v V) {
	if m.add == nil {
		m.add = map[string]V{}
	}
	m.add[k] = v
}

// fork folds m's additions into its base (m is the committed state) and
// returns a map that shares the base.
func (m *cowMap[V]) fork() cowMap[V] {
	if len(m.add) > 0 {
		if m.base == nil {
			m.base = map[string]V{}
		}
		for k, v := range m.add {
			m.base[k] = v
		}
		m.add = nil
	}
	return cowMap[V]{base: m.base}
}
