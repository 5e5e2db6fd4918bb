// A record opened from the timeline, shown whole.

package tui

import (
	"custos/internal/termtext"
	"custos/ledger"
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// recordView is one record opened from the timeline.
type recordView struct{ rec *ledger.Record }

func (v *recordView) keys(m *Model, msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, Keys.Back), key.Matches(msg, Keys.Enter):
		m.goTo(scrLedger)
	case key.Matches(msg, Keys.Home):
		m.goTo(scrHome)
	default:
		m.scrollKeys(msg)
	}
	return nil
}

// view shows the record whole: its fields, digest (hex in blocks, words
// numbered), the signing digest, facts (nested ones indented, hex
// grouped), approvals.
func (v *recordView) view(m *Model) ([]string, string) {
	r := v.rec
	s := m.st
	out := []string{s.Heading.Render(fmt.Sprintf("Record %d · %s", r.Seq, r.Kind)), ""}
	if f := m.lv.verify; f != nil && f.Failure != nil && f.Failure.Seq == r.Seq {
		out = append(out, s.Bad.Render("✗ verify fails here ("+f.Failure.Check+"): "+termtext.Printable(f.Failure.Reason)), "")
	}
	out = append(out, field("  ", "ceremony", r.Ceremony), field("  ", "actor", r.Actor),
		field("  ", "time", r.Time.Format(ledger.TimeLayout)), field("  ", "ledger", r.Ledger))
	if r.Prev != "" {
		out = append(out, field("  ", "prev", r.Prev))
	}
	if d, err := r.Digest(); err == nil {
		out = append(out, m.digestLines("  ", "digest", d)...)
	}
	if d, err := r.SigningDigest(); err == nil && len(r.Approvals) > 0 {
		// what the approvers signed and heard read aloud
		out = append(out, field("  ", "signed", d))
	}
	out = append(out, "", s.Heading.Render("Facts"))
	out = append(out, factLines(r.Facts, "  ")...)
	if len(r.Approvals) > 0 {
		out = append(out, "", s.Heading.Render("Approvals"))
		for _, a := range r.Approvals {
			out = append(out, "  "+a.Member+" (SSH signature, namespace custos-approval)")
		}
	}
	return out, "↑/↓: scroll · esc: back to the timeline · h: home"
}
