package tui

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"custos/ledger"
)

// ledgerView is the timeline's cursor, window and last verify result.
type ledgerView struct {
	cursor, top int
	verify      *ledger.Result
	open        *ledger.Record
}

func (v *ledgerView) clamp(n int) {
	v.cursor = min(max(0, v.cursor), max(0, n-1))
}

type verifyMsg struct{ res ledger.Result }

func (m *Model) startVerify() tea.Cmd {
	m.busy = "verifying every signature, the chain and the policy"
	dir := m.dir
	return func() tea.Msg { return verifyMsg{res: ledger.Verify(dir, ledger.Options{})} }
}

func (m *Model) keyLedger(msg tea.KeyPressMsg) tea.Cmd {
	if m.screen == scrRecord {
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
	n, h := len(m.rows), m.timelineHeight()
	switch {
	case key.Matches(msg, Keys.Up):
		m.lv.cursor--
	case key.Matches(msg, Keys.Down):
		m.lv.cursor++
	case key.Matches(msg, Keys.PageUp):
		m.lv.cursor -= h
	case key.Matches(msg, Keys.PageDown):
		m.lv.cursor += h
	case msg.String() == "home", msg.String() == "g":
		m.lv.cursor = 0
	case msg.String() == "end", msg.String() == "G":
		m.lv.cursor = n - 1
	case key.Matches(msg, Keys.Enter) && n > 0:
		m.lv.open = m.rows[m.lv.cursor].rec
		m.goTo(scrRecord)
	case key.Matches(msg, Keys.Verify):
		return m.startVerify()
	case key.Matches(msg, Keys.Back), key.Matches(msg, Keys.Home):
		m.goTo(scrHome)
	}
	m.lv.clamp(n)
	return nil
}

// timelineHeight is how many records fit under the timeline's header.
func (m *Model) timelineHeight() int {
	return max(1, m.bodyHeight()-m.verifyLines()-2)
}

func (m *Model) verifyLines() int {
	if m.lv.verify == nil {
		return 0
	}
	return len(m.verifyBody())
}

func (m *Model) verifyBody() []string {
	r := m.lv.verify
	if r.OK {
		out := []string{m.st.OK.Render(fmt.Sprintf("✓ verify: ok, %d records; head %s", r.Records, short(r.Head, 23)))}
		if r.Note != "" {
			out = append(out, m.st.Dim.Render("  "+r.Note))
		}
		return out
	}
	f := r.Failure
	if f == nil {
		return []string{m.st.Bad.Render("✗ verify FAILED")}
	}
	return []string{m.st.Bad.Render(fmt.Sprintf("✗ verify FAILED at record %d (%s)", f.Seq, f.Check)),
		m.st.Bad.Render("  " + f.Reason)}
}

func (m *Model) ledgerBody() ([]string, string) {
	var out []string
	if m.lv.verify != nil {
		out = append(out, m.verifyBody()...)
	}
	out = append(out, m.st.Heading.Render(fmt.Sprintf("  %-6s %-16s %-20s %-8s %s", "seq", "time", "kind", "actor", "ceremony")))
	h := m.timelineHeight()
	c := m.lv.cursor
	if c < m.lv.top {
		m.lv.top = c
	}
	if c >= m.lv.top+h {
		m.lv.top = c - h + 1
	}
	failSeq := int64(-1)
	if m.lv.verify != nil && m.lv.verify.Failure != nil {
		failSeq = m.lv.verify.Failure.Seq
	}
	for i := m.lv.top; i < min(len(m.rows), m.lv.top+h); i++ {
		r := m.rows[i].rec
		mark := "  "
		switch {
		case r.Seq == failSeq:
			mark = "✗ "
		case i == c:
			mark = "› "
		}
		line := fmt.Sprintf("%s%-6d %-16s %-20s %-8s %s", mark, r.Seq, r.Time.Format("2006-01-02 15:04"), r.Kind, r.Actor, r.Ceremony)
		switch {
		case i == c:
			line = m.st.Selected.Render(line)
		case r.Seq == failSeq:
			line = m.st.Bad.Render(line)
		}
		out = append(out, line)
	}
	if len(m.rows) > h {
		out = append(out, m.st.Dim.Render(fmt.Sprintf("  record %d of %d", c+1, len(m.rows))))
	}
	return out, "↑/↓ pgup/pgdn: scroll · enter: open · v: verify · esc: home"
}

// recordBody shows a record as its fields and facts, nested facts
// indented, approvals by member.
func (m *Model) recordBody() ([]string, string) {
	r := m.lv.open
	s := m.st
	out := []string{s.Heading.Render(fmt.Sprintf("Record %d · %s", r.Seq, r.Kind)), ""}
	if f := m.lv.verify; f != nil && f.Failure != nil && f.Failure.Seq == r.Seq {
		out = append(out, s.Bad.Render("✗ verify fails here: "+f.Failure.Reason), "")
	}
	field := func(k, v string) { out = append(out, fmt.Sprintf("  %-10s %s", k+":", v)) }
	field("ceremony", r.Ceremony)
	field("actor", r.Actor)
	field("time", r.Time.Format(ledger.TimeLayout))
	field("ledger", r.Ledger)
	if r.Prev != "" {
		field("prev", r.Prev)
	}
	if d, err := r.Digest(); err == nil {
		field("digest", d)
		field("words", wordsOf(d, 8))
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

// factLines renders facts as "key: value" lines, maps nested.
func factLines(f map[string]any, indent string) []string {
	var out []string
	ks := make([]string, 0, len(f))
	for k := range f {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		switch v := f[k].(type) {
		case map[string]any:
			out = append(out, indent+k+":")
			out = append(out, factLines(v, indent+"  ")...)
		case []any:
			var parts []string
			simple := true
			for _, e := range v {
				if _, ok := e.(map[string]any); ok {
					simple = false
				}
				b, _ := json.Marshal(e)
				parts = append(parts, strings.Trim(string(b), `"`))
			}
			if simple {
				out = append(out, indent+k+": "+strings.Join(parts, ", "))
			} else {
				out = append(out, indent+k+":")
				for _, e := range v {
					if mm, ok := e.(map[string]any); ok {
						out = append(out, factLines(mm, indent+"  - ")...)
					}
				}
			}
		default:
			out = append(out, fmt.Sprintf("%s%s: %v", indent, k, v))
		}
	}
	return out
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
