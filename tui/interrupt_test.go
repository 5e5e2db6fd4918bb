package tui

import (
	"strings"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"custos/ceremony"
	"custos/ledger"
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

	// while a draft has the HSM open (people screen), and while a
	// ceremony waits on a holder's card (the run goes on), the same
	for _, c := range []struct {
		scr  screen
		busy string
	}{{scrPeople, "opening the HSM and drafting the record"}, {scrRunning, ""}} {
		m3 := New(Options{NoColor: true})
		m3.run = &runState{eng: &ceremony.Engine{}, cardFor: "carol"}
		m3.screen, m3.busy = c.scr, c.busy
		if _, cmd = m3.Update(ctrlC); isQuit(cmd) || !strings.Contains(m3.status, Stopping) {
			t.Fatalf("ctrl+c on %v (busy %q): quit=%v status %q", c.scr, c.busy, isQuit(cmd), m3.status)
		}
		if _, cmd = m3.Update(tea.KeyPressMsg{Code: 'q', Text: "q"}); isQuit(cmd) {
			t.Fatalf("q on %v (busy %q) quit", c.scr, c.busy)
		}
	}

	idle := New(Options{NoColor: true})
	idle.screen = scrHome
	if _, cmd = idle.Update(ctrlC); !isQuit(cmd) {
		t.Fatal("ctrl+c outside a run did not quit")
	}
}

// TestCtrlCAtTheHSMStep drives a real generate on a real token and, at
// the moment the engine reports that the HSM operation started (the
// engine waits on the screen for its next event), presses ctrl+c and q:
// neither quits; the screen says the step is finished first, the run
// ends on its own, and the ledger verifies.
func TestCtrlCAtTheHSMStep(t *testing.T) {
	f := newFixture(t)
	f.enrol(t)
	gen := f.script(t, "gen.yaml", generateScript)
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true}))
	h.waitFor("Members")
	h.key("r")
	h.typ(gen)
	h.key("enter")
	h.waitFor("What will happen")
	h.key("enter")
	h.present(f.keys, "alice", "bob")
	h.key("c")
	h.waitFor("The engine asks for a secret")
	h.typ(string(f.tok.UserPIN))
	h.key("enter")
	h.waitFor("What is signed")
	h.key("enter")
	h.key("enter")
	h.tickSteps() // the last enter runs the ceremony
	deadline := time.After(30 * time.Second)
	for h.m.run.reached() != ceremony.StepHSMStarted {
		select {
		case msg := <-h.msgs:
			h.send(msg)
		case <-deadline:
			t.Fatalf("the engine never reported the HSM step:\n%s", h.view())
		}
	}
	for _, k := range []tea.KeyPressMsg{{Code: 'c', Mod: tea.ModCtrl}, {Code: 'q', Text: "q"}} {
		if _, cmd := h.m.Update(k); isQuit(cmd) {
			t.Fatalf("%s at the HSM step quit", k.String())
		}
	}
	if !strings.Contains(h.view(), Stopping) {
		t.Errorf("ctrl+c at the HSM step does not say %q:\n%s", Stopping, h.view())
	}
	h.waitFor("custos · done")
	if res := ledger.Verify(f.ledger, ledger.Options{}); !res.OK {
		t.Fatalf("verify after ctrl+c at the HSM step: %v", res.Err())
	}
}

// TestLeavingACeremonyAsks: esc and q inside a ceremony ask first; n goes
// on where it was, y leaves (esc: home, nothing recorded; q: quits).
func TestLeavingACeremonyAsks(t *testing.T) {
	f := newFixture(t)
	f.enrol(t)
	gen := f.script(t, "gen.yaml", generateScript)
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true}))
	h.waitFor("Members")
	before := f.seq(t)
	h.key("r")
	h.typ(gen)
	h.key("enter")
	h.waitFor("What will happen")
	h.key("enter")
	h.waitFor("Who is present")
	h.key("esc")
	if v := h.view(); !strings.Contains(v, "Abandon the ceremony kek-tui?") || !strings.Contains(v, "Nothing has been recorded") {
		t.Fatalf("esc on the people screen:\n%s", v)
	}
	h.key("n")
	h.waitFor("Who is present")
	if _, cmd := h.m.Update(tea.KeyPressMsg{Code: 'q', Text: "q"}); isQuit(cmd) {
		t.Fatal("q inside a ceremony quit without asking")
	}
	if v := h.view(); !strings.Contains(v, "Quit, abandoning the ceremony kek-tui?") {
		t.Fatalf("q on the people screen:\n%s", v)
	}
	if _, cmd := h.m.Update(tea.KeyPressMsg{Code: 'y', Text: "y"}); !isQuit(cmd) {
		t.Fatal("y did not quit")
	}
	if got := f.seq(t); got != before {
		t.Errorf("leaving recorded something: seq %d → %d", before, got)
	}
}
