// Home: the ledger at a glance, and how a ledger is opened: at once from
// its replayed state (kept, so a few objects are read), marked
// "verifying…" while verify runs in the background; the timeline and the
// inventory are taken from verify's pass, the inventory built by the
// same code as custos inventory (report.Builder), so the dates agree.
// Nothing is signed on a ledger before it has verified (whenVerified).

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

// recordRow is one line of the timeline. For a ledger that verified,
// rec holds only what the line and its filter show (light): the record
// screen reads the whole record again when it is opened, so that the
// timeline's memory is a line per record, not every record's facts and
// signatures.
type recordRow struct {
	rec   *ledger.Record
	light bool
}

// lightRow keeps of rec what the timeline, its filter and Home's last
// ceremonies use.
func lightRow(rec *ledger.Record) recordRow {
	l := &ledger.Record{Seq: rec.Seq, Time: rec.Time, Ledger: rec.Ledger, Ceremony: rec.Ceremony, Kind: rec.Kind, Actor: rec.Actor}
	for _, k := range []string{"key_id", "label"} {
		if v, ok := rec.Facts[k].(string); ok {
			if l.Facts == nil {
				l.Facts = map[string]any{}
			}
			l.Facts[k] = v
		}
	}
	return recordRow{rec: l, light: true}
}

// record is the whole record of a row: read again from the ledger for a
// light row.
func (m *Model) record(r recordRow) (*ledger.Record, error) {
	if !r.light {
		return r.rec, nil
	}
	if m.led == nil {
		return nil, fmt.Errorf("record %d: the ledger is not open", r.rec.Seq)
	}
	return m.led.Record(r.rec.Seq)
}

// ledgerMsg is an opened (or reopened) ledger. When the ledger opened,
// it carries only led: Home is drawn from its replayed state at once and
// verify runs in the background (verifiedMsg). When it did not open (its
// records cannot be replayed past a failure), verify has run already:
// led is nil, and rows and verify are what verify read before the
// failure, for a read-only timeline.
type ledgerMsg struct {
	dir    string
	led    *ledger.Ledger
	rows   []recordRow
	verify *ledger.Result
	err    error
}

// verifiedMsg is the background verify of an opened ledger: its result,
// the timeline taken from the records as verify replayed them, and the
// inventory built from the same pass (nil when verify failed: nothing of
// the ledger is then shown as if it were so). gen ties it to the open it
// followed, so a verify of a ledger since reopened is dropped.
type verifiedMsg struct {
	dir    string
	gen    int
	led    *ledger.Ledger // reopened when the head moved during verify
	rows   []recordRow
	inv    *report.Report
	verify *ledger.Result
	err    error
}

// openLedgerCmd opens the ledger: with its kept replay that reads a few
// objects, so Home shows at once. A ledger that does not open is
// verified here instead and opened read-only, for diagnosis: the home
// screen then shows the failure instead of its keys and ceremonies, and
// no ceremony starts.
func openLedgerCmd(dir string, now time.Time) tea.Cmd {
	return func() tea.Msg {
		l, err := ledger.Open(dir)
		if err == nil {
			return ledgerMsg{dir: dir, led: l}
		}
		var rows []recordRow
		next := int64(1)
		res := ledger.Verify(dir, ledger.Options{Each: func(rec *ledger.Record, _ string) {
			if rec.Seq == next {
				next++
				rows = append(rows, recordRow{rec: rec})
			}
		}})
		if f := res.Failure; f != nil && f.Seq > 0 {
			// The records before the failure, as verify read them.
			return ledgerMsg{dir: dir, rows: rows, verify: &res}
		}
		return ledgerMsg{dir: dir, err: err}
	}
}

