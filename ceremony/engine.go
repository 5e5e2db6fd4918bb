package ceremony

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
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
	// recipient is the export recipient's key as read (and recorded) at
	// Draft: the same key is then made trusted, never a re-read of the file.
	recipient *rsa.PublicKey
	// resplit: the backups whose shares leaving members hold (roster).
	resplit map[string][]string
	// backup and restore (backup.go, restore.go)
	backupID    string
	restoreFrom *Backup
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

// Plan is what a ceremony will do, in words a custodian can check before
// anything happens.
type Plan struct {
	Kind       string             `json:"kind"`
	Ceremony   string             `json:"ceremony"`
	Operator   string             `json:"operator"`
	Witnesses  []string           `json:"witnesses,omitempty"`
	HSM        string             `json:"hsm"`
	IntentKind string             `json:"intent_kind"`
	Required   ledger.Requirement `json:"required"`
	KeyID      string             `json:"key_id,omitempty"`
	Label      string             `json:"label,omitempty"`
	Steps      []string           `json:"steps"`
}

// String renders the plan for the terminal.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ceremony %s (%s)\n", p.Ceremony, p.Kind)
	fmt.Fprintf(&b, "  operator:  %s\n", p.Operator)
	if len(p.Witnesses) > 0 {
		fmt.Fprintf(&b, "  witnesses: %s\n", strings.Join(p.Witnesses, ", "))
	}
	if p.HSM != "" {
		fmt.Fprintf(&b, "  hsm:       %s\n", p.HSM)
	}
	if p.Required.Count > 0 {
		self := "the operator may not approve"
		if p.Required.SelfApproval {
			self = "the operator may approve"
		}
		fmt.Fprintf(&b, "  approvals: %d by %s (%s)\n", p.Required.Count, strings.Join(p.Required.Roles, "/"), self)
	} else {
		fmt.Fprintf(&b, "  approvals: none required by the policy\n")
	}
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, s)
	}
	return b.String()
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

// intentKinds maps a ceremony kind to the record kind that opens it.
var intentKinds = map[string]string{
	KindEnroll:     "hsm.enrolled",
	KindGenerate:   "key.generate.intent",
	KindExport:     "key.export.intent",
	KindDestroy:    "key.destroy.intent",
	KindBackup:     "backup.intent",
	KindRestore:    "key.restore.intent",
	KindRotate:     "key.generate.intent",
	KindCompromise: "key.compromised",
	KindRoster:     "roster.changed",
	KindReview:     "review.signed",

	KindDestroyBackup: "backup.destroyed",
	KindReshare:       "backup.reshare.intent",
}

