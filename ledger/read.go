// Reading a ledger's records back: every record of the history, one
// record by its sequence number, and the records/ folders they live in.

package ledger

import (
	"errors"
	"fmt"
	"iter"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"custos/ledger/internal/gitobj"
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
		for r, err := range l.recordsFrom(top, 1) {
			if !yield(r.rec, err) || err != nil {
				return
			}
		}
	}
}

// recordsFrom iterates over the records in top (the entries of records/)
// from seq from on, not reading the folders of the records before it.
func (l *Ledger) recordsFrom(top []gitobj.TreeEntry, from int64) iter.Seq2[recordAt, error] {
	return func(yield func(recordAt, error) bool) {
		seq := from - 1
		for e, err := range walkRecordsFrom(l.src(), top, from) {
			if err == nil {
				seq++
				if e.Name != recordFile(seq) {
					err = fmt.Errorf("%s: unexpected file, want %s", e.Name, recordFile(seq))
				}
			}
			var r recordAt
			if err == nil {
				r, err = l.readRecordAt(e)
			}
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
}

// walkRecords yields the files under records/ (top: its entries) in tree
// order, each named by its path in the ledger.
func walkRecords(st gitobj.Source, top []gitobj.TreeEntry) iter.Seq2[gitobj.TreeEntry, error] {
	return walkRecordsFrom(st, top, 0)
}

// walkRecordsFrom is walkRecords skipping what sorts before record from
// (the names are fixed-width digits: tree order is record order);
// from 0 skips nothing.
func walkRecordsFrom(st gitobj.Source, top []gitobj.TreeEntry, from int64) iter.Seq2[gitobj.TreeEntry, error] {
	var skip [3]string
	if from > 0 {
		d1, d2, name := recordPath(from)
		skip = [3]string{d1, d2, name}
	}
	return func(yield func(gitobj.TreeEntry, error) bool) {
		var walk func(dir string, es []gitobj.TreeEntry, depth int, skipping bool) bool
		walk = func(dir string, es []gitobj.TreeEntry, depth int, skipping bool) bool {
			for _, e := range es {
				if skipping && e.Name < skip[depth] {
					continue
				}
				p := dir + "/" + e.Name
				if depth == 2 || e.Mode != filemode.Dir {
					if !yield(gitobj.TreeEntry{Name: p, Mode: e.Mode, Hash: e.Hash}, nil) {
						return false
					}
					continue
				}
				sub, err := gitobj.ReadTree(st, e.Hash)
				if err != nil {
					yield(gitobj.TreeEntry{}, fmt.Errorf("%s/: %w", p, err))
					return false
				}
				if !walk(p, sub, depth+1, skipping && e.Name == skip[depth]) {
					return false
				}
			}
			return true
		}
		walk(dirRecords, top, 0, from > 0)
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
		if es, err = subdir(l.src(), es, part); err != nil {
			return nil, err
		}
	}
	for _, e := range es {
		if e.Name == name {
			return l.readRecord(gitobj.TreeEntry{Name: recordFile(seq), Hash: e.Hash})
		}
	}
	return nil, fmt.Errorf("%s: missing", recordFile(seq))
}

// readRecord reads and decodes the record file e (named by its path).
func (l *Ledger) readRecord(e gitobj.TreeEntry) (*Record, error) {
	r, err := l.readRecordAt(e)
	return r.rec, err
}

// recordAt is a record read and its digest.
type recordAt struct {
	rec    *Record
	digest string
}

// readRecordAt reads and decodes the record file e, and takes its
// digest. A record file as custos writes it (canonical, one newline) is
// decoded by verify's parser, several times faster, and its digest is
// that of its bytes; anything else is decoded as before, so Open accepts
// what it always did.
func (l *Ledger) readRecordAt(e gitobj.TreeEntry) (recordAt, error) {
	b, err := l.read(e.Hash, plumbing.BlobObject)
	if err != nil {
		return recordAt{}, fmt.Errorf("%s: %w", e.Name, err)
	}
	if rec, canon, _, err := decodeStored(b); err == nil {
		return recordAt{rec, digestOf(canon)}, nil
	}
	rec, err := DecodeRecord(b)
	if err != nil {
		return recordAt{}, fmt.Errorf("%s: %w", e.Name, err)
	}
	d, err := rec.Digest()
	if err != nil {
		return recordAt{}, fmt.Errorf("%s: %w", e.Name, err)
	}
	return recordAt{rec, d}, nil
}

func (l *Ledger) rootTree(commit plumbing.Hash) ([]gitobj.TreeEntry, error) {
	raw, err := l.read(commit, plumbing.CommitObject)
	if err != nil {
		return nil, err
	}
	c, err := gitobj.ParseCommit(raw)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	return gitobj.ReadTree(l.src(), c.Tree)
}

// recordsDir returns the entries of records/ at commit.
func (l *Ledger) recordsDir(commit plumbing.Hash) ([]gitobj.TreeEntry, error) {
	root, err := l.rootTree(commit)
	if err != nil {
		return nil, err
	}
	es, err := subdir(l.src(), root, dirRecords)
	if err == nil && es == nil {
		err = errors.New("no records/ directory")
	}
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	return es, nil
}

// subdir returns the entries of folder name in es, none when it is absent.
func subdir(st gitobj.Source, es []gitobj.TreeEntry, name string) ([]gitobj.TreeEntry, error) {
	for _, e := range es {
		if e.Name != name {
			continue
		}
		if e.Mode != filemode.Dir {
			return nil, fmt.Errorf("%s is not a folder", name)
		}
		return gitobj.ReadTree(st, e.Hash)
	}
	return nil, nil
}

// readStored reads the record file h through o and decodes it
// (decodeStored).
func readStored(o *gitobj.Reader, h plumbing.Hash) (*Record, []byte, string, error) {
	blob, err := o.Read(h, plumbing.BlobObject)
	if err != nil {
		return nil, nil, "", err
	}
	return decodeStored(blob)
}
