// The state machine's rules for resharing a backup: the backup a reshare
// names, the shares presented for it, and when a roster change makes one due.

package ledger

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// liveBackup is the backup a reshare record names: of this key, not
// destroyed.
func (s *State) liveBackup(rec *Record, k *KeyState) (*backupInfo, error) {
	id := factString(rec.Facts, "backup_id")
	b, _ := s.backups.get(id)
	if b == nil || b.keyID != k.ID {
		return nil, fmt.Errorf("facts.backup_id %.70q is not a backup of key %s", id, k.ID)
	}
	if b.destroyed != 0 {
		return nil, fmt.Errorf("backup %s was destroyed (record %d): there are no shares left to reshare", id, b.destroyed)
	}
	return b, nil
}

// NamespaceSharePresented is the namespace of a holder's signature that
// they presented their share to a reshare.
const NamespaceSharePresented = "custos-share-presented"

// SharePresentedMessage is what a holder signs when their share, checked
// against its commitment, is presented to reshare ceremony cer.
func SharePresentedMessage(ledger, backup string, index int64, holder, commitment, cer string) []byte {
	return []byte("custos share presented v1\nledger " + ledger + "\nbackup " + backup + "\nshare " + strconv.FormatInt(index, 10) +
		"\nholder " + holder + "\ncommitment " + commitment + "\nceremony " + cer + "\n")
}

// presentChecks checks a backup.reshare.intent's presented shares: at
// least the current threshold of them, each a current share named with
// its holder and commitment, each signed by that holder. One member
// alone cannot reshare: the old shares' holders sign that they took part.
func (s *State) presentChecks(rec *Record) ([]approvalCheck, error) {
	if rec.Kind != "backup.reshare.intent" {
		return nil, nil
	}
	id := factString(rec.Facts, "backup_id")
	b, _ := s.backups.get(id)
	if b == nil {
		return nil, fmt.Errorf("facts.backup_id %.70q is not a backup of this ledger", id)
	}
	l, _ := rec.Facts["presented"].([]any)
	seen := map[int64]bool{}
	var checks []approvalCheck
	for i, e := range l {
		p, _ := e.(map[string]any)
		idx, ok := factInt(p, "index")
		member, c, sig := factString(p, "member"), factString(p, "commitment"), factString(p, "signature")
		if len(p) != 4 || !ok || member == "" || sig == "" {
			return nil, fmt.Errorf("facts.presented[%d] must be {index, member, commitment, signature}", i)
		}
		if r, ok := b.retired[c]; ok {
			return nil, fmt.Errorf("facts.presented[%d]: share %d of backup %s held by %s was retired by the reshare of record %d", i, r.Index, id, r.Holder, r.Seq)
		}
		if b.holders[idx] != member || b.commitments[idx] != c || seen[idx] {
			return nil, fmt.Errorf("facts.presented[%d]: share %d of backup %s is held by %s with another commitment, not presented by %s (or presented twice)", i, idx, id, orNone(b.holders[idx]), member)
		}
		seen[idx] = true
		m := s.Roster.Member(member)
		if m == nil {
			return nil, fmt.Errorf("facts.presented[%d]: %s is no longer a member: their share cannot be presented", i, member)
		}
		pub, err := s.pub(m)
		if err != nil {
			return nil, fmt.Errorf("facts.presented[%d]: %w", i, err)
		}
		checks = append(checks, approvalCheck{member: member, pub: pub, sig: []byte(sig), ns: NamespaceSharePresented,
			msg: SharePresentedMessage(s.LedgerID, id, idx, member, c, rec.Ceremony)})
	}
	if int64(len(seen)) < b.m {
		return nil, fmt.Errorf("%d shares of backup %s presented, its threshold is %d: a reshare needs that many holders to present their shares", len(seen), id, b.m)
	}
	return checks, nil
}

// resplitRule: a roster change that removes a holder of a live backup's
// current shares names that backup in shares_to_resplit (and names no
// other), so the approvers see what the change leaves to do.
func (s *State) resplitRule(rec *Record, next *Roster) error {
	want := map[string]bool{}
	for _, id := range s.backups.keys() {
		b, _ := s.backups.get(id)
		if b.destroyed != 0 {
			continue
		}
		for _, h := range b.holders {
			if s.Roster.Member(h) != nil && next.Member(h) == nil {
				want[id+"\x00"+h] = true
			}
		}
	}
	l, _ := rec.Facts["shares_to_resplit"].([]any)
	got := map[string]bool{}
	for i, e := range l {
		r, _ := e.(map[string]any)
		k := factString(r, "backup") + "\x00" + factString(r, "holder")
		if len(r) != 2 || !want[k] || got[k] {
			return fmt.Errorf("facts.shares_to_resplit[%d] is not {backup, holder} of a live backup whose share a member leaving holds (or is named twice)", i)
		}
		got[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !got[k] {
			id, h, _ := strings.Cut(k, "\x00")
			return fmt.Errorf("%s holds a share of backup %s and leaves the roster: facts.shares_to_resplit must name it", h, id)
		}
	}
	return nil
}

// ReshareDue lists, for each live backup whose current shares a member
// no longer on the roster holds, those holders: the backup must be
// reshared (or destroyed).
func (s *State) ReshareDue() map[string][]string {
	out := map[string][]string{}
	for _, id := range s.backups.keys() {
		b, _ := s.backups.get(id)
		if b.destroyed != 0 {
			continue
		}
		for _, idx := range slices.Sorted(maps.Keys(b.holders)) {
			if h := b.holders[idx]; s.Roster.Member(h) == nil {
				out[id] = append(out[id], h)
			}
		}
	}
	return out
}
