// Home: the ledger at a glance — its head line with the verify mark, the
// keys with their states and dates (the inventory's, report.Builder's),
// the last ceremonies. How the ledger behind it is opened and verified:
// home_load.go.

package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"custos/internal/termtext"
	"custos/ledger"
	"custos/report"
	"custos/sign"
)

// --- home ---

func (m *Model) keyHome(msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, Keys.Ledger):
		m.goTo(scrLedger)
	case key.Matches(msg, Keys.Verify) && m.verifying:
		m.goTo(scrLedger) // verify is running already
	case key.Matches(msg, Keys.Verify):
		m.goTo(scrLedger)
		return m.startVerify()
	case key.Matches(msg, Keys.Minutes):
		m.goTo(scrLedger)
		return m.askGenesis()
	case key.Matches(msg, Keys.Inventory) && m.readOnly() == nil:
		m.goTo(scrKeys)
	case (key.Matches(msg, Keys.Run) || key.Matches(msg, Keys.Resume) || key.Matches(msg, Keys.Inventory) || key.Matches(msg, Keys.New)) && m.readOnly() != nil:
		m.fail(m.readOnly())
	case key.Matches(msg, Keys.New):
		return m.startForm()
	case key.Matches(msg, Keys.Run):
		m.status = ""
		m.goTo(scrScript)
		return m.ask("script", "path of a ceremony script, e.g. docs/examples/generate-kek.yaml", "")
	case key.Matches(msg, Keys.Resume):
		if p := m.led.State().Pending(); p != nil {
			m.status = ""
			return m.ask("resume", "key of "+p.Opening.Actor+" (operator of "+p.Ceremony+"): a key file path or a pkcs11: URI", "")
		}
	case m.scrollKeys(msg):
	}
	return nil
}

// headLines are the ledger's id, size and head, whole.
func (m *Model) headLines() []string {
	id, seq, head := "", int64(len(m.rows)), ""
	if m.led != nil {
		st := m.led.State()
		id, seq, head = st.LedgerID, st.Seq, st.Head
	} else if len(m.rows) > 0 {
		id = m.rows[0].rec.Ledger
		head, _ = m.rows[len(m.rows)-1].rec.Digest()
	}
	return []string{
		fmt.Sprintf("Ledger %s · %d records", id, seq) + m.verifyMark(),
		"  head: " + hexRows(8, head),
	}
}

