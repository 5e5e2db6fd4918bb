// Building a report from a ledger's records: the options (the period,
// the verify result), Build and the incremental Builder, and the
// builder's step for each record.

package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	ctrl "custos/controls"
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
	// InventoryOnly builds only what the inventory needs (custos
	// inventory, the TUI): the keys, and of each ceremony its summary
	// (the witnesses its key events name), not its steps and their
	// facts, so that memory follows the keys and ceremonies, not every
	// record. Ceremonies, Reviews, Exceptions and ControlTests stay empty.
	InventoryOnly bool
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
	"key.generate.intent", "key.export.intent", "key.sign.intent", "key.destroy.intent",
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
	reused  map[string][]int64 // ceremony id → records after it was settled
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
type Builder struct {
	b *builder
	// checks are custos check's control tests, fed the same records, so
	// the report shows their verdicts from the same single read.
	checks *ctrl.Checker
}

// NewBuilder starts a report.
func NewBuilder(opts Options) *Builder {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	opts.Now = opts.Now.UTC().Truncate(time.Second)
	b := &builder{
		opts: opts, asOf: opts.Now,
		keys: map[string]*Key{}, cers: map[string]*Ceremony{}, cerIn: map[string]bool{},
		intents: map[string]*ledger.Record{}, seen: map[string]*Quorum{}, reused: map[string][]int64{},
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
	if opts.InventoryOnly {
		return &Builder{b: b}
	}
	return &Builder{b: b, checks: ctrl.New(ctrl.Options{Since: opts.Since, Until: opts.Until, Now: opts.Now})}
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
	if bb.checks != nil {
		if err := bb.checks.Add(rec, digest); err != nil {
			bb.checks = nil // the report says the controls were not tested
		}
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
	// Controls are tested only on a ledger that verified, as custos check
	// does: on any other the report says so and shows no verdicts.
	if v := bb.b.opts.Verify; v != nil && v.OK && bb.checks != nil {
		bb.b.r.ControlTests = bb.checks.Finish(true)
	}
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
		ApprovedBy: approvers(rec), Carried: carried(rec), KeyID: keyID, Digest: d}
	if !b.opts.InventoryOnly {
		step.Facts = flatten(f)
	}
	// Witnesses are filled in by finish from the closing checkpoint's
	// signatures: a name in the facts is a claim, not a witness.
	ev := Event{Seq: rec.Seq, Time: t, Ceremony: rec.Ceremony, By: rec.Actor, ApprovedBy: step.ApprovedBy, Carried: step.Carried}

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
		h := HSM{HSMRef: hsmRef(f), Firmware: str(f, "hsm.firmware"), Enrolled: ev, Validation: validation(f)}
		b.r.HSMs = append(b.r.HSMs, h) // the HSM list is as of the period's end
	case "review.signed":
		if in && !b.opts.InventoryOnly {
			b.r.Reviews = append(b.r.Reviews, review(ev, f, step.Facts))
		}
	case "key.generate.intent":
		if keyID != "" && b.keys[keyID] == nil {
			k := &Key{ID: keyID, Label: str(f, "label"), Type: str(f, "type"), Owner: str(f, "owner"),
				Purpose: str(f, "purpose"), HSM: hsmRef(f), State: ledger.KeyGenerating, Requested: ev,
				Exports: []Export{}, Backups: []Backup{}, Restores: []Event{}, History: []KeyEvent{}}
			k.Bits = bitsOf(k.Type)
			k.Predecessor = str(f, "rotates")
			k.Environment, k.Classification = str(f, "environment"), str(f, "classification")
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
		e.ApprovedBy, e.Carried, e.IntentSeq = approvers(ir), carried(ir), ir.Seq
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
		k.madeOn = hsmRef(f)
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
	case "key.signed":
		ir := b.intents[rec.Ceremony+"\x00"+keyID]
		e, _ := intentEvent()
		sg := Signature{Event: e, SignKind: str(f, "sign_kind"), Mechanism: str(f, "mechanism"), TBSSHA256: str(f, "tbs_sha256"),
			Serial: str(f, "serial"), Outputs: []SignedOutput{}}
		if ir != nil {
			sg.Purpose = str(ir.Facts, "purpose")
		}
		outs, _ := f["outputs"].([]any)
		for _, o := range outs {
			if m, ok := o.(map[string]any); ok {
				sg.Outputs = append(sg.Outputs, SignedOutput{File: str(m, "file"), Format: str(m, "format"), SHA256: str(m, "sha256")})
			}
		}
		if in {
			k.Signatures = append(k.Signatures, sg)
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
