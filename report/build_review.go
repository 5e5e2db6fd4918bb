// What a reviewer reads first: the exceptions the records show, and each
// key's life in sentences; and the readers of the facts they rest on
// (an HSM's validation, an access review's coverage).

package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"custos/ledger"
)

// validation reads an enrolment's hsm.validation (or validation) fact.
func validation(f map[string]any) *Validation {
	m, ok := lookup(f, "hsm.validation").(map[string]any)
	if !ok {
		m, ok = f["validation"].(map[string]any)
	}
	if !ok {
		return nil
	}
	v := &Validation{Program: str(m, "program"), Certificate: str(m, "certificate"), Level: str(m, "level")}
	if n, ok := num(m, "certificate"); ok && v.Certificate == "" {
		v.Certificate = fmt.Sprint(n)
	}
	if n, ok := num(m, "level"); ok && v.Level == "" {
		v.Level = fmt.Sprint(n)
	}
	if v.Program == "" && v.Certificate == "" {
		return nil
	}
	return v
}

// review reads what an access review claims to cover: the members of its
// roster fact and the keys of its inventory fact.
func review(ev Event, f map[string]any, facts []Fact) Review {
	r := Review{Event: ev, Facts: facts, Period: str(f, "period"), Findings: str(f, "findings"),
		ReviewedHead: str(f, "reviewed_head"), Members: []string{}, Keys: []string{}}
	list := func(name string, fields ...string) []string {
		out := []string{}
		a, _ := f[name].([]any)
		for _, e := range a {
			switch x := e.(type) {
			case string:
				out = addOnce(out, x)
			case map[string]any:
				for _, fl := range fields {
					if s := str(x, fl); s != "" {
						out = addOnce(out, s)
						break
					}
				}
			}
		}
		return out
	}
	r.Members = list("roster", "name", "member")
	r.Keys = list("inventory", "label", "key_id")
	return r
}

func sentence(seqs []int64, format string, args ...any) Sentence {
	return Sentence{Text: fmt.Sprintf(format, args...), Seqs: seqs}
}

func approvedText(e *Event) string {
	s := " by " + e.By
	if len(e.ApprovedBy) > 0 {
		s += ", approved by " + approvalList(e.ApprovedBy, e.Carried)
	}
	if len(e.Witnesses) > 0 {
		s += ", witnessed by " + strings.Join(e.Witnesses, ", ")
	}
	return s
}

func seqsOf(e *Event) []int64 {
	if e.IntentSeq != 0 && e.IntentSeq != e.Seq {
		return []int64{e.IntentSeq, e.Seq}
	}
	return []int64{e.Seq}
}

func day(t string) string {
	if len(t) >= 10 {
		return t[:10]
	}
	return t
}

