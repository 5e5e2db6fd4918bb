// The key list (i from Home), filtered with /, and one key's whole life:
// its records, approvals, backups, exports, rotation and state, all from
// the inventory custos inventory and the report build (report.Key).

package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"custos/internal/termtext"
	"custos/report"
)

// keysView is the key list's cursor and filter, and the key opened.
type keysView struct {
	cursor int
	filter string
}

// keyDetail is one key's whole life, opened from the key list.
type keyDetail struct{ id string }

// visible are the keys the filter lets through (label, id, type, owner,
// purpose, state).
func (v *keysView) visible(inv *report.Report) []*report.Key {
	var out []*report.Key
	if inv == nil {
		return nil
	}
	for i := range inv.Inventory {
		k := &inv.Inventory[i]
		text := strings.Join(append([]string{k.ID, k.Label, k.Type, k.Owner, k.Purpose, k.HSM.Serial}, keyStates(k)...), " ")
		if matches(v.filter, text) {
			out = append(out, k)
		}
	}
	return out
}

func (v *keysView) keys(m *Model, msg tea.KeyPressMsg) tea.Cmd {
	ks := v.visible(m.inv)
	switch {
	case key.Matches(msg, Keys.Up):
		v.cursor = max(0, v.cursor-1)
	case key.Matches(msg, Keys.Down):
		v.cursor = min(max(0, len(ks)-1), v.cursor+1)
	case key.Matches(msg, Keys.Filter):
		return m.ask("filter:keys", "words to look for: label, id, type, owner, state", v.filter)
	case key.Matches(msg, Keys.Enter) && len(ks) > 0:
		m.kd = keyDetail{id: ks[min(v.cursor, len(ks)-1)].ID}
		m.goTo(scrKey)
	case key.Matches(msg, Keys.Back) && v.filter != "":
		v.filter, v.cursor = "", 0
	case key.Matches(msg, Keys.Back), key.Matches(msg, Keys.Home):
		m.goTo(scrHome)
	case key.Matches(msg, Keys.Ledger):
		m.goTo(scrLedger)
	}
	return nil
}

func (v *keysView) view(m *Model) ([]string, string) {
	s := m.st
	head := "Keys"
	if v.filter != "" {
		head += " (filter: " + v.filter + ")"
	}
	out := []string{s.Heading.Render(head), ""}
	ks := v.visible(m.inv)
	if len(ks) == 0 {
		if m.inv == nil && m.verifying {
			out = append(out, s.Warn.Render("  ⋯ verifying… the key list appears once the ledger has verified"))
		} else if v.filter != "" {
			out = append(out, s.Dim.Render("  no key matches the filter (esc: clear it)"))
		} else {
			out = append(out, "  none yet")
		}
	}
	for i, k := range ks {
		line := m.keyLine(k)
		if i == v.cursor {
			out = append(out, s.Selected.Render("› "+ansiStrip(line)))
		} else {
			out = append(out, "  "+line)
		}
		out = append(out, "    "+field("", "id", k.ID))
	}
	return out, "↑/↓: choose · enter: the key's life · /: filter · esc: home"
}

// keys: scroll, back to the list.
func (d *keyDetail) keys(m *Model, msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, Keys.Back):
		m.goTo(scrKeys)
	case key.Matches(msg, Keys.Home):
		m.goTo(scrHome)
	default:
		m.scrollKeys(msg)
	}
	return nil
}

// key is the key shown, from the inventory as last read (a ceremony may
// have changed it), nil when it is gone.
func (d *keyDetail) key(m *Model) *report.Key {
	if m.inv == nil {
		return nil
	}
	for i := range m.inv.Inventory {
		if m.inv.Inventory[i].ID == d.id {
			return &m.inv.Inventory[i]
		}
	}
	return nil
}

