// The plan, step and done screens of a ceremony run: the human checks
// of each step, the progress bar, and lines wrapped to the terminal.

package tui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"custos/ceremony"
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
	out := make([][]check, len(p.Steps))
	for i := range p.Steps {
		var c []check
		switch i {
		case 0:
			c = append(c,
				check{wit, fmt.Sprintf("the HSM serial on the device label matches %s (token %s)", serial, label), false},
				check{op, "reads the 32 words of the digest aloud, numbered, as shown below", false})
			if len(r.signers2) > 1 {
				c = append(c, check{approvers, "heard the same words on their own screen or request", false})
			}
			if spki, _ := r.draft.Facts["recipient_key_spki_sha256"].(string); spki != "" {
				recipient, _ := r.draft.Facts["recipient"].(string)
				c = append(c, check{wit, fmt.Sprintf("compared the SHA-256 of the recipient's key, read aloud, with what %s sent by another channel: %s", recipient, spki), false})
			}
		case len(p.Steps) - 1:
			c = append(c, check{wit, "will read the closing checkpoint words into the signed minutes", false})
		case 1:
			// asked once, for all the steps the HSM works through
			c = append(c, check{op, "keeps the HSM connected and powered until the ceremony closes", false})
			if p.Kind == ceremony.KindDestroy {
				c = append(c, check{wit, fmt.Sprintf("agrees that key %q is to be destroyed for good", p.Label), false})
			}
		}
		out[i] = c
	}
	return out
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
	// The bar shows what is recorded, not the pages read: nothing is
	// until the checklist is through and the engine runs.
	out = append(out, "", "  recorded: "+m.bar(m.stepsDone()), "")
	list := r.checks[r.step]
	if len(list) == 0 {
		out = append(out, "  Nothing to confirm at this step: read it aloud, then enter.")
	}
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
	if r.step == 0 {
		out = append(out, "", "  What everyone signed:")
		out = append(out, m.digestLines("    ", "digest", r.req.Digest)...)
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
		head := s.Bad.Render("The ceremony did not complete")
		// Stopped at a step boundary once the HSM step was done: the
		// outcome is recorded and the ceremony closed — it completed.
		var ie *ceremony.InterruptedError
		if errors.As(r.failed, &ie) && ie.Recorded != "" && ie.Recorded != "ceremony.aborted" {
			head = s.OK.Render("✓ Ceremony "+ie.Ceremony+" is closed") + " — stopped after the step in progress, as asked"
		}
		out := []string{head, "", "  " + m.bar(m.stepsDone()), ""}
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
	out = append(out, m.outcomeLines(res)...)
	out = append(out, "", "  Write into the minutes and read aloud — the new ledger head:")
	out = append(out, m.digestLines("    ", "head", res.Head)...)
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

// outcomeFacts are the facts of an outcome that custodians compare with
// the HSM and write into the minutes, in the order they are read.
var outcomeFacts = []string{"key_id", "label", "kcv_aes_cmac", "kcv_aes_ecb", "kcv", "check_value", "spki_sha256", "ssh_fingerprint",
	"recipient", "recipient_key_spki_sha256", "output", "output_sha256", "output_bytes", "backup_id", "blob_sha256", "wrapping_key_kcv_cmac", "tbs_sha256", "signature_sha256"}

// outcomeLines are the values of this ceremony's records as the ledger
// holds them (reopened after the run): key id, check value or public-key
// fingerprint, an export's recipient key digest, output file and its
// SHA-256, a backup's id, the bytes a signature covers and its SHA-256.
func (m *Model) outcomeLines(res *ceremony.Result) []string {
	if !m.run.reread {
		return []string{"", m.st.Dim.Render("  (reading what the ledger recorded)")}
	}
	var out []string
	seen := map[string]bool{}
	for _, rec := range m.run.recorded {
		if rec.Ceremony != res.Ceremony || rec.Kind == "ceremony.closed" {
			continue
		}
		for _, k := range outcomeFacts {
			v, ok := rec.Facts[k]
			if !ok || seen[k] {
				continue
			}
			seen[k] = true
			if len(out) == 0 {
				out = append(out, "", "  Recorded, to compare and write into the minutes:")
			}
			out = append(out, field("    ", k, fmt.Sprint(v)))
		}
	}
	if len(out) == 0 && res.KeyID != "" {
		out = append(out, "", field("  ", "key id", res.KeyID))
	}
	if res.Output != "" && !seen["output"] {
		out = append(out, field("    ", "output", res.Output))
	}
	return out
}
