// The ledger timeline: one record a line (wrapped, never cut), a filter
// typed after /, verify in the background, and verify against the
// genesis digest or words from the signed minutes.

package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"custos/internal/hint"
	"custos/internal/termtext"
	"custos/ledger"
)

// ledgerView is the timeline's cursor, window, filter and last verify
// result. cursor indexes the rows the filter lets through.
type ledgerView struct {
	cursor, top int
	filter      string
	verify      *ledger.Result
	genesis     string // the genesis digest the last verify was given
}

func (v *ledgerView) clamp(n int) {
	v.cursor = min(max(0, v.cursor), max(0, n-1))
}

// visible are the rows the filter lets through: every word of it must be
// in the record's seq, kind, actor, ceremony, time or key id.
func (v *ledgerView) visible(rows []recordRow) []recordRow {
	if strings.TrimSpace(v.filter) == "" {
		return rows
	}
	var out []recordRow
	for _, r := range rows {
		if matches(v.filter, rowText(r.rec)) {
			out = append(out, r)
		}
	}
	return out
}

func rowText(r *ledger.Record) string {
	id, _ := r.Facts["key_id"].(string)
	label, _ := r.Facts["label"].(string)
	return fmt.Sprintf("%d %s %s %s %s %s %s", r.Seq, r.Time.Format("2006-01-02 15:04"), r.Kind, r.Actor, r.Ceremony, id, label)
}

