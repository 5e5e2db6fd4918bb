package controls

import (
	"slices"
	"time"

	"custos/ledger"
)

// Options choose the period.
type Options struct {
	// Since and Until bound the period (inclusive); zero is open. Records
	// after Until are not evaluated.
	Since, Until time.Time
	// Now is when the check is made; state-based controls are judged at
	// Until when it is set, else at Now. Zero means time.Now().
	Now time.Time
}

func (o *Options) contains(t time.Time) bool {
	return (o.Since.IsZero() || !t.Before(o.Since)) && (o.Until.IsZero() || !t.After(o.Until))
}

// key is what the controls need of one key, gathered from its records.
type key struct {
	id, label, typ, owner string
	rotationDays          int64 // the effective period: the key's own, else the policy's
	maxDays               int64 // the policy's maximum for its type at creation, 0 when none
	intent, generated     *Ref
	generator             string // operator of the generation
	state                 string
	created               time.Time
	destroyed             *Ref
	destroyedAt           time.Time
	retireOn              time.Time
	retireRef             *Ref
	rotatedBy             *Ref // the generation that rotates this key
	rotatedAt             time.Time
	exports               []export
	signatures            []signature
	backups               []string // backup ids, in order
	destroyApprovers      []string
	destroyIntent         *Ref
	rosterAtDestroy       ledger.Roster
}

// signature is one signature made with a key (key.sign.intent, then
// key.signed when it was made).
type signature struct {
	intent, done  *Ref
	kind, purpose string
	tbs, serial   string
	outputs       int
	approvers     int // approvers other than the operator
}

type export struct {
	intent, done *Ref
	expires      time.Time
	expiresText  string
	approvers    int // approvers other than the operator
}

type backup struct {
	id, keyID string
	split     *Ref
	holders   []string
	destroyed *Ref
	reissued  []*Ref // reshares, in order
	reissueAt []time.Time
}

type ceremony struct {
	id            string
	first, last   *Ref
	firstKind     string
	closed        bool
	aborted       *Ref
	abortedReason string
	inPeriod      bool
}

type removal struct {
	member string
	ref    *Ref
	at     time.Time
}

// Checker evaluates the controls from records given oldest first, as
// ledger.Verify hands them over (Options.Each): one read of the ledger.
type Checker struct {
	opts      Options
	asOf      time.Time
	res       Result
	roster    ledger.Roster
	policy    ledger.Policy
	genesis   *Ref
	genTime   time.Time
	keys      map[string]*key
	keyOrder  []string
	backups   map[string]*backup
	cers      map[string]*ceremony
	cerOrder  []string
	reviews   []*Ref
	revTimes  []time.Time
	labels    map[string][]*Ref // label → the generation intents that gave it
	labelKey  map[string][]string
	removed   []removal
	actsAfter []Exception // acts or approvals by a removed member
	sodSelf   []Exception
	restores  []Exception
	evidence  []Exception // destructions without the HSM's proof
	head      *Ref
}

// New starts a check.
func New(opts Options) *Checker {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	opts.Now = opts.Now.UTC().Truncate(time.Second)
	c := &Checker{opts: opts, asOf: opts.Now, keys: map[string]*key{}, backups: map[string]*backup{},
		cers: map[string]*ceremony{}, labels: map[string][]*Ref{}, labelKey: map[string][]string{}}
	if !opts.Until.IsZero() {
		c.asOf = opts.Until
	}
	return c
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(ledger.TimeLayout)
}

func str(f map[string]any, k string) string { s, _ := f[k].(string); return s }

func approverNames(rec *ledger.Record) []string {
	var out []string
	for _, a := range rec.Approvals {
		out = append(out, a.Member)
	}
	return out
}