// Plan validates the script against the ledger (members, roles, policy,
// key state) and says what will happen. It touches neither HSM nor ledger.
func (e *Engine) Plan() (*Plan, error) {
	s, st := e.Script, e.Ledger.State()
	if st.OpenIntent != nil {
		oi := st.OpenIntent
		return nil, hint.With(fmt.Errorf("ledger %s: ceremony %s was interrupted: %s (record %d) has no outcome",
			e.Ledger.Dir(), oi.Ceremony, oi.Kind, oi.Seq),
			"run custos resume --ledger "+e.Ledger.Dir()+" --key NAME=REF first; it records what really happened on the HSM")
	}
	if p := st.Pending(); p != nil && e.Request == nil {
		// Every ceremony ends closed: one interrupted after its outcome
		// is finished (retirement, close) before another begins.
		return nil, hint.With(fmt.Errorf("ledger %s: ceremony %s (%s, record %d) was interrupted before it was closed",
			e.Ledger.Dir(), p.Ceremony, p.Opening.Kind, p.Opening.Seq),
			"run custos resume --ledger "+e.Ledger.Dir()+" --key NAME=REF first; it finishes and closes it")
	}
	op := st.Roster.Member(s.Operator)
	if op == nil {
		return nil, hint.With(fmt.Errorf("%s: operator: %q is not a member of the ledger's roster", s.File, s.Operator),
			"members: "+memberNames(st))
	}
	roles := ledger.KindRoles(intentKinds[s.Kind]) // the ledger's table says who operates
	if !op.HasRole(roles...) {
		return nil, fmt.Errorf("%s: operator: %s holds none of the roles %s a %s ceremony needs (roles: %s)", s.File, s.Operator, strings.Join(roles, "/"), s.Kind, strings.Join(op.Roles, ", "))
	}
	for i, w := range s.Witnesses {
		if st.Roster.Member(w) == nil {
			return nil, hint.With(fmt.Errorf("%s: witnesses[%d]: %q is not a member of the ledger's roster", s.File, i, w), "members: "+memberNames(st))
		}
	}
	intent := intentKinds[s.Kind]
	p := &Plan{Kind: s.Kind, Operator: s.Operator, Witnesses: s.Witnesses, HSM: RedactURI(s.HSM),
		IntentKind: intent, Required: st.Policy.Required(intent)}
	p.Ceremony = s.Ceremony
	if e.Request != nil {
		p.Ceremony = e.Request.Record.Ceremony
	}
	if p.Ceremony == "" {
		// Ceremony ids are unique in a ledger: two ceremonies in one
		// second get -2, -3 …
		base := fmt.Sprintf("%s-%s", s.Kind, e.now().Format("20060102T150405Z"))
		p.Ceremony = base
		for i := 2; ; i++ {
			if _, used := st.CeremonyUsed(p.Ceremony); !used {
				break
			}
			p.Ceremony = fmt.Sprintf("%s-%d", base, i)
		}
	} else if seq, used := st.CeremonyUsed(p.Ceremony); used && e.Request == nil {
		return nil, hint.With(fmt.Errorf("%s: ceremony: id %q is already used in this ledger (record %d)", s.File, p.Ceremony, seq),
			"ceremony ids are unique: choose a new id, or leave ceremony out for one made from the time")
	}
	switch s.Kind {
	case KindEnroll:
		p.Steps = []string{
			"open the token named in the script and read its manufacturer, model, serial and label",
			"witnesses compare the serial with the label on the device",
			"record hsm.enrolled with the approvals the policy asks for",
		}
	case KindGenerate, KindRotate:
		k := s.Key
		if !st.Policy.AlgorithmApproved(k.Type) {
			return nil, hint.With(fmt.Errorf("%s: key.type: %s is not on the policy's approved algorithms (policy.algorithms: %s)",
				s.File, k.Type, strings.Join(st.Policy.Algorithms, ", ")), "choose an approved algorithm; only a roster change can widen the policy")
		}
		if ks := keyByLabel(st, k.Label, true); ks != nil {
			return nil, hint.With(fmt.Errorf("%s: key.label: %q already names key %s (%s, record %d)", s.File, k.Label, ks.ID, ks.State, ks.CreatedSeq),
				"choose a new label; labels are never reused while a key is active")
		}
		p.Label = k.Label
		p.KeyID = e.requestKeyID()
		if p.KeyID == "" && e.plan != nil && e.plan.Label == k.Label {
			p.KeyID = e.plan.KeyID // the id the plan on the screen showed
		}
		if p.KeyID == "" {
			id := make([]byte, 16)
			if _, err := rand.Read(id); err != nil {
				return nil, fmt.Errorf("key id: %w", err)
			}
			p.KeyID = hex.EncodeToString(id)
		}
		extract := "never extractable"
		if k.Exportable || k.Backup {
			extract = "extractable only under a trusted wrapping key"
		}
		p.Steps = []string{
			fmt.Sprintf("record the intent to generate %s key %q (id %s)", k.Type, k.Label, p.KeyID),
			fmt.Sprintf("generate it inside the HSM: sensitive, %s", extract),
			"record its attributes and check value",
			"witnesses co-sign the closing checkpoint",
		}
	case KindExport, KindDestroy:
		ref := ""
		if s.Export != nil {
			ref = s.Export.Key
		} else {
			ref = s.Destroy.Key
		}
		ks, err := e.findKey(ref)
		if err != nil {
			return nil, err
		}
		e.target = ks
		p.KeyID, p.Label = ks.ID, ks.Label
		if s.Kind == KindExport {
			if !wrapsOnlyUnderTrusted(ks) {
				return nil, hint.With(fmt.Errorf("%s: export.key: key %q (%s) was generated non-extractable and can never be exported", s.File, ks.Label, ks.ID),
					"only keys generated with exportable: true can be exported")
			}
			if err := e.checkExportable(ks); err != nil {
				return nil, err
			}
			p.Steps = []string{
				fmt.Sprintf("record the export request: key %q to %s, purpose %q, until %s", ks.Label, s.Export.Recipient, s.Export.Purpose, s.Export.Expires),
				"the security officer imports the recipient's public key as a trusted wrapping key",
				fmt.Sprintf("wrap the key to the recipient (RSA-OAEP) into %s", s.Export.Output),
				"remove the trusted wrapping key; record the digest of the output",
				"witnesses co-sign the closing checkpoint",
			}
		} else {
			if s.Destroy.Confirm != "" && s.Destroy.Confirm != ks.Label {
				return nil, hint.With(fmt.Errorf("%s: destroy.confirm: %q is not the label of the key to destroy", s.File, s.Destroy.Confirm),
					"type the key's label in full to confirm")
			}
			p.Steps = []string{
				fmt.Sprintf("record the intent to destroy key %q (id %s): %s", ks.Label, ks.ID, s.Destroy.Reason),
				"destroy it on the HSM",
				"verify in a fresh session that nothing is found by id or by label",
				"record the verification; witnesses co-sign the closing checkpoint",
			}
			// Every copy outside this HSM is named, so that nobody
			// approves "cannot be undone" while a backup could undo it.
			for _, id := range ks.BackupsOutstanding {
				p.Steps = append(p.Steps, fmt.Sprintf("note: backup %s of this key is outstanding: the key can be restored from it until it is destroyed too (a destroy-backup ceremony); until then the key is destroyed on the HSM only", id))
			}
			if ex := ledger.ExportsOf(ks); len(ex) > 0 {
				p.Steps = append(p.Steps, fmt.Sprintf("note: the key was exported (records %s): those copies are outside the HSM and are not destroyed by this ceremony", joinAny(ex)))
			}
		}
	case KindBackup, KindRestore:
		if err := e.planBackup(p); err != nil {
			return nil, err
		}
	case KindReshare:
		if err := e.planReshare(p); err != nil {
			return nil, err
		}
	}
	if s.Kind == KindRotate || noHSM[s.Kind] {
		if err := e.planLifecycle(p); err != nil {
			return nil, err
		}
	}
	e.plan = p
	return p, nil
}

