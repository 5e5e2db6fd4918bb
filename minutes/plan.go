package minutes

import (
	"fmt"
	"strings"

	"custos/ceremony"
	"custos/ledger"
)

// FromPlan makes the checklist printed before a ceremony: the plan the
// engine made of script against the ledger (st), every step with who does
// it and boxes for initials and time, the values to read aloud left blank,
// the approvals the policy asks for, an exceptions sheet and the
// participants' signature block.
func FromPlan(s *ceremony.Script, p *ceremony.Plan, st *ledger.State) *Doc {
	d := &Doc{
		Ledger: st.LedgerID, Ceremony: p.Ceremony, Kind: p.Kind,
		Script: s.File, Operator: p.Operator, Witnesses: p.Witnesses, HSM: p.HSM,
		Required: requirement(p.Required), Notes: s.Notes,
	}
	sum := digestValue("script SHA-256", s.SHA256)
	sum.Note = "compare with sha256sum of the script on the workstation before anything is run"
	d.ScriptSHA256 = &sum
	if s.Ceremony == "" {
		d.Ceremony = ""
		d.Purpose = append(d.Purpose, "ceremony id: made from the time when it runs ("+p.Kind+"-YYYYMMDDTHHMMSSZ)")
	}
	d.Purpose = append(d.Purpose, scriptLines(s, p)...)

	witnesses := strings.Join(p.Witnesses, ", ")
	if witnesses == "" {
		witnesses = "everyone present"
	}
	n := 0
	add := func(what, who string) {
		n++
		d.Steps = append(d.Steps, Step{N: n, What: what, Who: who})
	}
	add("read the script's SHA-256 aloud and compare it with the copy on the workstation; the plan on the screen is this sheet", p.Operator+"; "+witnesses)
	if p.Required.Count > 0 {
		add(fmt.Sprintf("approvals: %s sign the request; its words are read aloud and compared", requirement(p.Required)), "approvers")
	}
	for _, step := range p.Steps {
		if keyIDUnknown(s, p) {
			step = strings.ReplaceAll(step, p.KeyID, "see key id below")
		}
		add(step, stepWho(step, p, witnesses))
	}
	add("read the checkpoint aloud, write it below in ink; witnesses sign it", witnesses)

	d.Values = plannedValues(s, p)
	for range p.Required.Count {
		d.Approvals = append(d.Approvals, Approval{Roles: strings.Join(p.Required.Roles, "/"), Blank: true})
	}
	if p.Required.Count > 0 {
		r := blank("request digest (what the approvals sign)", "custos approve shows it with its words; custos run prints it at the end")
		d.Request = &r
	}
	cp := blank("checkpoint head", "printed by custos run at the end, with its words")
	d.Checkpoint = &cp
	d.Signatures = signatures(p.Operator, p.Witnesses, nil, p.Required)
	return d
}

// keyIDUnknown: a generated key's id is derived from the ledger, the
// ceremony id and the label, so the plan names it; but a script without a
// ceremony id gets one made from the time it runs, and so another key id.
func keyIDUnknown(s *ceremony.Script, p *ceremony.Plan) bool {
	return (p.Kind == ceremony.KindGenerate || p.Kind == ceremony.KindRotate) && p.KeyID != "" && s.Ceremony == ""
}

// stepWho says who does a step of the engine's plan.
func stepWho(step string, p *ceremony.Plan, witnesses string) string {
	switch {
	case strings.HasPrefix(step, "witnesses"), strings.Contains(step, "witnesses co-sign"):
		return p.Operator + "; " + witnesses
	case strings.Contains(step, "security officer"):
		return "security officer (SO PIN), with " + p.Operator
	case strings.HasPrefix(step, "note:"):
		return "read aloud to all"
	}
	return p.Operator
}

func requirement(r ledger.Requirement) string {
	if r.Count == 0 {
		return "none required by the policy"
	}
	self := "the operator may not approve"
	if r.SelfApproval {
		self = "the operator may approve"
	}
	return fmt.Sprintf("%d by %s (%s)", r.Count, strings.Join(r.Roles, "/"), self)
}

