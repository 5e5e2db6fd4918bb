// The state machine's rules for keys: each key's step, the policy for a
// new key, the HSM that holds it, restores, exports and disposition.

package ledger

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// keyStep checks and moves the key rec names.
func (s *State) keyStep(rec *Record, spec kindSpec, intent *Record, ts string) error {
	keyID := factString(rec.Facts, "key_id")
	if !validID(keyID) {
		return fmt.Errorf("facts.key_id %.70q is not a valid key id", keyID)
	}
	k := s.ownKey(keyID)
	switch {
	case spec.key == keyNew:
		if k != nil {
			return fmt.Errorf("key %s already exists (record %d)", keyID, k.CreatedSeq)
		}
		if err := s.newKeyRules(rec); err != nil {
			return err
		}
		k = &KeyState{ID: keyID, CreatedSeq: rec.Seq, CreatedTime: ts, Facts: map[string]any{}}
		s.Keys[keyID] = k
		s.labels.set(factString(rec.Facts, "label"), keyID)
	case k == nil:
		return fmt.Errorf("key %s does not exist", keyID)
	case spec.key == keyRestorable:
		if k.State != KeyActive && k.State != KeyDestroyed {
			return fmt.Errorf("%s needs key %s to be active or destroyed, it is %s", rec.Kind, keyID, k.State)
		}
		if err := s.restoreRules(rec, k); err != nil {
			return err
		}
	case k.State == KeyDestroyed && spec.key != keyMade:
		return fmt.Errorf("key %s was destroyed (record %d) and cannot be used", keyID, lastEvent(k, "key.destroyed"))
	case spec.key == keyGenerating && k.State != KeyGenerating, spec.key == keyActive && k.State != KeyActive:
		return fmt.Errorf("%s needs key %s to be %s, it is %s", rec.Kind, keyID, map[keyNeed]string{keyGenerating: KeyGenerating, keyActive: KeyActive}[spec.key], k.State)
	case spec.key == keyMade && k.State == KeyDestroyed:
		// A backup of a destroyed key is destroyed after it.
	case spec.key == keyLive && k.State == KeyAborted, spec.key == keyMade && k.State != KeyActive:
		return fmt.Errorf("key %s was never made (its generation was aborted)", keyID)
	}
	// A key's identity is set by its generation and never changes.
	if rec.Kind != "key.generate.intent" {
		identity := keyIdentity
		if !describesKey[rec.Kind] {
			identity = []string{"label", "type"} // an export's purpose is not the key's
		}
		for _, f := range identity {
			v, has := rec.Facts[f]
			if !has {
				continue
			}
			old, set := k.Facts[f]
			switch {
			case set && !sameFact(old, v):
				return fmt.Errorf("facts.%s %s differs from key %s's %s: a key's facts are set once, at its generation", f, brief(v), keyID, brief(old))
			case !set && rec.Kind != "key.generated":
				return fmt.Errorf("facts.%s: %s may not set key %s's %s", f, rec.Kind, keyID, f)
			}
		}
	}
	if rec.Kind == "key.exported" && factString(rec.Facts, "mechanism") == "CKM_RSA_PKCS_OAEP" {
		if h := factString(rec.Facts, "oaep_hash"); !slices.Contains(s.Policy.ExportOAEPHashes(), h) {
			return fmt.Errorf("facts.oaep_hash %.40q is not one of the policy's export hashes (%s)", h, strings.Join(s.Policy.ExportOAEPHashes(), ", "))
		}
	}
	if id, has := rec.Facts["id"]; has && id != keyID {
		return fmt.Errorf("facts.id %s is not the key's id %s", brief(id), keyID)
	}
	if err := s.hsmHolds(rec, spec, k); err != nil {
		return err
	}
	if err := s.backupRules(rec, k); err != nil {
		return err
	}
	if rec.Kind == "key.sign.intent" {
		if strings.HasPrefix(k.Type, "aes") {
			return fmt.Errorf("key %s is a %s secret key: it signs nothing", k.ID, k.Type)
		}
		if seq := lastEvent(k, "key.compromised"); seq > 0 {
			return fmt.Errorf("key %s was reported compromised (record %d): it may only be rotated away and destroyed, never sign", k.ID, seq)
		}
	}
	if rec.Kind == "key.destroy.intent" && !s.Policy.GeneratorMayApproveDestruction {
		for _, a := range rec.Approvals {
			if a.Member == k.generatedBy {
				return fmt.Errorf("approval by %s, who generated key %s: the policy forbids one member both generating a key and approving its destruction", a.Member, keyID)
			}
		}
	}
	switch rec.Kind {
	case "key.generated":
		k.generatedBy = rec.Actor
		k.on = []string{hsmSerial(rec.Facts)}
	case "key.restored":
		if serial := hsmSerial(rec.Facts); !slices.Contains(k.on, serial) {
			k.on = append(slices.Clip(k.on), serial)
		}
	case "key.destroyed":
		k.on = slices.DeleteFunc(slices.Clone(k.on), func(s string) bool { return s == hsmSerial(rec.Facts) })
	}
	switch {
	case spec.set == KeyDestroyed && len(k.on) > 0:
		// Another HSM still holds a copy (a restore made one): the key
		// stays active there.
	case spec.set != "":
		k.State = spec.set
	}
	if describesKey[rec.Kind] {
		for fk, fv := range rec.Facts {
			switch fk {
			case "key_id":
			case "label":
				k.Label, _ = fv.(string)
			case "type":
				k.Type, _ = fv.(string)
			}
			k.Facts[fk] = fv
		}
	}
	if spec.key == keyNew {
		k.PolicyRotation = s.Policy.Rotation[k.Type]
	}
	s.touch(k, rec, ts)
	return nil
}

