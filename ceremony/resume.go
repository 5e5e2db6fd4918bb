package ceremony

import (
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"time"

	"custos/internal/hint"
	"custos/ledger"
	"custos/sign"
)

// ResumeOptions say how to reach the HSM and who is present.
type ResumeOptions struct {
	// HSM is a PKCS#11 URI of the token; when empty, the token the intent
	// recorded is used (label and serial), with the module of its
	// enrolment, CUSTOS_PKCS11_MODULE or a default (resumeuri.go), and the
	// PIN from PINSource or asked.
	HSM       string
	PINSource string
	Signers   map[string]sign.Signer
	Prompt    Prompter
	Now       func() time.Time
	Progress  io.Writer
	// OnInterrupt and Exit as for Engine (signals.go).
	OnInterrupt func(Interrupt)
	Exit        func(code int)
}

// ResumeResult says how an interrupted ceremony was settled.
type ResumeResult struct {
	Ceremony string
	Intent   string // kind of the open intent
	Outcome  string // kind of the record that settled it
	Reason   string // for ceremony.aborted
}

// Resume finishes the ceremony an interruption left unclosed. An open
// intent is settled by looking at the HSM (reconcile.go): the outcome when
// the operation took place, ceremony.aborted when it did not. What came
// after an outcome is finished too: a rotation's key.retirement.scheduled,
// then ceremony.closed, so that every ceremony ends closed.
func Resume(l *ledger.Ledger, o ResumeOptions) (*ResumeResult, error) {
	// A live ceremony holds the ledger: wait for it, never settle it.
	unlock, err := lockLedger(l, "resume", 0, o.Progress)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p := l.State().Pending()
	if p == nil {
		return nil, fmt.Errorf("ledger %s: no interrupted ceremony to resume", l.Dir())
	}
	oi := p.Opening
	keyID, _ := oi.Facts["key_id"].(string)
	label, _ := oi.Facts["label"].(string)
	actor := oi.Actor
	if o.Signers[actor] == nil {
		for _, name := range slices.Sorted(maps.Keys(o.Signers)) { // the same custodian every time
			if m := l.State().Roster.Member(name); m != nil && m.HasRole("custodian") {
				actor = name
				break
			}
		}
	}
	e := &Engine{Ledger: l, Signers: o.Signers, Prompt: o.Prompt, Now: o.Now, Progress: o.Progress,
		Script: &Script{File: "resume", Kind: "resume", Operator: actor},
		plan:   &Plan{Ceremony: oi.Ceremony, KeyID: keyID, Label: label}}
	op, err := e.signer(actor, "the records of the resumed ceremony")
	if err != nil {
		return nil, hint.With(fmt.Errorf("resume needs the key of %s (the operator) or of another custodian", oi.Actor), "add --key "+oi.Actor+"=REF")
	}
	defer e.Close()
	e.OnInterrupt, e.Exit = o.OnInterrupt, o.Exit
	defer e.armSignals()() // the HSM look and the records are never cut in half
	res := &ResumeResult{Ceremony: oi.Ceremony, Intent: oi.Kind, Outcome: p.Outcome}
	if p.IntentOpen {
		uri := o.HSM
		if uri == "" {
			if uri, err = resumeURI(l, oi, o.PINSource); err != nil {
				return nil, err
			}
		}
		if err := e.openIntentHSM(oi, uri); err != nil {
			return nil, err
		}
		outcome, err := e.settle(oi, "interrupted", true)
		if err != nil {
			return nil, err
		}
		if outcome.Kind == "ceremony.aborted" {
			res.Reason, _ = outcome.Facts["reason"].(string)
		}
		if err := e.append(outcome, op); err != nil {
			return nil, err
		}
		res.Outcome = outcome.Kind
	}
	if g, err := ledger.FactsAs[ledger.GenerateIntentFacts](oi); err == nil && oi.Kind == "key.generate.intent" &&
		g.Rotates != "" && res.Outcome == "key.generated" && !p.Retired {
		facts := map[string]any{"key_id": g.Rotates, "retire_on": g.RetireOn, "successor": g.KeyID}
		if g.RotatesLabel != "" {
			facts["label"] = g.RotatesLabel
		}
		if err := e.append(e.Ledger.Draft("key.retirement.scheduled", oi.Ceremony, actor, facts, e.now()), op); err != nil {
			return nil, err
		}
	}
	e.Script.Witnesses = nil
	if err := e.closeCeremony(op); err != nil {
		return nil, err
	}
	return res, nil
}

// openIntentHSM opens the token the open intent oi names (by uri when
// given, else by its recorded label) and checks its serial.
func (e *Engine) openIntentHSM(oi *ledger.Record, uri string) error {
	h, _ := oi.Facts["hsm"].(map[string]any)
	serial, _ := h["serial"].(string)
	tokLabel, _ := h["label"].(string)
	if uri == "" {
		uri = "pkcs11:token=" + url.PathEscape(tokLabel)
	}
	e.Script.HSM = uri
	t, err := openToken(uri, e.Prompt)
	if err != nil {
		return err
	}
	e.token = t
	if serial != "" && t.Info().Serial != serial {
		return hint.With(fmt.Errorf("token %q has serial %s, the interrupted ceremony used serial %s", t.Info().Label, t.Info().Serial, serial),
			"name the token the ceremony used with --hsm")
	}
	return nil
}
