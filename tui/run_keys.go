// The keys of each screen of a ceremony run, and leaving it.

package tui

import (
	"custos/ceremony"
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

func (m *Model) keyRun(msg tea.KeyPressMsg) tea.Cmd {
	r := m.run
	if r != nil && r.retry != nil && key.Matches(msg, Keys.Retry) {
		f := r.retry
		r.retry = nil
		m.status = ""
		return f()
	}
	if r != nil && r.card != nil {
		return m.keyCard(msg)
	}
	switch m.screen {
	case scrScript:
		if key.Matches(msg, Keys.Back) {
			m.goTo(scrHome)
			return nil
		}
		return m.ask("script", "path of a ceremony script", "")
	case scrPlan:
		switch {
		case key.Matches(msg, Keys.Enter):
			m.status = ""
			if r.plan.Kind == ceremony.KindDestroy {
				return m.ask("confirm", "type the label of the key to destroy, in full", "")
			}
			if r.plan.Kind == ceremony.KindRestore {
				return m.startShares()
			}
			m.goTo(scrPeople)
		case key.Matches(msg, Keys.Back):
			return m.askLeave(false)
		default:
			m.scrollKeys(msg)
		}
	case scrPeople:
		members := m.led.State().Roster.Members
		switch {
		case key.Matches(msg, Keys.Up):
			r.member = max(0, r.member-1)
		case key.Matches(msg, Keys.Down):
			r.member = min(len(members)-1, r.member+1)
		case key.Matches(msg, Keys.Enter):
			name := members[r.member].Name
			return m.ask("key:"+name, "key of "+name+": a key file path or a pkcs11: URI", r.refs[name])
		case key.Matches(msg, Keys.Attach):
			return m.ask("attach", "path of a request or approval file", "")
		case key.Matches(msg, Keys.Write):
			return m.ask("request", "where to write the request for approvers elsewhere (never over a file)", "")
		case key.Matches(msg, Keys.Continue):
			if err := m.missing(); err != nil {
				m.fail(err)
				return nil
			}
			m.status = ""
			return m.whenVerified(m.startDraft)
		case key.Matches(msg, Keys.Back):
			return m.askLeave(false)
		}
	case scrSign:
		switch {
		case key.Matches(msg, Keys.Enter):
			if r.confirmed < len(r.signers2) {
				r.confirmed++
				m.scroll = 0 // the next signer reads from the top
			}
			if r.confirmed == len(r.signers2) {
				m.status = ""
				r.checks = m.stepChecks()
				r.step, r.item = 0, 0
				m.goTo(scrStep)
			}
		case key.Matches(msg, Keys.Back):
			return m.askLeave(false)
		default:
			m.scrollKeys(msg)
		}
	case scrStep:
		list := r.checks[r.step]
		switch {
		case key.Matches(msg, Keys.Up):
			r.item = max(0, r.item-1)
		case key.Matches(msg, Keys.Down):
			r.item = min(len(list)-1, r.item+1)
		case key.Matches(msg, Keys.Toggle):
			if len(list) > 0 {
				list[r.item].done = !list[r.item].done
				if list[r.item].done {
					r.item = min(len(list)-1, r.item+1)
				}
			}
		case key.Matches(msg, Keys.Enter):
			for _, c := range list {
				if !c.done {
					m.fail(fmt.Errorf("%s must first confirm: %s", c.who, c.what))
					return nil
				}
			}
			m.status = ""
			if r.step+1 < len(r.checks) {
				r.step++
				r.item, m.scroll = 0, 0
				return nil
			}
			return m.startRun()
		case key.Matches(msg, Keys.PageUp), key.Matches(msg, Keys.PageDown):
			m.scrollKeys(msg) // ↑/↓ choose the item; the page keys scroll
		case key.Matches(msg, Keys.Back):
			if r.step > 0 {
				r.step--
				r.item = 0
			} else {
				return m.askLeave(false)
			}
		}
	case scrHolder:
		return m.keyHolder(msg)
	case scrShares:
		return m.keyShares(msg)
	case scrDone:
		if key.Matches(msg, Keys.Enter) || key.Matches(msg, Keys.Back) || key.Matches(msg, Keys.Home) {
			m.run = nil
			m.status = ""
			m.goTo(scrHome)
			return nil
		}
		m.scrollKeys(msg)
	}
	return nil
}

// abandon leaves a ceremony before anything was recorded.
func (m *Model) abandon() {
	if m.run != nil {
		m.run.release()
	}
	m.run = nil
	m.say("ceremony abandoned; nothing was recorded")
	m.goTo(scrHome)
}
