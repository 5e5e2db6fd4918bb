// The report's closing sections, made when the last record is in: the
// events' witnesses, the policy as enforced, the verify result and the
// controls each section is evidence for.

package report

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"custos/ledger"
)

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
			since := bk.Seq // the split, or the last reshare, read every share back
			if n := len(bk.Reshares); n > 0 {
				since = bk.Reshares[n-1].Seq
			}
			var idx []int64
			for _, c := range bk.ShareChecks {
				if c.Seq > since && !slices.Contains(idx, c.Index) {
					idx = append(idx, c.Index)
				}
			}
			bk.SharesChecked = int64(len(idx))
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
		k.Summary = summarize(k)
		r.Inventory = append(r.Inventory, *k)
	}
	sort.SliceStable(r.Calendar, func(i, j int) bool { return r.Calendar[i].Due < r.Calendar[j].Due })
	if b.opts.InventoryOnly {
		b.policySection()
		r.Verify = verifySection(b.opts.Verify, r)
		r.Verified, r.Failure = r.Verify.Ran && r.Verify.OK, r.Verify.Failure
		return
	}
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
	r.Exceptions = b.exceptions()
	r.Verify = verifySection(b.opts.Verify, r)
	r.Verified, r.Failure = r.Verify.Ran && r.Verify.OK, r.Verify.Failure
	r.Controls = controls()
}

func (b *builder) policySection() {
	p := &b.r.Policy
	if p.Changes == nil {
		p.Changes = []int64{}
	}
	for _, role := range ledger.Roles {
		h := RoleHolders{Role: role, Members: []string{}, Acted: []string{}}
		for _, m := range b.roster.Members {
			if m.HasRole(role) {
				h.Members = append(h.Members, m.Name)
			}
		}
		if role == "witness" {
			for _, id := range b.cerOrd {
				if !b.cerIn[id] {
					continue
				}
				for _, w := range b.cers[id].Witnesses {
					if !slices.Contains(h.Members, w) {
						h.Acted = addOnce(h.Acted, w)
					}
				}
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
	p.Environments, p.Classifications = slices.Clone(b.policy.Environments), slices.Clone(b.policy.Classifications)
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
		"how an approval came: \"in the room\" or \"carried\" (with the approval file's SHA-256) is the operator's statement, covered by their commit signature; the approver's own signature, checked by verify, covers the record's signing digest and nothing else",
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