// verifyLedgerCmd verifies an opened ledger in one read: the timeline
// and the inventory are taken from the records as verify replays them.
// Only a ledger that fails is read again (through its replay, which
// does not stop at a bad signature), for the timeline that marks the
// failing record.
func verifyLedgerCmd(dir string, gen int, l *ledger.Ledger, now time.Time) tea.Cmd {
	return func() tea.Msg {
		for range 3 {
			var rows []recordRow
			b := report.NewBuilder(report.Options{Now: now, InventoryOnly: true})
			var berr error
			next := int64(1)
			res := ledger.Verify(dir, ledger.Options{Each: func(rec *ledger.Record, d string) {
				if rec.Seq != next {
					return
				}
				next++
				rows = append(rows, lightRow(rec))
				if berr == nil {
					berr = b.Add(rec, d)
				}
			}})
			if res.OK && next-1 == res.Records {
				if berr != nil {
					return verifiedMsg{dir: dir, gen: gen, err: berr}
				}
				if st := l.State(); st.Head != res.Head {
					// Appended to while verify ran: the state shown must
					// be the one verified.
					l2, err := ledger.Open(dir)
					if err != nil {
						return verifiedMsg{dir: dir, gen: gen, err: err}
					}
					if l = l2; l.State().Head != res.Head {
						continue
					}
				}
				return verifiedMsg{dir: dir, gen: gen, led: l, rows: rows, inv: b.Finish(&res), verify: &res}
			}
			// The timeline of a ledger that fails: every record the
			// replay can read, up to one it cannot (verify named it).
			rows = rows[:0]
			for rec, err := range l.Records() {
				if err != nil {
					break
				}
				rows = append(rows, recordRow{rec: rec})
			}
			return verifiedMsg{dir: dir, gen: gen, led: l, rows: rows, verify: &res}
		}
		return verifiedMsg{dir: dir, gen: gen, err: fmt.Errorf("ledger %s: its head kept moving while it was verified (v: verify again)", dir)}
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
	m.dir, m.led = msg.dir, msg.led
	// What the last verify read is dropped: until this open is verified,
	// Home shows the replayed state, marked, and no older timeline.
	m.rows, m.inv, m.lv.verify = msg.rows, nil, msg.verify
	m.lv.clamp(len(m.lv.visible(m.rows)))
	m.gen++
	if first {
		m.status = ""
		m.lv, m.kv = ledgerView{verify: msg.verify}, keysView{}
		m.goTo(scrHome)
		if m.opts.Opened != nil {
			m.opts.Opened(msg.dir)
		}
	}
	if r := m.run; r != nil && (r.result != nil || r.failed != nil) {
		r.reread = true // the done screen shows the records of the run
		r.recorded = nil
		for seq := r.before + 1; m.led != nil && seq <= m.led.State().Seq; seq++ {
			rec, err := m.led.Record(seq)
			if err != nil {
				break
			}
			r.recorded = append(r.recorded, rec)
		}
	}
	if m.led == nil {
		m.verifying = false
		m.status, m.bad = "opened read-only: its records past the failure cannot be read", true
		return nil
	}
	m.verifying = true
	return verifyLedgerCmd(m.dir, m.gen, m.led, m.opts.Now())
}

// onVerified takes the background verify's result: the mark on Home
// becomes the result, the timeline and the inventory appear, and a
// ceremony key pressed meanwhile acts now (or is refused).
func (m *Model) onVerified(msg verifiedMsg) tea.Cmd {
	if msg.gen != m.gen || msg.dir != m.dir {
		return nil // a verify of a ledger reopened since
	}
	m.verifying = false
	then := m.onceVerified
	m.onceVerified = nil
	if then != nil {
		m.busy = ""
	}
	if msg.err != nil {
		m.lv.verify = &ledger.Result{Failure: &ledger.Failure{Check: "read", Reason: msg.err.Error()}}
		m.fail(msg.err)
		return nil
	}
	m.led, m.rows, m.inv, m.lv.verify = msg.led, msg.rows, msg.inv, msg.verify
	m.lv.clamp(len(m.lv.visible(m.rows)))
	if f := m.failed(); f != nil {
		m.fail(fmt.Errorf("verify: %s; nothing was signed or recorded", f))
		return nil
	}
	if then != nil {
		return then()
	}
	return nil
}

// whenVerified runs start (a step that signs or records: the draft of a
// ceremony's record, a resume) now if the ledger has verified, else once
// the background verify has passed; a ledger that fails is refused.
// Until then the screen waits, saying why.
func (m *Model) whenVerified(start func() tea.Cmd) tea.Cmd {
	if !m.verifying {
		if err := m.readOnly(); err != nil {
			m.fail(err)
			return nil
		}
		return start()
	}
	m.onceVerified = start
	m.busy = "waiting for the ledger to verify: nothing is signed before it has"
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
