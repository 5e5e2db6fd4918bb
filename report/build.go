package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"custos/ledger"
)

// Options choose the period and carry the verify result into the report.
type Options struct {
	// Since and Until bound the period (inclusive); zero is open. The
	// inventory and policy are as of Until (or the head).
	Since, Until time.Time
	// Now is when the report is made; overdue rotations are judged at Until
	// when it is set and earlier, else at Now. Zero means time.Now().
	Now time.Time
	// Verify is the result of ledger.Verify on the same ledger; nil says
	// plainly that nothing was verified.
	Verify *ledger.Result
}

// Contains reports whether t lies in the period [Since, Until].
func (o *Options) Contains(t time.Time) bool {
	return (o.Since.IsZero() || !t.Before(o.Since)) && (o.Until.IsZero() || !t.After(o.Until))
}

// ParseBound reads a period bound: RFC 3339 ("2026-03-01T09:00:00Z") or a
// date ("2026-03-01"), which means the start of that day (UTC) for a lower
// bound and its last second for an upper bound (end). "" is the zero time.
func ParseBound(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date (2026-03-01) nor an RFC 3339 time (2026-03-01T09:00:00Z)", s)
	}
	if end {
		t = t.Add(24*time.Hour - time.Second)
	}
	return t, nil
}

// Standard record kinds whose quorum the policy section always shows.
var quorumKinds = []string{
	"ledger.genesis", "roster.changed", "hsm.enrolled",
	"key.generate.intent", "key.export.intent", "key.destroy.intent",
	"key.restore.intent", "backup.intent", "review.signed", "ceremony.closed",
}

type builder struct {
	opts    Options
	asOf    time.Time
	r       *Report
	keys    map[string]*Key
	keyOrd  []string
	cers    map[string]*Ceremony
	cerIn   map[string]bool // ceremony has a record inside the period
	cerOrd  []string
	intents map[string]*ledger.Record // open intent per ceremony/key
	roster  ledger.Roster
	policy  ledger.Policy
	seen    map[string]*Quorum
}

// Build reads every record of l up to the period's end, once, and returns
// the report. Records are taken from the ledger as opened (chain and rules
// checked by ledger.Open, signatures only by ledger.Verify: pass its result
// in opts.Verify).
func Build(l *ledger.Ledger, opts Options) (*Report, error) {
	b := NewBuilder(opts)
	for rec, err := range l.Records() {
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		d, err := rec.Digest()
		if err != nil {
			return nil, fmt.Errorf("report: record %d: %w", rec.Seq, err)
		}
		if err := b.Add(rec, d); err != nil {
			return nil, err
		}
	}
	return b.Finish(nil), nil
}

// Builder makes a report from records given oldest first: by Build, or
// during ledger.OpenEach so that the ledger is read once.
type Builder struct{ b *builder }

// NewBuilder starts a report.
func NewBuilder(opts Options) *Builder {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	opts.Now = opts.Now.UTC().Truncate(time.Second)
	b := &builder{
		opts: opts, asOf: opts.Now,
		keys: map[string]*Key{}, cers: map[string]*Ceremony{}, cerIn: map[string]bool{},
		intents: map[string]*ledger.Record{}, seen: map[string]*Quorum{},
	}
	if !opts.Until.IsZero() && opts.Until.Before(b.asOf) {
		b.asOf = opts.Until
	}
	b.r = &Report{
		Schema: SchemaVersion, Generated: fmtTime(opts.Now), AsOf: fmtTime(b.asOf),
		Period:    Period{Since: fmtTime(opts.Since), Until: fmtTime(opts.Until)},
		Inventory: []Key{}, HSMs: []HSM{}, Calendar: []RotationEntry{}, Ceremonies: []Ceremony{},
		Roster: []RosterVersion{}, Reviews: []Review{},
	}
	return &Builder{b}
}

// Add takes the next record and its digest, as the replay computed it;
// records after the period's end are skipped (record times never go
// backwards).
func (bb *Builder) Add(rec *ledger.Record, digest string) error {
	b := bb.b
	if rec.Seq == 1 {
		b.r.Ledger, b.r.Genesis = rec.Ledger, digest
	}
	if !b.opts.Until.IsZero() && rec.Time.After(b.opts.Until) {
		return nil
	}
	if err := b.add(rec, digest); err != nil {
		return fmt.Errorf("report: record %d: %w", rec.Seq, err)
	}
	return nil
}