// describesKey lists the kinds whose facts describe the key itself and so
// are merged into keys/<id>.json; the facts of other kinds (an export's
// recipient and purpose, a share check) stay in their records.
//
// An intent other than the generation's is not among them: the key
// changes on outcomes, never on intents (a restore's target HSM is the
// key's only once key.restored says the key is there).
var describesKey = map[string]bool{
	"key.generate.intent": true, "key.generated": true,
	"key.restored": true,
	"backup.split": true, "key.destroyed": true, "key.retirement.scheduled": true,
	"key.compromised": true,
}

// newKeyRules are the policy's rules for a new key: an approved type, a
// label no live key has, a rotation period within the policy's.
func (s *State) newKeyRules(rec *Record) error {
	typ, label := factString(rec.Facts, "type"), factString(rec.Facts, "label")
	if !s.Policy.AlgorithmApproved(typ) {
		return fmt.Errorf("key type %.40q is not on the policy's approved list", typ)
	}
	if err := s.Policy.KeyVocabulary("facts.", factString(rec.Facts, "environment"), factString(rec.Facts, "classification")); err != nil {
		return err
	}
	if id, ok := s.labels.get(label); ok {
		if k := s.Keys[id]; k != nil && (k.State == KeyActive || k.State == KeyGenerating) {
			return fmt.Errorf("label %q is the label of key %s, which is %s: the label of a live key is unique", label, k.ID, k.State)
		}
	}
	if max := PeriodDays(s.Policy.Rotation[typ]); max > 0 {
		if d, ok := factInt(rec.Facts, "rotation_days"); ok && (d <= 0 || d > max) {
			return fmt.Errorf("facts.rotation_days %d is outside the policy's rotation period for %s (%s, %d days)", d, typ, s.Policy.Rotation[typ], max)
		}
	}
	if old := factString(rec.Facts, "rotates"); old != "" {
		k := s.Keys[old]
		if k == nil || k.State != KeyActive {
			return fmt.Errorf("facts.rotates names key %q, which is not an active key", old)
		}
	}
	return nil
}

// hsmHolds checks that a record acting on a key's HSM names one that
// holds the key (a generation or a restore names where the key will be).
func (s *State) hsmHolds(rec *Record, spec kindSpec, k *KeyState) error {
	if !spec.hsm || rec.Kind == "key.generate.intent" || rec.Kind == "key.generated" || spec.key == keyRestorable {
		return nil
	}
	if rec.Kind == "backup.reshare.intent" || rec.Kind == "backup.reshared" {
		return nil // the HSM checks the rebuilt wrapping key; the key itself may be on none
	}
	if serial := hsmSerial(rec.Facts); !slices.Contains(k.on, serial) {
		return fmt.Errorf("facts.hsm names HSM %q, which does not hold key %s (held on: %s)", serial, k.ID, strings.Join(k.on, ", "))
	}
	return nil
}

