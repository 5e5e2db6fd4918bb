// The people and sign screens of a ceremony run: each member's roles in
// the ceremony, who will sign, and who must still come forward.

package tui

import (
	"fmt"
	"slices"
	"strings"

	"custos/ceremony"
)

// roles of a member in this ceremony, as the people screen shows them.
func (m *Model) neededFor(name string) string {
	p := m.run.plan
	st := m.led.State()
	var w []string
	if name == p.Operator {
		w = append(w, "operator: signs every record")
	}
	if slices.Contains(p.Witnesses, name) {
		w = append(w, "witness: co-signs the checkpoint")
	}
	if m.canApprove(name) {
		w = append(w, "may approve")
	}
	if len(w) == 0 {
		mem := st.Roster.Member(name)
		return "not needed (" + strings.Join(mem.Roles, ",") + ")"
	}
	return strings.Join(w, "; ")
}

func (m *Model) canApprove(name string) bool {
	p, st := m.run.plan, m.led.State()
	req := p.Required
	mem := st.Roster.Member(name)
	if mem == nil || req.Count == 0 || (name == p.Operator && !req.SelfApproval) {
		return false
	}
	return mem.HasRole(req.Roles...)
}

// whoSigns is who will sign, in the engine's order: the operator (the
// record), the approval files, then approvers present by name until the
// quorum is met.
func (m *Model) whoSigns() []string {
	r := m.run
	out := []string{r.plan.Operator}
	have := map[string]bool{}
	n := 0
	for _, af := range r.eng.Approvals {
		have[af.Member] = true
		n++
	}
	// The approvers are those who came forward, in the order they did:
	// the people present choose who approves, not the screen.
	for _, name := range r.arrived {
		if n >= r.plan.Required.Count {
			break
		}
		if have[name] || !m.canApprove(name) {
			continue
		}
		out = append(out, name)
		n++
	}
	return out
}

// missing says who must still come forward before drafting.
func (m *Model) missing() error {
	r := m.run
	p := r.plan
	var need []string
	if r.signers[p.Operator] == nil {
		need = append(need, p.Operator+" (operator)")
	}
	for _, w := range p.Witnesses {
		if r.signers[w] == nil {
			need = append(need, w+" (witness)")
		}
	}
	n := len(r.eng.Approvals)
	for name := range r.signers {
		if m.canApprove(name) && !slices.ContainsFunc(r.eng.Approvals, func(a *ceremony.ApprovalFile) bool { return a.Member == name }) {
			n++
		}
	}
	if n < p.Required.Count {
		need = append(need, fmt.Sprintf("%d more approval(s) by %s", p.Required.Count-n, strings.Join(p.Required.Roles, "/")))
	}
	if len(need) > 0 {
		return fmt.Errorf("still needed: %s", strings.Join(need, ", "))
	}
	return nil
}

func (m *Model) peopleBody() ([]string, string) {
	s, r := m.st, m.run
	p := r.plan
	req := "none required by the policy"
	if p.Required.Count > 0 {
		req = fmt.Sprintf("%d by %s", p.Required.Count, strings.Join(p.Required.Roles, "/"))
	}
	out := []string{s.Heading.Render("Who is present"), "",
		"  Each person needed comes to the keyboard in turn, selects their",
		"  key and types its passphrase or PIN (never shown). Approvals: " + req, ""}
	for i, mem := range m.led.State().Roster.Members {
		status := s.Dim.Render("absent")
		if sg := r.signers[mem.Name]; sg != nil {
			status = s.OK.Render("✓ present")
		}
		for _, af := range r.eng.Approvals {
			if af.Member == mem.Name {
				status = s.OK.Render("✓ approval file")
			}
		}
		line := fmt.Sprintf("%-10s %-15s %s", mem.Name, status, m.neededFor(mem.Name))
		if i == r.member {
			line = s.Selected.Render("› " + line)
		} else {
			line = "  " + line
		}
		out = append(out, line)
	}
	if len(r.files) > 0 {
		out = append(out, "", "  attached: "+strings.Join(r.files, ", "))
	}
	// Who is still needed comes before the long request digest, so it is
	// on the first page.
	if err := m.missing(); err != nil {
		out = append(out, "", s.Actor.Render("  → "+err.Error()))
	} else {
		out = append(out, "", s.OK.Render("  Everyone needed is present: c to continue."))
	}
	if q := r.eng.Request; q != nil {
		out = append(out, "", "  The request carried to the approvers:")
		out = append(out, m.digestLines("    ", "digest", q.Digest)...)
	}
	f := "enter: select key · a: attach · o: write request · c: continue · esc: abandon"
	if r.retry != nil {
		f = "t: try again · " + f
	}
	return out, f
}

func (m *Model) signBody() ([]string, string) {
	s, r := m.st, m.run
	rec := r.draft
	out := []string{s.Heading.Render(fmt.Sprintf("What is signed: record %d, %s", rec.Seq, rec.Kind)), ""}
	if r.confirmed < len(r.signers2) {
		who, role := r.signers2[r.confirmed], "approver"
		if r.confirmed == 0 {
			role = "operator"
		}
		out = append(out, s.Actor.Render(fmt.Sprintf("  → now %s (%s): check what you sign, then press enter", who, role)), "")
	}
	out = append(out, m.digestLines("  ", "digest", r.req.Digest)...)
	signers := out[:0:0]
	signers = append(signers, "", "  Signers:")
	for i, n := range r.signers2 {
		mark := "[ ]"
		if i < r.confirmed {
			mark = "[x]"
		}
		role := "approver"
		if i == 0 {
			role = "operator"
		}
		signers = append(signers, fmt.Sprintf("    %s %s (%s)", mark, n, role))
	}
	for _, af := range r.eng.Approvals {
		signers = append(signers, fmt.Sprintf("    [x] %s (approval file %s)", af.Member, af.File))
	}
	out = append(out, signers...)
	out = append(out, "", fmt.Sprintf("  The record: ceremony %s by %s, after the record", rec.Ceremony, rec.Actor),
		"    "+hexRows(12, rec.Prev))
	out = append(out, factLines(rec.Facts, "    ")...)
	return out, "enter: I have read it, sign · ↑/↓: scroll · esc: abandon"
}
