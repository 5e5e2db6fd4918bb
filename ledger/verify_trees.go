// Verify's checks of each commit's tree: records/ is the previous
// commit's plus the new record, and the derived files are those the
// replay writes.

package ledger

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"custos/ledger/internal/gitobj"
)

// before returns the entries folders d1 and d1/d2 of records/ held after
// the last commit checked: none for a folder that record starts.
func (v *verifier) before(d1, d2 string) (mid, leaf []gitobj.TreeEntry) {
	switch {
	case d1 != v.d1:
		return nil, nil
	case d2 != v.d2:
		return v.mid.Entries(), nil
	}
	return v.mid.Entries(), v.leaf.Entries()
}

// expectTree adds record seq (blob) to records/ as the last commit left
// it and returns the id of the tree the commit must have: those records
// and the derived files of the replay.
func (v *verifier) expectTree(seq int64, blob plumbing.Hash) plumbing.Hash {
	d1, d2, name := recordPath(seq)
	if d1 != v.d1 {
		v.mid.Reset(nil)
	}
	if d1 != v.d1 || d2 != v.d2 {
		v.leaf.Reset(nil)
	}
	v.d1, v.d2 = d1, d2
	v.leaf.Set(gitobj.TreeEntry{Name: name, Mode: filemode.Regular, Hash: blob})
	v.mid.Set(gitobj.TreeEntry{Name: d2, Mode: filemode.Dir, Hash: v.leaf.ID()})
	v.top.Set(gitobj.TreeEntry{Name: d1, Mode: filemode.Dir, Hash: v.mid.ID()})
	root := []gitobj.TreeEntry{
		{Name: dirRecords, Mode: filemode.Dir, Hash: v.top.ID()},
		{Name: fileLedgerMD, Mode: filemode.Regular, Hash: v.derived[fileLedgerMD]},
		{Name: fileSigners, Mode: filemode.Regular, Hash: v.derived[fileSigners]},
		{Name: fileRoster, Mode: filemode.Regular, Hash: v.derived[fileRoster]},
	}
	if !v.keysTree.IsZero() {
		root = append(root, gitobj.TreeEntry{Name: dirKeys, Mode: filemode.Dir, Hash: v.keysTree})
	}
	return gitobj.Hash(plumbing.TreeObject, gitobj.EncodeTree(root))
}

// checkTreeExact reads the tree of commit seq and checks it: in git's
// canonical form, only the files a ledger holds, each of its mode, and
// records/ the previous commit's plus record seq (checkRecordsExact). It
// returns the root's entries by name and the new record's blob id.
func (v *verifier) checkTreeExact(seq int64, tree plumbing.Hash) (map[string]gitobj.TreeEntry, plumbing.Hash, error) {
	tb, err := v.obj.Read(tree, plumbing.TreeObject)
	if err != nil {
		return nil, tree, err
	}
	root, err := gitobj.ParseTreeExact(tb)
	if err != nil {
		return nil, tree, fmt.Errorf("root tree: %w", err)
	}
	entries := map[string]gitobj.TreeEntry{}
	for _, e := range root {
		switch e.Name {
		case fileLedgerMD, fileSigners, fileRoster:
			if e.Mode != filemode.Regular {
				return nil, tree, fmt.Errorf("%s is not a regular file", e.Name)
			}
		case dirKeys, dirRecords:
			if e.Mode != filemode.Dir {
				return nil, tree, fmt.Errorf("%s is not a directory", e.Name)
			}
		default:
			return nil, tree, fmt.Errorf("unknown file %q in the ledger (only records/, keys/, roster.json, allowed_signers and LEDGER.md belong)", e.Name)
		}
		entries[e.Name] = e
	}
	recDir, ok := entries[dirRecords]
	if !ok {
		return nil, tree, errors.New("no records/ directory")
	}
	recHash, err := v.checkRecordsExact(seq, recDir.Hash)
	if err != nil {
		return nil, tree, err
	}
	return entries, recHash, nil
}

