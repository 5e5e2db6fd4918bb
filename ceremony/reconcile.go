package ceremony

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"custos/hsm"
	"custos/internal/media"
	"custos/ledger"
)

// settle looks at the token when the HSM operation of an intent did not
// end as planned — the operation failed (a PKCS#11 error, perhaps one
// reported after the token acted) or the process was interrupted — and
// returns the record that says what the token holds: the intent's outcome
// when the operation in fact happened, ceremony.aborted when it did not.
// What is recorded is found by looking (by id and by label, both halves
// of a pair), never assumed from which call failed. It also removes what
// the operation must not leave behind (a trusted wrapping key, a partial
// or mismatched key the ledger never named). When the token cannot be read
// or cleaned it returns an error and nothing is to be recorded: the intent
// stays open for custos resume.
func (e *Engine) settle(intent *ledger.Record, cause string, resumed bool) (*ledger.Record, error) {
	// First what no record can name: objects a call cut off half-way
	// left with neither id nor label (see hsm.Token.RemoveUnnamed).
	removed, err := e.token.RemoveUnnamed()
	if err != nil {
		return nil, err
	}
	rec, err := e.settleIntent(intent, cause, resumed)
	if err != nil || len(removed) == 0 {
		return rec, err
	}
	note := unnamedNote(e.token.Info().Label, removed)
	if rec.Kind == "ceremony.aborted" {
		rec.Facts["reason"] = rec.Facts["reason"].(string) + "; " + note
	} else {
		e.say("%s", note)
	}
	return rec, nil
}

// unnamedNote says, for the record, which unnamed objects were removed.
func unnamedNote(token string, removed map[string]int) string {
	var parts []string
	for _, class := range slices.Sorted(maps.Keys(removed)) {
		parts = append(parts, fmt.Sprintf("%d %s", removed[class], class))
	}
	return fmt.Sprintf("removed from token %q what the interrupted call left half-made, with neither id nor label: %s", token, strings.Join(parts, ", "))
}

