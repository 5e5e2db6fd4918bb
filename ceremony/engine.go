// The Engine that runs one ceremony on one ledger, and the HSM session
// it opens and closes. Planning is in plan.go, the intent and its
// approvals in approve.go, the run and its steps in run.go.

package ceremony

import (
	"crypto/rsa"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"custos/hsm"
	"custos/internal/hint"
	"custos/ledger"
	"custos/shamir"
	"custos/sign"
)

// Engine runs one ceremony on one ledger. Front ends fill in the fields,
// then call Plan, and Run (or the steps one by one).
type Engine struct {
	Ledger *ledger.Ledger
	Script *Script
	// Signers are the keys of the members present at the workstation, by
	// member name: the operator's, and those of approvers and witnesses in
	// the room.
	Signers map[string]sign.Signer
	// Approvals are signatures carried back from other workstations.
	Approvals []*ApprovalFile
	// Request, when set, is the request those approvals signed: the engine
	// adopts its drafted record and refuses if the script and ledger no
	// longer produce exactly that record.
	Request *Request
	Prompt  Prompter
	// Now gives the time of records; time.Now when nil.
	Now func() time.Time
	// Progress receives one line per step, for the person at the screen.
	Progress io.Writer
	// OnStep, when set, is called as Run reaches each step (see StepKind),
	// so a front end can show what really happened; it runs on Run's
	// goroutine and should return quickly.
	OnStep func(Step)
	// LockWait bounds the wait for a ledger another ceremony holds
	// (ledger.DefaultLockWait when zero).
	LockWait time.Duration
	// OnInterrupt, Exit and NoSignals: see signals.go. Run holds SIGINT,
	// SIGTERM and SIGHUP from the intent to the close.
	OnInterrupt func(Interrupt)
	Exit        func(code int)
	NoSignals   bool
	// Shares, when set, are the shares a restore takes, in memory and in
	// this order, instead of reading the script's share files (the TUI:
	// shares entered at the screen). The engine zeroes each one's Data.
	Shares []ShareInput
	// Cards puts each holder's word card where that holder chooses, one
	// holder at a time, in a backup with cards: true (see CardSink).
	Cards CardSink

	stopMu sync.Mutex
	stop   *stopGuard
	plan   *Plan
	token  *hsm.Token
	target *ledger.KeyState // the existing key export and destroy act on
	// opening is the ceremony's intent, once recorded.
	opening *ledger.Record
	// unlock releases the ledger's writer lock while it is held (Lock).
	unlock func()
	// recipient is the export recipient's key as read (and recorded) at
	// Draft: the same key is then made trusted, never a re-read of the file.
	recipient *rsa.PublicKey
	// resplit: the backups whose shares leaving members hold (roster).
	resplit map[string][]string
	// backup and restore (backup.go, restore.go)
	backupID    string
	restoreFrom *Backup
	// signing: what a sign ceremony signs, prepared by Plan (signing.go)
	signing *signWork
	// deliveries: holder → how their share goes (delivery.go); the
	// passphrases of those delivered by passphrase, asked before the
	// intent and wiped after the ceremony; shareBase names the share
	// files.
	deliveries  map[string]string
	passphrases map[string][]byte
	shareBase   string
	// reshare (reshare.go): the backup, and the shares presented.
	reshareOf      *Backup
	presented      []*shamir.Share
	presentedFacts []any  // their signed entries, once signed …
	presentedFor   string // … for this ceremony id
	// hsmTime is the time spent in HSM operations, so benchmarks can tell
	// the engine's own time apart.
	hsmTime time.Duration
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) say(format string, args ...any) {
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, format+"\n", args...)
	}
}

// RedactURI drops a PKCS#11 URI's query (module path, pin-source) for
// display and messages: a pin file's path is not secret, but it is noise.
func RedactURI(u string) string {
	base, _, _ := strings.Cut(u, "?")
	return base
}

// OpenHSM opens and logs in to the token the script names, and checks it
// is enrolled in the ledger: the ledger refuses records naming an HSM it
// never enrolled, so say so before anything is recorded.
func (e *Engine) OpenHSM() error {
	if e.token != nil {
		return nil
	}
	t, err := openToken(e.Script.HSM, e.Prompt)
	if err != nil {
		return err
	}
	if enrolled := e.Ledger.State().HSMs; e.Script.Kind != KindEnroll {
		info := t.Info()
		if _, ok := enrolled[info.Serial]; !ok {
			closeToken(t)
			return hint.With(fmt.Errorf("%s: hsm: token %q (serial %s) is not enrolled in this ledger", e.Script.File, info.Label, info.Serial),
				"enrol it first with an enroll ceremony, or name an enrolled token")
		}
	}
	e.token = t
	return nil
}

// Close releases the HSM session (and wipes the shares a reshare was
// presented).
func (e *Engine) Close() {
	e.zeroPresented()
	if e.token != nil {
		closeToken(e.token)
		e.token = nil
	}
}

func closeToken(t *hsm.Token) {
	t.Close()
	t.Module().Close()
}