// Finish completes the report after the last record; verified, when not
// nil, replaces Options.Verify.
func (bb *Builder) Finish(verified *ledger.Result) *Report {
	if verified != nil {
		bb.b.opts.Verify = verified
	}
	bb.b.finish()
	return bb.b.r
}

func (b *builder) add(rec *ledger.Record, d string) error {
	b.r.Head, b.r.Records = d, rec.Seq
	in := b.opts.Contains(rec.Time)
	t := fmtTime(rec.Time)
	if in {
		p := &b.r.Period
		if p.Records == 0 {
			p.FirstSeq, p.FirstTime = rec.Seq, t
		}
		p.Records++
		p.LastSeq, p.LastTime = rec.Seq, t
	}
	f := rec.Facts
	keyID := str(f, "key_id")
	step := Step{Seq: rec.Seq, Time: t, Ceremony: rec.Ceremony, Kind: rec.Kind, Actor: rec.Actor,
		ApprovedBy: approvers(rec), KeyID: keyID, Digest: d, Facts: flatten(f)}
	// Witnesses are filled in by finish from the closing checkpoint's
	// signatures: a name in the facts is a claim, not a witness.
	ev := Event{Seq: rec.Seq, Time: t, Ceremony: rec.Ceremony, By: rec.Actor, ApprovedBy: step.ApprovedBy}

	b.ceremony(rec, step, in)
	if in {
		b.observe(rec)
	}

	switch rec.Kind {
	case "ledger.genesis", "roster.changed":
		if err := b.rosterChange(rec, ev); err != nil {
			return err
		}
	case "hsm.enrolled":
		h := HSM{HSMRef: hsmRef(f), Firmware: str(f, "hsm.firmware"), Enrolled: ev}
		b.r.HSMs = append(b.r.HSMs, h) // the HSM list is as of the period's end
	case "review.signed":
		if in {
			b.r.Reviews = append(b.r.Reviews, Review{Event: ev, Facts: step.Facts})
		}
	case "key.generate.intent":
		if keyID != "" && b.keys[keyID] == nil {
			k := &Key{ID: keyID, Label: str(f, "label"), Type: str(f, "type"), Owner: str(f, "owner"),
				Purpose: str(f, "purpose"), HSM: hsmRef(f), State: ledger.KeyGenerating, Requested: ev,
				Exports: []Export{}, Backups: []Backup{}, Restores: []Event{}, History: []KeyEvent{}}
			k.Bits = bitsOf(k.Type)
			k.Predecessor = str(f, "rotates")
			if n, ok := num(f, "rotation_days"); ok && n > 0 {
				k.RotationDays, k.RotationSource = n, "ceremony"
			} else if p, ok := b.policy.Rotation[k.Type]; ok {
				if days := ledger.PeriodDays(p); days > 0 {
					k.RotationDays, k.RotationSource = days, "policy"
				}
			}
			b.keys[keyID] = k
			b.keyOrd = append(b.keyOrd, keyID)
		}
	}

	k := b.keys[keyID]
	if k == nil {
		if rec.Kind == "ceremony.aborted" {
			b.abortCeremony(rec, ev)
		}
		return nil
	}
	k.History = append(k.History, KeyEvent{Seq: rec.Seq, Time: t, Ceremony: rec.Ceremony, Kind: rec.Kind, Actor: rec.Actor})
	if s := str(f, "label"); s != "" && rec.Kind != "key.export.intent" {
		k.Label = s
	}
	// Only an outcome moves a key: an intent, or the ceremony.aborted of
	// a failed restore, names an HSM that may not hold it.
	if h := hsmRef(f); h.Serial != "" && (rec.Kind == "key.generated" || rec.Kind == "key.restored") {
		k.HSM = h
	}
	if strings.HasSuffix(rec.Kind, ".intent") {
		b.intents[rec.Ceremony+"\x00"+keyID] = rec
	}
	intentEvent := func() (Event, bool) {
		ir := b.intents[rec.Ceremony+"\x00"+keyID]
		if ir == nil {
			return ev, false
		}
		delete(b.intents, rec.Ceremony+"\x00"+keyID)
		e := ev
		e.ApprovedBy, e.IntentSeq = approvers(ir), ir.Seq
		if e.Reason == "" {
			e.Reason = str(ir.Facts, "reason")
		}
		return e, true
	}
	switch rec.Kind {
	case "key.generated":
		e, _ := intentEvent()
		k.Created, k.State = &e, ledger.KeyActive
		k.on = []string{str(f, "hsm.serial")}
		if c := str(f, "class"); c != "" {
			k.Class = c
		}
		k.CheckValue = checkValue(f)
		if a, ok := f["attributes"].(map[string]any); ok {
			k.Attributes = map[string]bool{}
			for n, v := range a {
				if bv, ok := v.(bool); ok {
					k.Attributes[n] = bv
				}
			}
		}
	case "key.exported":
		ir := b.intents[rec.Ceremony+"\x00"+keyID]
		e, _ := intentEvent()
		x := Export{Event: e, Recipient: str(f, "recipient"), Mechanism: str(f, "mechanism"), OutputSHA256: str(f, "output_sha256")}
		if ir != nil {
			x.Purpose, x.Expires = str(ir.Facts, "purpose"), str(ir.Facts, "expires")
		}
		if in {
			k.Exports = append(k.Exports, x)
		}
	case "backup.split":
		e, _ := intentEvent()
		bk := Backup{Event: e, BackupID: str(f, "backup_id"), Holders: holders(f), Media: str(f, "media"),
			BlobSHA256: str(f, "blob_sha256"), ShareChecks: []ShareCheck{}}
		bk.Threshold, _ = num(f, "m")
		bk.Shares, _ = num(f, "n")
		k.Backups = append(k.Backups, bk)
		k.LastShareCheck = t // the split reads every share back before it is recorded
	case "share.verified":
		k.LastShareCheck = t
		for i := range k.Backups {
			if bk := &k.Backups[i]; bk.BackupID == str(f, "backup_id") {
				idx, _ := num(f, "index")
				bk.ShareChecks = append(bk.ShareChecks, ShareCheck{Seq: rec.Seq, Time: t, Index: idx, Holder: str(f, "holder")})
			}
		}
	case "key.restored":
		e, _ := intentEvent()
		k.Restores = append(k.Restores, e)
		k.State = ledger.KeyActive // a restore after a destruction brings the key back
		if serial := str(f, "hsm.serial"); !slices.Contains(k.on, serial) {
			k.on = append(k.on, serial)
		}
	case "backup.reshared":
		e, _ := intentEvent()
		for i := range k.Backups {
			if bk := &k.Backups[i]; bk.BackupID == str(f, "backup_id") {
				bk.Holders = holders(f)
				bk.Threshold, _ = num(f, "m")
				bk.Shares, _ = num(f, "n")
				bk.Reshares = append(bk.Reshares, e)
			}
		}
		k.LastShareCheck = t // every new share was read back before it was recorded
	case "backup.destroyed":
		for i := range k.Backups {
			if bk := &k.Backups[i]; bk.BackupID == str(f, "backup_id") {
				e := ev
				bk.Destroyed, bk.MediaDestroyed = &e, str(f, "media_destroyed")
			}
		}
	case "key.compromised":
		e := ev
		e.Reason = str(f, "reason")
		k.Compromised = &e
	case "key.retirement.scheduled":
		k.Retirement = &Retirement{Event: ev, RetireOn: str(f, "retire_on"), Successor: str(f, "successor")}
	case "key.destroyed":
		e, _ := intentEvent()
		if e.Reason == "" {
			e.Reason = str(f, "reason")
		}
		k.Destroyed = &e
		// As the ledger: the key is gone when no HSM holds a copy.
		k.on = slices.DeleteFunc(k.on, func(s string) bool { return s == str(f, "hsm.serial") })
		if len(k.on) == 0 {
			k.State = ledger.KeyDestroyed
		}
	case "ceremony.aborted":
		e, _ := intentEvent()
		e.Reason = str(f, "reason")
		if k.State == ledger.KeyGenerating {
			k.Aborted, k.State = &e, ledger.KeyAborted
		}
	}
	return nil
}

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
			e.ApprovedBy, e.IntentSeq, e.Reason = approvers(ir), ir.Seq, str(rec.Facts, "reason")
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
	default:
		c.Status = "unclosed"
	}
	c.Steps = append(c.Steps, step)
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
	case "backup.intent", "backup.split", "share.verified", "backup.reshare.intent", "backup.reshared":
		return "backup"
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

