// Trees: their entries in git's order, their encoding and parsing, and
// trees kept with their encoding so that a small change rehashes fast.

package gitobj

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// TreeEntry is one entry of a git tree.
type TreeEntry struct {
	Name string
	Mode filemode.FileMode
	Hash plumbing.Hash
}

// EncodeTree encodes entries (sorted as git sorts them) into tree content.
func EncodeTree(es []TreeEntry) []byte {
	if !slices.IsSortedFunc(es, compareEntries) {
		slices.SortFunc(es, compareEntries)
	}
	n := 0
	for _, e := range es {
		n += len(e.Name) + 28
	}
	b := make([]byte, 0, n)
	for _, e := range es {
		b = appendEntry(b, e)
	}
	return b
}

// Tree is a tree kept with its encoding, so that a changed id, or an
// entry that sorts last (a ledger grows at its end), patches the encoding
// instead of redoing it. A name must keep its mode.
type Tree struct {
	es  []TreeEntry // sorted as git sorts them
	enc []byte      // nil when it must be redone
	at  []int       // where each entry's id starts in enc
}

// Reset makes the tree es (sorted).
func (t *Tree) Reset(es []TreeEntry) {
	t.es, t.enc, t.at = es, nil, t.at[:0]
}

// Set adds e, or changes the id of the entry named e.Name.
func (t *Tree) Set(e TreeEntry) {
	i, found := slices.BinarySearchFunc(t.es, e, compareEntries)
	switch {
	case found:
		t.es[i] = e
		if t.enc != nil {
			copy(t.enc[t.at[i]:], e.Hash[:])
		}
	case i == len(t.es) && t.enc != nil:
		t.es = append(t.es, e)
		t.enc = appendEntry(t.enc, e)
		t.at = append(t.at, len(t.enc)-len(e.Hash))
	default:
		t.es = slices.Insert(t.es, i, e)
		t.enc = nil
	}
}

// Entries are the tree's entries, in git's order; the caller must not
// change them.
func (t *Tree) Entries() []TreeEntry { return t.es }

// ID is the tree's id.
func (t *Tree) ID() plumbing.Hash {
	if t.enc == nil {
		t.at = t.at[:0]
		for _, e := range t.es {
			t.enc = appendEntry(t.enc, e)
			t.at = append(t.at, len(t.enc)-len(e.Hash))
		}
	}
	return Hash(plumbing.TreeObject, t.enc)
}

// compareEntries orders tree entries as git does: by name, a folder's
// name compared as if it ended in "/".
func compareEntries(a, b TreeEntry) int {
	n := min(len(a.Name), len(b.Name))
	if c := strings.Compare(a.Name[:n], b.Name[:n]); c != 0 {
		return c
	}
	next := func(e TreeEntry) int {
		switch {
		case len(e.Name) > n:
			return int(e.Name[n])
		case e.Mode == filemode.Dir:
			return '/'
		}
		return 0
	}
	return next(a) - next(b)
}

func appendEntry(b []byte, e TreeEntry) []byte {
	switch e.Mode {
	case filemode.Regular:
		b = append(b, "100644"...)
	case filemode.Dir:
		b = append(b, "40000"...)
	default:
		b = strconv.AppendUint(b, uint64(e.Mode), 8)
	}
	b = append(b, ' ')
	b = append(b, e.Name...)
	b = append(b, 0)
	return append(b, e.Hash[:]...)
}

// Key is e's name as git sorts it: a folder's with a "/" after it.
func (e TreeEntry) Key() string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// ParseTree decodes tree content without trusting it.
func ParseTree(b []byte) ([]TreeEntry, error) {
	var out []TreeEntry
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp < 0 {
			return nil, errors.New("malformed tree entry")
		}
		mode, err := strconv.ParseUint(string(b[:sp]), 8, 32)
		if err != nil {
			return nil, errors.New("malformed tree entry mode")
		}
		b = b[sp+1:]
		nul := bytes.IndexByte(b, 0)
		if nul < 0 || len(b) < nul+1+20 {
			return nil, errors.New("truncated tree entry")
		}
		var h plumbing.Hash
		copy(h[:], b[nul+1:nul+21])
		out = append(out, TreeEntry{Name: string(b[:nul]), Mode: filemode.FileMode(mode), Hash: h})
		b = b[nul+21:]
	}
	return out, nil
}

// ParseTreeExact is ParseTree for exact checks: the tree must be
// encoded as git writes it, entries in git's order, none repeated, modes
// without zero padding. Otherwise two tools could show different files
// for the same tree (git takes one of two entries of the same name).
func ParseTreeExact(b []byte) ([]TreeEntry, error) {
	es, err := ParseTree(b)
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(es); i++ {
		if es[i-1].Name == es[i].Name || compareEntries(es[i-1], es[i]) > 0 {
			return nil, fmt.Errorf("not in git's canonical form: %q is out of order or repeated", es[i].Name)
		}
	}
	if !bytes.Equal(EncodeTree(es), b) {
		return nil, errors.New("not in git's canonical form: a mode is not written as git writes it")
	}
	return es, nil
}

// MemTree is a folder of blob ids whose tree id is recomputed only along
// the paths that changed.
type MemTree struct {
	t     Tree
	dirs  map[string]*MemTree // the folders' contents
	dirty []string            // folders changed since the last id
	hash  plumbing.Hash       // zero when something below changed
}

// Put sets the file at path (folders separated by "/") to blob.
func (t *MemTree) Put(path string, blob plumbing.Hash) {
	t.hash = plumbing.ZeroHash
	dir, rest, nested := strings.Cut(path, "/")
	if !nested {
		t.t.Set(TreeEntry{Name: path, Mode: filemode.Regular, Hash: blob})
		return
	}
	if t.dirs == nil {
		t.dirs = map[string]*MemTree{}
	}
	sub := t.dirs[dir]
	switch {
	case sub == nil:
		sub = &MemTree{}
		t.dirs[dir] = sub
		t.dirty = append(t.dirty, dir)
	case !sub.hash.IsZero(): // not yet listed as changed
		t.dirty = append(t.dirty, dir)
	}
	sub.Put(rest, blob)
}

// ID is the tree's id.
func (t *MemTree) ID() plumbing.Hash {
	if t.hash.IsZero() {
		for _, d := range t.dirty {
			t.t.Set(TreeEntry{Name: d, Mode: filemode.Dir, Hash: t.dirs[d].ID()})
		}
		t.dirty = t.dirty[:0]
		t.hash = t.t.ID()
	}
	return t.hash
}
