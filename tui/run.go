package tui

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"custos/ceremony"
	"custos/ledger"
	"custos/sign"
)

// runState is one ceremony being prepared and run at the screen.
type runState struct {
	eng     *ceremony.Engine
	plan    *ceremony.Plan
	signers map[string]sign.Signer
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
	failed    error
	before    int64 // ledger size before the run
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
		m.busy = ""
		m.lv.verify = &msg.res
		if f := msg.res.Failure; f != nil {
			for i, r := range m.rows {
				if r.rec.Seq == f.Seq {
					m.lv.cursor = i
				}
			}
			m.fail(fmt.Errorf("verify: record %d fails: %s", f.Seq, f.Reason))
		} else {
			m.say("verify: ok")
		}
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
			hs, err := backupHolders(r.eng.Ledger, msg.res.Ceremony)
			if err != nil {
				m.fail(err)
			} else if len(hs) > 0 {
				r.holders, r.holder, r.alone = hs, 0, false
				m.status = ""
				m.goTo(scrHolder)
			}
		}
		return tea.Batch(openLedgerCmd(m.dir), m.br.listen()), true
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
		return m.writeRequest(v)
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

// roles of a member in this ceremony, as the people screen shows them.
func (m *Model) neededFor(name string) string {
	p := m.run.plan
	st := m.led.State()
	var w []string
	if name == p.Operator {
		w = append(w, "operator: signs every record")
	}
	if slices.Contains(p.Witnesses, name) {
		w = append(w, "witness: co-signs the checkpoint")
	}
	if m.canApprove(name) {
		w = append(w, "may approve")
	}
	if len(w) == 0 {
		mem := st.Roster.Member(name)
		return "not needed (" + strings.Join(mem.Roles, ",") + ")"
	}
	return strings.Join(w, "; ")
}

func (m *Model) canApprove(name string) bool {
	p, st := m.run.plan, m.led.State()
	req := p.Required
	mem := st.Roster.Member(name)
	if mem == nil || req.Count == 0 || (name == p.Operator && !req.SelfApproval) {
		return false
	}
	return mem.HasRole(req.Roles...)
}

// whoSigns is who will sign, in the engine's order: the operator (the
// record), the approval files, then approvers present by name until the
// quorum is met.
func (m *Model) whoSigns() []string {
	r := m.run
	out := []string{r.plan.Operator}
	have := map[string]bool{}
	n := 0
	for _, af := range r.eng.Approvals {
		have[af.Member] = true
		n++
	}
	var names []string
	for name := range r.signers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if n >= r.plan.Required.Count {
			break
		}
		if have[name] || !m.canApprove(name) {
			continue
		}
		out = append(out, name)
		n++
	}
	return out
}

// missing says who must still come forward before drafting.
func (m *Model) missing() error {
	r := m.run
	p := r.plan
	var need []string
	if r.signers[p.Operator] == nil {
		need = append(need, p.Operator+" (operator)")
	}
	for _, w := range p.Witnesses {
		if r.signers[w] == nil {
			need = append(need, w+" (witness)")
		}
	}
	n := len(r.eng.Approvals)
	for name := range r.signers {
		if m.canApprove(name) && !slices.ContainsFunc(r.eng.Approvals, func(a *ceremony.ApprovalFile) bool { return a.Member == name }) {
			n++
		}
	}
	if n < p.Required.Count {
		need = append(need, fmt.Sprintf("%d more approval(s) by %s", p.Required.Count-n, strings.Join(p.Required.Roles, "/")))
	}
	if len(need) > 0 {
		return fmt.Errorf("still needed: %s", strings.Join(need, ", "))
	}
	return nil
}

