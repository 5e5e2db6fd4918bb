package controls

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"custos/ledger"
)

const day = 24 * time.Hour

// Finish evaluates every control of the Catalogue over what Add took;
// verified says the records came from a ledger that verified.
func (c *Checker) Finish(verified bool) *Result {
	r := &c.res
	r.Schema, r.Verified = SchemaVersion, verified
	r.Period = Period{Since: fmtTime(c.opts.Since), Until: fmtTime(c.opts.Until), AsOf: fmtTime(c.asOf)}
	tests := map[string]func() (int, []Exception){
		"KM-01": c.ownerAndAlgorithm, "KM-02": c.ownerIsMember, "KM-03": c.rotationSet, "KM-04": c.rotationOnTime,
		"KM-05": c.exportDualControl, "KM-06": c.exportExpiry, "KM-07": c.reviewCadence, "KM-08": c.destructionEvidence,
		"KM-09": c.backupsAtDestruction, "KM-10": c.separation, "KM-11": c.ceremoniesClosed, "KM-12": c.noRestore,
		"KM-13": c.labelsUnique, "KM-14": c.departedMembers, "KM-15": c.signaturesDualControl,
	}
	r.Passed = true
	r.Controls = []Control{}
	for _, d := range Catalogue {
		n, ex := tests[d.ID]()
		if ex == nil {
			ex = []Exception{}
		}
		st := Pass
		switch {
		case len(ex) > 0:
			st, r.Passed = Fail, false
		case n == 0:
			st = NotApplicable
		}
		r.Controls = append(r.Controls, Control{ID: d.ID, Title: d.Title, Statement: d.Statement,
			SOC2: d.SOC2, ISO27001: d.ISO27001, Status: st, Tested: n, Exceptions: ex})
		if d.ID == "KM-15" {
			r.Controls[len(r.Controls)-1].Items = c.signatureItems()
		}
	}
	return r
}

// inScope lists the keys that existed during the period: generated (or
// being generated), not aborted, not destroyed before it began.
func (c *Checker) inScope() []*key {
	var out []*key
	for _, id := range c.keyOrder {
		k := c.keys[id]
		if k.state == ledger.KeyAborted {
			continue
		}
		if k.destroyed != nil && !c.opts.Since.IsZero() && k.destroyedAt.Before(c.opts.Since) {
			continue
		}
		out = append(out, k)
	}
	return out
}

func (k *key) name() string { return fmt.Sprintf("key %s (%s)", k.label, k.id) }

