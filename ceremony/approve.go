// Drafting a ceremony's intent record and gathering its approvals:
// who is eligible, whether a quorum is still possible, and each
// member's signer.

package ceremony

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"custos/hsm"
	"custos/internal/hint"
	"custos/ledger"
	"custos/sign"
)

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
		if err := e.checkCapabilities(); err != nil { // capabilities.go
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
		if v := s.Validation; v != nil {
			val := map[string]any{"program": v.Program, "certificate": v.Certificate}
			if v.Level != "" {
				val["level"] = string(v.Level)
			}
			facts["validation"] = val
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
		if k.Environment != "" {
			facts["environment"] = k.Environment
		}
		if k.Classification != "" {
			facts["classification"] = k.Classification
		}
		facts["planned_attributes"] = map[string]any{"sensitive": true, "extractable": ext, "wrap_with_trusted": ext, "token": true, "private": true, "modifiable": false}
		if k.PublicKey != nil {
			facts["public_key_out"] = k.PublicKey.facts()
		}
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
	case KindSign:
		if err := e.draftSign(facts); err != nil {
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
		out = append(out, ledger.Approval{Member: af.Member, Signature: af.Signature, Carried: af.Digest})
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