// checkRecordsExact reads records/ (tree top) of commit seq and checks
// that it is records/ of the previous commit plus record seq, naming what
// differs; it returns the new record's blob id.
func (v *verifier) checkRecordsExact(seq int64, top plumbing.Hash) (plumbing.Hash, error) {
	d1, d2, name := recordPath(seq)
	prevMid, prevLeaf := v.before(d1, d2)
	want := recordFile(seq)
	var levels [3][]gitobj.TreeEntry
	dir, h := dirRecords+"/", top
	for i, prev := range [][]gitobj.TreeEntry{v.top.Entries(), prevMid, prevLeaf} {
		b, err := v.obj.Read(h, plumbing.TreeObject)
		if err != nil {
			return h, fmt.Errorf("%s: %w", dir, err)
		}
		cur, err := gitobj.ParseTreeExact(b)
		if err != nil {
			return h, fmt.Errorf("%s: %w", dir, err)
		}
		open := []string{d1, d2, ""}[i]
		added, err := v.keeps(dir, prev, cur, open)
		if err != nil {
			return h, err
		}
		levels[i] = cur
		if i == 2 { // the record's folder: exactly one new file
			switch {
			case len(added) == 0:
				return h, fmt.Errorf("commit adds no record (one record per commit)")
			case len(added) > 1:
				return h, fmt.Errorf("commit adds %d files to %s (one record per commit)", len(added), dir)
			case added[0].Name != name || added[0].Mode != filemode.Regular:
				return h, fmt.Errorf("commit adds %s%s, want %s (records deleted, repeated or reordered)", dir, added[0].Name, want)
			}
			h = added[0].Hash
			continue
		}
		for _, a := range added {
			if a.Name != open {
				return h, fmt.Errorf("commit adds %s%s, want %s (one record per commit; records deleted, repeated or reordered)", dir, a.Name, want)
			}
		}
		next, ok := findEntry(cur, open)
		if !ok || next.Mode != filemode.Dir {
			return h, fmt.Errorf("commit does not add %s (records deleted, repeated or reordered)", want)
		}
		dir, h = dir+open+"/", next.Hash
	}
	v.top.Reset(levels[0])
	v.mid.Reset(levels[1])
	v.leaf.Reset(levels[2])
	v.d1, v.d2 = d1, d2
	return h, nil
}

// keeps checks that tree cur (folder dir) holds every entry of prev
// unchanged, except that folder open may change, and returns the entries
// cur adds. A changed folder is searched for the record that changed.
func (v *verifier) keeps(dir string, prev, cur []gitobj.TreeEntry, open string) ([]gitobj.TreeEntry, error) {
	rest := map[string]gitobj.TreeEntry{}
	for _, e := range cur {
		rest[e.Name] = e
	}
	for _, p := range prev {
		c, ok := rest[p.Name]
		delete(rest, p.Name)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s%s was deleted", dir, p.Key())
		case c == p || (p.Name == open && c.Mode == p.Mode):
		case c.Mode == filemode.Dir && p.Mode == filemode.Dir:
			ps, err1 := gitobj.ReadTree(v.obj, p.Hash)
			cs, err2 := gitobj.ReadTree(v.obj, c.Hash)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("%s%s/: %w", dir, p.Name, err)
			}
			added, err := v.keeps(dir+p.Name+"/", ps, cs, "")
			if err == nil && len(added) > 0 {
				err = fmt.Errorf("%s%s was added to a folder of earlier records", dir+p.Name+"/", added[0].Key())
			}
			if err == nil {
				err = fmt.Errorf("%s%s/ was changed", dir, p.Name)
			}
			return nil, err
		default:
			return nil, fmt.Errorf("%s%s was changed: a committed record is never changed", dir, p.Name)
		}
	}
	var added []gitobj.TreeEntry
	for _, e := range cur {
		if _, ok := rest[e.Name]; ok {
			added = append(added, e)
		}
	}
	return added, nil
}

func findEntry(es []gitobj.TreeEntry, name string) (gitobj.TreeEntry, bool) {
	for _, e := range es {
		if e.Name == name {
			return e, true
		}
	}
	return gitobj.TreeEntry{}, false
}

// replayDerived brings the expected blob ids of the derived files up to
// the replay.
func (v *verifier) replayDerived() error {
	s := v.state
	if v.derived[fileLedgerMD].IsZero() {
		v.derived[fileLedgerMD] = gitobj.Hash(plumbing.BlobObject, s.ledgerMD())
	}
	if s.dirty.roster {
		rb, err := s.rosterFile()
		if err != nil {
			return err
		}
		v.derived[fileRoster] = gitobj.Hash(plumbing.BlobObject, rb)
		v.derived[fileSigners] = gitobj.Hash(plumbing.BlobObject, s.signersFile())
	}
	if len(s.dirty.keys) > 0 {
		for id := range s.dirty.keys {
			k := s.Keys[id]
			v.keys.Put(strings.TrimPrefix(keyPath(k), dirKeys+"/"), gitobj.Hash(plumbing.BlobObject, keyFile(k)))
			if s.compact && compactWhen(k) {
				compactKey(k)
			}
		}
		v.keysTree = v.keys.ID()
	}
	s.dirty = dirtySet{}
	return nil
}

// checkDerived compares the derived files of a commit with the replay.
func (v *verifier) checkDerived(entries map[string]gitobj.TreeEntry) error {
	for _, name := range []string{fileLedgerMD, fileRoster, fileSigners} {
		e, ok := entries[name]
		if !ok {
			return fmt.Errorf("%s is missing", name)
		}
		if e.Hash != v.derived[name] {
			return fmt.Errorf("%s differs from the replay of the records (edited by hand?)", name)
		}
	}
	e, ok := entries[dirKeys]
	switch {
	case ok && v.keysTree.IsZero():
		return fmt.Errorf("keys/ exists but no record created a key")
	case !ok && !v.keysTree.IsZero():
		return fmt.Errorf("keys/ is missing")
	case ok && e.Hash != v.keysTree:
		return fmt.Errorf("keys/ differs from the replay of the records (a key file edited, added or removed)")
	}
	return nil
}
