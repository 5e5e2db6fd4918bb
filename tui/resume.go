package tui

import (
	"fmt"

	tea "charm.land/bubbletea/v2"

	"custos/ceremony"
	"custos/ledger"
	"custos/sign"
)

// resumeMsg is how ceremony.Resume settled an interrupted ceremony.
type resumeMsg struct {
	res *ceremony.ResumeResult
	err error
}

// requestMsg is a request file written for approvers elsewhere.
type requestMsg struct {
	file string
	req  *ceremony.Request
	err  error
}

// startResume runs ceremony.Resume with the key of the interrupted
// ceremony's operator (an open intent, or a ceremony whose outcome is
// recorded but which was never closed); the PIN is asked in the masked
// field.
func (m *Model) startResume(ref string) tea.Cmd {
	p := m.led.State().Pending()
	if p == nil || ref == "" {
		return nil
	}
	m.busy = "resuming ceremony " + p.Ceremony + ": looking at the HSM"
	dir, br, actor := m.dir, m.br, p.Opening.Actor
	return func() tea.Msg {
		var out resumeMsg
		// Its own handle on the ledger: the screen keeps reading m.led.
		l, err := ledger.Open(dir)
		if err != nil {
			br.events <- resumeMsg{err: err}
			return nil
		}
		s, closer, err := ceremony.OpenSigner(ref, br)
		if err != nil {
			out.err = fmt.Errorf("key of %s: %w", actor, err)
		} else {
			out.res, out.err = ceremony.Resume(l, ceremony.ResumeOptions{Signers: map[string]sign.Signer{actor: s}, Prompt: br, Progress: br,
				OnInterrupt: func(ceremony.Interrupt) {}, Exit: func(int) {}})
			closer()
		}
		// Through the bridge, after the prompts and progress lines.
		br.events <- out
		return nil
	}
}

func (m *Model) onResume(msg resumeMsg) tea.Cmd {
	m.busy = ""
	if msg.err != nil {
		m.fail(fmt.Errorf("resume: %w (u: try again)", msg.err))
		return m.br.listen()
	}
	r := msg.res
	how := "recorded " + r.Outcome
	if r.Reason != "" {
		how += ": " + r.Reason
	}
	m.say("ceremony %s resumed: %s; closed", r.Ceremony, how)
	return tea.Batch(openLedgerCmd(m.dir, m.opts.Now()), m.br.listen())
}

// writeRequest drafts the record (the HSM is opened) and writes it as a
// request file; the engine then adopts it, so approvals signed elsewhere
// match the record the ceremony commits.
func (m *Model) writeRequest(path string) tea.Cmd {
	r := m.run
	m.busy = "opening the HSM and drafting the request"
	e, p := r.eng, r.plan
	return func() tea.Msg {
		rec, err := e.Draft()
		if err != nil {
			return requestMsg{err: err}
		}
		req, err := ceremony.NewRequest(rec, p)
		if err != nil {
			return requestMsg{err: err}
		}
		if err := ceremony.WriteRequest(path, req); err != nil {
			return requestMsg{err: fmt.Errorf("request %s: %w", path, err)}
		}
		req.File = path
		return requestMsg{file: path, req: req}
	}
}

func (m *Model) onRequest(msg requestMsg) {
	m.busy = ""
	if msg.err != nil {
		m.fail(fmt.Errorf("%w\nnothing was recorded", msg.err))
		return
	}
	m.run.eng.Request = msg.req
	m.run.files = append(m.run.files, msg.file)
	m.say("request written to %s (its digest is shown below): carry it to the approvers; a to attach their approvals", msg.file)
}
