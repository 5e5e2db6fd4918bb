package minutes

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"custos/ceremony"
	"custos/ledger"
)

// Entry is a record of the ceremony and its digest, as verify replayed it.
type Entry struct {
	Rec    *ledger.Record
	Digest string
}

// ErrNoCeremony is returned when the ledger holds no record of the
// ceremony asked for.
var ErrNoCeremony = errors.New("no such ceremony in the ledger")

// ceremonyKinds names a ceremony by the kind of the record that opens it.
var ceremonyKinds = map[string]string{
	"hsm.enrolled":        ceremony.KindEnroll,
	"key.generate.intent": ceremony.KindGenerate,
	"key.export.intent":   ceremony.KindExport,
	"key.destroy.intent":  ceremony.KindDestroy,
	"key.sign.intent":     ceremony.KindSign,
	"backup.intent":       ceremony.KindBackup,
	"key.restore.intent":  ceremony.KindRestore,
	"key.compromised":     ceremony.KindCompromise,
	"roster.changed":      ceremony.KindRoster,
	"review.signed":       ceremony.KindReview,
	"backup.destroyed":    ceremony.KindDestroyBackup,
	"ledger.genesis":      "genesis",
	"share.verified":      "share check",
}

// FromLedger makes the minutes of ceremony id from its records (in
// order, as a verified replay gave them) and the ledger's state (for the
// members' roles): the same document as FromPlan, filled.
func FromLedger(st *ledger.State, id string, recs []Entry) (*Doc, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("ceremony %q: %w", id, ErrNoCeremony)
	}
	open := recs[0].Rec
	f := open.Facts
	d := &Doc{Filled: true, Ledger: open.Ledger, Ceremony: id, Operator: open.Actor}
	d.Kind = ceremonyKinds[open.Kind]
	if d.Kind == "" {
		d.Kind = open.Kind
	}
	if _, ok := f["rotates"].(string); ok && open.Kind == "key.generate.intent" {
		d.Kind = ceremony.KindRotate
	}
	d.Witnesses = names(f["witnesses"])
	d.Notes, _ = f["notes"].(string)
	if h, ok := f["hsm"].(map[string]any); ok {
		d.HSM = fmt.Sprintf("%s (serial %s)", str(h["label"]), str(h["serial"]))
	}
	if sum, ok := f["script_sha256"].(string); ok {
		v := digestValue("script SHA-256", sum)
		v.Note = fmt.Sprintf("recorded in record %d (script_sha256)", open.Seq)
		d.ScriptSHA256 = &v
	} else {
		d.ScriptSHA256 = &Value{Label: "script SHA-256", Plain: "not recorded", Note: "this opening carries no script_sha256"}
	}
	d.Required = requirement(st.Policy.Required(open.Kind))
	for _, line := range ceremony.Readable(f) {
		if skipPurpose(line) {
			continue
		}
		d.Purpose = append(d.Purpose, line)
	}

	var approvers []string
	for _, a := range open.Approvals {
		roles := ""
		if m := st.Roster.Member(a.Member); m != nil {
			roles = strings.Join(m.Roles, ", ")
		}
		d.Approvals = append(d.Approvals, Approval{Member: a.Member, Roles: roles, Carried: a.Carried})
		approvers = append(approvers, a.Member)
	}
	if len(open.Approvals) > 0 {
		if sd, err := open.SigningDigest(); err == nil {
			v := digestValue("request digest (what the approvals sign)", sd)
			v.Note = "custos approve showed these words to each approver"
			d.Request = &v
		}
	}

	closed, settled := false, false
	for i, e := range recs {
		r := e.Rec
		d.Steps = append(d.Steps, Step{N: i + 1, What: describe(r), Who: who(r), Seq: r.Seq, Kind: r.Kind,
			Time: r.Time.UTC().Format("2006-01-02 15:04:05Z"), Digest: groups(strings.TrimPrefix(e.Digest, "sha256:"))})
		d.Values = append(d.Values, values(r)...)
		if i == 0 {
			v := digestValue(fmt.Sprintf("opening record digest (record %d)", r.Seq), e.Digest)
			d.Values = append(d.Values, v)
		}
		if b, _ := r.Facts["resumed"].(bool); b {
			d.Exceptions = append(d.Exceptions, fmt.Sprintf("record %d (%s) was written by custos resume at %s: the ceremony was interrupted and its outcome settled from what the HSM held",
				r.Seq, r.Kind, r.Time.UTC().Format("15:04:05Z")))
		}
		switch r.Kind {
		case "ceremony.aborted":
			settled = true
			d.Exceptions = append(d.Exceptions, fmt.Sprintf("record %d: the ceremony was aborted: %s", r.Seq, str(r.Facts["reason"])))
		case "ceremony.closed":
			closed = true
			cp, _ := r.Facts["checkpoint"].(map[string]any)
			v := digestValue("checkpoint head", str(cp["head"]))
			v.Note = fmt.Sprintf("ledger %s, %s records, commit %s; closed in record %d", str(cp["ledger"]), str(cp["size"]), str(cp["commit"]), r.Seq)
			d.Checkpoint = &v
			h := digestValue(fmt.Sprintf("ledger head after the close (record %d)", r.Seq), e.Digest)
			h.Note = "give it to custos verify --trusted-head in later audits"
			d.Head = &h
			signed := map[string]bool{}
			for _, w := range objectsOf(r.Facts["witnessed"]) {
				signed[str(w["member"])] = true
			}
			for _, w := range d.Witnesses {
				if !signed[w] {
					d.Exceptions = append(d.Exceptions, fmt.Sprintf("witness %s named by the opening did not sign the checkpoint (record %d)", w, r.Seq))
				}
			}
		default:
			if i > 0 {
				settled = true
			}
		}
	}
	if spec := open.Kind; strings.HasSuffix(spec, ".intent") && !settled {
		d.Exceptions = append(d.Exceptions, fmt.Sprintf("the intent (record %d) has no outcome yet: the ceremony was interrupted; run custos resume", open.Seq))
	}
	if !closed {
		d.Exceptions = append(d.Exceptions, "the ceremony is not closed: no checkpoint was signed")
	}
	d.Signatures = signatures(open.Actor, d.Witnesses, approvers, ledger.Requirement{})
	return d, nil
}