func (e *Engine) requestKeyID() string {
	if e.Request == nil {
		return ""
	}
	id, _ := e.Request.Record.Facts["key_id"].(string)
	return id
}

// findKey resolves the key an export or destroy names: it must be active;
// a compromised key may be destroyed but not exported.
func (e *Engine) findKey(ref string) (*ledger.KeyState, error) {
	field := "export.key"
	if e.Script.Kind == KindDestroy {
		field = "destroy.key"
	}
	return e.lookupKey(ref, field, keyUse{compromised: e.Script.Kind == KindDestroy})
}

// wrapsOnlyUnderTrusted reports whether the ledger recorded the key as
// generated extractable only under a trusted wrapping key: the condition
// for any export or backup of it.
func wrapsOnlyUnderTrusted(ks *ledger.KeyState) bool {
	attrs, _ := ks.Facts["attributes"].(map[string]any)
	return attrs != nil && attrs["extractable"] == true && attrs["wrap_with_trusted"] == true
}

// keyByLabel returns the key with that label; with liveOnly, only one that
// is active or being generated (labels of destroyed keys may be reused).
// Among several, the live or most recent one wins.
func keyByLabel(st *ledger.State, label string, liveOnly bool) *ledger.KeyState {
	var best *ledger.KeyState
	for _, ks := range st.Keys {
		if ks.Label != label {
			continue
		}
		live := ks.State == ledger.KeyActive || ks.State == ledger.KeyGenerating
		if liveOnly && !live {
			continue
		}
		if best == nil || live || ks.CreatedSeq > best.CreatedSeq {
			best = ks
		}
	}
	return best
}

