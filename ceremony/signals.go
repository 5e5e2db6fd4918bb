package ceremony

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// StopSignals are the signals a ceremony holds while a step runs: an HSM
// call or an append is never cut in half by them. The ceremony stops at
// the next step boundary instead, with a record of why.
var StopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// ExitWindow is how soon a second signal after the first must come to exit
// at once, without waiting for the step: the person means it. What is left
// then is an open intent, which custos resume settles.
const ExitWindow = 3 * time.Second

// Interrupt is what the front end is told when a stop signal is held.
type Interrupt struct {
	Signal os.Signal
	// Second: a second signal within ExitWindow; the process exits right
	// after OnInterrupt returns.
	Second bool
}

// InterruptedError says a ceremony stopped at a step boundary because of a
// signal, and what was recorded.
type InterruptedError struct {
	Ceremony string
	Signal   os.Signal
	// Recorded is what the stop left in the ledger: "ceremony.aborted"
	// (the HSM operation had not started) or the outcome (it had completed
	// and the ceremony was closed).
	Recorded string
}

func (e *InterruptedError) Error() string {
	if e.Recorded == "" {
		return fmt.Sprintf("ceremony %s stopped by %s before its first record: nothing was recorded", e.Ceremony, SignalName(e.Signal))
	}
	if e.Recorded == "ceremony.aborted" {
		return fmt.Sprintf("ceremony %s stopped by %s before the HSM operation started: recorded ceremony.aborted and closed the ceremony", e.Ceremony, SignalName(e.Signal))
	}
	return fmt.Sprintf("ceremony %s: %s arrived while the ceremony ran; the step in progress was finished: recorded %s and closed the ceremony", e.Ceremony, SignalName(e.Signal), e.Recorded)
}

// ExitCode is the shell's convention for death by that signal, 128+n.
func (e *InterruptedError) ExitCode() int { return exitCode(e.Signal) }

func exitCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 1
}

// SignalName is SIGINT, SIGTERM, SIGHUP … for messages and records.
func SignalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case nil:
		return "a stop request"
	}
	return s.String()
}

// stopGuard holds stop signals while armed. The first is kept for the
// step boundary; a second within ExitWindow exits the process.
type stopGuard struct {
	mu     sync.Mutex
	sig    os.Signal // the first held signal, nil when none
	at     time.Time
	ch     chan os.Signal
	done   chan struct{}
	notify func(Interrupt)
	exit   func(int)
}

// guard returns the engine's guard, making it on first use (so Interrupt
// works before Run arms it, as the TUI may call it at any time).
func (e *Engine) guard() *stopGuard {
	e.stopMu.Lock()
	defer e.stopMu.Unlock()
	if e.stop == nil {
		e.stop = &stopGuard{}
	}
	return e.stop
}

// armSignals starts holding StopSignals for the steps that follow; the
// returned func stops holding them (the default action applies again).
func (e *Engine) armSignals() (disarm func()) {
	g := e.guard()
	g.mu.Lock()
	g.notify, g.exit = e.OnInterrupt, e.Exit
	if g.exit == nil {
		g.exit = os.Exit
	}
	if g.notify == nil {
		g.notify = func(in Interrupt) {
			if in.Second {
				e.say("%s again: exiting now; custos resume settles the ceremony", SignalName(in.Signal))
				return
			}
			e.say("%s: finishing the current step — the HSM is working", SignalName(in.Signal))
		}
	}
	g.ch, g.done = make(chan os.Signal, 4), make(chan struct{})
	ch, done := g.ch, g.done
	g.mu.Unlock()
	if !e.NoSignals {
		signal.Notify(ch, StopSignals...)
	}
	go func() {
		for {
			select {
			case s := <-ch:
				g.hold(s)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// hold records a stop signal; a second one within ExitWindow exits.
func (g *stopGuard) hold(s os.Signal) {
	g.mu.Lock()
	now := time.Now()
	second := g.sig != nil && now.Sub(g.at) < ExitWindow
	if g.sig == nil || !second {
		if g.sig == nil {
			g.sig = s
		}
		g.at = now
	}
	notify, exit := g.notify, g.exit
	g.mu.Unlock()
	if notify != nil {
		notify(Interrupt{Signal: s, Second: second})
	}
	if second && exit != nil {
		exit(exitCode(s))
	}
}

// pending is the first stop signal held, or nil.
func (g *stopGuard) pending() os.Signal {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sig
}

// Interrupt asks a running ceremony to stop at the next step boundary, as
// a held signal does (the TUI's Ctrl-C). It returns at once; Run returns an
// *InterruptedError when it has stopped.
func (e *Engine) Interrupt() {
	g := e.guard()
	g.mu.Lock()
	if g.sig == nil {
		g.sig, g.at = os.Interrupt, time.Now()
	}
	g.mu.Unlock()
}

// stopRequested is the signal Run should stop for at this boundary, or nil.
func (e *Engine) stopRequested() os.Signal {
	return e.guard().pending()
}

// stopBeforeHSM ends a ceremony whose intent is committed but whose HSM
// operation has not started: ceremony.aborted with the signal as its
// reason, then ceremony.closed.
func (e *Engine) stopBeforeHSM(s os.Signal) error {
	op := e.Signers[e.Script.Operator]
	facts := map[string]any{"reason": fmt.Sprintf("stopped by %s before the HSM operation started", SignalName(s))}
	if e.plan.KeyID != "" {
		facts["key_id"] = e.plan.KeyID
	}
	if err := e.append(e.Ledger.Draft("ceremony.aborted", e.plan.Ceremony, e.Script.Operator, facts, e.now()), op); err != nil {
		return err
	}
	if err := e.closeCeremony(op); err != nil {
		return err
	}
	return &InterruptedError{Ceremony: e.plan.Ceremony, Signal: s, Recorded: "ceremony.aborted"}
}

// pauseEnv, with pauseFileEnv, is a test hook: at the named point Run
// writes the file and waits CUSTOS_TEST_PAUSE (a duration, default 3s), so
// a test can send signals while a step is in progress. Like the crash
// points it changes nothing that is recorded.
const (
	pauseEnv     = "CUSTOS_TEST_PAUSE_AT"
	pauseFileEnv = "CUSTOS_TEST_PAUSE_FILE"
	pauseForEnv  = "CUSTOS_TEST_PAUSE"
)

func pausePoint(name string) {
	if os.Getenv(pauseEnv) != name {
		return
	}
	d := 3 * time.Second
	if v, err := time.ParseDuration(os.Getenv(pauseForEnv)); err == nil {
		d = v
	}
	if f := os.Getenv(pauseFileEnv); f != "" {
		os.WriteFile(f, []byte(name+"\n"), 0o644)
	}
	time.Sleep(d)
}
