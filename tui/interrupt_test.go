package tui

import (
	"strings"
	"syscall"
	"testing"

	tea "charm.land/bubbletea/v2"

	"custos/ceremony"
)

func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

// While a ceremony runs, ctrl+c asks the engine to stop at the step
// boundary and says so; a second ctrl+c quits. Outside a run it quits.
func TestCtrlCWhileRunning(t *testing.T) {
	m := New(Options{NoColor: true})
	e := &ceremony.Engine{}
	m.run = &runState{eng: e}
	m.screen, m.busy = scrRunning, "the ceremony runs: do not pull the token"
	ctrlC := tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	_, cmd := m.Update(ctrlC)
	if isQuit(cmd) {
		t.Fatal("the first ctrl+c quit in the middle of a step")
	}
	if !strings.Contains(m.status, Stopping) {
		t.Fatalf("status %q does not say %q", m.status, Stopping)
	}
	if _, cmd = m.Update(ctrlC); !isQuit(cmd) {
		t.Fatal("a second ctrl+c did not quit")
	}

	// a stop signal (kill -TERM) is the same as ctrl+c
	m2 := New(Options{NoColor: true})
	m2.run = &runState{eng: &ceremony.Engine{}}
	m2.screen, m2.busy = scrRunning, "x"
	if _, cmd = m2.Update(stopMsg{syscall.SIGTERM}); isQuit(cmd) || !strings.Contains(m2.status, "SIGTERM: "+Stopping) {
		t.Fatalf("SIGTERM during a run: quit=%v status %q", isQuit(cmd), m2.status)
	}

	idle := New(Options{NoColor: true})
	idle.screen = scrHome
	if _, cmd = idle.Update(ctrlC); !isQuit(cmd) {
		t.Fatal("ctrl+c outside a run did not quit")
	}
}
