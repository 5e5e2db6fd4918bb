package ceremony

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"custos/hint"
	"custos/hsm"
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

// Resume settles the open intent of an interrupted ceremony: it looks at
// the HSM and records what really happened there — the outcome when the
// operation took place, ceremony.aborted when it did not — then closes the
// ceremony.
func Resume(l *ledger.Ledger, o ResumeOptions) (*ResumeResult, error) {
	oi := l.State().OpenIntent
	if oi == nil {
		if res, err := resumeUnclosed(l, o); res != nil || err != nil {
			return res, err
		}
		return nil, fmt.Errorf("ledger %s: no interrupted ceremony to resume", l.Dir())
	}
	keyID, _ := oi.Facts["key_id"].(string)
	label, _ := oi.Facts["label"].(string)
	h, _ := oi.Facts["hsm"].(map[string]any)
	serial, _ := h["serial"].(string)
	uri := o.HSM
	if uri == "" {
		var err error
		if uri, err = resumeURI(l, oi, o.PINSource); err != nil {
			return nil, err
		}
	}
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
		Script: &Script{File: "resume", Kind: "resume", HSM: uri, Operator: actor},
		plan:   &Plan{Ceremony: oi.Ceremony, KeyID: keyID, Label: label}}
	op, err := e.signer(actor, "the records of the resumed ceremony")
	if err != nil {
		return nil, hint.With(fmt.Errorf("resume needs the key of %s (the operator) or of another custodian", oi.Actor), "add --key "+oi.Actor+"=REF")
	}
	t, err := OpenToken(uri, o.Prompt)
	if err != nil {
		return nil, err
	}
	e.token = t
	defer e.Close()
	e.OnInterrupt, e.Exit = o.OnInterrupt, o.Exit
	defer e.armSignals()() // the HSM look and the records are never cut in half
	if serial != "" && t.Info().Serial != serial {
		return nil, hint.With(fmt.Errorf("token %q has serial %s, the interrupted ceremony used serial %s", t.Info().Label, t.Info().Serial, serial),
			"name the token the ceremony used with --hsm")
	}
	res := &ResumeResult{Ceremony: oi.Ceremony, Intent: oi.Kind}
	var id []byte
	if keyID != "" {
		if id, err = hex.DecodeString(keyID); err != nil {
			return nil, fmt.Errorf("open intent: key id %q: %w", keyID, err)
		}
	}
	var outcome *ledger.Record
	abort := func(reason string) {
		res.Reason = reason
		facts := map[string]any{"reason": reason, "resumed": true, "hsm": hsmFacts(t)}
		if keyID != "" {
			facts["key_id"] = keyID
		}
		outcome = l.Draft("ceremony.aborted", oi.Ceremony, actor, facts, e.now())
	}
	switch oi.Kind {
	case "key.generate.intent":
		key, ferr := t.FindKey(id, "")
		switch {
		case ferr == nil:
			outcome, err = e.generatedRecord(key)
			if err != nil {
				return nil, err
			}
			outcome.Facts["resumed"] = true
		case errors.Is(ferr, hsm.ErrKeyNotFound):
			if _, lerr := t.FindKey(nil, label); lerr == nil {
				return nil, fmt.Errorf("token %q holds a key labelled %q but not with id %s: settle this by hand before resuming", t.Info().Label, label, keyID)
			}
			abort("interrupted before the key was generated: no key with its id on the HSM")
		default:
			return nil, ferr
		}
	case "key.destroy.intent":
		_, byID := t.FindKey(id, "")
		_, byLabel := t.FindKey(nil, label)
		switch {
		case errors.Is(byID, hsm.ErrKeyNotFound) && errors.Is(byLabel, hsm.ErrKeyNotFound):
			info := t.Info()
			outcome, err = e.destroyedRecord(hsm.DestroyProof{Token: info.Label, Serial: info.Serial, ID: keyID, Label: label,
				SearchedByID: true, SearchedByLabel: true, FreshSession: true})
			if err != nil {
				return nil, err
			}
			outcome.Facts["resumed"] = true
		case byID == nil:
			abort("interrupted before the key was destroyed: the key is still on the HSM")
		case byID != nil && !errors.Is(byID, hsm.ErrKeyNotFound):
			return nil, byID
		default:
			return nil, fmt.Errorf("token %q holds a key labelled %q with another id: settle this by hand", t.Info().Label, label)
		}
	case "key.export.intent":
		reason := "interrupted during the export: nothing was recorded as exported"
		if out, _ := oi.Facts["output"].(string); out != "" {
			if _, err := os.Stat(out); err == nil {
				reason += fmt.Sprintf("; the output file %s exists and must be destroyed by the custodians", out)
			}
		}
		abort(reason)
	case "backup.intent":
		abort(resumeBackup(t, oi))
	default:
		abort("interrupted; custos cannot inspect the HSM for " + oi.Kind)
	}
	if err := e.append(outcome, op); err != nil {
		return nil, err
	}
	if ret := retirementAfter(l, oi, outcome, actor, e); ret != nil { // a rotation
		if err := e.append(ret, op); err != nil {
			return nil, err
		}
	}
	res.Outcome = outcome.Kind
	e.Script.Witnesses = nil
	if err := e.closeCeremony(op); err != nil {
		return nil, err
	}
	return res, nil
}