// Add takes the next record and its digest; records after Until are
// skipped (record times never go backwards).
func (c *Checker) Add(rec *ledger.Record, digest string) error {
	if !c.opts.Until.IsZero() && rec.Time.After(c.opts.Until) {
		return nil
	}
	ref := &Ref{Seq: rec.Seq, Digest: digest, Kind: rec.Kind, Time: fmtTime(rec.Time)}
	c.res.Records, c.res.Head, c.head = rec.Seq, digest, ref
	if rec.Seq == 1 {
		c.res.Ledger, c.res.Genesis, c.genesis, c.genTime = rec.Ledger, digest, ref, rec.Time
	}
	in := c.opts.contains(rec.Time)
	c.ceremony(rec, ref, in)
	c.departed(rec, ref, in)
	f := rec.Facts
	k := c.keys[str(f, "key_id")]
	switch rec.Kind {
	case "ledger.genesis", "roster.changed":
		r, p, err := rosterOf(rec)
		if err != nil {
			return err
		}
		if rec.Kind == "roster.changed" {
			for _, m := range c.roster.Members {
				if r.Member(m.Name) == nil {
					c.removed = append(c.removed, removal{member: m.Name, ref: ref, at: rec.Time})
				}
			}
		}
		c.roster, c.policy = *r, *p
	case "review.signed":
		c.reviews, c.revTimes = append(c.reviews, ref), append(c.revTimes, rec.Time)
	case "key.generate.intent":
		id := str(f, "key_id")
		nk := &key{id: id, label: str(f, "label"), typ: str(f, "type"), owner: str(f, "owner"), intent: ref,
			generator: rec.Actor, state: ledger.KeyGenerating, created: rec.Time}
		nk.maxDays = ledger.PeriodDays(c.policy.Rotation[nk.typ])
		if d, ok := intFact(f, "rotation_days"); ok && d > 0 {
			nk.rotationDays = d
		} else {
			nk.rotationDays = nk.maxDays
		}
		c.keys[id] = nk
		c.keyOrder = append(c.keyOrder, id)
		c.labels[nk.label] = append(c.labels[nk.label], ref)
		c.labelKey[nk.label] = append(c.labelKey[nk.label], id)
		if old := c.keys[str(f, "rotates")]; old != nil && old.rotatedBy == nil {
			old.rotatedBy, old.rotatedAt = ref, rec.Time
		}
	case "key.generated":
		if k != nil {
			k.generated, k.state, k.created = ref, ledger.KeyActive, rec.Time
		}
	case "key.retirement.scheduled":
		if k != nil {
			if t, err := time.Parse(time.DateOnly, str(f, "retire_on")); err == nil {
				k.retireOn, k.retireRef = t, ref
			}
		}
	case "key.export.intent":
		if k != nil {
			e := export{intent: ref, expiresText: str(f, "expires")}
			for _, a := range approverNames(rec) {
				if a != rec.Actor {
					e.approvers++
				}
			}
			e.expires, _ = time.Parse(time.DateOnly, e.expiresText)
			k.exports = append(k.exports, e)
		}
	case "key.exported":
		if k != nil && len(k.exports) > 0 {
			k.exports[len(k.exports)-1].done = ref
		}
	case "key.sign.intent":
		if k != nil {
			s := signature{intent: ref, kind: str(f, "sign_kind"), purpose: str(f, "purpose")}
			for _, a := range approverNames(rec) {
				if a != rec.Actor {
					s.approvers++
				}
			}
			k.signatures = append(k.signatures, s)
		}
	case "key.signed":
		if k != nil && len(k.signatures) > 0 {
			s := &k.signatures[len(k.signatures)-1]
			s.done, s.tbs, s.serial = ref, str(f, "tbs_sha256"), str(f, "serial")
			outs, _ := f["outputs"].([]any)
			s.outputs = len(outs)
		}
	case "key.destroy.intent":
		if k != nil {
			k.destroyIntent, k.destroyApprovers = ref, approverNames(rec)
		}
	case "key.destroyed":
		if k != nil {
			k.state, k.destroyed, k.destroyedAt = ledger.KeyDestroyed, ref, rec.Time
			k.rosterAtDestroy = ledger.Roster{Members: slices.Clone(c.roster.Members)}
			if !destructionEvidenced(f) && in {
				c.evidence = append(c.evidence, Exception{KeyID: k.id,
					Message: k.name() + ": its destruction does not show the key gone (objects destroyed, nothing found by id or label in a fresh session)",
					Records: []Ref{*ref}})
			}
		}
	case "key.restored":
		if k != nil {
			if k.state == ledger.KeyDestroyed && in {
				c.restores = append(c.restores, Exception{KeyID: k.id,
					Message: "key " + k.label + " (" + k.id + ") was restored after its destruction",
					Records: []Ref{*k.destroyed, *ref}})
			}
			k.state = ledger.KeyActive
		}
	case "backup.split":
		b := &backup{id: str(f, "backup_id"), keyID: str(f, "key_id"), split: ref, holders: holders(f)}
		c.backups[b.id] = b
		if k != nil {
			k.backups = append(k.backups, b.id)
		}
	case "backup.reshared":
		if b := c.backups[str(f, "backup_id")]; b != nil {
			b.holders = holders(f)
			b.reissued, b.reissueAt = append(b.reissued, ref), append(b.reissueAt, rec.Time)
		}
	case "backup.destroyed":
		if b := c.backups[str(f, "backup_id")]; b != nil {
			b.destroyed = ref
		}
	case "ceremony.aborted":
		if k != nil && k.state == ledger.KeyGenerating {
			k.state = ledger.KeyAborted
		}
	}
	c.selfApproval(rec, ref, in)
	return nil
}

