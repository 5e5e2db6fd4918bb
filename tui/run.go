// A ceremony run at the screen: its state and the answers of the engine
// calls made in tea.Cmds. The keys of each run screen are in
// run_keys.go, the people and sign screens in run_people.go, the others
// in run_view.go.

package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"custos/ceremony"
	"custos/ledger"
	"custos/sign"
)

// runState is one ceremony being prepared and run at the screen.
type runState struct {
	eng     *ceremony.Engine
	plan    *ceremony.Plan
	signers map[string]sign.Signer
	arrived []string          // members in the order they came forward
	refs    map[string]string // key reference typed per member, to retry
	closers []func()
	files   []string // attached request/approval files, for the screen

	member int // cursor on the people screen

	draft     *ledger.Record
	req       *ceremony.Request
	signers2  []string // who signs, in order: operator, then approvers present
	confirmed int      // how many of them confirmed

	step   int
	checks [][]check
	item   int // cursor in the step's checklist

	progress []string
	steps    []ceremony.Step // what Run reached, from the engine's OnStep

	// backup: each holder in turn, alone at the screen
	holders []holderShare
	holder  int
	alone   bool
	// restore: the shares entered so far
	backup   *ceremony.Backup
	entries  []shareEntry
	accepted []ceremony.ShareInput // the accepted ones, in memory only, for the engine
	words    []byte                // a card being typed
	// backup with cards: the holder asked where their card goes, and the
	// card shown to them alone (zeroed when they are done)
	cardFor   string
	cardReply chan cardReply
	card      []byte
	cardDone  chan error
	pending   string         // an age share file waiting for its identity
	retry     func() tea.Cmd // what t (try again) does after an error
	result    *ceremony.Result
	reread    bool // the ledger was read again after the run
	// recorded are the records the run appended, read from the reopened
	// ledger (a few objects; its verify goes on in the background)
	recorded []*ledger.Record
	failed   error
	before   int64 // ledger size before the run
}

type check struct {
	who, what string
	done      bool
}

func (r *runState) release() {
	r.wipeShares()
	if r.eng != nil {
		r.eng.Close()
	}
	for _, c := range r.closers {
		c()
	}
	r.closers = nil
}

type planMsg struct {
	eng  *ceremony.Engine
	plan *ceremony.Plan
	err  error
}

type signerMsg struct {
	name   string
	s      sign.Signer
	closer func()
	err    error
}

type attachMsg struct {
	file string
	req  *ceremony.Request
	af   *ceremony.ApprovalFile
	plan *ceremony.Plan
	err  error
}

type draftMsg struct {
	rec *ledger.Record
	req *ceremony.Request
	err error
}

type runMsg struct {
	res *ceremony.Result
	err error
}

// engineMsg handles the answers of engine calls made in tea.Cmds.
func (m *Model) engineMsg(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case verifyMsg:
		m.onVerify(msg)
	case planMsg:
		m.busy = ""
		if msg.err != nil {
			m.fail(msg.err)
			m.goTo(scrScript)
			return m.ask("script", "path of a ceremony script", ""), true
		}
		m.status = ""
		m.run = &runState{eng: msg.eng, plan: msg.plan, signers: map[string]sign.Signer{}, refs: map[string]string{}}
		m.goTo(scrPlan)
	case signerMsg:
		m.busy = ""
		r := m.run
		if msg.err != nil {
			m.fail(fmt.Errorf("key of %s: %w", msg.name, msg.err))
			name := msg.name
			r.retry = func() tea.Cmd { return m.ask("key:"+name, "key file path or pkcs11: URI", r.refs[name]) }
			return nil, true
		}
		r.closers = append(r.closers, msg.closer)
		if r.signers[msg.name] == nil {
			r.arrived = append(r.arrived, msg.name)
		}
		r.signers[msg.name] = msg.s
		r.eng.Signers = r.signers
		r.retry = nil
		m.say("%s is present: key %s", msg.name, sign.Fingerprint(msg.s.PublicKey()))
	case attachMsg:
		m.busy = ""
		r := m.run
		if msg.err != nil {
			m.fail(msg.err)
			return nil, true
		}
		r.files = append(r.files, msg.file)
		if msg.req != nil {
			r.plan = msg.plan
			m.say("request %s attached: the record drafted there is adopted", msg.file)
		} else {
			r.eng.Approvals = append(r.eng.Approvals, msg.af)
			m.say("approval of %s attached from %s", msg.af.Member, msg.file)
		}
	case draftMsg:
		m.busy = ""
		r := m.run
		if msg.err != nil {
			m.fail(fmt.Errorf("%w\nnothing was recorded: the ledger is still at record %d (t: try again)", msg.err, m.led.State().Seq))
			r.retry = m.startDraft
			return nil, true
		}
		r.retry = nil
		r.draft, r.req = msg.rec, msg.req
		r.eng.Request = msg.req
		r.signers2 = m.whoSigns()
		r.confirmed = 0
		m.status = ""
		m.goTo(scrSign)
	case runMsg:
		m.busy = ""
		r := m.run
		r.release()
		if msg.err != nil {
			r.failed = msg.err
			m.fail(msg.err)
		} else {
			r.result = msg.res
			m.say("ceremony %s done", msg.res.Ceremony)
		}
		m.goTo(scrDone)
		if msg.err == nil && r.plan.Kind == ceremony.KindBackup {
			hs, err := backupHolders(r.eng.Ledger, msg.res.Ceremony, r.before)
			if err != nil {
				m.fail(err)
			} else if len(hs) > 0 {
				r.holders, r.holder, r.alone = hs, 0, false
				m.status = ""
				m.goTo(scrHolder)
			}
		}
		return tea.Batch(openLedgerCmd(m.dir, m.opts.Now()), m.br.listen()), true
	case cardAskMsg:
		return m.onCardAsk(msg), true
	case cardShowMsg:
		return m.onCardShow(msg), true
	case holderCheckMsg:
		return m.onHolderCheck(msg), true
	default:
		return nil, false
	}
	return nil, true
}