// scriptLines is what the script asks, in readable form.
func scriptLines(s *ceremony.Script, p *ceremony.Plan) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	switch {
	case s.Key != nil:
		k := s.Key
		add("key: %q, %s, owner %s", k.Label, k.Type, k.Owner)
		add("purpose: %s", k.Purpose)
		if k.Rotation.Days > 0 {
			add("rotation: every %d days", k.Rotation.Days)
		}
		add("exportable: %s; backup planned: %s", yesno(k.Exportable), yesno(k.Backup))
	}
	switch {
	case s.Rotate != nil:
		add("rotates: %q, retires on %s", s.Rotate.Key, s.Rotate.RetireOn)
	case s.Export != nil:
		x := s.Export
		add("export: key %q (id %s) to %s", p.Label, p.KeyID, x.Recipient)
		add("purpose: %s; until %s", x.Purpose, x.Expires)
		add("output: %s", x.Output)
	case s.Destroy != nil:
		add("destroy: key %q (id %s)", p.Label, p.KeyID)
		add("reason: %s", s.Destroy.Reason)
		if s.Destroy.Confirm != "" {
			add("confirmed in the script: %s", s.Destroy.Confirm)
		} else {
			add("the label is typed in full at the workstation before the key is destroyed")
		}
	case s.Backup != nil:
		b := s.Backup
		add("backup %s of key %q: %d of %d among %s", b.ID, b.Key, b.Threshold, len(b.Holders), strings.Join(b.Holders, ", "))
		add("media: %s", b.Media)
	case s.Restore != nil:
		add("restore from backup %s, media %s, %d shares given", s.Restore.Backup, s.Restore.Media, len(s.Restore.Shares))
	case s.Compromise != nil:
		c := s.Compromise
		add("compromised: key %q, reported by %s", c.Key, c.ReportedBy)
		add("reason: %s", c.Reason)
	case s.Roster != nil:
		r := s.Roster
		for _, m := range r.Add {
			add("add member %s (%s)", m.Name, strings.Join(m.Roles, ", "))
		}
		for _, m := range r.Remove {
			add("remove member %s", m)
		}
		add("reason: %s", r.Reason)
	case s.Review != nil:
		add("review of %s", s.Review.Period)
		add("findings: %s", s.Review.Findings)
	case s.DestroyBackup != nil:
		add("backup %s destroyed: %s", s.DestroyBackup.Backup, s.DestroyBackup.Media)
	}
	return out
}

func yesno(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

const atEnd = "custos run prints it at the end"

// plannedValues are the values read aloud in a ceremony of p's kind,
// blank to be written down in the room.
func plannedValues(s *ceremony.Script, p *ceremony.Plan) []Value {
	var v []Value
	switch p.Kind {
	case ceremony.KindEnroll:
		v = append(v, blank("HSM serial", "read from the screen and compared with the label on the device"))
	case ceremony.KindGenerate, ceremony.KindRotate:
		if keyIDUnknown(s, p) {
			v = append(v, blank("key id", "made when the ceremony runs (the script names no ceremony id); custos run prints it"))
		} else {
			id := digestValue("key id", p.KeyID)
			id.Note = "as planned; compare with what custos run prints"
			v = append(v, id)
		}
		if s.Key != nil && s.Key.Type == "aes-256" {
			v = append(v, blank("check value (AES-CMAC)", atEnd))
		} else {
			v = append(v, blank("public key SPKI SHA-256", atEnd), blank("SSH fingerprint", atEnd))
		}
	case ceremony.KindExport:
		v = append(v, blank("recipient key SPKI SHA-256", "compared with the fingerprint the recipient gave"), blank("output SHA-256", "compared with sha256sum of the output"))
	case ceremony.KindSign:
		v = append(v, blank("TBS SHA-256", "in the intent; what the approvals sign for"), blank("output SHA-256", "compared with sha256sum of each output"))
	case ceremony.KindDestroy:
		v = append(v, blank("absence verified", "found by id: 0, by label: 0, fresh session: yes"))
	case ceremony.KindBackup:
		v = append(v, blank("wrapped key SHA-256", atEnd))
		if s.Backup != nil {
			for i, h := range s.Backup.Holders {
				v = append(v, blank(fmt.Sprintf("share commitment of %s (share %d)", h, i+1), atEnd))
			}
		}
	case ceremony.KindRestore:
		v = append(v, blank("check value (AES-CMAC, or SPKI SHA-256)", "must equal the check value the key had when generated"))
	}
	return v
}

// signatures is the signature block: operator, witnesses, approvers (by
// name when known, else one line per approval the policy asks).
func signatures(operator string, witnesses, approvers []string, req ledger.Requirement) []Signature {
	out := []Signature{{Role: "operator", Name: operator}}
	for _, w := range witnesses {
		out = append(out, Signature{Role: "witness", Name: w})
	}
	if approvers != nil {
		for _, a := range approvers {
			out = append(out, Signature{Role: "approver", Name: a})
		}
		return out
	}
	for range req.Count {
		out = append(out, Signature{Role: "approver (" + strings.Join(req.Roles, "/") + ")"})
	}
	return out
}
