// The question asked before a ceremony is left: esc or q inside a
// ceremony never drops it at once.

package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
)

// confirm is a yes/no question over the screen.
type confirm struct {
	question []string
	yes      func() tea.Cmd
}

// inCeremony reports whether a ceremony is being prepared or is waiting
// on people at the screen (not running: then keys wait).
func (m *Model) inCeremony() bool {
	if m.run == nil {
		return false
	}
	switch m.screen {
	case scrPlan, scrPeople, scrSign, scrStep, scrShares, scrHolder:
		return true
	}
	return false
}

// askLeave asks before leaving a ceremony: quit the TUI (q) or go home
// (esc). Before the run nothing was recorded; at the holder screens the
// backup is, but holders still have to take their shares.
func (m *Model) askLeave(quit bool) tea.Cmd {
	r := m.run
	what := "Abandon the ceremony " + r.plan.Ceremony + "?"
	if quit {
		what = "Quit, abandoning the ceremony " + r.plan.Ceremony + "?"
	}
	q := []string{m.st.Warn.Render(what), "",
		fmt.Sprintf("  Nothing has been recorded: the ledger stays at record %d.", m.led.State().Seq),
		"  Everyone present would have to start again."}
	if m.screen == scrHolder {
		var left []string
		for _, h := range r.holders[r.holder:] {
			left = append(left, h.name)
		}
		q = []string{m.st.Warn.Render("Leave the share holders?"), "",
			"  The backup is recorded, but these holders have not confirmed",
			"  that they hold their share file: " + strings.Join(left, ", ") + "."}
	}
	m.ask2 = &confirm{question: q, yes: func() tea.Cmd {
		if quit {
			if m.run != nil {
				m.run.release()
			}
			return tea.Quit
		}
		if m.screen == scrHolder {
			m.run = nil
			m.goTo(scrHome)
			return nil
		}
		m.abandon()
		return nil
	}}
	return nil
}

func (m *Model) keyConfirm(msg tea.KeyPressMsg) tea.Cmd {
	c := m.ask2
	switch msg.String() {
	case "y", "Y":
		m.ask2 = nil
		return c.yes()
	case "n", "N", "esc":
		m.ask2 = nil
		m.say("the ceremony goes on")
	}
	return nil
}

func (m *Model) confirmBody() []string {
	return append(append([]string{}, m.ask2.question...), "", "  y: yes, leave it · n or esc: no, go on")
}
