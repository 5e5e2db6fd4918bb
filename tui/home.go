package tui

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"custos/internal/hint"
	"custos/internal/termtext"
	"custos/ledger"
	"custos/sign"
)

// recordRow is one line of the timeline.
type recordRow struct {
	rec *ledger.Record
}

// ledgerMsg is an opened (or reopened) ledger, its records, and the
// result of verifying it.
type ledgerMsg struct {
	dir    string
	led    *ledger.Ledger
	rows   []recordRow
	verify *ledger.Result
	err    error
}

// openLedgerCmd verifies the ledger, taking the timeline from the records
// as verify replays them, and opens it. A ledger that does not verify is
// still opened, for diagnosis, when its records read: the home screen
// then shows the failure instead of its keys and ceremonies.
func openLedgerCmd(dir string) tea.Cmd {
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
				err = hint.With(res.Err(), fmt.Sprintf("its records cannot be read past the failure (%v); compare with a copy you trust", err))
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
		return ledgerMsg{dir: dir, led: l, rows: rows, verify: &res}
	}
}

func (m *Model) onLedger(msg ledgerMsg) tea.Cmd {
	m.busy = ""
	if msg.err != nil {
		m.fail(msg.err)
		if m.led == nil {
			m.goTo(scrPick)
		}
		return nil
	}
	first := m.led == nil || m.dir != msg.dir
	m.dir, m.led, m.rows = msg.dir, msg.led, msg.rows
	m.lv.clamp(len(m.rows))
	if first {
		m.status = ""
		m.lv = ledgerView{}
		m.goTo(scrHome)
		if m.opts.Opened != nil {
			m.opts.Opened(msg.dir)
		}
	}
	m.lv.verify = msg.verify
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

// --- picker: custos with no arguments ---

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
		"    custos init LEDGER --roster roster.yaml --key NAME=REF …",
		"  See docs/ceremonies.md. Then open it here with o.")
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
		return openLedgerCmd(d)
	case msg.String() == "o":
		return m.ask("ledger", "path of a ledger directory", "")
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
	case (key.Matches(msg, Keys.Run) || key.Matches(msg, Keys.Resume) || key.Matches(msg, Keys.New)) && m.failed() != nil:
		m.fail(hint.With(fmt.Errorf("this ledger does not verify: no ceremony is run on it"), "compare it with a copy you trust; custos verify names the failure"))
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

func (m *Model) homeBody() ([]string, string) {
	st := m.led.State()
	s := m.st
	head := st.Head
	if len(head) > 23 {
		head = head[:23] + "…"
	}
	out := []string{
		fmt.Sprintf("Ledger %s · %d records · head %s", st.LedgerID, st.Seq, head),
	}
	if f := m.failed(); f != nil {
		// Nothing the ledger says is shown as if it were so: no members,
		// keys or ceremonies, only the failure.
		bar := s.Bad.Render(strings.Repeat("!", max(10, min(m.width-2, 72))))
		out = append(out, "", bar,
			s.Bad.Render("!! THIS LEDGER DOES NOT VERIFY"),
			s.Bad.Render("!! "+termtext.Printable(f.String())),
			bar, "",
			"  Nothing it holds can be relied on at or after that record, so its",
			"  members, keys and ceremonies are not shown here. Compare it with a",
			"  copy you trust (another site's, the last audit's bundle) and ask the",
			"  custodians for the minutes of that ceremony.", "",
			"  l: the timeline, for diagnosis (the failing record is marked)",
			"  custos verify "+m.dir+" names the failure; custos report writes",
			"  the evidence headed by it.")
		return out, "l: ledger timeline · v: verify again · q: quit"
	}
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
	out = append(out, "", s.Heading.Render("Keys"))
	keys := sortedKeys(st)
	if len(keys) == 0 {
		out = append(out, "  none yet")
	}
	for _, k := range keys {
		out = append(out, "  "+m.keyLine(st, k))
	}
	out = append(out, "", s.Heading.Render("Last ceremonies"))
	cer := lastCeremonies(m.rows, st, 5)
	if len(cer) == 0 {
		out = append(out, "  none yet")
	}
	for _, c := range cer {
		word := c.outcome
		switch c.outcome {
		case "closed":
			word = s.OK.Render("closed")
		case "aborted", "open":
			word = s.Bad.Render(strings.ToUpper(c.outcome))
		}
		out = append(out, fmt.Sprintf("  %s  %-16s %-20s %s", c.time.Format("2006-01-02 15:04"), c.id, c.kind, word))
	}
	if st.Pending() != nil {
		return out, "u: resume · r: run · n: new · l: ledger · v: verify · q: quit"
	}
	return out, "n: new ceremony · r: run a ceremony · l: ledger · v: verify · q: quit"
}