// skipPurpose drops lines shown elsewhere on the minutes.
func skipPurpose(line string) bool {
	for _, p := range []string{"witnesses:", "script_sha256:", "notes:"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func names(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		out = append(out, str(x))
	}
	return out
}

func objectsOf(v any) []map[string]any {
	l, _ := v.([]any)
	var out []map[string]any
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// who is the actor of a record, with its approvers or witnesses.
func who(r *ledger.Record) string {
	s := r.Actor
	var ap []string
	for _, a := range r.Approvals {
		ap = append(ap, a.Member)
	}
	if len(ap) > 0 {
		s += "; approved by " + strings.Join(ap, ", ")
	}
	if r.Kind == "ceremony.closed" {
		var w []string
		for _, o := range objectsOf(r.Facts["witnessed"]) {
			w = append(w, str(o["member"]))
		}
		if len(w) > 0 {
			s += "; witnessed by " + strings.Join(w, ", ")
		}
	}
	return s
}

// describe says in words what a record records.
func describe(r *ledger.Record) string {
	f := r.Facts
	label := str(f["label"])
	switch r.Kind {
	case "hsm.enrolled":
		h, _ := f["hsm"].(map[string]any)
		return fmt.Sprintf("HSM enrolled: %s %s, serial %s, label %s", str(h["manufacturer"]), str(h["model"]), str(h["serial"]), str(h["label"]))
	case "key.generate.intent":
		s := fmt.Sprintf("intent to generate %s key %q (id %s)", str(f["type"]), label, str(f["key_id"]))
		if rot := str(f["rotates_label"]); rot != "" {
			s += ", the next version of " + rot
		}
		return s
	case "key.generated":
		return "generated inside the HSM; its attributes and check value recorded"
	case "key.retirement.scheduled":
		return fmt.Sprintf("key %q scheduled to retire on %s; successor %s", label, str(f["retire_on"]), str(f["successor"]))
	case "key.export.intent":
		return fmt.Sprintf("export request: key %q to %s, purpose %q, until %s", label, str(f["recipient"]), str(f["purpose"]), str(f["expires"]))
	case "key.exported":
		s := fmt.Sprintf("wrapped to %s (%s) into %s", str(f["recipient"]), str(f["mechanism"]), str(f["output"]))
		if b, _ := f["trusted_wrapping_key_removed"].(bool); b {
			s += "; the trusted wrapping key removed"
		}
		return s
	case "key.sign.intent":
		return fmt.Sprintf("intent to sign with key %q: %s, purpose %q, with %s", label, str(f["sign_kind"]), str(f["purpose"]), str(f["mechanism"]))
	case "key.signed":
		var outs []string
		for _, o := range objectsOf(f["outputs"]) {
			outs = append(outs, str(o["file"]))
		}
		return fmt.Sprintf("signed inside the HSM (%s); wrote %s", str(f["mechanism"]), strings.Join(outs, ", "))
	case "key.destroy.intent":
		return fmt.Sprintf("intent to destroy key %q (id %s): %s", label, str(f["key_id"]), str(f["reason"]))
	case "key.destroyed":
		return "destroyed on the HSM; absence verified in a fresh session"
	case "backup.intent":
		return fmt.Sprintf("intent to back up key %q as %s: %s of %s among %s", label, str(f["backup_id"]), str(f["m"]), str(f["n"]), strings.Join(names(f["holders"]), ", "))
	case "backup.split":
		return fmt.Sprintf("wrapped and split %s of %s; %s of %s combinations read back", str(f["m"]), str(f["n"]), str(f["combinations_checked"]), str(f["combinations_total"]))
	case "key.restore.intent":
		return fmt.Sprintf("intent to restore key %q from backup %s", label, str(f["backup_id"]))
	case "key.restored":
		var used []string
		for _, s := range objectsOf(f["shares_used"]) {
			used = append(used, fmt.Sprintf("%s (share %s)", str(s["holder"]), str(s["index"])))
		}
		return fmt.Sprintf("restored from the shares of %s; matched: %s", strings.Join(used, ", "), strings.Join(names(f["matched"]), ", "))
	case "roster.changed":
		return "roster changed: " + str(f["reason"])
	case "review.signed":
		return fmt.Sprintf("access review %s signed: %s", str(f["period"]), str(f["findings"]))
	case "key.compromised":
		return fmt.Sprintf("key %q reported compromised by %s: %s", label, str(f["reported_by"]), str(f["reason"]))
	case "backup.destroyed":
		return fmt.Sprintf("backup %s destroyed: media %s; %d shares attested destroyed", str(f["backup_id"]), str(f["media_destroyed"]), len(objectsOf(f["attested"])))
	case "share.verified":
		return fmt.Sprintf("share %s of backup %s checked by %s", str(f["index"]), str(f["backup_id"]), str(f["holder"]))
	case "ceremony.aborted":
		return "aborted: " + str(f["reason"])
	case "ceremony.closed":
		return "closed; the checkpoint co-signed"
	case "ledger.genesis":
		return "the ledger founded: roster and policy"
	}
	return r.Kind
}

// values are the values a record carries that are read aloud.
func values(r *ledger.Record) []Value {
	f := r.Facts
	var out []Value
	add := func(label, fact string) {
		if s, ok := f[fact].(string); ok && s != "" {
			v := digestValue(label, s)
			v.Note = fmt.Sprintf("record %d, %s", r.Seq, fact)
			out = append(out, v)
		}
	}
	switch r.Kind {
	case "hsm.enrolled":
		h, _ := f["hsm"].(map[string]any)
		out = append(out, Value{Label: "HSM serial", Plain: str(h["serial"]), Note: fmt.Sprintf("record %d; compare with the label on the device", r.Seq)})
	case "key.generate.intent", "key.export.intent", "key.destroy.intent", "backup.intent", "key.restore.intent", "key.compromised", "backup.destroyed":
		add("key id", "key_id")
		add("recipient key SPKI SHA-256", "recipient_key_spki_sha256")
	case "key.retirement.scheduled":
		add("key id retiring on "+str(f["retire_on"]), "key_id")
	case "key.generated", "key.restored":
		add("check value (AES-CMAC)", "kcv_aes_cmac")
		add("check value (AES-ECB)", "kcv_aes_ecb")
		add("public key SPKI SHA-256", "spki_sha256")
		add("SSH fingerprint", "ssh_fingerprint")
	case "key.exported":
		add("output SHA-256", "output_sha256")
	case "key.sign.intent":
		add("key id", "key_id")
		add("TBS SHA-256 (what the approvals sign for)", "tbs_sha256")
		for _, in := range objectsOf(f["inputs"]) {
			if s := str(in["sha256"]); s != "" {
				v := digestValue(fmt.Sprintf("input %s (%s) SHA-256", str(in["file"]), str(in["role"])), s)
				v.Note = fmt.Sprintf("record %d", r.Seq)
				out = append(out, v)
			}
		}
	case "key.signed":
		add("TBS SHA-256 signed", "tbs_sha256")
		for _, o := range objectsOf(f["outputs"]) {
			v := digestValue(fmt.Sprintf("output %s SHA-256", str(o["file"])), str(o["sha256"]))
			v.Note = fmt.Sprintf("record %d; compared with sha256sum of the file", r.Seq)
			out = append(out, v)
		}
	case "key.destroyed":
		v, _ := f["verification"].(map[string]any)
		out = append(out, Value{Label: "absence verified", Note: fmt.Sprintf("record %d", r.Seq),
			Plain: fmt.Sprintf("found by id: %s, by label: %s, fresh session: %s", str(v["found_by_id"]), str(v["found_by_label"]), yesno(v["fresh_session"] == true))})
	case "backup.split":
		add("wrapped key SHA-256", "blob_sha256")
		for _, h := range objectsOf(f["holders"]) {
			out = append(out, commitment(fmt.Sprintf("share commitment of %s (share %s)", str(h["member"]), str(h["index"])), str(h["commitment"]), r.Seq))
		}
	}
	return out
}

// commitment shows a share commitment ("sha256:<hex>:<hex>") as its two
// parts in groups of 4.
func commitment(label, c string, seq int64) Value {
	v := Value{Label: label, Note: fmt.Sprintf("record %d", seq)}
	parts := strings.Split(strings.TrimPrefix(c, "sha256:"), ":")
	for _, p := range parts {
		if _, err := hex.DecodeString(p); err != nil || p == "" {
			v.Plain = c
			return v
		}
	}
	for i, p := range parts {
		if i > 0 {
			v.Hex = append(v.Hex, ":")
		}
		v.Hex = append(v.Hex, groups(p)...)
	}
	return v
}