func memberNames(st *ledger.State) string {
	var n []string
	for _, m := range st.Roster.Members {
		n = append(n, m.Name)
	}
	return strings.Join(n, ", ")
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
	t, err := OpenToken(e.Script.HSM, e.Prompt)
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

// hsmFacts is how every record names the HSM it acted on.
func hsmFacts(t *hsm.Token) map[string]any {
	i := t.Info()
	return map[string]any{"manufacturer": i.Manufacturer, "model": i.Model, "serial": i.Serial, "label": i.Label, "firmware": i.Firmware}
}

// Draft builds the record that opens the ceremony (the intent, or the
// single record of an enrolment). Approvals sign exactly this record.
func (e *Engine) Draft() (*ledger.Record, error) {
	if e.plan == nil {
		if _, err := e.Plan(); err != nil {
			return nil, err
		}
	}
	s, p := e.Script, e.plan
	facts := map[string]any{}
	if !noHSM[s.Kind] {
		if err := e.OpenHSM(); err != nil {
			return nil, err
		}
		facts["hsm"] = hsmFacts(e.token)
	}
	if s.Notes != "" {
		facts["notes"] = s.Notes
	}
	if len(s.Witnesses) > 0 {
		facts["witnesses"] = toAny(s.Witnesses)
	}
	if s.SHA256 != "" {
		facts["script_sha256"] = s.SHA256
	}
	switch s.Kind {
	case KindEnroll:
		if mi, err := e.token.Module().Info(); err == nil {
			facts["module"] = map[string]any{"manufacturer": mi.Manufacturer, "description": mi.Description,
				"library_version": mi.LibraryVersion, "cryptoki_version": mi.CryptokiVersion, "path": mi.Path}
		}
	case KindGenerate, KindRotate:
		k := s.Key
		if _, err := e.token.FindKey(nil, k.Label); err == nil {
			return nil, hint.With(fmt.Errorf("%s: key.label: token %q already holds a key labelled %q", s.File, e.token.Info().Label, k.Label),
				"choose a new label; a key on the HSM that the ledger does not know must be investigated, not shadowed")
		} else if !errors.Is(err, hsm.ErrKeyNotFound) {
			return nil, err
		}
		ext := k.Exportable || k.Backup
		facts["key_id"] = p.KeyID
		facts["label"] = k.Label
		facts["type"] = k.Type
		facts["owner"] = k.Owner
		facts["purpose"] = k.Purpose
		if k.Rotation.Days > 0 {
			facts["rotation_days"] = int64(k.Rotation.Days)
		}
		facts["exportable"] = k.Exportable
		facts["backup_planned"] = k.Backup
		facts["planned_attributes"] = map[string]any{"sensitive": true, "extractable": ext, "wrap_with_trusted": ext, "token": true, "private": true, "modifiable": false}
	case KindExport:
		x := s.Export
		pub, err := loadRecipientKey(x.RecipientKey)
		if err != nil {
			return nil, fmt.Errorf("%s: export.recipient_key: %w", s.File, err)
		}
		spki, _, err := hsm.Fingerprints(pub)
		if err != nil {
			return nil, fmt.Errorf("%s: export.recipient_key: %w", s.File, err)
		}
		facts["key_id"] = p.KeyID
		facts["label"] = p.Label
		facts["recipient"] = x.Recipient
		facts["recipient_key_spki_sha256"] = spki
		facts["recipient_key_bits"] = int64(pub.N.BitLen())
		e.recipient = pub
		facts["purpose"] = x.Purpose
		facts["expires"] = x.Expires.String()
		facts["output"] = x.Output
	case KindDestroy:
		facts["key_id"] = p.KeyID
		facts["label"] = p.Label
		facts["reason"] = s.Destroy.Reason
		if ks := e.target; ks != nil {
			if len(ks.BackupsOutstanding) > 0 {
				facts["backups"] = toAny(ks.BackupsOutstanding)
			}
			if ex := ledger.ExportsOf(ks); len(ex) > 0 {
				facts["exports"] = ex
			}
		}
	case KindBackup, KindRestore:
		if err := e.draftBackup(facts); err != nil {
			return nil, err
		}
	case KindReshare:
		if err := e.draftReshare(facts); err != nil {
			return nil, err
		}
	}
	if s.Kind == KindRotate || noHSM[s.Kind] {
		if err := e.draftLifecycle(facts); err != nil {
			return nil, err
		}
	}
	t := e.now()
	if e.Request != nil {
		t = e.Request.Record.Time
	}
	rec := e.Ledger.Draft(p.IntentKind, p.Ceremony, s.Operator, facts, t)
	if e.Request != nil {
		want := e.Request.Digest // checked against its record when read
		got, err := rec.SigningDigest()
		if err != nil {
			return nil, err
		}
		if got != want {
			return nil, hint.With(fmt.Errorf("request %s no longer matches: the script or the ledger changed since it was written (request %s, now %s)",
				e.Request.File, short(want), short(got)), "write a new request with --request-out and have it approved again")
		}
	}
	return rec, nil
}

func joinAny(l []any) string {
	var ss []string
	for _, v := range l {
		ss = append(ss, fmt.Sprint(v))
	}
	return strings.Join(ss, ", ")
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	return d
}

// Approve gathers the approvals the policy asks for the draft: the carried
// approval files first, then members present, until the quorum is met. It
// refuses approvals for another request, by non-members, by the wrong role
// or by the operator where the policy forbids it.
func (e *Engine) Approve(rec *ledger.Record) ([]ledger.Approval, error) {
	st := e.Ledger.State()
	req := st.Policy.Required(rec.Kind)
	digest, err := rec.SigningDigest()
	if err != nil {
		return nil, err
	}
	var out []ledger.Approval
	have := map[string]bool{}
	counts := 0
	eligible := func(name string) error { return eligible(st, req, rec.Kind, rec.Actor, name) }
	for _, af := range e.Approvals {
		if af.Request != digest {
			return nil, hint.With(fmt.Errorf("approval %s was signed for request %s, not for this one (%s)", af.File, short(af.Request), short(digest)),
				"the approver signed another request: carry this request to them and have it signed again")
		}
		if err := eligible(af.Member); err != nil {
			return nil, fmt.Errorf("approval %s: %w", af.File, err)
		}
		m := st.Roster.Member(af.Member)
		pub, err := m.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("approval %s: %w", af.File, err)
		}
		if err := sign.Verify(pub, ledger.NamespaceApproval, []byte(digest), []byte(af.Signature)); err != nil {
			return nil, fmt.Errorf("approval %s: not a valid signature by %s: %w", af.File, af.Member, err)
		}
		if have[af.Member] {
			return nil, fmt.Errorf("approval %s: %s has already approved", af.File, af.Member)
		}
		have[af.Member] = true
		out = append(out, ledger.Approval{Member: af.Member, Signature: af.Signature})
		counts++
	}
	names := make([]string, 0, len(e.Signers))
	for n := range e.Signers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if counts >= req.Count {
			break
		}
		if have[n] || eligible(n) != nil {
			continue
		}
		a, err := ledger.Approve(rec, n, e.Signers[n])
		if err != nil {
			return nil, err
		}
		e.say("approved by %s", n)
		have[n] = true
		out = append(out, a)
		counts++
	}
	if counts < req.Count {
		return nil, tooFewApprovals(rec.Kind, req, have)
	}
	return out, nil
}