func (m *Model) keyRun(msg tea.KeyPressMsg) tea.Cmd {
	r := m.run
	if r != nil && r.retry != nil && key.Matches(msg, Keys.Retry) {
		f := r.retry
		r.retry = nil
		m.status = ""
		return f()
	}
	if r != nil && r.card != nil {
		return m.keyCard(msg)
	}
	switch m.screen {
	case scrScript:
		if key.Matches(msg, Keys.Back) {
			m.goTo(scrHome)
			return nil
		}
		return m.ask("script", "path of a ceremony script", "")
	case scrPlan:
		switch {
		case key.Matches(msg, Keys.Enter):
			m.status = ""
			if r.plan.Kind == ceremony.KindDestroy {
				return m.ask("confirm", "type the label of the key to destroy, in full", "")
			}
			if r.plan.Kind == ceremony.KindRestore {
				return m.startShares()
			}
			m.goTo(scrPeople)
		case key.Matches(msg, Keys.Back):
			m.abandon()
		default:
			m.scrollKeys(msg)
		}
	case scrPeople:
		members := m.led.State().Roster.Members
		switch {
		case key.Matches(msg, Keys.Up):
			r.member = max(0, r.member-1)
		case key.Matches(msg, Keys.Down):
			r.member = min(len(members)-1, r.member+1)
		case key.Matches(msg, Keys.Enter):
			name := members[r.member].Name
			return m.ask("key:"+name, "key of "+name+": a key file path or a pkcs11: URI", r.refs[name])
		case key.Matches(msg, Keys.Attach):
			return m.ask("attach", "path of a request or approval file", "")
		case key.Matches(msg, Keys.Write):
			return m.ask("request", "where to write the request for approvers elsewhere (never over a file)", "")
		case key.Matches(msg, Keys.Continue):
			if err := m.missing(); err != nil {
				m.fail(err)
				return nil
			}
			m.status = ""
			return m.startDraft()
		case key.Matches(msg, Keys.Back):
			m.abandon()
		}
	case scrSign:
		switch {
		case key.Matches(msg, Keys.Enter):
			if r.confirmed < len(r.signers2) {
				r.confirmed++
			}
			if r.confirmed == len(r.signers2) {
				m.status = ""
				r.checks = m.stepChecks()
				r.step, r.item = 0, 0
				m.goTo(scrStep)
			}
		case key.Matches(msg, Keys.Back):
			m.abandon()
		default:
			m.scrollKeys(msg)
		}
	case scrStep:
		list := r.checks[r.step]
		switch {
		case key.Matches(msg, Keys.Up):
			r.item = max(0, r.item-1)
		case key.Matches(msg, Keys.Down):
			r.item = min(len(list)-1, r.item+1)
		case key.Matches(msg, Keys.Toggle):
			if len(list) > 0 {
				list[r.item].done = !list[r.item].done
				if list[r.item].done {
					r.item = min(len(list)-1, r.item+1)
				}
			}
		case key.Matches(msg, Keys.Enter):
			for _, c := range list {
				if !c.done {
					m.fail(fmt.Errorf("%s must first confirm: %s", c.who, c.what))
					return nil
				}
			}
			m.status = ""
			if r.step+1 < len(r.checks) {
				r.step++
				r.item = 0
				return nil
			}
			return m.startRun()
		case key.Matches(msg, Keys.Back):
			if r.step > 0 {
				r.step--
				r.item = 0
			} else {
				m.abandon()
			}
		}
	case scrHolder:
		return m.keyHolder(msg)
	case scrShares:
		return m.keyShares(msg)
	case scrDone:
		if key.Matches(msg, Keys.Enter) || key.Matches(msg, Keys.Back) || key.Matches(msg, Keys.Home) {
			m.run = nil
			m.status = ""
			m.goTo(scrHome)
			return nil
		}
		m.scrollKeys(msg)
	}
	return nil
}

// abandon leaves a ceremony before anything was recorded.
func (m *Model) abandon() {
	if m.run != nil {
		m.run.release()
	}
	m.run = nil
	m.say("ceremony abandoned; nothing was recorded")
	m.goTo(scrHome)
}

// stepChecks are the human actions of each step of the plan and who must
// do them; the engine does the rest.
func (m *Model) stepChecks() [][]check {
	r := m.run
	p := r.plan
	op := p.Operator
	wit := op
	if len(p.Witnesses) > 0 {
		wit = strings.Join(p.Witnesses, ", ")
	}
	serial, label := "", ""
	if h, ok := r.draft.Facts["hsm"].(map[string]any); ok {
		serial, _ = h["serial"].(string)
		label, _ = h["label"].(string)
	}
	approvers := strings.Join(r.signers2[1:], ", ")
	if approvers == "" {
		approvers = "(none required)"
	}
	words := wordsOf(r.req.Digest, 4)
	out := make([][]check, len(p.Steps))
	for i := range p.Steps {
		var c []check
		switch i {
		case 0:
			c = append(c,
				check{wit, fmt.Sprintf("the HSM serial on the device label matches %s (token %s)", serial, label), false},
				check{op, "reads the first words of the digest aloud: " + words, false})
			if len(r.signers2) > 1 {
				c = append(c, check{approvers, "heard the same words on their own screen or request", false})
			}
		case len(p.Steps) - 1:
			c = append(c, check{wit, "will read the closing checkpoint words into the signed minutes", false})
		default:
			c = append(c, check{op, "keeps the HSM connected and powered until the ceremony closes", false})
			if p.Kind == ceremony.KindDestroy && i == 1 {
				c = append(c, check{wit, fmt.Sprintf("agrees that key %q is to be destroyed for good", p.Label), false})
			}
		}
		out[i] = c
	}
	return out
}

