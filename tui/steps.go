package tui

import (
	"fmt"
	"strings"

	"custos/ceremony"
)

// stepMsg is a point the engine's Run has reached (Engine.OnStep).
type stepMsg struct{ step ceremony.Step }

// reached is the last step Run reported, 0 before the first.
func (r *runState) reached() ceremony.StepKind {
	if len(r.steps) == 0 {
		return 0
	}
	return r.steps[len(r.steps)-1].Kind
}

// stepsDone maps what the engine reported onto the plan's steps: the
// first step is the intent, the last the closing checkpoint, and those
// between are the HSM operation and its outcome. The bar moves only when
// the engine says a step happened.
func (m *Model) stepsDone() int {
	r := m.run
	n := len(r.plan.Steps)
	switch r.reached() {
	case ceremony.StepIntent, ceremony.StepHSMStarted:
		return min(1, n)
	case ceremony.StepHSMDone:
		return max(1, n-2)
	case ceremony.StepOutcome:
		return max(1, n-1)
	case ceremony.StepClosed:
		return n
	}
	return 0
}

// actNow says who must act while Run is at its current step, and what
// they do.
func (m *Model) actNow() string {
	r := m.run
	p := r.plan
	wit := p.Operator
	if len(p.Witnesses) > 0 {
		wit = strings.Join(p.Witnesses, ", ")
	}
	switch r.reached() {
	case 0:
		return p.Operator + " (operator): the intent is signed and recorded; stay at the workstation"
	case ceremony.StepIntent, ceremony.StepHSMStarted:
		return p.Operator + " (operator): the HSM works; keep the token connected and powered"
	case ceremony.StepHSMDone:
		return p.Operator + " (operator): the HSM is done; its outcome is being recorded"
	case ceremony.StepOutcome:
		return wit + ": the closing checkpoint is co-signed"
	case ceremony.StepClosed:
		return wit + ": write the new ledger head into the minutes"
	}
	return ""
}

// runningBody is the screen while Run works: the step the engine is at,
// the bar of steps done, who acts now, and the engine's lines.
func (m *Model) runningBody() []string {
	s, r := m.st, m.run
	p := r.plan
	done := m.stepsDone()
	out := []string{s.Heading.Render("The ceremony runs"), "", "  " + m.bar(done), ""}
	for i, st := range p.Steps {
		mark := "[ ]"
		switch {
		case i < done:
			mark = "[x]"
		case i == done:
			mark = "[>]"
		}
		out = append(out, m.wrap(fmt.Sprintf("  %s %d. %s", mark, i+1, st), "         ")...)
	}
	if a := m.actNow(); a != "" {
		out = append(out, "", s.Actor.Render("  → now: "+a))
	}
	if len(r.progress) > 0 {
		out = append(out, "")
		for _, l := range r.progress {
			out = append(out, "  ✓ "+l)
		}
	}
	return out
}