func (m *Model) homeBody() ([]string, string) {
	s := m.st
	out := m.headLines()
	if f := m.failed(); f != nil {
		// Nothing the ledger says is shown as if it were so: no members,
		// keys or ceremonies, only the failure.
		bar := s.Bad.Render(strings.Repeat("!", max(10, min(m.width-2, 72))))
		out = append(out, "", bar,
			s.Bad.Render("!! THIS LEDGER DOES NOT VERIFY — open read-only"),
			s.Bad.Render("!! "+termtext.Printable(f.String())),
			bar, "",
			"  Nothing it holds can be relied on at or after that record, so its",
			"  members, keys and ceremonies are not shown here, and no ceremony",
			"  can start. Compare it with a copy you trust (another site's, the",
			"  last audit's bundle) and ask the custodians for the minutes.", "",
			"  l: the timeline, for diagnosis (the failing record is marked ✗)",
			"  custos verify LEDGER names the failure; custos report writes the",
			"  evidence headed by it.")
		return out, "l: timeline · v: verify again · m: against the minutes · q: quit"
	}
	st := m.led.State()
	if p := st.Pending(); p != nil {
		what := fmt.Sprintf("! INTERRUPTED: ceremony %s stopped after %s (record %d).", p.Ceremony, p.Opening.Kind, p.Opening.Seq)
		if !p.IntentOpen {
			// The outcome is recorded; what follows it (the close, a
			// rotation's retirement) is not.
			what = fmt.Sprintf("! INTERRUPTED: ceremony %s was not closed (last record %d).", p.Ceremony, st.Seq)
		}
		out = append(out, "", s.Bad.Render(what),
			s.Bad.Render("  u: resume it here with the key of "+p.Opening.Actor+" (or: custos resume --ledger "+m.dir+")"))
	}
	out = append(out, "", s.Heading.Render("Members"))
	for _, mem := range st.Roster.Members {
		fp := ""
		if pub, err := mem.PublicKey(); err == nil {
			fp = sign.Fingerprint(pub)
		}
		out = append(out, fmt.Sprintf("  %-10s %-20s %s", mem.Name, strings.Join(mem.Roles, ","), s.Dim.Render(fp)))
	}
	out = append(out, "", s.Heading.Render("Keys")+s.Dim.Render("  (i: the key list, each key's whole life)"))
	if m.inv == nil {
		// Before verify: the keys as the replay left them, without the
		// dates the inventory computes.
		if m.stKeys == nil || m.stKeysOf != st || m.stKeysSeq != st.Seq {
			// sorted once per state, not per frame
			m.stKeys, m.stKeysOf, m.stKeysSeq = stateKeys(st), st, st.Seq
		}
		ks := m.stKeys
		if len(ks) == 0 {
			out = append(out, "  none yet")
		}
		for _, k := range ks {
			out = append(out, "  "+m.stateKeyLine(k))
		}
	} else {
		if len(m.inv.Inventory) == 0 {
			out = append(out, "  none yet")
		}
		for i := range m.inv.Inventory {
			out = append(out, "  "+m.keyLine(&m.inv.Inventory[i]))
		}
	}
	out = append(out, "", s.Heading.Render("Last ceremonies"))
	cer := lastCeremonies(m.rows, st, 5)
	switch {
	case len(cer) == 0 && m.verifying:
		out = append(out, s.Dim.Render("  (read as the ledger is verified)"))
	case len(cer) == 0:
		out = append(out, "  none yet")
	}
	idw := 16
	for _, c := range cer {
		idw = min(32, max(idw, len(c.id)))
	}
	for _, c := range cer {
		word := c.outcome
		switch c.outcome {
		case "closed":
			word = s.OK.Render("closed")
		case "aborted", "open":
			word = s.Bad.Render(strings.ToUpper(c.outcome))
		}
		out = append(out, fmt.Sprintf("  %s  %-*s %-20s %s", c.time.Format("2006-01-02 15:04"), idw, c.id, c.kind, word))
	}
	if st.Pending() != nil {
		return out, "u: resume · r: run · n: new · i: keys · l: ledger · v: verify · m: minutes · q: quit"
	}
	return out, "n: new ceremony · r: run a ceremony · i: keys · l: ledger · v: verify · m: against the minutes · q: quit"
}

// keyStates are a key's disposition and what happened to it: exported,
// backed up, compromised, a re-share due (the inventory's words).
func keyStates(k *report.Key) []string {
	states := []string{k.Disposition}
	if len(k.Exports) > 0 {
		states = append(states, "exported")
	}
	if len(k.Backups) > 0 {
		states = append(states, "backed up")
	}
	if k.Compromised != nil {
		states = append(states, "COMPROMISED")
	}
	// A backup one of whose holders left the roster needs a reshare.
	for _, b := range k.Backups {
		if len(b.ReshareDue) > 0 {
			states = append(states, fmt.Sprintf("re-share due (%s: %s)", termtext.Printable(b.BackupID), termtext.Printable(strings.Join(b.ReshareDue, ", "))))
		}
	}
	return states
}

// keyLine is a key's label, type, states and its next date, as custos
// inventory computes them: a rotated key's retirement, else its rotation.
func (m *Model) keyLine(k *report.Key) string {
	line := m.labelTypeState(k.Label, k.Type, strings.Join(keyStates(k), ", "), k.State, k.Compromised != nil)
	if d := m.keyDate(k); d != "" {
		line += "  " + d
	}
	return line
}

