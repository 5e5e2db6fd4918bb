// The state machine's rules for backups: one id per backup, its shares
// and their holders and deliveries, and the holders' attestations when
// a backup is destroyed.

package ledger

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// backupInfo is what the replay keeps of a backup.split and of the
// reshares after it.
type backupInfo struct {
	seq         int64
	keyID       string
	m, n        int64            // of the current shares
	setSeq      int64            // the record that made the current shares: the split or the last backup.reshared
	kcv         string           // the wrapping key's check value, as the split recorded it
	holders     map[int64]string // share index → holder
	commitments map[int64]string // share index → its commitment
	// retired maps each commitment a reshare retired to where.
	retired   map[string]RetiredShare
	destroyed int64 // the backup.destroyed record, or 0
}

// RetiredShare is a share a reshare replaced: its index and holder in
// the set it belonged to, and the backup.reshared that retired it.
type RetiredShare struct {
	Index  int64
	Holder string
	Seq    int64
}

// backupRules keeps the backups: a backup id names one backup, and a
// share check names a share of it, checked by its holder.
func (s *State) backupRules(rec *Record, k *KeyState) error {
	switch rec.Kind {
	case "backup.intent":
		if seq := lastEvent(k, "key.compromised"); seq > 0 {
			return fmt.Errorf("key %s was reported compromised (record %d): it may only be rotated away and destroyed", k.ID, seq)
		}
		if id := factString(rec.Facts, "backup_id"); !validID(id) || s.hasBackup(id) {
			return fmt.Errorf("facts.backup_id %.70q is already a backup, or not a valid id", id)
		}
		m, _ := factInt(rec.Facts, "m")
		n, _ := factInt(rec.Facts, "n")
		if m < 2 || m > n || n > 255 {
			return fmt.Errorf("facts.m %d of facts.n %d is not a threshold of 2 or more out of at most 255 shares", m, n)
		}
		if h := factNames(rec.Facts, "holders"); len(h) > 0 && int64(len(h)) != n {
			return fmt.Errorf("facts.holders names %d holders for %d shares", len(h), n)
		}
	case "backup.split":
		id := factString(rec.Facts, "backup_id")
		m, _ := factInt(rec.Facts, "m")
		n, _ := factInt(rec.Facts, "n")
		b := &backupInfo{seq: rec.Seq, keyID: k.ID, m: m, n: n, setSeq: rec.Seq, kcv: factString(rec.Facts, "wrapping_key_kcv_cmac")}
		var err error
		if b.holders, b.commitments, err = s.shareSet(rec, n, s.cer.opening, "backup"); err != nil {
			return err
		}
		if s.hasBackup(id) {
			return fmt.Errorf("facts.backup_id %s is already a backup", id)
		}
		s.backups.set(id, b)
		k.BackupsOutstanding = append(slices.Clip(k.BackupsOutstanding), id)
	case "backup.reshare.intent":
		if seq := lastEvent(k, "key.compromised"); seq > 0 {
			return fmt.Errorf("key %s was reported compromised (record %d): it may only be rotated away and destroyed", k.ID, seq)
		}
		b, err := s.liveBackup(rec, k)
		if err != nil {
			return err
		}
		if n, _ := factInt(rec.Facts, "backup_record"); n != b.seq {
			return fmt.Errorf("facts.backup_record %d is not record %d, the backup.split of %s", n, b.seq, factString(rec.Facts, "backup_id"))
		}
		if r, _ := factInt(rec.Facts, "replaces"); r != b.setSeq {
			return fmt.Errorf("facts.replaces %d is not record %d, which made the current shares of backup %s", r, b.setSeq, factString(rec.Facts, "backup_id"))
		}
		m, _ := factInt(rec.Facts, "m")
		n, _ := factInt(rec.Facts, "n")
		if m < 2 || m > n || n > 255 {
			return fmt.Errorf("facts.m %d of facts.n %d is not a threshold of 2 or more out of at most 255 shares", m, n)
		}
		holders := factNames(rec.Facts, "holders")
		if int64(len(holders)) != n {
			return fmt.Errorf("facts.holders names %d holders for %d shares", len(holders), n)
		}
		for i, h := range holders {
			if s.Roster.Member(h) == nil {
				return fmt.Errorf("facts.holders[%d]: %s is not a member of the roster", i, h)
			}
		}
		if err := s.checkDeliveryMap(rec.Facts, holders); err != nil {
			return err
		}
	case "backup.reshared":
		b, err := s.liveBackup(rec, k)
		if err != nil {
			return err
		}
		id := factString(rec.Facts, "backup_id")
		if kcv := factString(rec.Facts, "wrapping_key_kcv_cmac"); b.kcv != "" && kcv != b.kcv {
			return fmt.Errorf("facts.wrapping_key_kcv_cmac %.20q is not backup %s's (%s): the shares rebuild another key", kcv, id, b.kcv)
		}
		// Every share of the set replaced is named retired, as it was.
		rl, _ := rec.Facts["retired"].([]any)
		named := map[int64]bool{}
		for i, e := range rl {
			r, _ := e.(map[string]any)
			idx, _ := factInt(r, "index")
			if b.holders[idx] == "" || named[idx] || factString(r, "member") != b.holders[idx] || factString(r, "commitment") != b.commitments[idx] {
				return fmt.Errorf("facts.retired[%d]: not share %d of the shares record %d made (its holder and commitment), or named twice", i, idx, b.setSeq)
			}
			named[idx] = true
		}
		if len(named) != len(b.holders) {
			return fmt.Errorf("facts.retired names %d of the %d shares record %d made: a reshare retires every old share", len(named), len(b.holders), b.setSeq)
		}
		nb := *b
		n, _ := factInt(rec.Facts, "n")
		if nb.holders, nb.commitments, err = s.shareSet(rec, n, s.cer.opening, "reshare"); err != nil {
			return err
		}
		nb.retired = maps.Clone(b.retired)
		if nb.retired == nil {
			nb.retired = map[string]RetiredShare{}
		}
		for idx, c := range b.commitments {
			if c != "" {
				nb.retired[c] = RetiredShare{Index: idx, Holder: b.holders[idx], Seq: rec.Seq}
			}
		}
		nb.m, _ = factInt(rec.Facts, "m")
		nb.n, nb.setSeq = n, rec.Seq
		s.backups.set(id, &nb)
	case "backup.destroyed":
		id := factString(rec.Facts, "backup_id")
		b, _ := s.backups.get(id)
		if b == nil || b.keyID != k.ID {
			return fmt.Errorf("facts.backup_id %.70q is not a backup of key %s", id, k.ID)
		}
		if b.destroyed != 0 {
			return fmt.Errorf("backup %s was already destroyed (record %d)", id, b.destroyed)
		}
		nb := *b
		nb.destroyed = rec.Seq
		s.backups.set(id, &nb)
		k.BackupsOutstanding = slices.DeleteFunc(slices.Clone(k.BackupsOutstanding), func(x string) bool { return x == id })
	case "key.destroy.intent":
		// The approvers see every copy the key has: the plan and the
		// record list its outstanding backups and its exports.
		if want := k.BackupsOutstanding; len(want) > 0 && !sameFact(toList(want), rec.Facts["backups"]) {
			return fmt.Errorf("facts.backups %s is not the key's outstanding backups %s: the destruction must name every copy", brief(rec.Facts["backups"]), brief(toList(want)))
		}
		if want := ExportsOf(k); len(want) > 0 && !sameFact(want, rec.Facts["exports"]) {
			return fmt.Errorf("facts.exports %s is not the key's exports %s (their records): the destruction must name every copy", brief(rec.Facts["exports"]), brief(want))
		}
	case "share.verified":
		id := factString(rec.Facts, "backup_id")
		b, _ := s.backups.get(id)
		if b == nil || b.keyID != k.ID {
			return fmt.Errorf("facts.backup_id %.70q is not a backup of key %s", id, k.ID)
		}
		idx, _ := factInt(rec.Facts, "index")
		if holder := factString(rec.Facts, "holder"); b.holders[idx] != holder || holder != rec.Actor {
			return fmt.Errorf("share %d of backup %s is held by %s: only its holder checks it and signs the record (holder %q, actor %s)", idx, id, orNone(b.holders[idx]), holder, rec.Actor)
		}
		if n, ok := factInt(rec.Facts, "backup_record"); ok && n != b.seq {
			return fmt.Errorf("facts.backup_record %d is not record %d, the backup.split of %s", n, b.seq, id)
		}
		if c := factString(rec.Facts, "commitment"); c != b.commitments[idx] {
			if r, ok := b.retired[c]; ok {
				return fmt.Errorf("facts.commitment is that of share %d of backup %s held by %s, retired by the reshare of record %d: a retired share is never checked again", r.Index, id, r.Holder, r.Seq)
			}
			return fmt.Errorf("facts.commitment is not the commitment backup %s recorded for share %d: the share checked is another share", id, idx)
		}
		if b.destroyed != 0 {
			return fmt.Errorf("backup %s was destroyed (record %d): there is no share left to check", id, b.destroyed)
		}
	case "key.export.intent":
		if seq := lastEvent(k, "key.compromised"); seq > 0 {
			return fmt.Errorf("key %s was reported compromised (record %d): it may only be rotated away and destroyed", k.ID, seq)
		}
	}
	return nil
}

