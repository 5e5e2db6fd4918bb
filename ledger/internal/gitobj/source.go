// Reading objects from any object source (go-git's storage, a Reader,
// or several in turn), each checked against its id, and writing them.

package gitobj

import (
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Source is where objects are read from: go-git's storage, or a Reader.
type Source interface {
	EncodedObject(plumbing.ObjectType, plumbing.Hash) (plumbing.EncodedObject, error)
}

// Read reads object h of type typ from st and checks that its content
// hashes to its id: a ledger whose object files were edited in place is
// caught here.
func Read(st Source, h plumbing.Hash, typ plumbing.ObjectType) ([]byte, error) {
	o, err := st.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return nil, fmt.Errorf("git object %s: %w", h, err)
	}
	return content(o, h, typ)
}

// ReadTree reads and parses tree h.
func ReadTree(st Source, h plumbing.Hash) ([]TreeEntry, error) {
	b, err := Read(st, h, plumbing.TreeObject)
	if err != nil {
		return nil, err
	}
	return ParseTree(b)
}

// content is o's content, checked to be of type typ and to hash to its
// id h.
func content(o plumbing.EncodedObject, h plumbing.Hash, typ plumbing.ObjectType) ([]byte, error) {
	if o.Type() != typ {
		return nil, fmt.Errorf("git object %s is a %s, want a %s", h, o.Type(), typ)
	}
	if o.Size() < 0 || o.Size() > MaxObjectSize {
		return nil, fmt.Errorf("git object %s declares %d bytes, more than the %d a ledger object may take", h, o.Size(), MaxObjectSize)
	}
	r, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("git object %s: %w", h, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, o.Size()+1))
	if err != nil {
		return nil, fmt.Errorf("git object %s: %w", h, err)
	}
	if int64(len(b)) != o.Size() {
		return nil, fmt.Errorf("git object %s is corrupt: %d bytes, its header says %d", h, len(b), o.Size())
	}
	if err := checkID(h, typ, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Write stores content as an object of type typ unless an object with
// its id is already there (as git does: the derived files rarely
// change).
func Write(st storer.EncodedObjectStorer, typ plumbing.ObjectType, content []byte) (plumbing.Hash, error) {
	if h := Hash(typ, content); st.HasEncodedObject(h) == nil {
		return h, nil
	}
	o := st.NewEncodedObject()
	o.SetType(typ)
	o.SetSize(int64(len(content)))
	w, err := o.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(o)
}

// Either reads an object from the first source that has it.
type Either []Source

func (e Either) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	var first error
	for _, s := range e {
		o, err := s.EncodedObject(t, h)
		if err == nil {
			return o, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}