// keyDate is a key's next date in words (and colour): its retirement when
// a rotation scheduled one, else when it must be rotated.
func (m *Model) keyDate(k *report.Key) string {
	s := m.st
	if k.State != ledger.KeyActive {
		return ""
	}
	if rt := k.Retirement; rt != nil {
		if k.RetireOverdue {
			return s.Bad.Render("RETIREMENT OVERDUE since " + termtext.Printable(rt.RetireOn))
		}
		return s.Warn.Render("retires " + termtext.Printable(rt.RetireOn))
	}
	due, err := time.Parse(ledger.TimeLayout, k.RotationDue)
	if err != nil {
		return ""
	}
	days := int(due.Sub(m.opts.Now().UTC()).Hours() / 24)
	switch {
	case k.Overdue:
		return s.Bad.Render("ROTATION OVERDUE since " + due.Format("2006-01-02"))
	case days <= 30:
		return s.Warn.Render(fmt.Sprintf("rotation due %s (%d d)", due.Format("2006-01-02"), days))
	}
	return s.Dim.Render("rotate by " + due.Format("2006-01-02"))
}

type ceremonySummary struct {
	id, kind, outcome string
	time              time.Time
	last              int64
}

// lastCeremonies are the n most recent ceremonies, newest first.
func lastCeremonies(rows []recordRow, st *ledger.State, n int) []ceremonySummary {
	var out []ceremonySummary
	idx := map[string]int{}
	for _, r := range rows {
		rec := r.rec
		i, ok := idx[rec.Ceremony]
		if !ok {
			kind := strings.TrimSuffix(rec.Kind, ".intent")
			out = append(out, ceremonySummary{id: rec.Ceremony, kind: kind, outcome: "open", time: rec.Time})
			i = len(out) - 1
			idx[rec.Ceremony] = i
		}
		switch rec.Kind {
		case "ceremony.closed":
			if out[i].outcome != "aborted" {
				out[i].outcome = "closed"
			}
		case "ceremony.aborted":
			out[i].outcome = "aborted"
		case "ledger.genesis", "hsm.enrolled":
			out[i].outcome = "closed"
		}
		out[i].time, out[i].last = rec.Time, rec.Seq
	}
	if p := st.Pending(); p != nil {
		if i, ok := idx[p.Ceremony]; ok {
			out[i].outcome = "open"
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].last > out[j].last })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// verifyMark ends the head line, saying whether what Home shows has
// been verified: "verifying…" while the background verify runs (the
// screen is then the replayed state, signatures not yet checked), its
// result once it finished.
func (m *Model) verifyMark() string {
	s := m.st
	switch v := m.lv.verify; {
	case m.verifying:
		return " · " + s.Warn.Render("⋯ verifying…")
	case v != nil && v.OK:
		return " · " + s.OK.Render("✓ verified")
	case v != nil:
		return " · " + s.Bad.Render("✗ verify FAILED")
	}
	return ""
}

// stateKeys are the replayed state's keys, in the order they were made.
func stateKeys(st *ledger.State) []*ledger.KeyState {
	ks := make([]*ledger.KeyState, 0, len(st.Keys))
	for _, k := range st.Keys {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].CreatedSeq != ks[j].CreatedSeq {
			return ks[i].CreatedSeq < ks[j].CreatedSeq
		}
		return ks[i].ID < ks[j].ID
	})
	return ks
}

// stateKeyLine is a key's label, type and state as the replay left them.
func (m *Model) stateKeyLine(k *ledger.KeyState) string {
	state := k.State
	if state == ledger.KeyDestroyed && len(k.BackupsOutstanding) > 0 {
		state = "destroyed on the HSM; backup " + strings.Join(k.BackupsOutstanding, ", ") + " outstanding"
	}
	compromised := false
	for _, e := range k.History {
		compromised = compromised || e.Kind == "key.compromised"
	}
	if compromised {
		state += ", COMPROMISED"
	}
	return m.labelTypeState(k.Label, k.Type, termtext.Printable(state), k.State, compromised)
}

// labelTypeState is a key line's start: label, type and the state words,
// coloured by the key's state. Label and type come from the ledger: shown
// with control characters escaped (a ledger synced from elsewhere could
// carry any text).
func (m *Model) labelTypeState(label, typ, words, state string, compromised bool) string {
	s := m.st
	switch {
	case compromised:
		words = s.Bad.Render(words)
	case state == ledger.KeyActive:
		words = s.OK.Render(words)
	case state == ledger.KeyDestroyed, state == ledger.KeyAborted:
		words = s.Dim.Render(words)
	default:
		words = s.Warn.Render(words)
	}
	return fmt.Sprintf("%-14s %-8s %s", termtext.Printable(label), termtext.Printable(typ), words)
}