// shareSet reads the holders of a backup.split or backup.reshared: n
// shares, each with a new index 1..n and a member of the roster, in the
// order and with the deliveries their intent was approved for. It
// returns index → holder and index → commitment.
func (s *State) shareSet(rec *Record, n int64, intent *Record, what string) (map[int64]string, map[int64]string, error) {
	holders, commitments := map[int64]string{}, map[int64]string{}
	hs, _ := rec.Facts["holders"].([]any)
	if int64(len(hs)) != n {
		return nil, nil, fmt.Errorf("facts.holders lists %d shares for n=%d", len(hs), n)
	}
	var want []string
	var delivery map[string]any
	if intent != nil {
		want = factNames(intent.Facts, "holders")
		delivery, _ = intent.Facts["delivery"].(map[string]any)
	}
	for i, h := range hs {
		e, _ := h.(map[string]any)
		idx, ok := factInt(e, "index")
		member := factString(e, "member")
		if !ok || idx < 1 || idx > n || holders[idx] != "" || s.Roster.Member(member) == nil {
			return nil, nil, fmt.Errorf("facts.holders[%d]: needs a new share index 1..%d and a member of the roster", i, n)
		}
		holders[idx] = member
		commitments[idx] = factString(e, "commitment")
		d := factString(e, "delivery")
		if err := s.checkDelivery(member, d); err != nil {
			return nil, nil, fmt.Errorf("facts.holders[%d]: %w", i, err)
		}
		if approved, has := delivery[member]; has && approved != orSSH(d) {
			return nil, nil, fmt.Errorf("facts.holders[%d]: %s's share was delivered by %s, but the %s was approved for delivery by %v", i, member, orSSH(d), what, approved)
		}
	}
	for i, name := range want {
		if holders[int64(i+1)] != name {
			return nil, nil, fmt.Errorf("facts.holders: share %d is %s's, but the %s was approved for holders %s", i+1, orNone(holders[int64(i+1)]), what, strings.Join(want, ", "))
		}
	}
	return holders, commitments, nil
}