// restoreRules: a restore comes from a recorded backup of this very key,
// and shows the check values of its generation.
func (s *State) restoreRules(rec *Record, k *KeyState) error {
	id := factString(rec.Facts, "backup_id")
	b, _ := s.backups.get(id)
	if b == nil || b.keyID != k.ID {
		return fmt.Errorf("facts.backup_id %.70q is not a backup of key %s (no backup.split recorded it)", id, k.ID)
	}
	if n, ok := factInt(rec.Facts, "backup_record"); ok && n != b.seq {
		return fmt.Errorf("facts.backup_record %d is not record %d, the backup.split of %s", n, b.seq, id)
	}
	if b.destroyed != 0 {
		return fmt.Errorf("backup %s was destroyed (record %d): nothing is left to restore key %s from", id, b.destroyed, k.ID)
	}
	if rec.Kind == "key.restored" {
		used, _ := rec.Facts["shares_used"].([]any)
		for i, e := range used {
			u, _ := e.(map[string]any)
			c := factString(u, "commitment")
			if c == "" {
				continue // a restore recorded before commitments were
			}
			if r, ok := b.retired[c]; ok {
				return fmt.Errorf("facts.shares_used[%d] is share %d of backup %s held by %s, retired by the reshare of record %d: a retired share restores nothing", i, r.Index, id, r.Holder, r.Seq)
			}
			if idx, _ := factInt(u, "index"); b.commitments[idx] != c {
				return fmt.Errorf("facts.shares_used[%d]: its commitment is not that of share %d of backup %s", i, idx, id)
			}
		}
		for _, f := range checkValues {
			if v, ok := k.Facts[f]; ok && !sameFact(v, rec.Facts[f]) {
				return fmt.Errorf("facts.%s %s is not key %s's %s from its generation (%s): the restored key is another key", f, brief(rec.Facts[f]), k.ID, f, brief(v))
			}
		}
	}
	return nil
}

// settled reports whether key k can no longer change: destroyed on every
// HSM, and every backup of it destroyed. A later record may still name
// it, and the rules then refuse it: a restore finds no backup left, any
// other kind finds the key destroyed (a backup's destruction finds no
// backup of it outstanding).
func settled(k *KeyState) bool {
	return k.State == KeyDestroyed && len(k.on) == 0 && len(k.BackupsOutstanding) == 0
}

// compactWhen is settled; a test makes it compact every key, so that
// verify's replay again is exercised.
var compactWhen = settled

// compactKey keeps of a settled key, once verify knows its file's id,
// only what the rules read of it when a later record names it: its
// identity facts (compared before the refusal) and the last destruction
// and compromise (named in the refusal). Its history and other facts,
// which only a change of its file would need, go: a key that could not
// change took about 3 KB in verify's memory, so a long ledger's verify
// grew with every key it ever destroyed. If a record changes a compact
// key all the same (State.touchedCompact), verify replays again with
// every key whole, so the verdict never rests on a compact key's file.
func compactKey(k *KeyState) {
	facts := map[string]any{}
	for _, f := range keyIdentity {
		if v, ok := k.Facts[f]; ok {
			facts[f] = v
		}
	}
	var keep []KeyEvent
	for _, kind := range []string{"key.compromised", "key.destroyed"} {
		if seq := lastEvent(k, kind); seq > 0 {
			keep = append(keep, KeyEvent{Seq: seq, Kind: kind})
		}
	}
	slices.SortFunc(keep, func(a, b KeyEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	k.Facts, k.History, k.histJSON, k.on, k.compacted = facts, keep, nil, nil, true
}

// ExportsOf lists the records that exported k, oldest first.
func ExportsOf(k *KeyState) []any {
	var out []any
	for _, ev := range k.History {
		if ev.Kind == "key.exported" {
			out = append(out, ev.Seq)
		}
	}
	return out
}

// Disposition says where a key stands: its state, and for a key
// destroyed on its HSM whose backups are not all destroyed, which are
// outstanding — it is destroyed only when every copy is.
func (k *KeyState) Disposition() string {
	if k.State == KeyDestroyed && len(k.BackupsOutstanding) > 0 {
		return "destroyed on the HSM; backup " + strings.Join(k.BackupsOutstanding, ", ") + " outstanding"
	}
	return k.State
}
