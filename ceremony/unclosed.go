package ceremony

import (
	"fmt"
	"maps"
	"slices"

	"custos/ledger"
	"custos/sign"
)

// resumeUnclosed settles a ceremony that was stopped after its outcome was
// recorded but before its close (there is no open intent, yet the last
// record is not ceremony.closed): for a rotation, the old key's retirement
// is recorded if it is missing; then the ceremony is closed. It returns
// nil, nil when the last ceremony is closed.
func resumeUnclosed(l *ledger.Ledger, o ResumeOptions) (*ResumeResult, error) {
	st := l.State()
	last, err := l.Record(st.Seq)
	if err != nil {
		return nil, err
	}
	if last.Kind == "ceremony.closed" || last.Kind == "ledger.genesis" {
		return nil, nil
	}
	first, ok := st.CeremonyUsed(last.Ceremony)
	if !ok {
		return nil, nil
	}
	opening, err := l.Record(first)
	if err != nil {
		return nil, err
	}
	actor := resumeActor(st, opening.Actor, o.Signers)
	e := &Engine{Ledger: l, Signers: o.Signers, Now: o.Now, Progress: o.Progress, OnInterrupt: o.OnInterrupt, Exit: o.Exit,
		Script: &Script{File: "resume", Kind: "resume", Operator: actor},
		plan:   &Plan{Ceremony: last.Ceremony}}
	op, err := e.signer(actor, "the records of the resumed ceremony")
	if err != nil {
		return nil, err
	}
	defer e.armSignals()()
	res := &ResumeResult{Ceremony: last.Ceremony, Intent: opening.Kind, Outcome: "ceremony.closed",
		Reason: fmt.Sprintf("stopped after %s (record %d): only the close was missing", last.Kind, last.Seq)}
	if ret := retirementAfter(l, opening, last, actor, e); ret != nil {
		if err := e.append(ret, op); err != nil {
			return nil, err
		}
		res.Reason = fmt.Sprintf("stopped after %s (record %d): recorded the retirement of the rotated key and closed", last.Kind, last.Seq)
	}
	if err := e.closeCeremony(op); err != nil {
		return nil, err
	}
	return res, nil
}

// retirementAfter is the key.retirement.scheduled a rotation still owes
// after its key.generated outcome (last), or nil.
func retirementAfter(l *ledger.Ledger, opening, last *ledger.Record, actor string, e *Engine) *ledger.Record {
	old, _ := opening.Facts["rotates"].(string)
	if opening.Kind != "key.generate.intent" || old == "" || last.Kind != "key.generated" {
		return nil
	}
	label, _ := opening.Facts["rotates_label"].(string)
	retire, _ := opening.Facts["retire_on"].(string)
	successor, _ := opening.Facts["key_id"].(string)
	facts := map[string]any{"key_id": old, "label": label, "retire_on": retire, "successor": successor}
	return l.Draft("key.retirement.scheduled", opening.Ceremony, actor, facts, e.now())
}

// resumeActor is who signs a resume's records: the ceremony's operator
// when their key is present, else the same custodian every time.
func resumeActor(st *ledger.State, operator string, signers map[string]sign.Signer) string {
	if signers[operator] != nil {
		return operator
	}
	for _, name := range slices.Sorted(maps.Keys(signers)) {
		if m := st.Roster.Member(name); m != nil && m.HasRole("custodian") {
			return name
		}
	}
	return operator
}
