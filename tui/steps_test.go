package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"custos/ceremony"
)

// TestRunningFollowsEngine: the running screen moves only on the engine's
// steps and names who acts at each.
func TestRunningFollowsEngine(t *testing.T) {
	m := New(Options{NoColor: true})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.run = &runState{plan: &ceremony.Plan{Kind: "backup", Ceremony: "b1", Operator: "alice", Witnesses: []string{"bob"},
		Steps: []string{"intent", "wrap key", "wrap", "split", "read back", "write media", "close"}}}
	m.goTo(scrRunning)
	view := func() string { return ansi.Strip(m.render()) }
	cases := []struct {
		step ceremony.StepKind
		bar  string
		now  string
	}{
		{0, "0/7", "alice (operator): the intent"},
		{ceremony.StepIntent, "1/7", "the HSM works"},
		{ceremony.StepHSMStarted, "1/7", "the HSM works"},
		{ceremony.StepHSMDone, "5/7", "outcome is being recorded"},
		{ceremony.StepOutcome, "6/7", "bob: the closing checkpoint"},
		{ceremony.StepClosed, "7/7", "bob: write the new ledger head"},
	}
	for _, c := range cases {
		if c.step != 0 {
			m.Update(stepMsg{ceremony.Step{Kind: c.step}})
		}
		v := view()
		if !strings.Contains(v, c.bar) || !strings.Contains(v, "→ now: ") || !strings.Contains(v, c.now) {
			t.Errorf("after step %d want %q and %q:\n%s", c.step, c.bar, c.now, v)
		}
		fits(t, v, 80, 24)
	}
}
