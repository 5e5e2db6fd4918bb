package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"custos/ledger"
)

// TestTimelineWindowAndFilter: the cursor's row is always on the screen,
// from the first record to the last of a long timeline, rows with a long
// ceremony id wrap instead of being cut, and / filters as it is typed.
func TestTimelineWindowAndFilter(t *testing.T) {
	m := New(Options{NoColor: true})
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	for i := 1; i <= 500; i++ {
		kind, cer := "key.generate.intent", fmt.Sprintf("gen-%d", i)
		if i%7 == 0 {
			kind, cer = "key.export.intent", fmt.Sprintf("export-to-the-partner-bank-settlement-link-%d", i)
		}
		m.rows = append(m.rows, recordRow{rec: &ledger.Record{Seq: int64(i), Kind: kind, Actor: "alice", Ceremony: cer, Time: t0.Add(time.Duration(i) * time.Minute)}})
	}
	m.dir = "L"
	m.screen = scrLedger
	key := func(k tea.KeyPressMsg) { m.Update(k) }
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		key(tea.KeyPressMsg{Code: 'G', Text: "G"})
		v := m.render()
		if !strings.Contains(v, "› 500 ") || !strings.Contains(v, "record 500 of 500") {
			t.Errorf("%v: G does not show the last record:\n%s", size, v)
		}
		for range 3 {
			key(tea.KeyPressMsg{Code: tea.KeyPgUp})
		}
		v = m.render()
		if !strings.Contains(v, fmt.Sprintf("› %-6d", m.lv.cursor+1)) {
			t.Errorf("%v: the cursor's row (%d) is not on the screen:\n%s", size, m.lv.cursor+1, v)
		}
		for i, l := range strings.Split(v, "\n") {
			if strings.HasSuffix(strings.TrimRight(l, " "), "…") || len([]rune(l)) > size[0] {
				t.Errorf("%v: line %d cut or too wide: %q", size, i, l)
			}
		}
		key(tea.KeyPressMsg{Code: 'g', Text: "g"})
	}
	key(tea.KeyPressMsg{Code: '/', Text: "/"})
	for _, r := range "export 49" {
		key(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	v := m.render()
	if !strings.Contains(v, "filter: export 49") || !strings.Contains(v, "› 49 ") || strings.Contains(v, "gen-") {
		t.Errorf("filter export 49:\n%s", v)
	}
	if !strings.Contains(v, "export-to-the-partner-bank-settlement-link-49") {
		t.Errorf("a long ceremony id is not shown whole:\n%s", v)
	}
	key(tea.KeyPressMsg{Code: tea.KeyEnter})
	key(tea.KeyPressMsg{Code: tea.KeyEscape})
	if m.lv.filter != "" || !strings.Contains(m.render(), "record 1 of 500") {
		t.Errorf("esc does not clear the filter:\n%s", m.render())
	}
}
