// Home: the ledger at a glance, and how a ledger is opened: verified,
// its timeline taken from the same pass, its inventory built by the same
// code as custos inventory (report.Builder), so the dates agree.

package tui

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"custos/internal/hint"
	"custos/internal/termtext"
	"custos/ledger"
	"custos/report"
	"custos/sign"
)

// recordRow is one line of the timeline.
type recordRow struct {
	rec *ledger.Record
}

// ledgerMsg is an opened (or reopened) ledger, its records, its inventory
// and the result of verifying it. led is nil for a ledger whose records
// cannot be replayed past a failure: it opens read-only, on the records
// verify read before the failure.
type ledgerMsg struct {
	dir    string
	led    *ledger.Ledger
	rows   []recordRow
	inv    *report.Report
	verify *ledger.Result
	err    error
}

// openLedgerCmd verifies the ledger, taking the timeline from the records
// as verify replays them, and opens it. A ledger that does not verify is
// still opened, read-only, for diagnosis: the home screen then shows the
// failure instead of its keys and ceremonies, and no ceremony starts.
func openLedgerCmd(dir string, now time.Time) tea.Cmd {
	return func() tea.Msg {
		var rows []recordRow
		next := int64(1)
		res := ledger.Verify(dir, ledger.Options{Each: func(rec *ledger.Record, _ string) {
			if rec.Seq == next {
				next++
				rows = append(rows, recordRow{rec: rec})
			}
		}})
		l, err := ledger.Open(dir)
		if err != nil {
			if f := res.Failure; f != nil && f.Seq > 0 {
				// The records before the failure, as verify read them.
				return ledgerMsg{dir: dir, rows: rows, verify: &res}
			}
			return ledgerMsg{dir: dir, err: err}
		}
		if !res.OK || next-1 != res.Records {
			rows = nil
			for rec, err := range l.Records() {
				if err != nil {
					return ledgerMsg{dir: dir, err: err}
				}
				rows = append(rows, recordRow{rec: rec})
			}
		}
		b := report.NewBuilder(report.Options{Now: now})
		for _, r := range rows {
			d, err := r.rec.Digest()
			if err == nil {
				err = b.Add(r.rec, d)
			}
			if err != nil {
				return ledgerMsg{dir: dir, err: err}
			}
		}
		return ledgerMsg{dir: dir, led: l, rows: rows, inv: b.Finish(&res), verify: &res}
	}
}

func (m *Model) onLedger(msg ledgerMsg) tea.Cmd {
	m.busy = ""
	if msg.err != nil {
		m.fail(msg.err)
		if m.dir == "" {
			m.goTo(scrPick)
		}
		return nil
	}
	first := m.dir != msg.dir
	m.dir, m.led, m.rows, m.inv = msg.dir, msg.led, msg.rows, msg.inv
	m.lv.clamp(len(m.lv.visible(m.rows)))
	if first {
		m.status = ""
		m.lv, m.kv = ledgerView{}, keysView{}
		m.goTo(scrHome)
		if m.opts.Opened != nil {
			m.opts.Opened(msg.dir)
		}
	}
	m.lv.verify = msg.verify
	if r := m.run; r != nil && (r.result != nil || r.failed != nil) {
		r.reread = true // the done screen shows the records of the run
	}
	if m.led == nil {
		m.status, m.bad = "opened read-only: its records past the failure cannot be read", true
	}
	return nil
}

// failed is the failure of the ledger's last verify, nil when it passed.
func (m *Model) failed() *ledger.Failure {
	if v := m.lv.verify; v != nil && !v.OK {
		if v.Failure == nil {
			return &ledger.Failure{Check: "verify", Reason: "failed"}
		}
		return v.Failure
	}
	return nil
}

// readOnly is why no ceremony may start on this ledger, nil when one may.
func (m *Model) readOnly() error {
	if m.failed() != nil || m.led == nil {
		return hint.With(errors.New("read-only: this ledger does not verify; no ceremony is run on it"), "compare it with a copy you trust; custos verify names the failure")
	}
	return nil
}

// --- home ---

func (m *Model) keyHome(msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, Keys.Ledger):
		m.goTo(scrLedger)
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
		fmt.Sprintf("Ledger %s · %d records", id, seq),
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
	if len(m.inv.Inventory) == 0 {
		out = append(out, "  none yet")
	}
	for i := range m.inv.Inventory {
		out = append(out, "  "+m.keyLine(&m.inv.Inventory[i]))
	}
	out = append(out, "", s.Heading.Render("Last ceremonies"))
	cer := lastCeremonies(m.rows, st, 5)
	if len(cer) == 0 {
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
	s := m.st
	states := keyStates(k)
	state := strings.Join(states, ", ")
	switch {
	case k.Compromised != nil:
		state = s.Bad.Render(state)
	case k.State == ledger.KeyActive:
		state = s.OK.Render(state)
	case k.State == ledger.KeyDestroyed, k.State == ledger.KeyAborted:
		state = s.Dim.Render(state)
	default:
		state = s.Warn.Render(state)
	}
	// label and type come from the ledger: shown with control characters
	// escaped (a ledger synced from elsewhere could carry any text)
	line := fmt.Sprintf("%-14s %-8s %s", termtext.Printable(k.Label), termtext.Printable(k.Type), state)
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