func (b *builder) finish() {
	r := b.r
	witness := func(e *Event) {
		if c := b.cers[e.Ceremony]; c != nil && len(c.Witnesses) > 0 {
			e.Witnesses = slices.Clone(c.Witnesses)
		}
	}
	member := map[string]bool{}
	for _, m := range b.roster.Members {
		member[m.Name] = true
	}
	for _, id := range b.keyOrd {
		k := b.keys[id]
		for i := range k.Backups {
			bk := &k.Backups[i]
			bk.ReshareDue = nil
			for _, h := range bk.Holders {
				if bk.Destroyed == nil && !member[h] {
					bk.ReshareDue = append(bk.ReshareDue, h)
				}
			}
		}
		k.Disposition = k.State
		if k.State == ledger.KeyDestroyed {
			var out []string
			for _, bk := range k.Backups {
				if bk.Destroyed == nil {
					out = append(out, bk.BackupID)
				}
			}
			if len(out) > 0 {
				k.Disposition = "destroyed on the HSM; backup " + strings.Join(out, ", ") + " outstanding"
			}
		}
		for _, e := range []*Event{k.Created, &k.Requested, k.Destroyed, k.Aborted, k.Compromised} {
			if e != nil {
				witness(e)
			}
		}
		for i := range k.Restores {
			witness(&k.Restores[i])
		}
		for i := range k.Exports {
			witness(&k.Exports[i].Event)
		}
		for i := range k.Backups {
			witness(&k.Backups[i].Event)
		}
		if k.Retirement != nil {
			witness(&k.Retirement.Event)
		}
		if k.State == ledger.KeyActive && k.RotationDays > 0 && k.Created != nil {
			ct, _ := time.Parse(ledger.TimeLayout, k.Created.Time)
			due := ct.AddDate(0, 0, int(k.RotationDays))
			k.RotationDue = fmtTime(due)
			k.Overdue = b.asOf.After(due) && k.Retirement == nil // a rotated key is due for retirement instead
			if k.Retirement == nil {
				r.Calendar = append(r.Calendar, RotationEntry{Action: "rotate", KeyID: k.ID, Label: k.Label, Type: k.Type, Owner: k.Owner,
					Created: k.Created.Time, RotationDays: k.RotationDays, Due: k.RotationDue,
					DaysLeft: int64(due.Sub(b.asOf).Hours() / 24), Overdue: k.Overdue})
			}
		}
		if rt := k.Retirement; rt != nil && k.State == ledger.KeyActive && k.Created != nil {
			if day, err := time.Parse(time.DateOnly, rt.RetireOn); err == nil {
				end := day.Add(24*time.Hour - time.Second)
				k.RetireOverdue = b.asOf.After(end)
				r.Calendar = append(r.Calendar, RotationEntry{Action: "retire", KeyID: k.ID, Label: k.Label, Type: k.Type, Owner: k.Owner,
					Created: k.Created.Time, RotationDays: k.RotationDays, Due: fmtTime(end),
					DaysLeft: int64(end.Sub(b.asOf).Hours() / 24), Overdue: k.RetireOverdue})
			}
		}
		r.Inventory = append(r.Inventory, *k)
	}
	sort.SliceStable(r.Calendar, func(i, j int) bool { return r.Calendar[i].Due < r.Calendar[j].Due })
	for _, id := range b.cerOrd {
		if !b.cerIn[id] {
			continue
		}
		c := b.cers[id]
		if c.Status == "unclosed" {
			if oi := b.openIntentCeremony(); oi == id {
				c.Status = "open"
			}
		}
		r.Ceremonies = append(r.Ceremonies, *c)
	}
	b.policySection()
	r.Verify = verifySection(b.opts.Verify, r)
	r.Verified, r.Failure = r.Verify.Ran && r.Verify.OK, r.Verify.Failure
	r.Controls = controls()
}