func orSSH(d string) string {
	if d == "" {
		return DeliverySSH
	}
	return d
}

// checkDelivery: a delivery is one of Deliveries, and a share goes to an
// SSH key only when age can encrypt to that key.
func (s *State) checkDelivery(member, d string) error {
	switch d {
	case "", DeliveryPassphrase, DeliveryCard:
		return nil
	case DeliverySSH:
		if m := s.Roster.Member(member); m != nil && !AgeRecipientKey(m.Key) {
			return fmt.Errorf("delivery ssh to %s, whose key on the roster is not ssh-ed25519 or ssh-rsa: no age file can be encrypted to it", member)
		}
		return nil
	}
	return fmt.Errorf("delivery %.20q is not one of %s", d, strings.Join(Deliveries, ", "))
}

// checkDeliveryMap checks an intent's delivery: holder → a delivery each
// holder may be given, and nobody else.
func (s *State) checkDeliveryMap(facts map[string]any, holders []string) error {
	d, _ := facts["delivery"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(d)) {
		v, _ := d[name].(string)
		if !slices.Contains(holders, name) {
			return fmt.Errorf("facts.delivery.%s: %s is not a holder", name, name)
		}
		if v == "" {
			return fmt.Errorf("facts.delivery.%s must be one of %s", name, strings.Join(Deliveries, ", "))
		}
		if err := s.checkDelivery(name, v); err != nil {
			return fmt.Errorf("facts.delivery.%s: %w", name, err)
		}
	}
	return nil
}