// settleIntent is settle for one intent, once unnamed objects are gone.
func (e *Engine) settleIntent(intent *ledger.Record, cause string, resumed bool) (*ledger.Record, error) {
	f := intent.Facts
	keyID, _ := f["key_id"].(string)
	label, _ := f["label"].(string)
	id, err := hex.DecodeString(keyID)
	if err != nil {
		return nil, fmt.Errorf("intent %d: key id %q: %w", intent.Seq, keyID, err)
	}
	t := e.token
	abort := func(reason string) *ledger.Record {
		facts := map[string]any{"reason": reason, "hsm": hsmFacts(t)}
		if resumed {
			facts["resumed"] = true
		}
		if keyID != "" {
			facts["key_id"] = keyID
		}
		return e.Ledger.Draft("ceremony.aborted", intent.Ceremony, e.actor(), facts, e.now())
	}
	outcome := func(rec *ledger.Record, err error) (*ledger.Record, error) {
		if err != nil {
			return nil, err
		}
		if resumed {
			rec.Facts["resumed"] = true
		}
		return rec, nil
	}
	switch intent.Kind {
	case "key.generate.intent":
		key, ferr := t.FindKey(id, "")
		switch {
		case ferr == nil:
			why := generatedAsPlanned(key, intent)
			if why == "" {
				return outcome(e.generatedRecord(key, intent))
			}
			if _, derr := t.Destroy(key); derr != nil {
				return nil, fmt.Errorf("token %q holds a key with id %s that is not the key planned (%s) and it could not be destroyed: %w", t.Info().Label, keyID, why, derr)
			}
			return abort(cause + "; the token held a key with its id that is not the key planned (" + why + "): it was destroyed"), nil
		case errors.Is(ferr, hsm.ErrKeyNotFound):
			if _, lerr := t.FindKey(nil, label); lerr == nil {
				return nil, fmt.Errorf("token %q holds a key labelled %q but not with id %s: settle this by hand", t.Info().Label, label, keyID)
			}
			return abort(cause + "; no key with its id or label on the HSM: the key was not generated"), nil
		case errors.Is(ferr, hsm.ErrMalformed):
			// The generation was cut while the module wrote the new
			// objects' attributes (SoftHSM writes them one by one): they
			// carry the id this intent planned, which nothing else uses,
			// but no whole key. Removed, and the ceremony aborted.
			n, rerr := t.RemoveID(id)
			if rerr != nil {
				return nil, errors.Join(ferr, rerr)
			}
			return abort(fmt.Sprintf("%s; the token held %d half-made object(s) with its id (%v): removed; the key was not generated", cause, n, ferr)), nil
		default:
			return nil, ferr
		}

	case "key.destroy.intent":
		key, ferr := t.FindKey(id, "")
		switch {
		case ferr == nil:
			typ := hsm.KeyType(e.keyType(keyID))
			if key.Class == "secret" || key.Class == "pair" || (typ.Secret() && key.Class != "secret") {
				return abort(cause + "; the key is still on the HSM: nothing was destroyed"), nil
			}
			// One half of the pair is gone: the key can no longer do its
			// work. Its destruction was approved: destroy the rest.
			proof, derr := t.Destroy(key)
			if derr != nil {
				return nil, fmt.Errorf("the %s half of key %s is still on token %q and could not be destroyed: %w", key.Class, keyID, t.Info().Label, derr)
			}
			e.say("one half of key %q was destroyed before the failure; destroyed the %s half left", label, key.Class)
			return outcome(e.destroyedRecord(proof))
		case errors.Is(ferr, hsm.ErrKeyNotFound):
			if _, lerr := t.FindKey(nil, label); lerr == nil {
				return nil, fmt.Errorf("token %q holds a key labelled %q with another id: settle this by hand", t.Info().Label, label)
			}
			proof, verr := t.VerifyAbsent(id, label, hsm.KeyType(e.keyType(keyID)))
			if verr != nil {
				return nil, verr
			}
			return outcome(e.destroyedRecord(proof))
		default:
			return nil, ferr
		}

	case "key.export.intent":
		note, err := removeLeft(t, exportWrapperID(keyID), "trusted export wrapping key")
		if err != nil {
			return nil, err
		}
		reason := cause + "; nothing was recorded as exported" + note
		if out, _ := f["output"].(string); out != "" {
			for _, p := range []string{out, media.IncompleteName(out)} {
				if _, err := os.Lstat(p); err == nil {
					reason += fmt.Sprintf("; the output file %s exists and must be destroyed by the custodians", p)
				}
			}
		}
		return abort(reason), nil

	case "key.sign.intent":
		return abort(settleSign(intent, cause)), nil

	case "backup.intent":
		reason, err := settleBackup(t, intent)
		if err != nil {
			return nil, err
		}
		return abort(cause + "; " + reason), nil

	case "key.restore.intent":
		return e.settleRestore(intent, id, cause, resumed, abort)

	case "backup.reshare.intent":
		reason, err := settleReshare(t, intent)
		if err != nil {
			return nil, err
		}
		return abort(cause + "; " + reason), nil
	}
	return abort(cause + "; custos cannot inspect the HSM for " + intent.Kind), nil
}

// keyType is the ledger's type of a key ("" when unknown).
func (e *Engine) keyType(keyID string) string {
	if ks := e.Ledger.State().Keys[keyID]; ks != nil {
		return ks.Type
	}
	return ""
}

// generatedAsPlanned says how key differs from what intent planned ("" if
// it does not): the whole key (both halves of a pair), of the planned type
// and label, with the planned security attributes.
func generatedAsPlanned(key *hsm.Key, intent *ledger.Record) string {
	f := intent.Facts
	typ, _ := f["type"].(string)
	label, _ := f["label"].(string)
	if string(key.Type) != typ {
		return fmt.Sprintf("type %s, planned %s", key.Type, typ)
	}
	if key.Label != label {
		return fmt.Sprintf("label %q, planned %q", key.Label, label)
	}
	if want := map[bool]string{true: "secret", false: "pair"}[key.Type.Secret()]; key.Class != want {
		return fmt.Sprintf("only the %s half is there", key.Class)
	}
	kf, err := key.Facts()
	if err != nil {
		return "its attributes cannot be read: " + err.Error()
	}
	planned, _ := f["planned_attributes"].(map[string]any)
	ext := planned["extractable"] == true
	a := kf.Attributes
	switch {
	case !a.Token, !a.Private, !a.Sensitive, a.Modifiable, a.Trusted:
		return fmt.Sprintf("attributes token=%v private=%v sensitive=%v modifiable=%v trusted=%v", a.Token, a.Private, a.Sensitive, a.Modifiable, a.Trusted)
	case a.Extractable != ext, a.WrapWithTrusted != ext:
		return fmt.Sprintf("extractable=%v wrap_with_trusted=%v, planned %v", a.Extractable, a.WrapWithTrusted, ext)
	}
	return ""
}

