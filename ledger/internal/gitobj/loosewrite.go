// Writing loose objects durably. go-git writes them through a temporary
// file (objects/pack/tmp_obj_*) and a rename, but never fsyncs, so after
// a power cut a ref could name an object that is empty on disk. Here an
// object goes into objects/xx/tmp_obj_*, the name git uses and git fsck
// ignores, is fsynced, then renamed; Sync fsyncs the directories, before
// anything names the objects. A pack is written only by a push or a sync
// (WritePack); otherwise stock git's gc and fetch write them, with git's
// own protocol.

package gitobj

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// DurableStore is an object store whose SetEncodedObject writes loose
// objects durably into an objects directory; everything else is the
// embedded store's.
type DurableStore struct {
	storer.EncodedObjectStorer
	w *looseWriter
}

// NewDurableStore writes the objects set in st into the objects
// directory objects (st's own).
func NewDurableStore(st storer.EncodedObjectStorer, objects string) DurableStore {
	return DurableStore{st, &looseWriter{objects: objects, dirs: map[string]bool{}}}
}

// SetEncodedObject writes o as a loose object, unless it is there.
func (d DurableStore) SetEncodedObject(o plumbing.EncodedObject) (plumbing.Hash, error) {
	r, err := o.Reader()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return d.w.write(o.Type(), b)
}

// Sync fsyncs the directories the objects went into.
func (d DurableStore) Sync() error {
	var err error
	for dir := range d.w.dirs {
		if err = SyncDir(dir); err != nil {
			break
		}
	}
	d.w.dirs = map[string]bool{}
	return err
}

// looseWriter writes loose objects into an objects directory,
// remembering the directories to fsync before anything names them.
type looseWriter struct {
	objects string
	dirs    map[string]bool
	buf     bytes.Buffer
	zw      *zlib.Writer
}

// write stores content as a loose object of type typ unless it is
// already there.
func (w *looseWriter) write(typ plumbing.ObjectType, content []byte) (plumbing.Hash, error) {
	h := Hash(typ, content)
	hex := h.String()
	dir := filepath.Join(w.objects, hex[:2])
	final := filepath.Join(dir, hex[2:])
	if _, err := os.Lstat(final); err == nil {
		return h, nil
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return plumbing.ZeroHash, err
		}
		w.dirs[w.objects] = true
	}
	w.buf.Reset()
	if w.zw == nil {
		w.zw = zlib.NewWriter(&w.buf)
	} else {
		w.zw.Reset(&w.buf)
	}
	fmt.Fprintf(w.zw, "%s %d\x00", typ, len(content))
	w.zw.Write(content)
	if err := w.zw.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	f, err := os.CreateTemp(dir, "tmp_obj_")
	if err != nil {
		return plumbing.ZeroHash, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(w.buf.Bytes()); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := f.Sync(); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := f.Chmod(0o444); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := f.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return plumbing.ZeroHash, err
	}
	ok = true
	w.dirs[dir] = true
	return h, nil
}
