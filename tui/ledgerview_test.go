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
	key(tea.KeyPressMsg{Code: tea.KeyEnter}) // kept
	if m.lv.filter != "export 49" || m.inputFor != "" {
		t.Errorf("enter does not keep the filter: %q", m.lv.filter)
	}
	key(tea.KeyPressMsg{Code: tea.KeyEscape})
	if m.lv.filter != "" || !strings.Contains(m.render(), "record 1 of 500") {
		t.Errorf("esc does not clear the filter:\n%s", m.render())
	}
	key(tea.KeyPressMsg{Code: '/', Text: "/"})
	key(tea.KeyPressMsg{Code: 'x', Text: "x"})
	key(tea.KeyPressMsg{Code: tea.KeyEscape}) // in the field: cleared too
	if m.lv.filter != "" || m.inputFor != "" || m.screen != scrLedger {
		t.Errorf("esc in the filter field: filter %q, field %q, screen %v", m.lv.filter, m.inputFor, m.screen)
	}
}

// TestParseGenesis: the genesis digest as the minutes may carry it — hex
// with or without sha256:, in blocks of four or not, or its 32 words,
// numbered as the screens show them or not — and a misheard word named.
func TestParseGenesis(t *testing.T) {
	d := "sha256:853fc1b872722c5f30930f2d17198a1e41534e27166493757eff4538dc6a0b11"
	words := ledger.Words(d)
	var numbered []string
	for i, w := range words {
		numbered = append(numbered, fmt.Sprintf("%d %s", i+1, w))
	}
	for _, in := range []string{d, strings.TrimPrefix(d, "sha256:"), strings.ToUpper(d[7:]),
		"sha256: 853f c1b8 7272 2c5f 3093 0f2d 1719 8a1e 4153 4e27 1664 9375 7eff 4538 dc6a 0b11",
		strings.Join(words, " "), strings.Join(numbered, "  "), strings.Join(numbered, "\n")} {
		if got, err := parseGenesis(in); err != nil || got != d {
			t.Errorf("parseGenesis(%q) = %q, %v", in, got, err)
		}
	}
	bad := append([]string{}, words...)
	bad[3] = words[2] // a word of the other list at position 4
	if _, err := parseGenesis(strings.Join(bad, " ")); err == nil || !strings.Contains(err.Error(), "genesis words") {
		t.Errorf("a misheard word: %v", err)
	}
	if _, err := parseGenesis("853fc1b8"); err == nil {
		t.Error("a short digest was taken")
	}
}
