// Reader: a repository's object stores read directly, loose and packed,
// every object checked against its id.

package gitobj

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
)

// Reader reads git objects: loose objects straight from the objects
// directory (the common case for a ledger written by custos, and much
// faster than through go-git's file-system layers), packed ones with
// packSet, then the same from each alternate object store, in git's
// order. Every object is checked against its id wherever it is found, so
// an alternate cannot shadow an object with other content. Every read is
// bounded: a loose object must be a regular file, its header must declare
// at most MaxObjectSize bytes, and it must inflate to exactly that. A
// Reader is not safe for concurrent use: Fork gives one that is, beside
// it.
type Reader struct {
	stores []store // the repository's own first, then its alternates
	zr     io.ReadCloser
	file   []byte       // a loose object's compressed bytes
	src    bytes.Reader // over file: a ByteReader, so zlib adds no buffer
}

// store is one object directory and its packs.
type store struct {
	objects string
	packs   *packSet // shared by the forks of a Reader, which never read at once
}

// NewReader reads the object directories dirs, in order: a repository's
// own, then its alternates as git lists them.
func NewReader(dirs ...string) *Reader {
	o := &Reader{}
	for _, d := range dirs {
		o.stores = append(o.stores, store{objects: d, packs: &packSet{dir: filepath.Join(d, "pack")}})
	}
	return o
}

// Fork is a reader of the same stores with buffers of its own. It shares
// o's packs, which are not safe for concurrent use: the two must not
// read at the same time.
func (o *Reader) Fork() *Reader {
	return &Reader{stores: o.stores}
}

// Close closes the packs of every store.
func (o *Reader) Close() {
	for _, s := range o.stores {
		s.packs.close()
	}
}

// open reads loose object h's file in dir and points the inflater at it;
// false when there is no such file (the object is packed, or missing).
func (o *Reader) open(dir string, h plumbing.Hash) (bool, error) {
	hex := h.String()
	var loose bool
	var err error
	o.file, loose, err = readLoose(dir+string(filepath.Separator)+hex[:2]+string(filepath.Separator)+hex[2:], o.file, MaxLooseFile)
	if !loose || err != nil {
		return loose, err
	}
	o.src.Reset(o.file)
	if o.zr == nil {
		o.zr, err = zlib.NewReader(&o.src)
	} else {
		err = o.zr.(zlib.Resetter).Reset(&o.src, nil)
	}
	if err != nil {
		return true, fmt.Errorf("not zlib data: %w", err)
	}
	return true, nil
}

// Read reads object h, of type typ, from the first store that holds it,
// checked against its id; an error wrapping plumbing.ErrObjectNotFound
// when none does.
func (o *Reader) Read(h plumbing.Hash, typ plumbing.ObjectType) ([]byte, error) {
	for _, s := range o.stores {
		b, err := o.readFrom(s, h, typ)
		if err != plumbing.ErrObjectNotFound {
			return b, err
		}
	}
	return nil, fmt.Errorf("git object %s: %w", h, plumbing.ErrObjectNotFound)
}

// readFrom reads object h from store s: plumbing.ErrObjectNotFound (not
// wrapped) when s does not hold it.
func (o *Reader) readFrom(s store, h plumbing.Hash, typ plumbing.ObjectType) ([]byte, error) {
	loose, err := o.open(s.objects, h)
	switch {
	case !loose:
		return o.packed(s.packs, h, typ)
	case err != nil:
		return nil, fmt.Errorf("git object %s: %w", h, err)
	}
	t, content, err := inflateLoose(o.zr)
	if err != nil {
		return nil, fmt.Errorf("git object %s is corrupt: %w", h, err)
	}
	if t != typ.String() {
		return nil, fmt.Errorf("git object %s is a %.20q, want a %s", h, t, typ)
	}
	if err := checkID(h, typ, content); err != nil {
		return nil, err
	}
	return content, nil
}

// inflateLoose reads a loose object from zr: its header ("<type> <size>"
// and a NUL), then exactly the size it declares, at most MaxObjectSize,
// and the end of the zlib stream (whose checksum zlib checks there). A
// stream that goes on past the declared size (a zlib bomb) is refused
// without inflating more than one byte beyond it.
func inflateLoose(zr io.Reader) (typ string, content []byte, err error) {
	var hdr [32]byte // "commit 33554432\x00" and what follows
	n, nul := 0, -1
	for nul < 0 && n < len(hdr) {
		m, err := zr.Read(hdr[n:])
		nul = bytes.IndexByte(hdr[:n+m], 0)
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, err
		}
	}
	if nul < 0 {
		return "", nil, errors.New("no object header")
	}
	t, size, ok := bytes.Cut(hdr[:nul], []byte(" "))
	sz, err := strconv.ParseInt(string(size), 10, 64)
	if !ok || err != nil || sz < 0 || (len(size) > 1 && size[0] == '0') {
		return "", nil, fmt.Errorf("bad object header %.40q", hdr[:nul])
	}
	if sz > MaxObjectSize {
		return "", nil, fmt.Errorf("its header declares %d bytes, more than the %d a ledger object may take", sz, MaxObjectSize)
	}
	content = make([]byte, sz)
	got := copy(content, hdr[nul+1:n])
	if n-nul-1 > int(sz) {
		return "", nil, fmt.Errorf("it inflates past the %d bytes its header declares", sz)
	}
	if _, err := io.ReadFull(zr, content[got:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return "", nil, fmt.Errorf("it ends before the %d bytes its header declares", sz)
		}
		return "", nil, err
	}
	var one [1]byte
	switch m, err := io.ReadFull(zr, one[:]); {
	case m > 0:
		return "", nil, fmt.Errorf("it inflates past the %d bytes its header declares", sz)
	case !errors.Is(err, io.EOF):
		return "", nil, err
	}
	return string(t), content, nil
}

// packed reads object h from packs.
func (o *Reader) packed(packs *packSet, h plumbing.Hash, typ plumbing.ObjectType) (b []byte, err error) {
	// A pack is a file anyone could have altered: whatever it meets, the
	// read is an error naming a corrupt object, never a panic (go-git's
	// PatchDelta applies its deltas).
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("git object %s: the pack holding it is corrupt (%v)", h, r)
		}
	}()
	t, b, err := packs.get(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, plumbing.ErrObjectNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("git object %s: %w", h, err)
	}
	if t != typ {
		return nil, fmt.Errorf("git object %s is a %s, want a %s", h, t, typ)
	}
	if err := checkID(h, typ, b); err != nil {
		return nil, err
	}
	return b, nil
}

// EncodedObject reads tree h through o, whatever type is asked: o is a
// Source of trees (for ReadTree and the walks of a tree).
func (o *Reader) EncodedObject(_ plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	return o.memObject(h, plumbing.TreeObject)
}

func (o *Reader) memObject(h plumbing.Hash, typ plumbing.ObjectType) (plumbing.EncodedObject, error) {
	b, err := o.Read(h, typ)
	if err != nil {
		return nil, err
	}
	obj := &plumbing.MemoryObject{}
	obj.SetType(typ)
	obj.Write(b)
	return obj, nil
}

// Commits is a Source of commits, and only commits, read through o.
func (o *Reader) Commits() Source { return commitSource{o} }

type commitSource struct{ o *Reader }

func (c commitSource) EncodedObject(_ plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	return c.o.memObject(h, plumbing.CommitObject)
}

// Commit reads and parses commit h.
func (o *Reader) Commit(h plumbing.Hash) (*Commit, error) {
	raw, err := o.Read(h, plumbing.CommitObject)
	if err != nil {
		return nil, err
	}
	return ParseCommit(raw)
}
