package ledger

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// objectReader reads git objects for verify: loose objects straight from
// .git/objects (the common case for a ledger written by custos, and much
// faster than through go-git's file-system layers), anything else (packs)
// through go-git. Every object is checked against its id either way.
type objectReader struct {
	objects string // .git/objects
	st      storer.EncodedObjectStorer
	zr      io.ReadCloser
	buf     bytes.Buffer
}

func (o *objectReader) read(h plumbing.Hash, typ plumbing.ObjectType) ([]byte, error) {
	hex := h.String()
	f, err := os.Open(filepath.Join(o.objects, hex[:2], hex[2:]))
	if err != nil {
		return readObject(o.st, h, typ)
	}
	defer f.Close()
	if o.zr == nil {
		o.zr, err = zlib.NewReader(f)
	} else {
		err = o.zr.(zlib.Resetter).Reset(f, nil)
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