func wordsOf(digest string, n int) string {
	w := ledger.Words(digest)
	if n > 0 && len(w) > n {
		return strings.Join(w[:n], " ") + " …"
	}
	return strings.Join(w, " ")
}

// --- views ---

func (m *Model) runBody() ([]string, string) {
	s := m.st
	r := m.run
	switch m.screen {
	case scrScript:
		return []string{s.Heading.Render("Which ceremony?"), "",
			"  Type the path of a ceremony script (YAML). Nothing is touched",
			"  until you have seen the plan and everyone needed is present.",
			"  Examples are in docs/examples/."}, "enter: read the script · esc: home"
	case scrPlan:
		out := []string{s.Heading.Render("What will happen"), ""}
		for _, l := range strings.Split(strings.TrimRight(r.plan.String(), "\n"), "\n") {
			out = append(out, "  "+l)
		}
		if r.plan.Kind == ceremony.KindDestroy {
			out = append(out, "", s.Warn.Render(fmt.Sprintf("  Destroying %q cannot be undone: its label is asked in full.", r.plan.Label)))
		}
		return out, "enter: who must be present · esc: abandon"
	case scrPeople:
		return m.peopleBody()
	case scrSign:
		return m.signBody()
	case scrStep:
		return m.stepBody()
	case scrHolder:
		return m.holderBody()
	case scrShares:
		return m.sharesBody()
	case scrRunning:
		if r.cardFor != "" {
			return m.cardBody()
		}
		return m.runningBody(), "please wait: do not pull the token"
	case scrDone:
		return m.doneBody()
	}
	return nil, ""
}

func (m *Model) bar(done int) string {
	total := max(1, len(m.run.plan.Steps))
	done = min(done, total)
	const w = 30
	n := done * w / total
	return "[" + strings.Repeat("█", n) + strings.Repeat("░", w-n) + fmt.Sprintf("] %d/%d", done, total)
}

func (m *Model) peopleBody() ([]string, string) {
	s, r := m.st, m.run
	p := r.plan
	req := "none required by the policy"
	if p.Required.Count > 0 {
		req = fmt.Sprintf("%d by %s", p.Required.Count, strings.Join(p.Required.Roles, "/"))
	}
	out := []string{s.Heading.Render("Who is present"), "",
		"  Each person needed comes to the keyboard in turn, selects their",
		"  key and types its passphrase or PIN (never shown). Approvals: " + req, ""}
	for i, mem := range m.led.State().Roster.Members {
		status := s.Dim.Render("absent")
		if sg := r.signers[mem.Name]; sg != nil {
			status = s.OK.Render("✓ present")
		}
		for _, af := range r.eng.Approvals {
			if af.Member == mem.Name {
				status = s.OK.Render("✓ approval file")
			}
		}
		line := fmt.Sprintf("%-10s %-15s %s", mem.Name, status, m.neededFor(mem.Name))
		if i == r.member {
			line = s.Selected.Render("› " + line)
		} else {
			line = "  " + line
		}
		out = append(out, line)
	}
	if len(r.files) > 0 {
		out = append(out, "", "  attached: "+strings.Join(r.files, ", "))
	}
	if err := m.missing(); err != nil {
		out = append(out, "", s.Actor.Render("  → "+err.Error()))
	} else {
		out = append(out, "", s.OK.Render("  Everyone needed is present: c to continue."))
	}
	f := "enter: select key · a: attach · o: write request · c: continue · esc: abandon"
	if r.retry != nil {
		f = "t: try again · " + f
	}
	return out, f
}