// refs are the records that made the key: its intent and its generation.
func (k *key) refs(more ...*Ref) []Ref {
	var out []Ref
	for _, r := range append([]*Ref{k.intent, k.generated}, more...) {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out
}

func (c *Checker) ownerAndAlgorithm() (int, []Exception) {
	keys := c.inScope()
	var ex []Exception
	for _, k := range keys {
		if strings.TrimSpace(k.owner) == "" {
			ex = append(ex, Exception{KeyID: k.id, Message: k.name() + " has no owner", Records: k.refs()})
		}
		if !slices.Contains(c.policy.Algorithms, k.typ) {
			ex = append(ex, Exception{KeyID: k.id, Message: fmt.Sprintf("%s is of type %s, not on the policy's approved list (%s)", k.name(), k.typ, strings.Join(c.policy.Algorithms, ", ")), Records: k.refs()})
		}
	}
	return len(keys), ex
}

// ownerMember judges a free-text owner: it names a member when it is a
// member's name or e-mail address, or ends with a member's name in
// parentheses ("payments (carol)").
func ownerMember(r *ledger.Roster, owner string) bool {
	owner = strings.TrimSpace(owner)
	if i := strings.LastIndex(owner, "("); i >= 0 && strings.HasSuffix(owner, ")") {
		owner = strings.TrimSpace(owner[i+1 : len(owner)-1])
	}
	for _, m := range r.Members {
		if owner == m.Name || (m.Email != "" && strings.EqualFold(owner, m.Email)) {
			return true
		}
	}
	return false
}

func (c *Checker) ownerIsMember() (int, []Exception) {
	keys := c.inScope()
	var ex []Exception
	for _, k := range keys {
		// A live key's owner must be a member now; a destroyed key's, when
		// it was destroyed.
		r, when := &c.roster, "as of "+fmtTime(c.asOf)
		if k.state == ledger.KeyDestroyed {
			r, when = &k.rosterAtDestroy, "when it was destroyed"
		}
		if k.owner != "" && !ownerMember(r, k.owner) {
			ex = append(ex, Exception{KeyID: k.id, Message: fmt.Sprintf("%s: owner %q names no member of the roster %s", k.name(), k.owner, when), Records: k.refs()})
		}
	}
	return len(keys), ex
}

func (c *Checker) rotationSet() (int, []Exception) {
	keys := c.inScope()
	var ex []Exception
	for _, k := range keys {
		switch {
		case k.rotationDays == 0:
			ex = append(ex, Exception{KeyID: k.id, Message: k.name() + " has no rotation period (neither its own nor the policy's for " + k.typ + ")", Records: k.refs()})
		case k.maxDays > 0 && k.rotationDays > k.maxDays:
			ex = append(ex, Exception{KeyID: k.id, Message: fmt.Sprintf("%s rotates every %d days, longer than the policy's %d for %s", k.name(), k.rotationDays, k.maxDays, k.typ), Records: k.refs()})
		}
	}
	return len(keys), ex
}

func (c *Checker) rotationOnTime() (int, []Exception) {
	var ex []Exception
	n := 0
	for _, k := range c.inScope() {
		if k.rotationDays == 0 || k.generated == nil {
			continue
		}
		n++
		due := k.created.Add(time.Duration(k.rotationDays) * day)
		switch {
		case k.rotatedBy != nil && k.rotatedAt.After(due):
			ex = append(ex, Exception{KeyID: k.id, Message: fmt.Sprintf("%s was due for rotation on %s and rotated on %s", k.name(), fmtTime(due), fmtTime(k.rotatedAt)), Records: k.refs(k.rotatedBy)})
		case k.rotatedBy == nil && k.destroyed == nil && due.Before(c.asOf):
			ex = append(ex, Exception{KeyID: k.id, Message: fmt.Sprintf("%s is overdue for rotation: due %s, not rotated as of %s", k.name(), fmtTime(due), fmtTime(c.asOf)), Records: k.refs()})
		case k.rotatedBy == nil && k.destroyed != nil && k.destroyedAt.After(due):
			ex = append(ex, Exception{KeyID: k.id, Message: fmt.Sprintf("%s was due for rotation on %s and lived until its destruction on %s", k.name(), fmtTime(due), fmtTime(k.destroyedAt)), Records: k.refs(k.destroyed)})
		}
	}
	return n, ex
}

// keyed is one of a key's uses (an export, a signature) with its key.
type keyed[T any] struct {
	k *key
	v T
}

// donePeriod are the uses of every key (of(k)) whose outcome record
// (done(use)) falls in the period, in key order.
func donePeriod[T any](c *Checker, of func(*key) []T, done func(T) *Ref) []keyed[T] {
	var out []keyed[T]
	for _, id := range c.keyOrder {
		k := c.keys[id]
		for _, u := range of(k) {
			if d := done(u); d != nil && c.inPeriod(d) {
				out = append(out, keyed[T]{k, u})
			}
		}
	}
	return out
}

// exportsInPeriod are the exports made (key.exported) in the period.
func (c *Checker) exportsInPeriod() []keyed[export] {
	return donePeriod(c, func(k *key) []export { return k.exports }, func(e export) *Ref { return e.done })
}

func (c *Checker) inPeriod(r *Ref) bool {
	t, err := time.Parse(ledger.TimeLayout, r.Time)
	return err == nil && c.opts.contains(t)
}

func (c *Checker) exportDualControl() (int, []Exception) {
	exps := c.exportsInPeriod()
	var ex []Exception
	for _, x := range exps {
		if x.v.approvers == 0 {
			ex = append(ex, Exception{KeyID: x.k.id, Message: fmt.Sprintf("the export of %s was approved by nobody but its operator", x.k.name()), Records: []Ref{*x.v.intent, *x.v.done}})
		}
	}
	return len(exps), ex
}

// retirement is when a key's life is planned to end: its scheduled
// retirement, else its destruction, else its rotation due date.
func (k *key) retirement() (time.Time, *Ref, string) {
	switch {
	case k.retireRef != nil:
		return k.retireOn.Add(day - time.Second), k.retireRef, "retires on " + k.retireOn.Format(time.DateOnly)
	case k.destroyed != nil:
		return k.destroyedAt, k.destroyed, "was destroyed on " + fmtTime(k.destroyedAt)
	case k.rotationDays > 0 && k.generated != nil:
		due := k.created.Add(time.Duration(k.rotationDays) * day)
		return due, k.generated, "is due for rotation on " + due.Format(time.DateOnly)
	}
	return time.Time{}, nil, ""
}

func (c *Checker) exportExpiry() (int, []Exception) {
	exps := c.exportsInPeriod()
	var ex []Exception
	for _, x := range exps {
		end, ref, says := x.k.retirement()
		if ref == nil || x.v.expires.IsZero() {
			continue
		}
		if x.v.expires.After(end) {
			ex = append(ex, Exception{KeyID: x.k.id, Message: fmt.Sprintf("the export of %s expires on %s, after the key %s", x.k.name(), x.v.expiresText, says), Records: []Ref{*x.v.intent, *ref}})
		}
	}
	return len(exps), ex
}

func (c *Checker) reviewCadence() (int, []Exception) {
	cadence := c.policy.ReviewCadenceDays()
	limit := time.Duration(cadence) * day
	start, startRef := c.genTime, c.genesis
	if start.IsZero() {
		return 0, nil
	}
	first := 0 // the first review after the start
	if c.opts.Since.After(start) {
		start, startRef = c.opts.Since, nil
		// The last review before the period counts as its start.
		for i, t := range c.revTimes {
			if !t.After(c.opts.Since) {
				start, startRef, first = t, c.reviews[i], i+1
			}
		}
	}
	var ex []Exception
	gap := func(from, to time.Time, a, b *Ref, what string) {
		if to.Sub(from) <= limit {
			return
		}
		var refs []Ref
		if a == nil && b == nil {
			b = c.head // the period holds no review: its last record
		}
		for _, r := range []*Ref{a, b} {
			if r != nil {
				refs = append(refs, *r)
			}
		}
		ex = append(ex, Exception{Message: fmt.Sprintf("%s: %d days without an access review (from %s to %s; the policy's cadence is %d days)", what, int(to.Sub(from)/day), fmtTime(from), fmtTime(to), cadence), Records: refs})
	}
	prev, prevRef := start, startRef
	n := 1
	for i, t := range c.revTimes[first:] {
		i += first
		n++
		gap(prev, t, prevRef, c.reviews[i], "review overdue")
		prev, prevRef = t, c.reviews[i]
	}
	gap(prev, c.asOf, prevRef, nil, "review overdue as of the period's end")
	return n, ex
}

func (c *Checker) destructionEvidence() (int, []Exception) {
	n := 0
	for _, k := range c.keys {
		if k.destroyed != nil && c.inPeriod(k.destroyed) {
			n++
		}
	}
	return n, c.evidence
}

func (c *Checker) backupsAtDestruction() (int, []Exception) {
	var ex []Exception
	n := 0
	for _, k := range c.inScope() {
		if k.state != ledger.KeyDestroyed {
			continue
		}
		n++
		for _, id := range k.backups {
			b := c.backups[id]
			if b.destroyed == nil {
				ex = append(ex, Exception{KeyID: k.id, Message: fmt.Sprintf("%s is destroyed but its backup %s is not (its shares held by %s)", k.name(), id, strings.Join(b.holders, ", ")), Records: []Ref{*k.destroyed, *b.split}})
			}
		}
	}
	return n, ex
}

func (c *Checker) separation() (int, []Exception) {
	ex := slices.Clone(c.sodSelf)
	n := 0
	for _, k := range c.inScope() {
		n++
		if k.destroyIntent == nil || !c.inPeriod(k.destroyIntent) {
			continue
		}
		if slices.Contains(k.destroyApprovers, k.generator) {
			ex = append(ex, Exception{KeyID: k.id, Message: fmt.Sprintf("%s generated %s and approved its destruction", k.generator, k.name()), Records: k.refs(k.destroyIntent)})
		}
	}
	return n, ex
}

func (c *Checker) ceremoniesClosed() (int, []Exception) {
	var ex []Exception
	n := 0
	for _, id := range c.cerOrder {
		cer := c.cers[id]
		if !cer.inPeriod {
			continue
		}
		n++
		switch {
		case cer.aborted != nil:
			ex = append(ex, Exception{Message: fmt.Sprintf("ceremony %s was aborted: %s", id, cer.abortedReason), Records: []Ref{*cer.first, *cer.aborted}})
		case !cer.closed && selfClosing(cer):
		case !cer.closed:
			ex = append(ex, Exception{Message: fmt.Sprintf("ceremony %s is not closed: its last record is %d (%s)", id, cer.last.Seq, cer.last.Kind), Records: []Ref{*cer.first, *cer.last}})
		}
	}
	return n, ex
}

// selfClosing: a genesis and a share check are one record each, with no
// closing checkpoint.
func selfClosing(cer *ceremony) bool {
	return cer.first == cer.last && (cer.firstKind == "ledger.genesis" || cer.firstKind == "share.verified")
}

func (c *Checker) noRestore() (int, []Exception) {
	n := 0
	for _, k := range c.inScope() {
		if k.destroyed != nil || slices.ContainsFunc(c.restores, func(e Exception) bool { return e.KeyID == k.id }) {
			n++
		}
	}
	return n, c.restores
}

func (c *Checker) labelsUnique() (int, []Exception) {
	var ex []Exception
	n := 0
	for _, id := range c.keyOrder {
		k := c.keys[id]
		if k.state == ledger.KeyAborted {
			continue
		}
		n++
		ids, refs := c.labelKey[k.label], c.labels[k.label]
		if ids[0] != id {
			continue
		}
		var made []Ref
		var others []string
		for i, other := range ids {
			if c.keys[other].state != ledger.KeyAborted {
				made = append(made, *refs[i])
				others = append(others, other)
			}
		}
		if len(others) > 1 && c.inPeriod(&made[len(made)-1]) {
			ex = append(ex, Exception{KeyID: id, Message: fmt.Sprintf("label %s is given to %d keys: %s", k.label, len(others), strings.Join(others, ", ")), Records: made})
		}
	}
	return n, ex
}

func (c *Checker) departedMembers() (int, []Exception) {
	ex := slices.Clone(c.actsAfter)
	n := 0
	for _, r := range c.removed {
		if !c.opts.contains(r.at) {
			continue
		}
		n++
		for _, id := range backupIDs(c.backups) {
			b := c.backups[id]
			if b.destroyed != nil || !heldBefore(b, r) {
				continue
			}
			reissued := false
			for _, t := range b.reissueAt {
				if !t.Before(r.at) {
					reissued = true
				}
			}
			if !reissued {
				ex = append(ex, Exception{KeyID: b.keyID, Message: fmt.Sprintf("%s left the roster holding a share of backup %s, which was neither reshared nor destroyed", r.member, id), Records: []Ref{*r.ref, *b.split}})
			}
		}
	}
	return n, ex
}

// heldBefore reports whether the member held a share of b in force when
// they were removed: b's holders now still name them unless a reshare
// after the removal replaced them.
func heldBefore(b *backup, r removal) bool {
	if b.split.Seq > r.ref.Seq {
		return false
	}
	if slices.Contains(b.holders, r.member) {
		return true
	}
	// Reshared since, without them: they held the shares before.
	for _, t := range b.reissueAt {
		if !t.Before(r.at) {
			return true
		}
	}
	return false
}

func backupIDs(m map[string]*backup) []string {
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// signaturesInPeriod are the signatures made (key.signed) in the period.
func (c *Checker) signaturesInPeriod() []keyed[signature] {
	return donePeriod(c, func(k *key) []signature { return k.signatures }, func(s signature) *Ref { return s.done })
}

func (c *Checker) signaturesDualControl() (int, []Exception) {
	sigs := c.signaturesInPeriod()
	var ex []Exception
	for _, x := range sigs {
		switch {
		case x.v.approvers == 0:
			ex = append(ex, Exception{KeyID: x.k.id, Message: fmt.Sprintf("the %s signature with %s was approved by nobody but its operator", x.v.kind, x.k.name()), Records: []Ref{*x.v.intent, *x.v.done}})
		case x.v.tbs == "" || x.v.outputs == 0:
			ex = append(ex, Exception{KeyID: x.k.id, Message: fmt.Sprintf("the %s signature with %s records no digest of what was signed or no output", x.v.kind, x.k.name()), Records: []Ref{*x.v.intent, *x.v.done}})
		}
	}
	return len(sigs), ex
}

// signatureItems lists every signature of the period, for the reviewer.
func (c *Checker) signatureItems() []Exception {
	var out []Exception
	for _, x := range c.signaturesInPeriod() {
		msg := fmt.Sprintf("%s signature with %s for %q, TBS sha256 %s, %d output(s), %d approver(s) besides the operator", x.v.kind, x.k.name(), x.v.purpose, x.v.tbs, x.v.outputs, x.v.approvers)
		if x.v.serial != "" {
			msg += ", serial " + x.v.serial
		}
		out = append(out, Exception{KeyID: x.k.id, Message: msg, Records: []Ref{*x.v.intent, *x.v.done}})
	}
	return out
}
