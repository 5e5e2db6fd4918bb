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
)

// before returns the entries folders d1 and d1/d2 of records/ held after
// the last commit checked: none for a folder that record starts.
func (v *verifier) before(d1, d2 string) (mid, leaf []treeEntry) {
	switch {
	case d1 != v.d1:
		return nil, nil
	case d2 != v.d2:
		return v.mid.es, nil
	}
	return v.mid.es, v.leaf.es
}

// expectTree adds record seq (blob) to records/ as the last commit left
// it and returns the id of the tree the commit must have: those records
// and the derived files of the replay.
func (v *verifier) expectTree(seq int64, blob plumbing.Hash) plumbing.Hash {
	d1, d2, name := recordPath(seq)
	if d1 != v.d1 {
		v.mid.reset(nil)
	}
	if d1 != v.d1 || d2 != v.d2 {
		v.leaf.reset(nil)
	}
	v.d1, v.d2 = d1, d2
	v.leaf.set(treeEntry{name: name, mode: filemode.Regular, hash: blob})
	v.mid.set(treeEntry{name: d2, mode: filemode.Dir, hash: v.leaf.id()})
	v.top.set(treeEntry{name: d1, mode: filemode.Dir, hash: v.mid.id()})
	root := []treeEntry{
		{name: dirRecords, mode: filemode.Dir, hash: v.top.id()},
		{name: fileLedgerMD, mode: filemode.Regular, hash: v.derived[fileLedgerMD]},
		{name: fileSigners, mode: filemode.Regular, hash: v.derived[fileSigners]},
		{name: fileRoster, mode: filemode.Regular, hash: v.derived[fileRoster]},
	}
	if !v.keysTree.IsZero() {
		root = append(root, treeEntry{name: dirKeys, mode: filemode.Dir, hash: v.keysTree})
	}
	return hashObject(plumbing.TreeObject, encodeTree(root))
}

// checkRecordsExact reads records/ (tree top) of commit seq and checks
// that it is records/ of the previous commit plus record seq, naming what
// differs; it returns the new record's blob id.
func (v *verifier) checkRecordsExact(seq int64, top plumbing.Hash) (plumbing.Hash, error) {
	d1, d2, name := recordPath(seq)
	prevMid, prevLeaf := v.before(d1, d2)
	want := recordFile(seq)
	var levels [3][]treeEntry
	dir, h := dirRecords+"/", top
	for i, prev := range [][]treeEntry{v.top.es, prevMid, prevLeaf} {
		b, err := v.obj.read(h, plumbing.TreeObject)
		if err != nil {
			return h, fmt.Errorf("%s: %w", dir, err)
		}
		cur, err := parseTreeExact(b)
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
			case added[0].name != name || added[0].mode != filemode.Regular:
				return h, fmt.Errorf("commit adds %s%s, want %s (records deleted, repeated or reordered)", dir, added[0].name, want)
			}
			h = added[0].hash
			continue
		}
		for _, a := range added {
			if a.name != open {
				return h, fmt.Errorf("commit adds %s%s, want %s (one record per commit; records deleted, repeated or reordered)", dir, a.name, want)
			}
		}
		next, ok := findEntry(cur, open)
		if !ok || next.mode != filemode.Dir {
			return h, fmt.Errorf("commit does not add %s (records deleted, repeated or reordered)", want)
		}
		dir, h = dir+open+"/", next.hash
	}
	v.top.reset(levels[0])
	v.mid.reset(levels[1])
	v.leaf.reset(levels[2])
	v.d1, v.d2 = d1, d2
	return h, nil
}

