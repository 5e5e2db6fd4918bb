// Loading a kept replay (kept.go) for the head being opened, and what
// binds it to the commits: it is used only when it was written by this
// account (its MAC), names this ledger (its id and genesis digest, read
// from the ledger), names a commit on the head's first-parent chain
// whose last record is the state's seq and digest, and the head's
// records up to that seq are those of that commit, entry for entry.

package ledger

import (
	"bytes"
	"errors"
	"slices"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"

	"custos/ledger/internal/gitobj"
)

// loadKept returns the kept state that the head (whose records/ entries
// are top) extends, or nil: no kept state, or one not to be used.
func (l *Ledger) loadKept(top []gitobj.TreeEntry, key []byte) *State {
	_, common, err := l.dirs()
	if err != nil || key == nil {
		return nil
	}
	first, err := l.recordIn(top, 1)
	if err != nil {
		return nil
	}
	b, err := readSmall(keptPath(common, first.rec.Ledger), maxKeptFile)
	if err != nil {
		return nil
	}
	k, err := decodeKept(b, key)
	if err != nil || k.Ledger != first.rec.Ledger || k.Genesis != first.digest || k.Seq < 1 || k.Seq >= maxRecords {
		return nil
	}
	kc := plumbing.NewHash(k.Commit)
	if kc.String() != k.Commit || !l.onFirstParents(kc, k.Seq) {
		return nil
	}
	kTop := top
	if kc != l.head {
		if kTop, err = l.recordsDir(kc); err != nil {
			return nil
		}
	}
	// The commit's last record is the state's.
	last, err := l.recordIn(kTop, k.Seq)
	if err != nil || last.digest != k.Head {
		return nil
	}
	if _, err := l.recordIn(kTop, k.Seq+1); err == nil {
		return nil
	}
	if same, err := l.sameBefore(top, kTop, k.Seq+1); err != nil || !same {
		return nil
	}
	s, err := k.state()
	if err != nil {
		return nil
	}
	ro, err := l.recordIn(top, k.RosterSeq)
	if err != nil || k.RosterSeq > k.Seq || s.setRosterFrom(ro.rec) != nil {
		return nil
	}
	return s
}

// saveKept keeps the state at the head; a failure (a read-only copy) is
// not an error: the next Open replays.
func (l *Ledger) saveKept(key []byte) {
	_, common, err := l.dirs()
	if err != nil || key == nil {
		return
	}
	k, err := keep(l.state, l.head.String())
	if err != nil {
		return
	}
	b, err := encodeKept(k, key)
	if err != nil {
		return
	}
	_ = writeKept(keptPath(common, l.state.LedgerID), b)
}

// recordIn reads record seq from top (the entries of records/).
func (l *Ledger) recordIn(top []gitobj.TreeEntry, seq int64) (recordAt, error) {
	d1, d2, name := recordPath(seq)
	es := top
	var err error
	for _, part := range []string{d1, d2} {
		if es, err = subdir(l.src(), es, part); err != nil {
			return recordAt{}, err
		}
	}
	for _, e := range es {
		if e.Name == name {
			return l.readRecordAt(gitobj.TreeEntry{Name: recordFile(seq), Hash: e.Hash})
		}
	}
	return recordAt{}, errors.New(recordFile(seq) + ": missing")
}

// onFirstParents reports whether commit c is on the head's first-parent
// chain. The walk stops at the first commit whose Custos-Seq trailer is
// at most seq (c's own record), so it reads one commit per new record.
func (l *Ledger) onFirstParents(c plumbing.Hash, seq int64) bool {
	at := l.head
	for range maxRecords {
		if at == c {
			return true
		}
		raw, err := l.read(at, plumbing.CommitObject)
		if err != nil {
			return false
		}
		pc, err := gitobj.ParseCommit(raw)
		if err != nil || len(pc.Parents) == 0 {
			return false
		}
		if n, ok := trailerSeq(raw); !ok || n <= seq {
			return false
		}
		at = pc.Parents[0]
	}
	return false
}

// trailerSeq is the Custos-Seq trailer of a raw commit.
func trailerSeq(raw []byte) (int64, bool) {
	_, after, ok := bytes.Cut(raw, []byte("\nCustos-Seq: "))
	if !ok {
		return 0, false
	}
	line, _, _ := bytes.Cut(after, []byte("\n"))
	n, err := strconv.ParseInt(string(line), 10, 64)
	return n, err == nil
}

// sameBefore reports whether the entries a walk from record from skips
// (walkRecordsFrom) are the same in a and b: name, mode and object.
func (l *Ledger) sameBefore(a, b []gitobj.TreeEntry, from int64) (bool, error) {
	d1, d2, name := recordPath(from)
	parts := []string{d1, d2, name}
	for depth, part := range parts {
		before := func(es []gitobj.TreeEntry) []gitobj.TreeEntry {
			return slices.DeleteFunc(slices.Clone(es), func(e gitobj.TreeEntry) bool { return e.Name >= part })
		}
		if !slices.Equal(before(a), before(b)) {
			return false, nil
		}
		if depth == 2 {
			break
		}
		var err error
		if a, err = subdir(l.src(), a, part); err != nil {
			return false, err
		}
		if b, err = subdir(l.src(), b, part); err != nil {
			return false, err
		}
	}
	return true, nil
}
