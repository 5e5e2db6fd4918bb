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
// the objects directory (the common case for a ledger written by custos,
// and much faster than through go-git's file-system layers), packed ones
// with packSet, then the same from each alternate object store, in git's
// order. Every object is checked against its id wherever it is found, so
// an alternate cannot shadow an object with other content. Every read is
// bounded: a loose object must be a regular file, its header must declare
// at most maxObjectSize bytes, and it must inflate to exactly that.
type objectReader struct {
	objects    string
	packs      *packSet      // shared by the readers of one verify, which never read at once
	alternates []objectStore // further object stores (objects/info/alternates)
	st         objectSource  // when set, a last resort for what none holds
	zr         io.ReadCloser
	file       []byte       // a loose object's compressed bytes
	src        bytes.Reader // over file: a ByteReader, so zlib adds no buffer
}

// objectStore is one object directory and its packs.
type objectStore struct {
	objects string
	packs   *packSet
}

// fork is a reader of the same stores with buffers of its own.
func (o *objectReader) fork() *objectReader {
	return &objectReader{objects: o.objects, packs: o.packs, alternates: o.alternates, st: o.st}
}

// close closes the packs of every store.
func (o *objectReader) close() {
	for _, s := range append([]objectStore{{o.objects, o.packs}}, o.alternates...) {
		if s.packs != nil {
			s.packs.close()
		}
	}
}

// open reads loose object h's file in dir and points the inflater at it;
// false when there is no such file (the object is packed, or missing).
func (o *objectReader) open(dir string, h plumbing.Hash) (bool, error) {
	hex := h.String()
	var loose bool
	var err error
	o.file, loose, err = readLoose(dir+string(filepath.Separator)+hex[:2]+string(filepath.Separator)+hex[2:], o.file, maxLooseFile)
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

func (o *objectReader) read(h plumbing.Hash, typ plumbing.ObjectType) ([]byte, error) {
	b, err := o.readFrom(objectStore{o.objects, o.packs}, h, typ)
	for i := 0; err == plumbing.ErrObjectNotFound && i < len(o.alternates); i++ {
		b, err = o.readFrom(o.alternates[i], h, typ)
	}
	if err != plumbing.ErrObjectNotFound {
		return b, err
	}
	if o.st != nil {
		return readObject(o.st, h, typ)
	}
	return nil, fmt.Errorf("git object %s: %w", h, plumbing.ErrObjectNotFound)
}

// readFrom reads object h from store s: plumbing.ErrObjectNotFound (not
// wrapped) when s does not hold it.
func (o *objectReader) readFrom(s objectStore, h plumbing.Hash, typ plumbing.ObjectType) ([]byte, error) {
	loose, err := o.open(s.objects, h)
	switch {
	case !loose && s.packs == nil:
		return nil, plumbing.ErrObjectNotFound
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
// and a NUL), then exactly the size it declares, at most maxObjectSize,
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
	if sz > maxObjectSize {
		return "", nil, fmt.Errorf("its header declares %d bytes, more than the %d a ledger object may take", sz, maxObjectSize)
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
func (o *objectReader) packed(packs *packSet, h plumbing.Hash, typ plumbing.ObjectType) (b []byte, err error) {
	// A pack is a file anyone could have altered, read by go-git's pack
	// reader: whatever it meets, verify reports a corrupt object and
	// never panics.
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("git object %s: the pack holding it is corrupt (%v)", h, r)
		}
	}()
	obj, err := packs.get(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, plumbing.ErrObjectNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("git object %s: %w", h, err)
	}
	return objectContent(obj, h, typ)
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
