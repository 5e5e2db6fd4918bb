// The plan, step and done screens of a ceremony run: the human checks
// of each step, the progress bar, and lines wrapped to the terminal.

package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"custos/ceremony"
	"custos/ledger"
)

// stepChecks are the human actions of each step of the plan and who must
// do them; the engine does the rest.
func (m *Model) stepChecks() [][]check {
	r := m.run
	p := r.plan
	op := p.Operator
	wit := op
	if len(p.Witnesses) > 0 {
		wit = strings.Join(p.Witnesses, ", ")
	}
	serial, label := "", ""
	if h, ok := r.draft.Facts["hsm"].(map[string]any); ok {
		serial, _ = h["serial"].(string)
		label, _ = h["label"].(string)
	}
	approvers := strings.Join(r.signers2[1:], ", ")
	if approvers == "" {
		approvers = "(none required)"
	}
	words := wordsOf(r.req.Digest, 4)
	out := make([][]check, len(p.Steps))
	for i := range p.Steps {
		var c []check
		switch i {
		case 0:
			c = append(c,
				check{wit, fmt.Sprintf("the HSM serial on the device label matches %s (token %s)", serial, label), false},
				check{op, "reads the first words of the digest aloud: " + words, false})
			if len(r.signers2) > 1 {
				c = append(c, check{approvers, "heard the same words on their own screen or request", false})
			}
		case len(p.Steps) - 1:
			c = append(c, check{wit, "will read the closing checkpoint words into the signed minutes", false})
		default:
			c = append(c, check{op, "keeps the HSM connected and powered until the ceremony closes", false})
			if p.Kind == ceremony.KindDestroy && i == 1 {
				c = append(c, check{wit, fmt.Sprintf("agrees that key %q is to be destroyed for good", p.Label), false})
			}
		}
		out[i] = c
	}
	return out
}

func wordsOf(digest string, n int) string {
	w := ledger.Words(digest)
	if n > 0 && len(w) > n {
		return strings.Join(w[:n], " ") + " …"
	}
	return strings.Join(w, " ")
}

// --- views ---

func (m *Model) runBody() ([]string, string) {
	s := m.st
	r := m.run
	switch m.screen {
	case scrScript:
		return []string{s.Heading.Render("Which ceremony?"), "",
			"  Type the path of a ceremony script (YAML). Nothing is touched",
			"  until you have seen the plan and everyone needed is present.",
			"  Examples are in docs/examples/."}, "enter: read the script · esc: home"
	case scrPlan:
		out := []string{s.Heading.Render("What will happen"), ""}
		for _, l := range strings.Split(strings.TrimRight(r.plan.String(), "\n"), "\n") {
			out = append(out, "  "+l)
		}
		if r.plan.Kind == ceremony.KindDestroy {
			out = append(out, "", s.Warn.Render(fmt.Sprintf("  Destroying %q cannot be undone: its label is asked in full.", r.plan.Label)))
		}
		return out, "enter: who must be present · esc: abandon"
	case scrPeople:
		return m.peopleBody()
	case scrSign:
		return m.signBody()
	case scrStep:
		return m.stepBody()
	case scrHolder:
		return m.holderBody()
	case scrShares:
		return m.sharesBody()
	case scrRunning:
		if r.cardFor != "" {
			return m.cardBody()
		}
		return m.runningBody(), "please wait: do not pull the token"
	case scrDone:
		return m.doneBody()
	}
	return nil, ""
}

func (m *Model) bar(done int) string {
	total := max(1, len(m.run.plan.Steps))
	done = min(done, total)
	const w = 30
	n := done * w / total
	return "[" + strings.Repeat("█", n) + strings.Repeat("░", w-n) + fmt.Sprintf("] %d/%d", done, total)
}

func (m *Model) stepBody() ([]string, string) {
	s, r := m.st, m.run
	p := r.plan
	out := m.wrap(s.Heading.Render(fmt.Sprintf("Step %d: %s", r.step+1, p.Steps[r.step])), "  ")
	out = append(out, "", "  "+m.bar(r.step), "")
	list := r.checks[r.step]
	for i, c := range list {
		if !c.done {
			out = append(out, s.Actor.Render("  → now: "+c.who))
			break
		}
		if i == len(list)-1 {
			out = append(out, s.OK.Render("  all confirmed"))
		}
	}
	out = append(out, "")
	for i, c := range list {
		mark := "[ ]"
		if c.done {
			mark = "[x]"
		}
		lines := m.wrap(fmt.Sprintf("%s %s: %s", mark, c.who, c.what), "      ")
		for j, l := range lines {
			if i == r.item && j == 0 {
				l = s.Selected.Render("› " + l)
			} else if j == 0 {
				l = "  " + l
			}
			out = append(out, l)
		}
	}
	next := "enter: next step"
	if r.step == len(p.Steps)-1 {
		next = "enter: RUN the ceremony"
	}
	return out, "space: tick · " + next + " · esc: back"
}

func (m *Model) doneBody() ([]string, string) {
	s, r := m.st, m.run
	if r.failed != nil {
		out := []string{s.Bad.Render("The ceremony did not complete"), "", "  " + m.bar(m.stepsDone()), ""}
		for _, l := range r.progress {
			out = append(out, "  ✓ "+l)
		}
		out = append(out, "", "  "+r.failed.Error())
		if st := m.led.State(); st.Seq == r.before {
			out = append(out, "", fmt.Sprintf("  Nothing was recorded: the ledger is still at record %d.", st.Seq))
		} else {
			out = append(out, "", fmt.Sprintf("  The ledger now holds %d records (was %d): see the timeline (l).", st.Seq, r.before))
		}
		return out, "enter: home"
	}
	res := r.result
	out := []string{s.OK.Render("✓ Ceremony " + res.Ceremony + " is closed"), "", "  " + m.bar(m.stepsDone()), ""}
	for _, l := range r.progress {
		out = append(out, "  ✓ "+l)
	}
	if res.KeyID != "" {
		out = append(out, "", "  key id: "+res.KeyID)
	}
	out = append(out, m.outcomeLines()...) // form_outcome.go
	out = append(out, "", "  Write into the minutes and read aloud — the new ledger head:",
		"    "+res.Head)
	w := ledger.Words(res.Head)
	for i := 0; i < len(w); i += 8 {
		out = append(out, "    "+strings.Join(w[i:min(len(w), i+8)], " "))
	}
	return out, "enter: home · ↑/↓: scroll"
}

// wrap breaks a line to the terminal's width, continuing with indent.
func (m *Model) wrap(line, indent string) []string {
	w := max(20, m.width) - 2
	lines := strings.Split(ansi.Wrap(line, w, " "), "\n")
	for i := 1; i < len(lines); i++ {
		lines[i] = indent + lines[i]
	}
	return lines
}
