// Reading a ledger's records back: every record of the history, one
// record by its sequence number, and the records/ folders they live in.

package ledger

import (
	"errors"
	"fmt"
	"iter"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// Records iterates over the records at the head, oldest first, reading one
// at a time.
func (l *Ledger) Records() iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		if l.head.IsZero() {
			return
		}
		top, err := l.recordsDir(l.head)
		if err != nil {
			yield(nil, err)
			return
		}
		seq := int64(0)
		for e, err := range walkRecords(l.repo.Storer, top) {
			if err == nil {
				seq++
				if e.name != recordFile(seq) {
					err = fmt.Errorf("%s: unexpected file, want %s", e.name, recordFile(seq))
				}
			}
			var rec *Record
			if err == nil {
				rec, err = l.readRecord(e)
			}
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

// walkRecords yields the files under records/ (top: its entries) in tree
// order, each named by its path in the ledger.
func walkRecords(st objectSource, top []treeEntry) iter.Seq2[treeEntry, error] {
	return func(yield func(treeEntry, error) bool) {
		var walk func(dir string, es []treeEntry, depth int) bool
		walk = func(dir string, es []treeEntry, depth int) bool {
			for _, e := range es {
				p := dir + "/" + e.name
				if depth == 2 || e.mode != filemode.Dir {
					if !yield(treeEntry{name: p, mode: e.mode, hash: e.hash}, nil) {
						return false
					}
					continue
				}
				sub, err := readTree(st, e.hash)
				if err != nil {
					yield(treeEntry{}, fmt.Errorf("%s/: %w", p, err))
					return false
				}
				if !walk(p, sub, depth+1) {
					return false
				}
			}
			return true
		}
		walk(dirRecords, top, 0)
	}
}

// Record reads record seq at the head (1 ≤ seq ≤ State().Seq).
func (l *Ledger) Record(seq int64) (*Record, error) {
	if seq < 1 || seq > l.state.Seq {
		return nil, fmt.Errorf("ledger %s has no record %d", l.dir, seq)
	}
	es, err := l.recordsDir(l.head)
	if err != nil {
		return nil, err
	}
	d1, d2, name := recordPath(seq)
	for _, part := range []string{d1, d2} {
		if es, err = subdir(l.repo.Storer, es, part); err != nil {
			return nil, err
		}
	}
	for _, e := range es {
		if e.name == name {
			return l.readRecord(treeEntry{name: recordFile(seq), hash: e.hash})
		}
	}
	return nil, fmt.Errorf("%s: missing", recordFile(seq))
}

// readRecord reads and decodes the record file e (named by its path).
func (l *Ledger) readRecord(e treeEntry) (*Record, error) {
	b, err := readObject(l.repo.Storer, e.hash, plumbing.BlobObject)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	rec, err := DecodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	return rec, nil
}

func (l *Ledger) rootTree(commit plumbing.Hash) ([]treeEntry, error) {
	raw, err := readObject(l.repo.Storer, commit, plumbing.CommitObject)
	if err != nil {
		return nil, err
	}
	c, err := parseCommit(raw)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	return readTree(l.repo.Storer, c.tree)
}

// recordsDir returns the entries of records/ at commit.
func (l *Ledger) recordsDir(commit plumbing.Hash) ([]treeEntry, error) {
	root, err := l.rootTree(commit)
	if err != nil {
		return nil, err
	}
	es, err := subdir(l.repo.Storer, root, dirRecords)
	if err == nil && es == nil {
		err = errors.New("no records/ directory")
	}
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	return es, nil
}

// subdir returns the entries of folder name in es, none when it is absent.
func subdir(st objectSource, es []treeEntry, name string) ([]treeEntry, error) {
	for _, e := range es {
		if e.name != name {
			continue
		}
		if e.mode != filemode.Dir {
			return nil, fmt.Errorf("%s is not a folder", name)
		}
		return readTree(st, e.hash)
	}
	return nil, nil
}