// keeps checks that tree cur (folder dir) holds every entry of prev
// unchanged, except that folder open may change, and returns the entries
// cur adds. A changed folder is searched for the record that changed.
func (v *verifier) keeps(dir string, prev, cur []treeEntry, open string) ([]treeEntry, error) {
	rest := map[string]treeEntry{}
	for _, e := range cur {
		rest[e.name] = e
	}
	for _, p := range prev {
		c, ok := rest[p.name]
		delete(rest, p.name)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s%s was deleted", dir, treeKey(p))
		case c == p || (p.name == open && c.mode == p.mode):
		case c.mode == filemode.Dir && p.mode == filemode.Dir:
			ps, err1 := readTree(v.obj, p.hash)
			cs, err2 := readTree(v.obj, c.hash)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("%s%s/: %w", dir, p.name, err)
			}
			added, err := v.keeps(dir+p.name+"/", ps, cs, "")
			if err == nil && len(added) > 0 {
				err = fmt.Errorf("%s%s was added to a folder of earlier records", dir+p.name+"/", treeKey(added[0]))
			}
			if err == nil {
				err = fmt.Errorf("%s%s/ was changed", dir, p.name)
			}
			return nil, err
		default:
			return nil, fmt.Errorf("%s%s was changed: a committed record is never changed", dir, p.name)
		}
	}
	var added []treeEntry
	for _, e := range cur {
		if _, ok := rest[e.name]; ok {
			added = append(added, e)
		}
	}
	return added, nil
}

func findEntry(es []treeEntry, name string) (treeEntry, bool) {
	for _, e := range es {
		if e.name == name {
			return e, true
		}
	}
	return treeEntry{}, false
}

// replayDerived brings the expected blob ids of the derived files up to
// the replay.
func (v *verifier) replayDerived() error {
	s := v.state
	if v.derived[fileLedgerMD].IsZero() {
		v.derived[fileLedgerMD] = hashObject(plumbing.BlobObject, s.ledgerMD())
	}
	if s.dirty.roster {
		rb, err := s.rosterFile()
		if err != nil {
			return err
		}
		v.derived[fileRoster] = hashObject(plumbing.BlobObject, rb)
		v.derived[fileSigners] = hashObject(plumbing.BlobObject, s.signersFile())
	}
	if len(s.dirty.keys) > 0 {
		for id := range s.dirty.keys {
			k := s.Keys[id]
			v.keys.put(strings.TrimPrefix(keyPath(k), dirKeys+"/"), hashObject(plumbing.BlobObject, keyFile(k)))
		}
		v.keysTree = v.keys.id()
	}
	s.dirty = dirtySet{}
	return nil
}

// memTree is a folder of blob ids whose tree id is recomputed only along
// the paths that changed.
type memTree struct {
	t     encTree
	dirs  map[string]*memTree // the folders' contents
	dirty []string            // folders changed since the last id
	hash  plumbing.Hash       // zero when something below changed
}

func (t *memTree) put(path string, blob plumbing.Hash) {
	t.hash = plumbing.ZeroHash
	dir, rest, nested := strings.Cut(path, "/")
	if !nested {
		t.t.set(treeEntry{name: path, mode: filemode.Regular, hash: blob})
		return
	}
	if t.dirs == nil {
		t.dirs = map[string]*memTree{}
	}
	sub := t.dirs[dir]
	switch {
	case sub == nil:
		sub = &memTree{}
		t.dirs[dir] = sub
		t.dirty = append(t.dirty, dir)
	case !sub.hash.IsZero(): // not yet listed as changed
		t.dirty = append(t.dirty, dir)
	}
	sub.put(rest, blob)
}

func (t *memTree) id() plumbing.Hash {
	if t.hash.IsZero() {
		for _, d := range t.dirty {
			t.t.set(treeEntry{name: d, mode: filemode.Dir, hash: t.dirs[d].id()})
		}
		t.dirty = t.dirty[:0]
		t.hash = t.t.id()
	}
	return t.hash
}

// checkDerived compares the derived files of a commit with the replay.
func (v *verifier) checkDerived(entries map[string]treeEntry) error {
	for _, name := range []string{fileLedgerMD, fileRoster, fileSigners} {
		e, ok := entries[name]
		if !ok {
			return fmt.Errorf("%s is missing", name)
		}
		if e.hash != v.derived[name] {
			return fmt.Errorf("%s differs from the replay of the records (edited by hand?)", name)
		}
	}
	e, ok := entries[dirKeys]
	switch {
	case ok && v.keysTree.IsZero():
		return fmt.Errorf("keys/ exists but no record created a key")
	case !ok && !v.keysTree.IsZero():
		return fmt.Errorf("keys/ is missing")
	case ok && e.hash != v.keysTree:
		return fmt.Errorf("keys/ differs from the replay of the records (a key file edited, added or removed)")
	}
	return nil
}