func (m *Model) submitRun(purpose, v string) tea.Cmd {
	r := m.run
	switch {
	case purpose == "script":
		if v == "" {
			m.goTo(scrHome)
			return nil
		}
		m.busy = "checking the script against the ledger"
		l, br := m.led, m.br
		return func() tea.Msg {
			s, err := ceremony.LoadScript(v)
			if err != nil {
				return planMsg{err: err}
			}
			e := quietEngine(&ceremony.Engine{Ledger: l, Script: s, Prompt: br, Progress: br, Cards: tuiCards{br}})
			p, err := e.Plan()
			return planMsg{eng: e, plan: p, err: err}
		}
	case purpose == "card":
		return m.submitCard(v)
	case purpose == "holdercheck":
		return m.checkHolderShare(v)
	case purpose == "share":
		if v == "" {
			return nil
		}
		if ceremony.IsEncryptedShare(v) {
			id := ""
			for _, src := range r.eng.Script.Restore.Shares {
				if src.File == v {
					id = src.Identity
				}
			}
			r.pending = v
			return m.ask("identity", "the holder's OpenSSH private key file that opens "+v, id)
		}
		return m.checkShareFile(v, "")
	case purpose == "identity":
		if v == "" {
			return nil
		}
		return m.checkShareFile(r.pending, v)
	case purpose == "request":
		if v == "" {
			return nil
		}
		return m.whenVerified(func() tea.Cmd { return m.writeRequest(v) })
	case purpose == "confirm":
		if v != r.plan.Label {
			m.fail(fmt.Errorf("%q is not the label of the key to destroy; nothing was done", v))
			return m.ask("confirm", "type the label of the key to destroy, in full", "")
		}
		r.eng.Script.Destroy.Confirm = v
		m.say("label %q confirmed", v)
		m.goTo(scrPeople)
	case strings.HasPrefix(purpose, "key:"):
		name := strings.TrimPrefix(purpose, "key:")
		if v == "" {
			return nil
		}
		r.refs[name] = v
		m.busy = "opening the key of " + name
		mem := m.led.State().Roster.Member(name)
		br := m.br
		return func() tea.Msg {
			s, closer, err := ceremony.OpenSigner(v, br)
			if err != nil {
				return signerMsg{name: name, err: err}
			}
			// A key that is not the member's roster key would be refused
			// at the first signature: say so now, naming whose it is not.
			want, perr := mem.PublicKey()
			if perr != nil || sign.Fingerprint(want) != sign.Fingerprint(s.PublicKey()) {
				closer()
				return signerMsg{name: name, err: fmt.Errorf("%s is not %s's key in the roster (it is %s)", redact(v), name, sign.Fingerprint(s.PublicKey()))}
			}
			return signerMsg{name: name, s: s, closer: closer}
		}
	case purpose == "attach":
		if v == "" {
			return nil
		}
		m.busy = "reading " + v
		e := r.eng
		return func() tea.Msg {
			if req, err := ceremony.ReadRequest(v); err == nil {
				e.Request = req
				p, err := e.Plan()
				if err != nil {
					e.Request = nil
					return attachMsg{err: err}
				}
				return attachMsg{file: v, req: req, plan: p}
			}
			af, err := ceremony.ReadApproval(v)
			if err != nil {
				return attachMsg{err: fmt.Errorf("%s is neither a request (custos run --request-out) nor an approval file (custos approve): %w", v, err)}
			}
			return attachMsg{file: v, af: af}
		}
	}
	return nil
}

// redact drops a URI's query (it may name a pin file) from messages.
func redact(ref string) string {
	if i := strings.IndexByte(ref, '?'); i >= 0 {
		return ref[:i] + "?…"
	}
	return ref
}

func (m *Model) startDraft() tea.Cmd {
	m.busy = "opening the HSM and drafting the record"
	e, p := m.run.eng, m.run.plan
	return func() tea.Msg {
		rec, err := e.Draft()
		if err != nil {
			return draftMsg{err: err}
		}
		req, err := ceremony.NewRequest(rec, p)
		return draftMsg{rec: rec, req: req, err: err}
	}
}

func (m *Model) startRun() tea.Cmd {
	m.busy = "the ceremony runs: do not pull the token"
	r := m.run
	r.before = m.led.State().Seq
	m.goTo(scrRunning)
	e, br := r.eng, m.br
	r.steps = nil
	e.OnStep = func(s ceremony.Step) { br.events <- stepMsg{s} }
	return func() tea.Msg {
		res, err := e.Run()
		// Through the bridge, after every progress line of the run.
		br.events <- runMsg{res: res, err: err}
		return nil
	}
}