// event is one recorded step of a key: record, time, who, approvals.
func event(e *report.Event) string {
	s := fmt.Sprintf("record %d, %s, by %s", e.Seq, e.Time, e.By)
	if len(e.ApprovedBy) > 0 {
		s += ", approved by " + strings.Join(e.ApprovedBy, ", ")
	}
	if len(e.Witnesses) > 0 {
		s += ", witnessed by " + strings.Join(e.Witnesses, ", ")
	}
	if e.Ceremony != "" {
		s += " (ceremony " + e.Ceremony + ")"
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return termtext.Printable(s)
}

func (d *keyDetail) view(m *Model) ([]string, string) {
	s := m.st
	k := d.key(m)
	footer := "↑/↓ pgup/pgdn: scroll · esc: the key list · h: home"
	if k == nil {
		return []string{"  the key is no longer in the ledger's inventory"}, footer
	}
	out := []string{s.Heading.Render(fmt.Sprintf("Key %s · %s", termtext.Printable(k.Label), termtext.Printable(k.Type))), ""}
	f := func(name, v string) {
		if v != "" {
			out = append(out, field("  ", name, v))
		}
	}
	f("id", k.ID)
	f("state", strings.Join(keyStates(k), ", "))
	if d := m.keyDate(k); d != "" {
		out = append(out, "  "+padRight("next:", 11)+d)
	}
	f("class", k.Class)
	f("owner", k.Owner)
	f("purpose", k.Purpose)
	f("hsm", strings.TrimSpace(strings.Join([]string{k.HSM.Manufacturer, k.HSM.Model, "serial " + k.HSM.Serial, "token " + k.HSM.Label}, " ")))
	if name, v, ok := strings.Cut(k.CheckValue, ":"); ok {
		out = append(out, field("  ", "check", v)+" ("+name+")")
	}
	sec := func(title string) { out = append(out, "", s.Heading.Render(title)) }
	sec("Life")
	out = append(out, "  requested: "+event(&k.Requested))
	if k.Created != nil {
		out = append(out, "  created:   "+event(k.Created))
	}
	if k.Predecessor != "" {
		out = append(out, "  rotates:   "+termtext.HexGroups(k.Predecessor)+m.labelOf(k.Predecessor))
	}
	for i := range m.inv.Inventory {
		if n := &m.inv.Inventory[i]; n.Predecessor == k.ID {
			out = append(out, "  rotated by: "+termtext.HexGroups(n.ID)+m.labelOf(n.ID))
		}
	}
	if k.RotationDays > 0 {
		out = append(out, fmt.Sprintf("  rotation:  every %d days (%s)", k.RotationDays, k.RotationSource))
	}
	if rt := k.Retirement; rt != nil {
		out = append(out, "  retires:   "+termtext.Printable(rt.RetireOn)+", scheduled "+event(&rt.Event))
	}
	for _, r := range k.Restores {
		out = append(out, "  restored:  "+event(&r))
	}
	if e := k.Compromised; e != nil {
		out = append(out, s.Bad.Render("  COMPROMISED: "+event(e)))
	}
	if e := k.Destroyed; e != nil {
		out = append(out, "  destroyed: "+event(e))
	}
	if e := k.Aborted; e != nil {
		out = append(out, "  aborted:   "+event(e))
	}
	if len(k.Exports) > 0 {
		sec("Exports")
		for _, x := range k.Exports {
			out = append(out, "  "+event(&x.Event))
			f("recipient", x.Recipient)
			f("purpose", x.Purpose)
			f("mechanism", x.Mechanism)
			f("expires", x.Expires)
			f("sha256", x.OutputSHA256)
		}
	}
	if len(k.Backups) > 0 {
		sec("Backups")
		for _, b := range k.Backups {
			out = append(out, fmt.Sprintf("  %s: any %d of %d shares; %s", termtext.Printable(b.BackupID), b.Threshold, b.Shares, event(&b.Event)))
			f("holders", strings.Join(b.Holders, ", "))
			f("media", b.Media)
			f("blob", b.BlobSHA256)
			for _, c := range b.ShareChecks {
				out = append(out, fmt.Sprintf("    share %d checked by %s, record %d, %s", c.Index, c.Holder, c.Seq, c.Time))
			}
			for _, r := range b.Reshares {
				out = append(out, "    reshared: "+event(&r))
			}
			if len(b.ReshareDue) > 0 {
				out = append(out, s.Warn.Render("    re-share due: "+strings.Join(b.ReshareDue, ", ")+" left the roster"))
			}
			if b.Destroyed != nil {
				out = append(out, "    destroyed: "+event(b.Destroyed)+"; media: "+termtext.Printable(b.MediaDestroyed))
			}
		}
	}
	sec("Records")
	for _, h := range k.History {
		out = append(out, fmt.Sprintf("  %-5d %s  %-24s %-8s %s", h.Seq, h.Time, h.Kind, h.Actor, h.Ceremony))
	}
	return out, footer
}

func (m *Model) labelOf(id string) string {
	for i := range m.inv.Inventory {
		if k := &m.inv.Inventory[i]; k.ID == id && k.Label != "" {
			return " (" + termtext.Printable(k.Label) + ")"
		}
	}
	return ""
}