// openIntentCeremony is the ceremony of an intent still open at the end.
func (b *builder) openIntentCeremony() string {
	for _, ir := range b.intents {
		return ir.Ceremony
	}
	return ""
}

func (b *builder) policySection() {
	p := &b.r.Policy
	if p.Changes == nil {
		p.Changes = []int64{}
	}
	for _, role := range ledger.Roles {
		h := RoleHolders{Role: role, Members: []string{}}
		for _, m := range b.roster.Members {
			if m.HasRole(role) {
				h.Members = append(h.Members, m.Name)
			}
		}
		p.Roles = append(p.Roles, h)
	}
	kinds := append([]string{}, quorumKinds...)
	for k := range b.policy.Approvals {
		if !strings.Contains(k, "*") && !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	var extra []string
	for k := range b.seen {
		if !slices.Contains(kinds, k) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	kinds = append(kinds, extra...)
	p.Quorum = []Quorum{}
	for _, kind := range kinds {
		req := b.policy.Required(kind)
		q := Quorum{Kind: kind, Rule: ruleFor(b.policy.Approvals, kind), Roles: append([]string{}, req.Roles...),
			Count: req.Count, SelfApproval: req.SelfApproval}
		if q.Roles == nil {
			q.Roles = []string{}
		}
		if s := b.seen[kind]; s != nil {
			q.Observed, q.MinApprovals = s.Observed, s.MinApprovals
		}
		p.Quorum = append(p.Quorum, q)
	}
	p.Algorithms = append([]string{}, b.policy.Algorithms...)
	p.Rotation = []RotationRule{}
	for _, t := range slices.Sorted(maps.Keys(b.policy.Rotation)) {
		p.Rotation = append(p.Rotation, RotationRule{Type: t, Period: b.policy.Rotation[t]})
	}
}

// ruleFor names the policy entry Policy.Required uses for kind.
func ruleFor(a map[string]ledger.Requirement, kind string) string {
	if _, ok := a[kind]; ok {
		return kind
	}
	best := ""
	for pat := range a {
		if p, ok := strings.CutSuffix(pat, ".*"); ok && strings.HasPrefix(kind, p+".") && len(pat) > len(best) {
			best = pat
		}
	}
	if best != "" {
		return best
	}
	if _, ok := a["*"]; ok {
		return "*"
	}
	return "none"
}

func verifySection(res *ledger.Result, r *Report) VerifySection {
	v := VerifySection{Checked: []string{}, NotChecked: []string{}}
	if res == nil {
		v.NotChecked = append(v.NotChecked, "the ledger was not verified for this report: no signature, approval or policy was checked; run custos verify")
		return v
	}
	v.Ran, v.OK, v.Records = true, res.OK, res.Records
	v.Genesis, v.Head, v.HeadCommit = res.Genesis, res.Head, res.HeadCommit
	v.OriginChecked, v.TrustedHeadChecked = res.OriginChecked, res.TrustedHeadChecked
	if v.Genesis != "" {
		v.GenesisWords = strings.Join(ledger.Words(v.Genesis), " ")
	}
	if v.Head != "" {
		v.HeadWords = strings.Join(ledger.Words(v.Head), " ")
	}
	if res.Failure != nil {
		v.Failure = res.Failure.String()
	}
	if oi := res.OpenIntent; oi != nil {
		v.OpenIntent = fmt.Sprintf("record %d %s (ceremony %s) is open: custos resume settles it", oi.Seq, oi.Kind, oi.Ceremony)
	}
	if res.OK {
		v.Checked = append(v.Checked,
			"every commit signed by the record's actor with a key the roster held at that point (namespace git)",
			"every approval signed over its record's signing digest by distinct members with the roles and count the policy asks for",
			"the record chain: seq without gaps, prev digests, one ledger id, times never going backwards, a linear history",
			"derived files (roster.json, allowed_signers, keys/, LEDGER.md) equal the replay of the records",
			"the lifecycle: no use of a destroyed key, every intent followed by its outcome or an abort")
		if v.OriginChecked {
			v.Checked = append(v.Checked, "origin: the ledger descends from the genesis digest given from the signed minutes")
		}
		if v.TrustedHeadChecked {
			v.Checked = append(v.Checked, "the history still contains the trusted head given: no rollback, truncation or rewrite before it")
		}
	}
	if !v.OriginChecked {
		v.NotChecked = append(v.NotChecked, "origin: no --genesis digest from the signed minutes was given, so a consistent ledger made from scratch would look the same ("+ledger.NoteConsistencyOnly+")")
	}
	if !v.TrustedHeadChecked {
		v.NotChecked = append(v.NotChecked, "freshness: no --trusted-head was given, so a rollback or truncation to an earlier consistent head is not detected")
	}
	if res.Head != "" && r.Head != "" && res.Head != r.Head && r.Period.Until == "" {
		v.NotChecked = append(v.NotChecked, "the ledger moved between verify and this report: the report was read at "+r.Head)
	}
	v.NotChecked = append(v.NotChecked,
		"what the HSMs hold now: compare the check values in this report with the HSM (custos hsm info, pkcs11-tool)",
		"real-world time: record times are what the operator's workstation clock said",
		"that approvers read what they signed, were present, or were not coerced; the paper minutes and their signatures",
		"custody of backup shares and media, and destruction of exported copies outside the HSM",
		"other git refs (branches, tags) in the repository are ignored")
	return v
}

func controls() []Control {
	return []Control{
		{"SOC 2", "CC6.1", "logical access security over protected information assets, including encryption keys",
			[]string{"inventory", "hsms", "policy", "ceremonies", "roster_history"},
			"every key with owner, purpose, HSM custody and attributes; who may operate and approve (roles, quorum per ceremony kind), enforced by verify; each generation with operator, approvers and check value"},
		{"SOC 2", "CC6.2/CC6.3", "registration, authorisation and removal of access; role-based access",
			[]string{"roster_history", "access_reviews", "policy"},
			"every roster version with members, roles and key fingerprints, changes approved under the previous roster; signed periodic access reviews"},
		{"SOC 2", "CC6.6/CC6.7", "restricting and protecting the movement of information (keys leaving the HSM)",
			[]string{"inventory", "ceremonies"},
			"each export: quorum approval bound to the record, named recipient and recipient key digest, wrapping mechanism, digest of the output; keys not exported are marked non-extractable"},
		{"SOC 2", "C1.2", "disposal of confidential information",
			[]string{"inventory", "ceremonies"},
			"each destruction: quorum approval, reason, the HSM's verification of absence in a fresh session, operator and time; a key counts as disposed of only when every backup of it is destroyed too (media destroyed, each holder's signed attestation): until then it reads \"destroyed on the HSM; backup … outstanding\""},
		{"ISO/IEC 27001:2022", "A.8.24", "use of cryptography, including key management over the whole key life",
			[]string{"policy", "inventory", "rotation_calendar", "ceremonies", "verify"},
			"approved algorithms and rotation periods as enforced; generation, export, destruction records; the rotation calendar with overdue keys; the ledger's integrity checked by verify"},
	}
}

// --- facts helpers ---

func lookup(f map[string]any, path string) any {
	var v any = f
	for p := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(f map[string]any, path string) string {
	s, _ := lookup(f, path).(string)
	return s
}

func num(f map[string]any, path string) (int64, bool) {
	switch n := lookup(f, path).(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), true
	}
	return 0, false
}

// holders are the share holders of a backup.split: objects with a member
// (the outcome) or plain names (the intent).
func holders(f map[string]any) []string {
	out := []string{}
	a, _ := f["holders"].([]any)
	for _, h := range a {
		switch x := h.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			if m, ok := x["member"].(string); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

func hsmRef(f map[string]any) HSMRef {
	return HSMRef{Manufacturer: str(f, "hsm.manufacturer"), Model: str(f, "hsm.model"),
		Serial: str(f, "hsm.serial"), Label: str(f, "hsm.label")}
}

// checkValue is the first check value a generation recorded, named by its
// fact so a reader finds it in the record.
func checkValue(f map[string]any) string {
	for _, n := range []string{"kcv_aes_cmac", "kcv", "check_value", "spki_sha256", "ssh_fingerprint"} {
		if s := str(f, n); s != "" {
			return n + ":" + s
		}
	}
	return ""
}

func approvers(rec *ledger.Record) []string {
	out := make([]string, 0, len(rec.Approvals))
	for _, a := range rec.Approvals {
		out = append(out, a.Member)
	}
	return out
}

// flatten turns facts into dotted name = value pairs, sorted. The roster
// and policy of genesis and roster records are left out: the roster
// history and policy sections show them.
func flatten(f map[string]any) []Fact {
	out := []Fact{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				if prefix == "" && (k == "roster" || k == "policy") {
					continue
				}
				name := k
				if prefix != "" {
					name = prefix + "." + k
				}
				walk(name, x[k])
			}
		case []any:
			parts := make([]string, 0, len(x))
			for _, e := range x {
				if s, ok := scalar(e); ok {
					parts = append(parts, s)
				} else {
					b, _ := json.Marshal(e)
					parts = append(parts, string(b))
				}
			}
			out = append(out, Fact{prefix, strings.Join(parts, ", ")})
		default:
			s, _ := scalar(x)
			out = append(out, Fact{prefix, s})
		}
	}
	walk("", f)
	return out
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int:
		return strconv.Itoa(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case nil:
		return "null", true
	}
	return "", false
}

func remarshal(v any, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func addOnce(s []string, v string) []string {
	if v == "" || slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(ledger.TimeLayout)
}

var typeBits = regexp.MustCompile(`^(?:aes|rsa|ec-p)-?([0-9]+)$`)

// bitsOf is the key size of a Custos key type ("rsa-3072", "ec-p384", "aes-256").
func bitsOf(typ string) int {
	if typ == "ed25519" {
		return 256
	}
	if m := typeBits.FindStringSubmatch(typ); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}