// matches: every word of filter is in text, case aside.
func matches(filter, text string) bool {
	text = strings.ToLower(text)
	for _, w := range strings.Fields(strings.ToLower(filter)) {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// liveFilter applies a filter as it is typed.
func (m *Model) liveFilter() {
	switch m.inputFor {
	case "filter:ledger":
		m.lv.filter = m.input.Value()
		m.lv.cursor, m.lv.top = 0, 0
	case "filter:keys":
		m.kv.filter = m.input.Value()
		m.kv.cursor = 0
	}
}

type verifyMsg struct {
	res     ledger.Result
	genesis string
}

func (m *Model) startVerify() tea.Cmd {
	m.busy = "verifying every signature, the chain and the policy"
	dir := m.dir
	return func() tea.Msg { return verifyMsg{res: ledger.Verify(dir, ledger.Options{})} }
}

func (m *Model) askGenesis() tea.Cmd {
	m.status = ""
	return m.ask("genesis", "the genesis digest or its 32 words, from the signed minutes", "")
}

// parseGenesis reads the genesis digest as the minutes carry it: hex (with
// or without sha256:, in blocks or not) or the 32 words (numbered as this
// screen shows them, or not), by the ledger's own parsing.
func parseGenesis(s string) (string, error) {
	d, ok, err := ledger.ParseDigest(s)
	switch {
	case err != nil:
		return "", hint.With(fmt.Errorf("genesis words: %w", err), "type the 32 genesis words as custos init printed them, or the digest")
	case ok:
		return d, nil
	}
	return "", hint.With(fmt.Errorf("genesis: %q is neither a record digest (sha256: and 64 hex) nor 32 words", s),
		"type the genesis digest as the signed minutes carry it, with or without sha256:, or its 32 words")
}

func (m *Model) startVerifyGenesis(v string) tea.Cmd {
	if v == "" {
		return nil
	}
	g, err := parseGenesis(v)
	if err != nil {
		m.fail(err)
		return nil
	}
	m.busy = "verifying the ledger against the genesis digest of the minutes"
	dir := m.dir
	return func() tea.Msg {
		return verifyMsg{res: ledger.Verify(dir, ledger.Options{Genesis: g}), genesis: g}
	}
}

func (m *Model) onVerify(msg verifyMsg) {
	m.busy = ""
	m.lv.verify, m.lv.genesis = &msg.res, msg.genesis
	if f := msg.res.Failure; f != nil {
		m.lv.filter = ""
		for i, r := range m.rows {
			if r.rec.Seq == f.Seq {
				m.lv.cursor = i
			}
		}
		m.fail(fmt.Errorf("verify: record %d fails: %s", f.Seq, f.Reason))
		return
	}
	if msg.genesis != "" {
		m.say("verify: ok; the genesis digest of the minutes matches")
		return
	}
	m.say("verify: ok")
}

// keys: the timeline's cursor, filter, verify; enter opens a record.
func (v *ledgerView) keys(m *Model, msg tea.KeyPressMsg) tea.Cmd {
	rows := v.visible(m.rows)
	n, h := len(rows), m.timelineHeight()
	switch {
	case key.Matches(msg, Keys.Up):
		v.cursor--
	case key.Matches(msg, Keys.Down):
		v.cursor++
	case key.Matches(msg, Keys.PageUp):
		v.cursor -= h
	case key.Matches(msg, Keys.PageDown):
		v.cursor += h
	case msg.String() == "home", msg.String() == "g":
		v.cursor = 0
	case msg.String() == "end", msg.String() == "G":
		v.cursor = n - 1
	case key.Matches(msg, Keys.Enter) && n > 0:
		rec, err := m.record(rows[v.cursor])
		if err != nil {
			m.fail(err)
			return nil
		}
		m.rv = recordView{rec: rec}
		m.goTo(scrRecord)
	case key.Matches(msg, Keys.Filter):
		return m.ask("filter:ledger", "words to look for: kind, actor, ceremony, key id, date", v.filter)
	case key.Matches(msg, Keys.Verify) && m.verifying:
		m.say("verify is running already")
	case key.Matches(msg, Keys.Verify):
		return m.startVerify()
	case key.Matches(msg, Keys.Minutes):
		return m.askGenesis()
	case key.Matches(msg, Keys.Back) && v.filter != "":
		v.filter = ""
	case key.Matches(msg, Keys.Back), key.Matches(msg, Keys.Home):
		m.goTo(scrHome)
	}
	v.clamp(n)
	return nil
}

// timelineHeight is how many lines of records fit under the header.
func (m *Model) timelineHeight() int {
	h := m.bodyHeight() - len(m.verifyBody()) - 3
	if m.lv.filter != "" {
		h--
	}
	if m.inputFor != "" {
		h -= 2 // the filter or genesis field under the timeline
	}
	return max(1, h)
}

func (m *Model) verifyBody() []string {
	r := m.lv.verify
	if m.verifying && r == nil {
		return []string{m.st.Warn.Render("⋯ verifying… the records appear as the ledger is verified")}
	}
	if r == nil {
		return nil
	}
	if r.OK {
		out := []string{m.st.OK.Render(fmt.Sprintf("✓ verify: ok, %d records", r.Records)),
			m.st.OK.Render("  head: " + hexRows(8, r.Head))}
		switch {
		case r.OriginChecked:
			out = append(out, m.st.OK.Render("  origin: the genesis digest of the minutes matches"))
		case r.Note != "":
			out = append(out, m.st.Dim.Render("  "+r.Note+" (m: give it here)"))
		}
		return wrapAll(out, max(20, m.width))
	}
	f := r.Failure
	if f == nil {
		return []string{m.st.Bad.Render("✗ verify FAILED")}
	}
	return wrapAll([]string{m.st.Bad.Render(fmt.Sprintf("✗ verify FAILED at record %d (%s)", f.Seq, f.Check)),
		m.st.Bad.Render("  " + termtext.Printable(f.Reason))}, max(20, m.width))
}

// failSeq is the record the last verify failed at, -1 if none.
func (m *Model) failSeq() int64 {
	if v := m.lv.verify; v != nil && v.Failure != nil {
		return v.Failure.Seq
	}
	return -1
}

// view: the verify result, the filter, the window of records.
func (v *ledgerView) view(m *Model) ([]string, string) {
	out := m.verifyBody()
	if v.filter != "" {
		out = append(out, m.st.Warn.Render("  filter: "+v.filter)+m.st.Dim.Render("  (esc: show every record)"))
	}
	kw := 20
	for _, r := range m.rows {
		kw = max(kw, len(r.rec.Kind))
	}
	out = append(out, m.st.Heading.Render(fmt.Sprintf("  %-6s %-16s %-*s %-8s %s", "seq", "time", kw, "kind", "actor", "ceremony")))
	rows := v.visible(m.rows)
	h := m.timelineHeight()
	c := v.cursor
	failSeq := m.failSeq()
	w := max(20, m.width)
	lines := func(i int) []string {
		r := rows[i].rec
		mark := "  "
		switch {
		case r.Seq == failSeq:
			mark = "✗ "
		case i == c:
			mark = "› "
		}
		ls := wrapAll([]string{fmt.Sprintf("%s%-6d %-16s %-*s %-8s %s", mark, r.Seq, r.Time.Format("2006-01-02 15:04"), kw, r.Kind, r.Actor, r.Ceremony)}, w)
		for j := range ls {
			switch {
			case i == c:
				ls[j] = m.st.Selected.Render(ls[j])
			case r.Seq == failSeq:
				ls[j] = m.st.Bad.Render(ls[j])
			}
		}
		return ls
	}
	// The window: from top, as many rows as fit in h lines, the cursor's
	// row always among them.
	if c < v.top {
		v.top = c
	}
	// Walk back from the cursor at most a screenful of rows: the window
	// starts where they no longer fit (or at top, if they all do).
	for i, used := c, 0; i >= v.top && i < len(rows); i-- {
		used += len(lines(i))
		if used > h {
			v.top = i + 1
			break
		}
	}
	used, last := 0, v.top-1
	for i := v.top; i < len(rows); i++ {
		ls := lines(i)
		if used+len(ls) > h && i > v.top {
			break
		}
		out = append(out, ls...)
		used, last = used+len(ls), i
	}
	if f := v.verify; f != nil && f.Failure != nil && f.Failure.Seq > 0 && v.filter == "" && last == len(rows)-1 && used < h &&
		(len(rows) == 0 || rows[len(rows)-1].rec.Seq < f.Failure.Seq) {
		// read-only: the failing record could not be read
		out = append(out, m.st.Bad.Render(fmt.Sprintf("✗ %-6d (not readable: %s)", f.Failure.Seq, f.Failure.Check)))
	}
	switch {
	case len(rows) == 0 && v.filter != "":
		out = append(out, m.st.Dim.Render("  no record matches the filter (esc: clear it)"))
	case len(rows) > 0:
		out = append(out, m.st.Dim.Render(fmt.Sprintf("  record %d of %d", c+1, len(rows))))
	}
	return out, "↑/↓: scroll · enter: open · /: filter · v: verify · m: against the minutes · esc: home"
}