// selfApproval notes an opening record of a key approved by its own
// operator (a policy with self_approval allows it).
func (c *Checker) selfApproval(rec *ledger.Record, ref *Ref, in bool) {
	id := str(rec.Facts, "key_id")
	if !in || id == "" || len(rec.Approvals) == 0 || rec.Kind == "share.verified" {
		return
	}
	if slices.Contains(approverNames(rec), rec.Actor) {
		c.sodSelf = append(c.sodSelf, Exception{KeyID: id,
			Message: rec.Actor + " approved their own " + rec.Kind, Records: []Ref{*ref}})
	}
}

// destructionEvidenced reads the HSM's proof of a key.destroyed record.
func destructionEvidenced(f map[string]any) bool {
	v, _ := f["verification"].(map[string]any)
	n, _ := intFact(v, "objects_destroyed")
	byID, _ := intFact(v, "found_by_id")
	byLabel, _ := intFact(v, "found_by_label")
	yes := func(k string) bool { b, _ := v[k].(bool); return b }
	return n > 0 && byID == 0 && byLabel == 0 && yes("searched_by_id") && yes("searched_by_label") && yes("fresh_session")
}

func (c *Checker) ceremony(rec *ledger.Record, ref *Ref, in bool) {
	cer := c.cers[rec.Ceremony]
	if cer == nil {
		cer = &ceremony{id: rec.Ceremony, first: ref, firstKind: rec.Kind}
		c.cers[rec.Ceremony] = cer
		c.cerOrder = append(c.cerOrder, rec.Ceremony)
	}
	cer.last = ref
	cer.inPeriod = cer.inPeriod || in
	switch rec.Kind {
	case "ceremony.closed":
		cer.closed = true
	case "ceremony.aborted":
		cer.aborted, cer.abortedReason = ref, str(rec.Facts, "reason")
	}
}

// departed notes a record acted or approved by a member removed earlier
// and not back on the roster.
func (c *Checker) departed(rec *ledger.Record, ref *Ref, in bool) {
	if !in || len(c.removed) == 0 {
		return
	}
	names := append([]string{rec.Actor}, approverNames(rec)...)
	for _, r := range c.removed {
		if slices.Contains(names, r.member) && c.roster.Member(r.member) == nil && rec.Kind != "roster.changed" {
			c.actsAfter = append(c.actsAfter, Exception{
				Message: r.member + " acted or approved after their removal from the roster",
				Records: []Ref{*r.ref, *ref}})
		}
	}
}

func holders(f map[string]any) []string {
	l, _ := f["holders"].([]any)
	var out []string
	for _, h := range l {
		if m, ok := h.(map[string]any); ok {
			if s := str(m, "member"); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func intFact(f map[string]any, k string) (int64, bool) {
	switch n := f[k].(type) {
	case interface{ Int64() (int64, error) }:
		i, err := n.Int64()
		return i, err == nil
	case float64:
		return int64(n), true
	case int:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

func rosterOf(rec *ledger.Record) (*ledger.Roster, *ledger.Policy, error) {
	rf, err := ledger.FactsAs[struct {
		Roster ledger.Roster `json:"roster"`
		Policy ledger.Policy `json:"policy"`
	}](rec)
	if err != nil {
		return nil, nil, err
	}
	return &rf.Roster, &rf.Policy, nil
}
