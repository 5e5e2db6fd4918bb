// How Home's ledger is opened: at once from its replayed state (kept, so
// a few objects are read), marked "verifying…" while verify runs in the
// background; the timeline and the inventory are taken from verify's
// pass, the inventory built by the same code as custos inventory
// (report.Builder), so the dates agree. Nothing is signed on a ledger
// before it has verified (whenVerified).

package tui

import (
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"custos/internal/hint"
	"custos/ledger"
	"custos/report"
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
