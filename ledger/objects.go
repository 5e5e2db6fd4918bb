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
	file    bytes.Buffer // a loose object's compressed bytes
	src     bytes.Reader // over file: a ByteReader, so zlib adds no buffer
}

// open reads loose object h's file and points the inflater at it; false
// when there is no such file (the object is packed, or missing).
func (o *objectReader) open(h plumbing.Hash) (bool, error) {
	hex := h.String()
	f, err := os.Open(filepath.Join(o.objects, hex[:2], hex[2:]))
	if err != nil {
		return false, nil
	}
	o.file.Reset()
	_, err = o.file.ReadFrom(f)
	f.Close()
	if err != nil {
		return true, err
	}
	o.src.Reset(o.file.Bytes())
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
		return readObject(o.st, h, typ)
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

// parents returns a commit's parents, to walk the history before checking
// it: for a loose object it inflates only the header lines, which is all
// the walk needs; the full object, checked against its id, is read again
// when the commit itself is checked.
func (o *objectReader) parents(h plumbing.Hash) ([]plumbing.Hash, error) {
	if loose, err := o.open(h); loose && err == nil {
		var head [160]byte // "commit N\0", the tree line, a parent line, the author line's start
		n, err := io.ReadFull(o.zr, head[:])
		if err == nil || err == io.ErrUnexpectedEOF {
			if ps, ok := headerParents(head[:n]); ok {
				return ps, nil
			}
		}
	}
	raw, err := o.read(h, plumbing.CommitObject)
	if err != nil {
		return nil, err
	}
	c, err := parseCommit(raw)
	if err != nil {
		return nil, err
	}
	return c.parents, nil
}

// headerParents reads the parent lines of a loose commit's first bytes
// ("commit N\0tree …\nparent …\n…"); false when they are not all there.
func headerParents(b []byte) ([]plumbing.Hash, bool) {
	rest, ok := bytes.CutPrefix(b, []byte("commit "))
	if !ok {
		return nil, false
	}
	if i := bytes.IndexByte(rest, 0); i >= 0 {
		rest = rest[i+1:]
	} else {
		return nil, false
	}
	var ps []plumbing.Hash
	for {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok && (len(line) < len("parent ") || bytes.HasPrefix(line, []byte("parent ")) || bytes.HasPrefix(line, []byte("tree "))) {
			return nil, false // the header goes on past what was read
		}
		switch {
		case bytes.HasPrefix(line, []byte("tree ")):
		case bytes.HasPrefix(line, []byte("parent ")):
			p, ok := parseHash(line[len("parent "):])
			if !ok {
				return nil, false
			}
			ps = append(ps, p)
		default:
			return ps, true
		}
		rest = after
	}
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
