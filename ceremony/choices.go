// The choices a script may make on a ledger: which tokens, keys, members
// and key types Plan would accept, so that a front end building a script
// (the TUI's form) offers only those. Plan still checks the script; these
// only spare the custodian a choice it would refuse.

package ceremony

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"custos/hsm"
	"custos/ledger"
)

// EnrolledHSM is a token the ledger enrolled (hsm.enrolled).
type EnrolledHSM struct {
	Serial, Label, Model string
	Seq                  int64 // the record that enrolled it
	// URI names the token by label and serial, with the module its
	// enrolment recorded (else CUSTOS_PKCS11_MODULE or a default) and
	// pinSource when one was given; without, the PIN is asked.
	URI string
}

// EnrolledHSMs are the ledger's enrolled tokens, in the order they were
// enrolled, each with the URI a script names it by.
func EnrolledHSMs(l *ledger.Ledger, pinSource string) ([]EnrolledHSM, error) {
	st := l.State()
	var out []EnrolledHSM
	for serial, seq := range st.HSMs {
		rec, err := l.Record(seq)
		if err != nil {
			return nil, err
		}
		h, _ := rec.Facts["hsm"].(map[string]any)
		label, _ := h["label"].(string)
		model, _ := h["model"].(string)
		// The same URI resume builds from an intent's facts.hsm.
		uri, err := resumeURI(l, &ledger.Record{Seq: seq, Kind: rec.Kind, Facts: map[string]any{"hsm": h}}, pinSource)
		if err != nil {
			return nil, err
		}
		out = append(out, EnrolledHSM{Serial: serial, Label: label, Model: model, Seq: seq, URI: uri})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// Operators are the members who may operate a ceremony of that kind.
func Operators(st *ledger.State, kind string) []string {
	roles := ledger.KindRoles(intentKinds[kind])
	var out []string
	for _, m := range st.Roster.Members {
		if m.HasRole(roles...) {
			out = append(out, m.Name)
		}
	}
	return out
}

// ShareHolders are the members who may hold a share of a backup.
func ShareHolders(st *ledger.State) []string {
	roles := holderRoles(&st.Policy)
	var out []string
	for _, m := range st.Roster.Members {
		if m.HasRole(roles...) {
			out = append(out, m.Name)
		}
	}
	return out
}

// ApprovedKeyTypes are the key types a generate may name: the policy's
// approved algorithms this HSM layer can make, in the scripts' order.
func ApprovedKeyTypes(st *ledger.State) []string {
	var out []string
	for _, t := range keyTypeNames() {
		if st.Policy.AlgorithmApproved(t) {
			out = append(out, t)
		}
	}
	return out
}

// LabelFree reports whether a new key may take label: no active key (or
// one being generated) has it.
func LabelFree(st *ledger.State, label string) bool { return keyByLabel(st, label, true) == nil }

// KeysFor are the keys a ceremony of that kind may name, oldest first:
// active ones; for an export, secret keys generated exportable; for a
// backup, keys generated for backup that are not ed25519; for a sign,
// key pairs; a compromised key only for a destroy or a rotation.
func KeysFor(st *ledger.State, kind string) []*ledger.KeyState {
	var out []*ledger.KeyState
	for _, ks := range st.Keys {
		if ks.State != ledger.KeyActive || (kind != KindDestroy && kind != KindRotate && compromisedAt(ks) > 0) {
			continue
		}
		kt, err := hsm.ParseKeyType(ks.Type)
		switch kind {
		case KindExport:
			if !wrapsOnlyUnderTrusted(ks) || err != nil || !kt.Secret() {
				continue
			}
		case KindBackup:
			if !wrapsOnlyUnderTrusted(ks) || ks.Type == string(hsm.Ed25519) {
				continue
			}
		case KindSign:
			if err != nil || kt.Secret() {
				continue
			}
		case KindDestroy, KindRotate, KindCompromise:
		default:
			continue
		}
		out = append(out, ks)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedSeq < out[j].CreatedSeq })
	return out
}

// PastRecipients are the recipients earlier exports named, sorted.
func PastRecipients(l *ledger.Ledger) []string {
	var out []string
	for _, ks := range l.State().Keys {
		for _, ev := range ks.History {
			if ev.Kind != "key.exported" {
				continue
			}
			if rec, err := l.Record(ev.Seq); err == nil {
				if r, _ := rec.Facts["recipient"].(string); r != "" && !slices.Contains(out, r) {
					out = append(out, r)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// CheckRecipientKey reads an export's recipient key (an RSA public key,
// PEM: PUBLIC KEY or CERTIFICATE) as the export will, and returns its size.
func CheckRecipientKey(path string) (bits int, err error) {
	pub, err := loadRecipientKey(path)
	if err != nil {
		return 0, err
	}
	return pub.N.BitLen(), nil
}

// CheckSignInput says why a sign ceremony would refuse path as the file
// it signs (not a regular file, too large, unreadable), or nil.
func CheckSignInput(path string) error {
	return statInput("the file to sign", path)
}

// CheckOutputFree says why a ceremony would refuse path as an output (it,
// or a half-written copy, exists), or nil: custos never writes over a file.
func CheckOutputFree(path string) error { return refuseOutput(path) }

// RestorableBackup is a backup a restore may name: not destroyed, its key
// in the ledger, with the files its shares were written to.
type RestorableBackup struct {
	ID, KeyLabel, KeyState string
	M, N                   int
	Media                  string   // where the backup wrote the wrapped key
	Files                  []string // the age file of share 1, 2 … as written ("" for a card only)
	Holders                []string // holder of share 1, 2 …
}

// RestorableBackups are the ledger's backups a restore may name, in the
// order they were made.
func RestorableBackups(l *ledger.Ledger) ([]RestorableBackup, error) {
	st := l.State()
	var out []RestorableBackup
	for id := range st.Backups {
		if bs, ok := st.Backup(id); !ok || bs.Destroyed != 0 {
			continue
		}
		b, err := LoadBackup(l, id)
		if err != nil {
			return nil, err
		}
		ks := st.Keys[b.KeyID]
		if ks == nil || (ks.State != ledger.KeyActive && ks.State != ledger.KeyDestroyed) {
			continue
		}
		split, err := l.Record(b.Seq)
		if err != nil {
			return nil, err
		}
		set, err := l.Record(b.SharesSeq)
		if err != nil {
			return nil, err
		}
		r := RestorableBackup{ID: id, KeyLabel: ks.Label, KeyState: ks.State, M: b.M, N: b.N, Holders: b.Holders}
		r.Media, _ = split.Facts["media"].(string)
		r.Files = make([]string, b.N)
		hs, _ := set.Facts["holders"].([]any)
		for _, h := range hs {
			hm, _ := h.(map[string]any)
			f, _ := hm["file"].(string)
			if i, ok := factInt(hm["index"]); ok && i >= 1 && i <= b.N {
				r.Files[i-1] = f
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return st.Backups[out[i].ID] < st.Backups[out[j].ID] })
	return out, nil
}

// EnrollURI is the hsm: line of an enroll script for a token named by
// its label (and serial, when known): the module the PKCS#11 layer would
// load (CUSTOS_PKCS11_MODULE, else the first default module present) and
// the PIN source, as a URI ParseURI reads back. A PIN value is never put
// in it.
func EnrollURI(label, serial, pinSource string) (string, error) {
	if strings.TrimSpace(label) == "" {
		return "", fmt.Errorf("the token's label is required")
	}
	u := &hsm.URI{Token: label, Serial: serial, PINSource: pinSource}
	if os.Getenv(ModuleFromEnv) == "" {
		for _, p := range DefaultModules {
			if _, err := os.Stat(p); err == nil {
				u.ModulePath = p
				break
			}
		}
	}
	s := u.String()
	if _, err := hsm.ParseURI(s); err != nil {
		return "", err
	}
	return s, nil
}

// NextCRLNumber is one more than the number of the last CRL the key
// labelled label signed (its key.sign.intent records the number), or 1:
// what the TUI's form offers, since a CRL's number only grows.
func NextCRLNumber(l *ledger.Ledger, label string) int64 {
	st := l.State()
	for _, ks := range st.Keys {
		if ks.Label != label || ks.State != ledger.KeyActive {
			continue
		}
		for i := len(ks.History) - 1; i >= 0; i-- {
			ev := ks.History[i]
			if ev.Kind != "key.sign.intent" {
				continue
			}
			rec, err := l.Record(ev.Seq)
			if err != nil || rec.Facts["sign_kind"] != SignCRL {
				continue
			}
			sum, _ := rec.Facts["summary"].(map[string]any)
			if n, ok := sum["number"].(json.Number); ok {
				if v, err := n.Int64(); err == nil && v >= 0 {
					return v + 1
				}
			}
		}
	}
	return 1
}
