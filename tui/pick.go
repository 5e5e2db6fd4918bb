// The ledger picker: custos with no arguments.

package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

func (m *Model) pickBody() ([]string, string) {
	out := []string{m.st.Heading.Render("Which ledger?"), ""}
	if len(m.opts.Recent) == 0 {
		out = append(out, "  No ledger was opened on this workstation yet.")
	} else {
		out = append(out, "  Recently opened:")
		for i, d := range m.opts.Recent {
			line := "  " + d
			if i == m.pick {
				line = m.st.Selected.Render("› " + d)
			}
			out = append(out, "  "+line)
		}
	}
	out = append(out, "",
		"  To make a new ledger, write a roster file (members, roles, keys,",
		"  policy) and run, with every founding member present:",
		"    custos init LEDGER --roster roster.yaml --key NAME=REF",
		"  with one --key for each founding member. See docs/ceremonies.md.",
		"  Then open it here with o.")
	return out, "↑/↓: choose · enter: open · o: type a path · q: quit"
}

func (m *Model) keyPick(msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, Keys.Up):
		m.pick = max(0, m.pick-1)
	case key.Matches(msg, Keys.Down):
		m.pick = min(max(0, len(m.opts.Recent)-1), m.pick+1)
	case key.Matches(msg, Keys.Enter) && len(m.opts.Recent) > 0:
		d := m.opts.Recent[m.pick]
		m.busy = "opening the ledger " + d
		return openLedgerCmd(d, m.opts.Now())
	case msg.String() == "o":
		return m.ask("ledger", "path of a ledger directory", "")
	}
	return nil
}