// removeLeft destroys the temporary key with CKA_ID id if an operation
// left it on the token, and says so for the record.
func removeLeft(t *hsm.Token, id []byte, what string) (string, error) {
	k, err := t.FindKey(id, "")
	switch {
	case errors.Is(err, hsm.ErrKeyNotFound):
		return "; no " + what + " is left on the token", nil
	case err != nil:
		return "", fmt.Errorf("look for a %s left on token %q: %w", what, t.Info().Label, err)
	}
	if _, err := t.Destroy(k); err != nil {
		return "", fmt.Errorf("the %s %q is still on token %q and could not be removed: %w", what, k.Label, t.Info().Label, err)
	}
	return "; the " + what + " left on the token was removed", nil
}

// exportWrapperID is the CKA_ID the recipient's key gets on the token
// while an export of key keyID runs.
func exportWrapperID(keyID string) []byte {
	id, _ := hex.DecodeString(keyID)
	wid := make([]byte, 8, 16)
	copy(wid, "xport")
	if len(id) > 8 {
		id = id[:8]
	}
	return append(wid, id...)
}

// transportKeyID is the CKA_ID of the rebuilt wrapping key a restore of
// backup backupID loads into the target token.
func transportKeyID(backupID string) []byte {
	tid := wrappingKeyID(backupID)
	tid[0] ^= 0xff
	return tid
}

// settleRestore: the restore happened if the target token holds the key
// with the id and every check value the ledger recorded at generation, as
// a whole, sensitive, non-modifiable token key; anything else carrying its
// id is not the ledger's key and is destroyed.
func (e *Engine) settleRestore(intent *ledger.Record, id []byte, cause string, resumed bool, abort func(string) *ledger.Record) (*ledger.Record, error) {
	t := e.token
	f := intent.Facts
	keyID, _ := f["key_id"].(string)
	backupID, _ := f["backup_id"].(string)
	if _, err := removeLeft(t, transportKeyID(backupID), "rebuilt wrapping key"); err != nil {
		return nil, err
	}
	ks := e.Ledger.State().Keys[keyID]
	if ks == nil {
		return nil, fmt.Errorf("restore intent %d: the ledger has no key %s", intent.Seq, keyID)
	}
	if slices.Contains(ks.HeldOn(), t.Info().Serial) {
		return abort(cause + "; the ledger already had the key on this HSM: nothing was restored"), nil
	}
	key, err := t.FindKey(id, "")
	switch {
	case errors.Is(err, hsm.ErrKeyNotFound):
		return abort(cause + "; the key is not on the HSM: nothing was restored"), nil
	case err != nil:
		return nil, err
	}
	why := ""
	kf, err := key.Facts()
	var matched []string
	if err != nil {
		why = "its attributes cannot be read: " + err.Error()
	} else {
		b, _ := LoadBackup(e.Ledger, backupID)
		a := kf.Attributes
		want := map[bool]string{true: "secret", false: "pair"}[key.Type.Secret()]
		switch {
		case key.Class != want:
			why = "only the " + key.Class + " half is there"
		case !a.Token || !a.Private || !a.Sensitive || a.Modifiable || a.Trusted:
			why = fmt.Sprintf("attributes token=%v private=%v sensitive=%v modifiable=%v trusted=%v", a.Token, a.Private, a.Sensitive, a.Modifiable, a.Trusted)
		case b != nil && (a.Extractable != attrBool(b.Attrs, "extractable") || a.WrapWithTrusted != attrBool(b.Attrs, "wrap_with_trusted")):
			why = "extractable or wrap_with_trusted differ from the backup's"
		default:
			if matched, err = compareKeyFacts(ks.Facts, kf); err != nil {
				why = err.Error()
			}
		}
	}
	if why != "" {
		if _, derr := t.Destroy(key); derr != nil {
			return nil, fmt.Errorf("token %q holds an object with key %s's id that is not the ledger's key (%s) and it could not be destroyed: %w", t.Info().Label, keyID, why, derr)
		}
		return abort(cause + "; the token held an object with the key's id that is not the ledger's key (" + why + "): it was destroyed"), nil
	}
	rec, err := e.restoredRecord(kf, backupID, matched, nil)
	if err != nil {
		return nil, err
	}
	if resumed {
		rec.Facts["resumed"] = true
	}
	return rec, nil
}