// eligible says why member name may not approve the operator's kind, or nil.
func eligible(st *ledger.State, req ledger.Requirement, kind, operator, name string) error {
	m := st.Roster.Member(name)
	if m == nil {
		return fmt.Errorf("%s is not a member of the roster", name)
	}
	if name == operator && !req.SelfApproval {
		return fmt.Errorf("%s is the operator and may not approve their own %s", name, kind)
	}
	if !m.HasRole(req.Roles...) {
		return fmt.Errorf("%s holds none of the roles %s that %s requires (has %s)", name, strings.Join(req.Roles, "/"), kind, strings.Join(m.Roles, ", "))
	}
	return nil
}

// quorumPossible checks, without signing, that the members present and
// the approval files can meet the policy's quorum for the intent.
func (e *Engine) quorumPossible() error {
	st := e.Ledger.State()
	req := st.Policy.Required(e.plan.IntentKind)
	who := map[string]bool{}
	for _, af := range e.Approvals {
		if err := eligible(st, req, e.plan.IntentKind, e.Script.Operator, af.Member); err != nil {
			return fmt.Errorf("approval %s: %w", af.File, err)
		}
		who[af.Member] = true
	}
	for n := range e.Signers {
		if eligible(st, req, e.plan.IntentKind, e.Script.Operator, n) == nil {
			who[n] = true
		}
	}
	if len(who) >= req.Count {
		return nil
	}
	return tooFewApprovals(e.plan.IntentKind, req, who)
}

// tooFewApprovals says the quorum is not met, naming who can approve.
func tooFewApprovals(kind string, req ledger.Requirement, approvers map[string]bool) error {
	names := slices.Sorted(maps.Keys(approvers))
	got := "none"
	if len(names) > 0 {
		got = strings.Join(names, ", ")
	}
	return hint.With(fmt.Errorf("too few approvals for %s: the policy asks %d by %s, have %d (%s)",
		kind, req.Count, strings.Join(req.Roles, "/"), len(names), got),
		"add --key NAME=REF for an approver present, or --approval FILE signed with custos approve")
}

// signer returns the key of a member present, or a clear error.
func (e *Engine) signer(name, why string) (sign.Signer, error) {
	s := e.Signers[name]
	if s == nil {
		return nil, hint.With(fmt.Errorf("no key for %s, who must sign %s", name, why), "add --key "+name+"=REF")
	}
	return s, nil
}

// Run performs the whole ceremony: plan, draft, approvals, intent, HSM
// operation, outcome and close. Nothing is recorded unless the HSM could be
// opened and the quorum is met.
func (e *Engine) Run() (*Result, error) {
	defer e.Close()
	// One ceremony at a time on a ledger: held from the plan to the close
	// (or abort), and the ledger read again after it, since another
	// ceremony may have appended while this one waited.
	name := e.Script.Ceremony
	if name == "" { // the plan names it, once the lock is held
		name = e.Script.Kind + " (" + e.Script.File + ")"
	}
	unlock, err := lockLedger(e.Ledger, name, e.LockWait, e.Progress)
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
