// Planning a ceremony: what Run will do, shown before anything happens,
// and the keys and members the script names, found in the ledger.

package ceremony

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"custos/internal/hint"
	"custos/ledger"
)

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
	KindSign:          "key.sign.intent",
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
		if err := st.Policy.KeyVocabulary("key.", k.Environment, k.Classification); err != nil {
			return nil, hint.With(fmt.Errorf("%s: %w", s.File, err),
				"take one of the policy's words (custos report shows them under policy); only a roster ceremony changes them")
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
			p.KeyID = newKeyID(st.LedgerID, p.Ceremony, k.Label)
		}
		extract := "never extractable"
		if k.Exportable || k.Backup {
			extract = "extractable only under a trusted wrapping key"
		}
		record := "record its attributes and check value"
		if o := k.PublicKey; o != nil {
			var to []string
			if o.PEM != "" {
				to = append(to, o.PEM+" (PEM SPKI)")
			}
			if o.SSH != "" {
				to = append(to, o.SSH+" (OpenSSH)")
			}
			record = "write its public key to " + strings.Join(to, " and ") + " and read it back; record its attributes, fingerprints and the files' SHA-256"
		}
		p.Steps = []string{
			fmt.Sprintf("record the intent to generate %s key %q (id %s)", k.Type, k.Label, p.KeyID),
			fmt.Sprintf("generate it inside the HSM: sensitive, %s", extract),
			record,
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
	case KindSign:
		if err := e.planSign(p); err != nil {
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

// newKeyID is the id of a key generated by ceremony under label: derived,
// not drawn, so that the plan a dry run prints (or the minutes, or a
// request carried to an approver) names the id that is then recorded.
// Ceremony ids are unique in a ledger, so no two keys share one; ledger
// ids keep two ledgers' keys apart on a shared token.
func newKeyID(ledgerID, ceremony, label string) string {
	sum := sha256.Sum256([]byte("custos key id v1\x00" + ledgerID + "\x00" + ceremony + "\x00" + label))
	return hex.EncodeToString(sum[:16])
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