// restoredRecord is key.restored for a key found on the token as the
// ledger recorded it; extra facts (shares used …) are added when known.
func (e *Engine) restoredRecord(kf hsm.KeyFacts, backupID string, matched []string, extra map[string]any) (*ledger.Record, error) {
	facts, err := ledger.FactsOf(kf)
	if err != nil {
		return nil, err
	}
	facts["key_id"] = kf.ID
	facts["backup_id"] = backupID
	facts["matched"] = toAny(matched)
	facts["hsm"] = hsmFacts(e.token)
	for k, v := range extra {
		facts[k] = v
	}
	return e.Ledger.Draft("key.restored", e.plan.Ceremony, e.actor(), facts, e.now()), nil
}

// settleBackup: no share of an interrupted backup was recorded, so none
// will ever be accepted; a wrapping key left on the token is removed. It
// returns the reason for ceremony.aborted, or an error when the wrapping
// key is still there.
func settleBackup(t *hsm.Token, oi *ledger.Record) (string, error) {
	id, _ := oi.Facts["backup_id"].(string)
	var reason strings.Builder
	fmt.Fprintf(&reason, "backup %q was not recorded: its shares will be refused by any restore", id)
	// Every file the backup may have written, under its final name or
	// still marked incomplete: none can restore anything the ledger
	// accepts, and each holds key material, so each is named.
	var left []string
	if m, _ := oi.Facts["media"].(string); m != "" {
		left = append(left, m)
	}
	if dir, _ := oi.Facts["share_dir"].(string); dir != "" {
		holders, _ := oi.Facts["holders"].([]any)
		for i, h := range holders {
			name, _ := h.(string)
			left = append(left, shareFile(dir, id, i+1, name))
		}
	}
	for _, f := range left {
		for _, p := range []string{f, media.IncompleteName(f)} {
			if _, err := os.Lstat(p); err == nil {
				fmt.Fprintf(&reason, "; %s exists and must be destroyed by the custodians", p)
			}
		}
	}
	note, err := removeLeft(t, wrappingKeyID(id), "backup wrapping key")
	if err != nil {
		return "", err
	}
	return reason.String() + note, nil
}

// settleFailed settles the open intent after operate failed with cause.
// Export and backup log the SO in and out: the user is logged in again
// first, so private keys can be seen.
func (e *Engine) settleFailed(intent *ledger.Record, cause error) (*ledger.Record, error) {
	if k := e.Script.Kind; k == KindExport || k == KindBackup {
		if err := e.userLogin(); err != nil {
			return nil, fmt.Errorf("log in again to look at the token: %w", err)
		}
	}
	return e.settle(intent, "the HSM operation failed: "+cause.Error(), false)
}

// userLogin logs out whoever is logged in and logs the user in.
func (e *Engine) userLogin() error {
	u, err := hsm.ParseURI(e.Script.HSM)
	if err != nil {
		return err
	}
	if err := e.token.Logout(); err != nil {
		return err
	}
	pin, err := e.readPIN(u.PINSource, "user PIN of token "+e.token.Info().Label)
	if err != nil {
		return err
	}
	defer clear(pin)
	return e.token.Login(pin)
}
