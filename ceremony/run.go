// Running a ceremony: Run takes it from the plan to the close under the
// ledger's writer lock, the steps a front end may take one by one, and
// the appends and the closing record.

package ceremony

import (
	"errors"
	"io"
	"time"

	"custos/ledger"
	"custos/sign"
)

// Run performs the whole ceremony: plan, draft, approvals, intent, HSM
// operation, outcome and close. Nothing is recorded unless the HSM could be
// opened and the quorum is met.
func (e *Engine) Run() (*Result, error) {
	defer e.Close()
	// One ceremony at a time on a ledger: held from the plan to the close
	// (or abort), and the ledger read again after it, since another
	// ceremony may have appended while this one waited.
	unlock, err := e.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := e.Plan(); err != nil {
		return nil, err
	}
	if err := e.destroyConfirmed(); err != nil {
		return nil, err
	}
	if err := e.checkSigners(); err != nil {
		return nil, err
	}
	op, err := e.signer(e.Script.Operator, "as operator")
	if err != nil {
		return nil, err
	}
	for _, w := range e.Script.Witnesses {
		if _, err := e.signer(w, "the closing checkpoint as witness"); err != nil {
			return nil, err
		}
	}
	// Say a missing quorum before touching the HSM.
	if err := e.quorumPossible(); err != nil {
		return nil, err
	}
	// Passphrases for shares are asked and checked before any record.
	defer e.forgetPassphrases()
	if err := e.collectPassphrases(); err != nil {
		return nil, err
	}
	rec, err := e.Draft()
	if err != nil {
		return nil, err
	}
	approvals, err := e.Approve(rec)
	if err != nil {
		return nil, err
	}
	defer e.armSignals()() // held from the intent to the close
	if s := e.stopRequested(); s != nil {
		return nil, &InterruptedError{Ceremony: e.plan.Ceremony, Signal: s}
	}
	if _, err := e.Ledger.Append(rec, op, approvals); err != nil {
		return nil, err
	}
	e.say("recorded %s (record %d)", rec.Kind, rec.Seq)
	e.opening = rec
	e.step(StepIntent, rec)
	res := &Result{Ceremony: e.plan.Ceremony, KeyID: e.plan.KeyID}
	recorded := rec.Kind
	if e.Script.Kind != KindEnroll && !noHSM[e.Script.Kind] {
		crashPoint("before-hsm")
		pausePoint("before-hsm")
		if s := e.stopRequested(); s != nil {
			return nil, e.stopBeforeHSM(s)
		}
		e.step(StepHSMStarted, nil)
		pausePoint("during-hsm")
		started := time.Now()
		outcome, err := e.operate(res)
		e.hsmTime += time.Since(started)
		if err != nil {
			// The operation did not end as planned: record what the token
			// holds (reconcile.go), never what the failed call suggests.
			settled, serr := e.settleFailed(rec, err)
			if serr != nil {
				return nil, errors.Join(err, serr)
			}
			if settled.Kind == "ceremony.aborted" {
				if aerr := e.append(settled, op); aerr != nil {
					return nil, errors.Join(err, aerr)
				}
				if cerr := e.closeCeremony(op); cerr != nil {
					return nil, errors.Join(err, cerr)
				}
				return nil, err
			}
			e.say("the operation reported an error but the token shows it done: %v", err)
			outcome = settled
		}
		crashPoint("after-hsm")
		e.step(StepHSMDone, nil)
		if err := e.append(outcome, op); err != nil {
			return nil, err
		}
		e.step(StepOutcome, outcome)
		recorded = outcome.Kind
		crashPoint("after-outcome")
		if e.Script.Kind == KindRotate {
			if err := e.append(e.retirementRecord(e.plan.KeyID), op); err != nil {
				return nil, err
			}
		}
	}
	if err := e.closeCeremony(op); err != nil {
		return nil, err
	}
	res.Head, _ = e.Ledger.Head()
	e.step(StepClosed, nil)
	if s := e.stopRequested(); s != nil {
		return res, &InterruptedError{Ceremony: e.plan.Ceremony, Signal: s, Recorded: recorded}
	}
	return res, nil
}