func (m *Model) signBody() ([]string, string) {
	s, r := m.st, m.run
	rec := r.draft
	out := []string{s.Heading.Render(fmt.Sprintf("What is signed: record %d, %s", rec.Seq, rec.Kind)), ""}
	if r.confirmed < len(r.signers2) {
		who, role := r.signers2[r.confirmed], "approver"
		if r.confirmed == 0 {
			role = "operator"
		}
		out = append(out, s.Actor.Render(fmt.Sprintf("  → now %s (%s): check what you sign, then press enter", who, role)), "")
	}
	out = append(out, "  digest (hex):", "    "+r.req.Digest, "  digest (words, read aloud):")
	w := ledger.Words(r.req.Digest)
	for i := 0; i < len(w); i += 8 {
		out = append(out, "    "+strings.Join(w[i:min(len(w), i+8)], " "))
	}
	signers := out[:0:0]
	signers = append(signers, "", "  Signers:")
	for i, n := range r.signers2 {
		mark := "[ ]"
		if i < r.confirmed {
			mark = "[x]"
		}
		role := "approver"
		if i == 0 {
			role = "operator"
		}
		signers = append(signers, fmt.Sprintf("    %s %s (%s)", mark, n, role))
	}
	for _, af := range r.eng.Approvals {
		signers = append(signers, fmt.Sprintf("    [x] %s (approval file %s)", af.Member, af.File))
	}
	out = append(out, signers...)
	out = append(out, "", fmt.Sprintf("  The record: ceremony %s by %s, after %s", rec.Ceremony, rec.Actor, short(rec.Prev, 23)))
	out = append(out, factLines(rec.Facts, "    ")...)
	return out, "enter: I have read it, sign · ↑/↓: scroll · esc: abandon"
}

func (m *Model) stepBody() ([]string, string) {
	s, r := m.st, m.run
	p := r.plan
	out := m.wrap(s.Heading.Render(fmt.Sprintf("Step %d: %s", r.step+1, p.Steps[r.step])), "  ")
	out = append(out, "", "  "+m.bar(r.step), "")
	list := r.checks[r.step]
	for i, c := range list {
		if !c.done {
			out = append(out, s.Actor.Render("  → now: "+c.who))
			break
		}
		if i == len(list)-1 {
			out = append(out, s.OK.Render("  all confirmed"))
		}
	}
	out = append(out, "")
	for i, c := range list {
		mark := "[ ]"
		if c.done {
			mark = "[x]"
		}
		lines := m.wrap(fmt.Sprintf("%s %s: %s", mark, c.who, c.what), "      ")
		for j, l := range lines {
			if i == r.item && j == 0 {
				l = s.Selected.Render("› " + l)
			} else if j == 0 {
				l = "  " + l
			}
			out = append(out, l)
		}
	}
	next := "enter: next step"
	if r.step == len(p.Steps)-1 {
		next = "enter: RUN the ceremony"
	}
	return out, "space: tick · " + next + " · esc: back"
}

func (m *Model) doneBody() ([]string, string) {
	s, r := m.st, m.run
	if r.failed != nil {
		out := []string{s.Bad.Render("The ceremony did not complete"), "", "  " + m.bar(m.stepsDone()), ""}
		for _, l := range r.progress {
			out = append(out, "  ✓ "+l)
		}
		out = append(out, "", "  "+r.failed.Error())
		if st := m.led.State(); st.Seq == r.before {
			out = append(out, "", fmt.Sprintf("  Nothing was recorded: the ledger is still at record %d.", st.Seq))
		} else {
			out = append(out, "", fmt.Sprintf("  The ledger now holds %d records (was %d): see the timeline (l).", st.Seq, r.before))
		}
		return out, "enter: home"
	}
	res := r.result
	out := []string{s.OK.Render("✓ Ceremony " + res.Ceremony + " is closed"), "", "  " + m.bar(m.stepsDone()), ""}
	for _, l := range r.progress {
		out = append(out, "  ✓ "+l)
	}
	if res.KeyID != "" {
		out = append(out, "", "  key id: "+res.KeyID)
	}
	out = append(out, "", "  Write into the minutes and read aloud — the new ledger head:",
		"    "+res.Head)
	w := ledger.Words(res.Head)
	for i := 0; i < len(w); i += 8 {
		out = append(out, "    "+strings.Join(w[i:min(len(w), i+8)], " "))
	}
	return out, "enter: home · ↑/↓: scroll"
}

// wrap breaks a line to the terminal's width, continuing with indent.
func (m *Model) wrap(line, indent string) []string {
	w := max(20, m.width) - 2
	lines := strings.Split(ansi.Wrap(line, w, " "), "\n")
	for i := 1; i < len(lines); i++ {
		lines[i] = indent + lines[i]
	}
	return lines
}
