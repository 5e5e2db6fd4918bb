package tui

import (
	"os"
	"os/signal"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"custos/ceremony"
)

// stopMsg is a stop signal (SIGINT, SIGTERM, SIGHUP) delivered to the TUI.
type stopMsg struct{ sig os.Signal }

// Stopping is what the screen says when ctrl+c (or a stop signal) arrives
// while the engine works: the step is finished first.
const Stopping = "finishing the current step — the HSM is working"

// working reports whether an engine call that records or touches the HSM
// is in progress: a ceremony's run (also while it waits on a holder's
// card), a draft or request that has the HSM open, or a resume.
func (m *Model) working() bool {
	return m.screen == scrRunning && m.run != nil && m.run.result == nil && m.run.failed == nil ||
		strings.HasPrefix(m.busy, "resuming") || strings.HasPrefix(m.busy, busyHSM)
}

// busyHSM begins the status of an engine call that opens the HSM.
const busyHSM = "opening the HSM"

// interrupt handles ctrl+c and the stop signals. Outside a running step it
// quits. While the engine works, the first asks it to stop at the next
// step boundary and says so; a second within ceremony.ExitWindow quits at
// once, leaving what custos resume settles.
func (m *Model) interrupt(what string) tea.Cmd {
	if !m.working() {
		return tea.Quit
	}
	now := time.Now()
	if !m.stopAt.IsZero() && now.Sub(m.stopAt) < ceremony.ExitWindow {
		return tea.Quit
	}
	m.stopAt = now
	if m.run != nil && m.run.eng != nil && m.screen == scrRunning {
		m.run.eng.Interrupt()
	}
	m.say("%s: %s (%s again to quit at once; custos resume settles the ceremony)", what, Stopping, what)

	return nil
}

// quietEngine leaves signals to the TUI: the engine holds them and stops
// at the step boundary, but neither prints nor exits the process (the TUI
// says so on screen and quits itself, restoring the terminal).
func quietEngine(e *ceremony.Engine) *ceremony.Engine {
	e.OnInterrupt = func(ceremony.Interrupt) {}
	e.Exit = func(int) {}
	return e
}

// forwardSignals delivers the stop signals to p as stopMsg (bubbletea's
// own handler would quit in the middle of a step). The returned func stops.
func forwardSignals(p *tea.Program) func() {
	ch := make(chan os.Signal, 4)
	done := make(chan struct{})
	signal.Notify(ch, ceremony.StopSignals...)
	go func() {
		for {
			select {
			case s := <-ch:
				p.Send(stopMsg{s})
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

func (s stopMsg) name() string { return ceremony.SignalName(s.sig) }