// StepKind names a point Run has reached.
type StepKind int

// The steps of Run, in order; a ceremony without an HSM operation goes
// from StepIntent to StepClosed.
const (
	StepIntent     StepKind = iota + 1 // the opening record is committed
	StepHSMStarted                     // the HSM operation begins
	StepHSMDone                        // the HSM operation succeeded
	StepOutcome                        // its outcome record is committed
	StepClosed                         // ceremony.closed is committed
)

// Step is what OnStep receives.
type Step struct {
	Kind StepKind
	// Seq and Record are the record just committed (intent, outcome),
	// zero and empty otherwise.
	Seq    int64
	Record string
}

func (e *Engine) step(k StepKind, rec *ledger.Record) {
	if e.OnStep == nil {
		return
	}
	s := Step{Kind: k}
	if rec != nil {
		s.Seq, s.Record = rec.Seq, rec.Kind
	}
	e.OnStep(s)
}

// Result is what a finished ceremony reports.
type Result struct {
	Ceremony string
	KeyID    string
	Output   string // file written (export)
	Head     string // ledger head digest after closing
}

// Lock takes the ledger's writer lock for this ceremony, waiting for one
// another ceremony holds, and reads the ledger again. A front end that
// shows the plan before Run takes it first, so that the plan it shows is
// made against the ledger as it will be when the ceremony runs (not
// mid-way through another). Run takes it when it is not held yet; the
// returned func releases it once, whoever calls it.
func (e *Engine) Lock() (func(), error) {
	if e.unlock != nil {
		return func() {}, nil
	}
	name := e.Script.Ceremony
	if name == "" { // the plan names it, once the lock is held
		name = e.Script.Kind + " (" + e.Script.File + ")"
	}
	unlock, err := lockLedger(e.Ledger, name, e.LockWait, e.Progress)
	if err != nil {
		return nil, err
	}
	e.unlock = unlock
	return func() {
		if e.unlock != nil {
			e.unlock()
			e.unlock = nil
		}
	}, nil
}

// lockLedger takes l's writer lock for ceremony and reads l again.
func lockLedger(l *ledger.Ledger, ceremony string, wait time.Duration, progress io.Writer) (func(), error) {
	if wait == 0 {
		wait = ledger.DefaultLockWait
	}
	unlock, err := l.Lock(ceremony, wait, progress)
	if err != nil {
		return nil, err
	}
	if err := l.Refresh(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

func (e *Engine) append(rec *ledger.Record, op sign.Signer) error {
	if _, err := e.Ledger.Append(rec, op, nil); err != nil {
		return err
	}
	e.say("recorded %s (record %d)", rec.Kind, rec.Seq)
	return nil
}

// closeCeremony appends ceremony.closed carrying a checkpoint of the head,
// co-signed by the witnesses present.
func (e *Engine) closeCeremony(op sign.Signer) error {
	digest, _ := e.Ledger.Head()
	signers := map[string]sign.Signer{}
	for _, w := range e.Script.Witnesses {
		s, err := e.signer(w, "the closing checkpoint as witness")
		if err != nil {
			return err
		}
		signers[w] = s
	}
	facts, err := e.Ledger.CloseFacts(e.Script.Witnesses, signers)
	if err != nil {
		return err
	}
	rec := e.Ledger.Draft("ceremony.closed", e.plan.Ceremony, e.Script.Operator, facts, e.now())
	if _, err := e.Ledger.Append(rec, op, nil); err != nil {
		return err
	}
	e.say("closed ceremony %s at record %d; checkpoint %s", e.plan.Ceremony, rec.Seq, digest)
	return nil
}