// summarize tells a key's life, oldest first, one sentence per event.
func summarize(k *Key) []Sentence {
	type at struct {
		seq int64
		s   Sentence
	}
	var ev []at
	add := func(seq int64, s Sentence) { ev = append(ev, at{seq, s}) }
	what := k.Type
	if k.Purpose != "" {
		what += ", " + k.Purpose
	}
	if k.Owner != "" {
		what += ", owned by " + k.Owner
	}
	if k.Environment != "" || k.Classification != "" {
		what += fmt.Sprintf(" (environment %s, classification %s)", dash(k.Environment), dash(k.Classification))
	}
	if c := k.Created; c != nil {
		on := k.madeOn
		if on.Serial == "" {
			on = k.HSM
		}
		add(c.Seq, sentence(seqsOf(c), "%s (%s) was generated on %s %s on %s%s.", k.Label, what, on.Model, on.Serial, day(c.Time), approvedText(c)))
	} else {
		r := &k.Requested
		add(r.Seq, sentence([]int64{r.Seq}, "%s (%s) was requested on %s by %s.", k.Label, what, day(r.Time), r.By))
	}
	if a := k.Aborted; a != nil {
		add(a.Seq, sentence([]int64{a.Seq}, "Its generation was aborted on %s: %s.", day(a.Time), dash(a.Reason)))
	}
	for i := range k.Exports {
		x := &k.Exports[i]
		s := fmt.Sprintf("It was exported to %s on %s%s", x.Recipient, day(x.Time), approvedText(&x.Event))
		if x.Purpose != "" {
			s += "; purpose: " + x.Purpose
		}
		if x.Expires != "" {
			s += "; the copy expires " + x.Expires
		}
		add(x.Seq, sentence(seqsOf(&x.Event), "%s.", s))
	}
	for i := range k.Backups {
		bk := &k.Backups[i]
		add(bk.Seq, sentence(seqsOf(&bk.Event), "It was backed up as %s, %d of %d shares held by %s, on %s%s; every share was read back at the split.",
			bk.BackupID, bk.Threshold, bk.Shares, strings.Join(bk.Holders, ", "), day(bk.Time), approvedText(&bk.Event)))
		for _, rs := range bk.Reshares {
			add(rs.Seq, sentence(seqsOf(&rs), "Backup %s was reshared on %s%s.", bk.BackupID, day(rs.Time), approvedText(&rs)))
		}
		if n := len(bk.ShareChecks); n > 0 {
			last := bk.ShareChecks[n-1]
			var seqs []int64
			for _, c := range bk.ShareChecks {
				seqs = append(seqs, c.Seq)
			}
			add(last.Seq, sentence(seqs, "%d of %d shares of %s were checked by their holders since, the last on %s.", bk.SharesChecked, bk.Shares, bk.BackupID, day(last.Time)))
		}
		if d := bk.Destroyed; d != nil {
			add(d.Seq, sentence([]int64{d.Seq}, "Backup %s was destroyed on %s%s (media: %s).", bk.BackupID, day(d.Time), approvedText(d), dash(bk.MediaDestroyed)))
		}
	}
	for _, h := range k.History {
		if h.Kind == "key.destroyed" && (k.Destroyed == nil || h.Seq != k.Destroyed.Seq) {
			add(h.Seq, sentence([]int64{h.Seq}, "A copy was destroyed on %s by %s.", day(h.Time), h.Actor))
		}
	}
	if d := k.Destroyed; d != nil {
		add(d.Seq, sentence(seqsOf(d), "It was destroyed on the HSM on %s%s; reason: %s.", day(d.Time), approvedText(d), dash(d.Reason)))
	}
	for i := range k.Restores {
		r := &k.Restores[i]
		add(r.Seq, sentence(seqsOf(r), "It was restored from its backup on %s%s.", day(r.Time), approvedText(r)))
	}
	if rt := k.Retirement; rt != nil {
		add(rt.Seq, sentence([]int64{rt.Seq}, "It was rotated on %s; its retirement is scheduled for %s.", day(rt.Time), rt.RetireOn))
	}
	if c := k.Compromised; c != nil {
		add(c.Seq, sentence([]int64{c.Seq}, "It was reported compromised on %s by %s: %s.", day(c.Time), c.By, dash(c.Reason)))
	}
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].seq < ev[j].seq })
	out := []Sentence{}
	for _, e := range ev {
		out = append(out, e.s)
	}
	end := "Now: " + k.Disposition
	switch {
	case k.State != ledger.KeyActive:
	case k.RotationDays == 0:
		end += "; it has no rotation period"
	case k.Overdue:
		end += fmt.Sprintf("; rotation every %d days (%s) was due %s: OVERDUE", k.RotationDays, k.RotationSource, day(k.RotationDue))
	case k.RotationDue != "":
		end += fmt.Sprintf("; rotation every %d days (%s), due %s", k.RotationDays, k.RotationSource, day(k.RotationDue))
	}
	out = append(out, Sentence{Text: end + ".", Seqs: []int64{}})
	return out
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// exceptions lists what a reviewer must follow up, as the records show
// it, in the order of the report's sections.
func (b *builder) exceptions() []Exception {
	r := b.r
	out := []Exception{}
	add := func(x Exception) {
		if x.Seqs == nil {
			x.Seqs = []int64{}
		}
		out = append(out, x)
	}
	for _, c := range r.Ceremonies {
		last := c.Steps[len(c.Steps)-1].Seq
		switch c.Status {
		case "aborted":
			add(Exception{Kind: "aborted_ceremony", Ceremony: c.ID, Seqs: []int64{last},
				Text: fmt.Sprintf("ceremony %s (%s) was aborted on %s: %s", c.ID, c.Kind, day(c.End), dash(abortReason(c)))})
		case "unclosed":
			add(Exception{Kind: "unclosed_ceremony", Ceremony: c.ID, Seqs: []int64{last},
				Text: fmt.Sprintf("ceremony %s (%s) has no ceremony.closed: its records were not co-signed by a witness checkpoint", c.ID, c.Kind)})
		case "open":
			add(Exception{Kind: "open_ceremony", Ceremony: c.ID, Seqs: []int64{last},
				Text: fmt.Sprintf("ceremony %s (%s) is still open: an intent has no outcome (custos resume settles it)", c.ID, c.Kind)})
		}
	}
	for _, id := range slices.Sorted(mapsKeys(b.reused)) {
		add(Exception{Kind: "ceremony_id_reused", Ceremony: id, Seqs: b.reused[id],
			Text: fmt.Sprintf("ceremony id %s is used again after it was settled (records %s)", id, joinInts(b.reused[id]))})
	}
	labels := map[string][]*Key{}
	for i := range r.Inventory {
		k := &r.Inventory[i]
		labels[k.Label] = append(labels[k.Label], k)
		if k.Compromised != nil {
			add(Exception{Kind: "compromised", KeyID: k.ID, Seqs: []int64{k.Compromised.Seq},
				Text: fmt.Sprintf("%s was reported compromised on %s by %s: %s", k.Label, day(k.Compromised.Time), k.Compromised.By, dash(k.Compromised.Reason))})
		}
		if k.Destroyed != nil {
			for _, rs := range k.Restores {
				if rs.Seq > k.Destroyed.Seq || k.State == ledger.KeyActive {
					add(Exception{Kind: "restored_after_destruction", KeyID: k.ID, Seqs: []int64{k.Destroyed.Seq, rs.Seq},
						Text: fmt.Sprintf("%s was destroyed on %s (reason: %s) and restored from backup on %s: check the restore was approved for that reason", k.Label, day(k.Destroyed.Time), dash(k.Destroyed.Reason), day(rs.Time))})
					break
				}
			}
		}
		if k.State == ledger.KeyDestroyed {
			for _, bk := range k.Backups {
				if bk.Destroyed == nil {
					add(Exception{Kind: "backup_outlives_key", KeyID: k.ID, Seqs: []int64{bk.Seq, k.Destroyed.Seq},
						Text: fmt.Sprintf("%s was destroyed on the HSM on %s, but backup %s (%d of %d shares: %s) is not destroyed", k.Label, day(k.Destroyed.Time), bk.BackupID, bk.Threshold, bk.Shares, strings.Join(bk.Holders, ", "))})
				}
			}
		}
		end, what := "", ""
		switch {
		case k.Retirement != nil:
			end, what = k.Retirement.RetireOn, "its retirement on"
		case k.Destroyed != nil && k.State == ledger.KeyDestroyed:
			end, what = day(k.Destroyed.Time), "its destruction on"
		case k.RotationDue != "":
			end, what = day(k.RotationDue), "its rotation due"
		}
		for _, x := range k.Exports {
			if x.Expires != "" && end != "" && x.Expires > end {
				add(Exception{Kind: "export_outlives_key", KeyID: k.ID, Seqs: seqsOf(&x.Event),
					Text: fmt.Sprintf("the export of %s to %s expires %s, after %s %s: the recipient's copy outlives the key", k.Label, x.Recipient, x.Expires, what, end)})
			}
		}
		if k.Overdue {
			add(Exception{Kind: "rotation_overdue", KeyID: k.ID, Seqs: seqsOf(k.Created),
				Text: fmt.Sprintf("%s is overdue for rotation: every %d days (%s), due %s", k.Label, k.RotationDays, k.RotationSource, day(k.RotationDue))})
		}
		if k.RetireOverdue {
			add(Exception{Kind: "retirement_overdue", KeyID: k.ID, Seqs: []int64{k.Retirement.Seq},
				Text: fmt.Sprintf("%s is still active after its retirement date %s", k.Label, k.Retirement.RetireOn)})
		}
		if k.State == ledger.KeyActive && k.RotationDays == 0 {
			seqs := []int64{k.Requested.Seq}
			add(Exception{Kind: "no_rotation_period", KeyID: k.ID, Seqs: seqs,
				Text: fmt.Sprintf("%s (%s) has no rotation period: neither its generate script nor the policy gives one", k.Label, k.Type)})
		}
		for _, bk := range k.Backups {
			if len(bk.ReshareDue) > 0 {
				add(Exception{Kind: "reshare_due", KeyID: k.ID, Seqs: []int64{bk.Seq},
					Text: fmt.Sprintf("backup %s of %s must be reshared or destroyed: %s left the roster", bk.BackupID, k.Label, strings.Join(bk.ReshareDue, ", "))})
			}
		}
	}
	for _, l := range slices.Sorted(mapsKeys(labels)) {
		if ks := labels[l]; len(ks) > 1 && l != "" {
			var ids []string
			var seqs []int64
			for _, k := range ks {
				ids = append(ids, k.ID)
				seqs = append(seqs, k.Requested.Seq)
			}
			add(Exception{Kind: "label_reused", Seqs: seqs,
				Text: fmt.Sprintf("label %s names %d keys (%s): evidence that names the label is ambiguous", l, len(ks), strings.Join(ids, ", "))})
		}
	}
	return out
}

func abortReason(c Ceremony) string {
	for _, s := range c.Steps {
		if s.Kind == "ceremony.aborted" {
			for _, f := range s.Facts {
				if f.Name == "reason" {
					return f.Value
				}
			}
		}
	}
	return ""
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
