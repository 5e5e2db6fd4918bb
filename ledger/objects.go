package ledger

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

// objectReader reads git objects for verify: loose objects straight from
// .git/objects (the common case for a ledger written by custos, and much
// faster than through go-git's file-system layers), anything else (packs)
// through go-git. Every object is checked against its id either way.
type objectReader struct {
	objects string // .git/objects
	st      objectSource
	packs   *packSet // shared by the readers of one verify, which never read at once
	zr      io.ReadCloser
	buf     bytes.Buffer
	file    []byte       // a loose object's compressed bytes
	src     bytes.Reader // over file: a ByteReader, so zlib adds no buffer
}

// open reads loose object h's file and points the inflater at it; false
// when there is no such file (the object is packed, or missing).
func (o *objectReader) open(h plumbing.Hash) (bool, error) {
	hex := h.String()
	var loose bool
	var err error
	o.file, loose, err = readLoose(o.objects+string(filepath.Separator)+hex[:2]+string(filepath.Separator)+hex[2:], o.file)
	if !loose || err != nil {
		return loose, err
	}
	o.src.Reset(o.file)
	if o.zr == nil {
		o.zr, err = zlib.NewReader(&o.src)
	} else {
		err = o.zr.(zlib.Resetter).Reset(&o.src, nil)
	}
	return true, err
}

func (o *objectReader) read(h plumbing.Hash, typ plumbing.ObjectType) ([]byte, error) {
	loose, err := o.open(h)
	if !loose {
		return o.packed(h, typ)
	}
	if err != nil {
		return nil, fmt.Errorf("git object %s is corrupt: %w", h, err)
	}
	o.buf.Reset()
	if _, err := o.buf.ReadFrom(o.zr); err != nil {
		return nil, fmt.Errorf("git object %s is corrupt: %w", h, err)
	}
	raw := o.buf.Bytes()
	nul := bytes.IndexByte(raw, 0)
	if nul < 0 {
		return nil, fmt.Errorf("git object %s is corrupt: no header", h)
	}
	t, size, ok := bytes.Cut(raw[:nul], []byte(" "))
	n, err := strconv.Atoi(string(size))
	if !ok || err != nil || n != len(raw)-nul-1 {
		return nil, fmt.Errorf("git object %s is corrupt: bad header", h)
	}
	if string(t) != typ.String() {
		return nil, fmt.Errorf("git object %s is a %s, want a %s", h, t, typ)
	}
	content := bytes.Clone(raw[nul+1:])
	if hashObject(typ, content) != h {
		return nil, fmt.Errorf("git object %s is corrupt: its content does not match its id", h)
	}
	return content, nil
}

// packed reads object h from the packs, or failing that through go-git's
// storage (which also knows alternate object stores).
func (o *objectReader) packed(h plumbing.Hash, typ plumbing.ObjectType) (b []byte, err error) {
	// A pack is a file anyone could have altered, read by go-git's pack
	// reader: whatever it meets, verify reports a corrupt object and
	// never panics.
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("git object %s: the pack holding it is corrupt (%v)", h, r)
		}
	}()
	if o.packs != nil {
		obj, err := o.packs.get(h)
		if err == nil {
			return objectContent(obj, h, typ)
		}
		if !errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, fmt.Errorf("git object %s: %w", h, err)
		}
	}
	return readObject(o.st, h, typ)
}

// EncodedObject reads tree h (the only type asked for this way: verify's
// walks of records/) through the objectReader.
func (o *objectReader) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	b, err := o.read(h, plumbing.TreeObject)
	if err != nil {
		return nil, err
	}
	obj := &plumbing.MemoryObject{}
	obj.SetType(plumbing.TreeObject)
	obj.Write(b)
	return obj, nil
}

// commit reads and parses commit h.
func (o *objectReader) commit(h plumbing.Hash) (*rawCommit, error) {
	raw, err := o.read(h, plumbing.CommitObject)
	if err != nil {
		return nil, err
	}
	return parseCommit(raw)
}

// record reads and decodes the record file h (decodeStored).
func (o *objectReader) record(h plumbing.Hash) (*Record, []byte, string, error) {
	blob, err := o.read(h, plumbing.BlobObject)
	if err != nil {
		return nil, nil, "", err
	}
	return decodeStored(blob)
}