func sortedKeys(st *ledger.State) []*ledger.KeyState {
	var keys []*ledger.KeyState
	for _, k := range st.Keys {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].CreatedSeq < keys[j].CreatedSeq })
	return keys
}

// keyLine is a key's label, type, states (active, backed up, exported,
// destroyed) and rotation date.
func (m *Model) keyLine(st *ledger.State, k *ledger.KeyState) string {
	s := m.st
	states := []string{k.Disposition()} // "destroyed" only when every backup is too
	seen := map[string]bool{}
	for _, ev := range k.History {
		switch {
		case ev.Kind == "key.exported" && !seen["exported"]:
			states, seen["exported"] = append(states, "exported"), true
		case strings.HasPrefix(ev.Kind, "backup.") && !seen["backed up"]:
			states, seen["backed up"] = append(states, "backed up"), true
		case ev.Kind == "key.compromised" && !seen["compromised"]:
			states, seen["compromised"] = append(states, "COMPROMISED"), true
		}
	}
	// A backup one of whose holders left the roster needs a reshare (the
	// inventory and the report say the same, from the same State).
	due := st.ReshareDue()
	for _, id := range k.BackupsOutstanding {
		if who := due[id]; len(who) > 0 {
			states = append(states, fmt.Sprintf("re-share due (%s: %s)", termtext.Printable(id), termtext.Printable(strings.Join(who, ", "))))
		}
	}
	state := strings.Join(states, ", ")
	switch k.State {
	case ledger.KeyActive:
		state = s.OK.Render(state)
	case ledger.KeyDestroyed, ledger.KeyAborted:
		state = s.Dim.Render(state)
	default:
		state = s.Warn.Render(state)
	}
	if seen["compromised"] {
		state = s.Bad.Render(strings.Join(states, ", "))
	}
	// label and type come from the ledger: shown with control characters
	// escaped (a ledger synced from elsewhere could carry any text)
	line := fmt.Sprintf("%-14s %-8s %s", termtext.Printable(k.Label), termtext.Printable(k.Type), state)
	if retire, _ := k.Facts["retire_on"].(string); retire != "" && k.State == ledger.KeyActive {
		// rotated: the retirement date replaces the rotation date
		return line + "  " + s.Warn.Render("retires "+termtext.Printable(retire))
	}
	if k.State == ledger.KeyActive {
		if due, ok := rotationDue(k); ok {
			now := m.opts.Now().UTC()
			days := int(due.Sub(now).Hours() / 24)
			switch {
			case now.After(due):
				line += "  " + s.Bad.Render(fmt.Sprintf("ROTATION OVERDUE since %s", due.Format("2006-01-02")))
			case days <= 30:
				line += "  " + s.Warn.Render(fmt.Sprintf("rotation due %s (%d d)", due.Format("2006-01-02"), days))
			default:
				line += "  " + s.Dim.Render("rotate by "+due.Format("2006-01-02"))
			}
		}
	}
	return line
}

// rotationDue is when a key must be rotated: its own rotation period, or
// the policy's for its type when it was created, from its creation.
func rotationDue(k *ledger.KeyState) (time.Time, bool) {
	created, err := time.Parse(ledger.TimeLayout, k.CreatedTime)
	if err != nil {
		return time.Time{}, false
	}
	days := 0
	switch d := k.Facts["rotation_days"].(type) {
	case int64:
		days = int(d)
	case json.Number:
		if n, err := d.Int64(); err == nil {
			days = int(n)
		}
	}
	if days == 0 && k.PolicyRotation != "" {
		// the policy in force when the key was made, as the report reads it
		days = int(ledger.PeriodDays(k.PolicyRotation))
	}
	if days <= 0 {
		return time.Time{}, false
	}
	return created.AddDate(0, 0, days), true
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