func toList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// BackupState is what the ledger knows of one backup.
type BackupState struct {
	Seq   int64  // its backup.split record
	KeyID string // the key it holds
	// M, N, Holders and Commitments are of the current shares, made by
	// record SetSeq (the split, or the last backup.reshared).
	M, N        int64
	SetSeq      int64
	Holders     map[int64]string // share index → holder
	Commitments map[int64]string // share index → commitment
	Retired     map[string]RetiredShare
	Destroyed   int64 // its backup.destroyed record, or 0
}

// Backup returns the backup with id.
func (s *State) Backup(id string) (BackupState, bool) {
	b, ok := s.backups.get(id)
	if !ok {
		return BackupState{}, false
	}
	return BackupState{Seq: b.seq, KeyID: b.keyID, M: b.m, N: b.n, SetSeq: b.setSeq, Holders: maps.Clone(b.holders),
		Commitments: maps.Clone(b.commitments), Retired: maps.Clone(b.retired), Destroyed: b.destroyed}, true
}

func (s *State) hasBackup(id string) bool {
	_, ok := s.backups.get(id)
	return ok
}

// NamespaceShareDestroyed is the namespace of a holder's signature that
// their share of a backup is destroyed.
const NamespaceShareDestroyed = "custos-share-destroyed"

// ShareDestroyedMessage is what a holder signs to attest that they
// destroyed their share of a backup.
func ShareDestroyedMessage(ledger, backup string, index int64, holder string) []byte {
	return []byte("custos share destroyed v1\nledger " + ledger + "\nbackup " + backup + "\nshare " + strconv.FormatInt(index, 10) + "\nholder " + holder + "\n")
}

// attestChecks checks a backup.destroyed's attestations: one per share of
// the backup, by the share's holder, each a signature only that holder
// could make. It returns the signatures to verify.
func (s *State) attestChecks(rec *Record) ([]approvalCheck, error) {
	if rec.Kind != "backup.destroyed" {
		return nil, nil
	}
	id := factString(rec.Facts, "backup_id")
	b, _ := s.backups.get(id)
	if b == nil {
		return nil, fmt.Errorf("facts.backup_id %.70q is not a backup of this ledger", id)
	}
	l, _ := rec.Facts["attested"].([]any)
	seen := map[int64]bool{}
	var checks []approvalCheck
	for i, e := range l {
		a, _ := e.(map[string]any)
		idx, ok := factInt(a, "index")
		member, sig := factString(a, "member"), factString(a, "signature")
		if len(a) != 3 || !ok || member == "" || sig == "" {
			return nil, fmt.Errorf("facts.attested[%d] must be {index, member, signature}", i)
		}
		if b.holders[idx] != member || seen[idx] {
			return nil, fmt.Errorf("facts.attested[%d]: share %d of backup %s is held by %s, not %s (or is attested twice)", i, idx, id, orNone(b.holders[idx]), member)
		}
		seen[idx] = true
		m := s.Roster.Member(member)
		if m == nil {
			return nil, fmt.Errorf("facts.attested[%d]: %s is no longer a member: their share cannot be attested destroyed by them", i, member)
		}
		pub, err := s.pub(m)
		if err != nil {
			return nil, fmt.Errorf("facts.attested[%d]: %w", i, err)
		}
		checks = append(checks, approvalCheck{member: member, pub: pub, sig: []byte(sig), ns: NamespaceShareDestroyed,
			msg: ShareDestroyedMessage(s.LedgerID, id, idx, member)})
	}
	for idx, h := range b.holders {
		if !seen[idx] {
			return nil, fmt.Errorf("share %d of backup %s (held by %s) is not attested destroyed: every holder signs for their share", idx, id, h)
		}
	}
	return checks, nil
}
