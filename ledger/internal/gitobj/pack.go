// Writing objects from one repository into another: the objects one
// history holds that another lacks, written as one pack and its index,
// durably.

package gitobj

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Object is an object to copy: its id and type.
type Object struct {
	Hash plumbing.Hash
	Type plumbing.ObjectType
}

// Between lists the objects of head's history that a copy at base
// lacks: base is a first-parent ancestor of head, or zero for a copy with
// no ledger yet. They are the commits after base, and every tree and blob
// of their trees that base's tree does not hold. Trees and commits are
// read through src, each checked against its id; blobs are read (and
// checked) when the pack is written.
func Between(src *Reader, head, base plumbing.Hash) ([]Object, error) {
	have := map[plumbing.Hash]bool{}
	if !base.IsZero() {
		c, err := src.Commit(base)
		if err != nil {
			return nil, err
		}
		if err := walkTree(src, c.Tree, have, nil); err != nil {
			return nil, err
		}
	}
	var out []Object
	for h := head; h != base; {
		if h.IsZero() {
			return nil, fmt.Errorf("the history of commit %s does not pass through commit %s", head, base)
		}
		c, err := src.Commit(h)
		if err != nil {
			return nil, err
		}
		if len(c.Parents) > 1 {
			return nil, fmt.Errorf("commit %s is a merge: a ledger's history is one line", h)
		}
		out = append(out, Object{h, plumbing.CommitObject})
		if err := walkTree(src, c.Tree, have, &out); err != nil {
			return nil, err
		}
		h = plumbing.ZeroHash
		if len(c.Parents) == 1 {
			h = c.Parents[0]
		}
	}
	return out, nil
}

// walkTree adds tree h and everything under it that have lacks to have
// and, when out is not nil, to out.
func walkTree(src *Reader, h plumbing.Hash, have map[plumbing.Hash]bool, out *[]Object) error {
	if have[h] {
		return nil
	}
	b, err := src.Read(h, plumbing.TreeObject)
	if err != nil {
		return err
	}
	es, err := ParseTree(b)
	if err != nil {
		return fmt.Errorf("tree %s: %w", h, err)
	}
	have[h] = true
	if out != nil {
		*out = append(*out, Object{h, plumbing.TreeObject})
	}
	for _, e := range es {
		switch e.Mode {
		case filemode.Dir:
			if err := walkTree(src, e.Hash, have, out); err != nil {
				return err
			}
		case filemode.Regular, filemode.Executable, filemode.Symlink, filemode.Deprecated:
			if !have[e.Hash] {
				have[e.Hash] = true
				if out != nil {
					*out = append(*out, Object{e.Hash, plumbing.BlobObject})
				}
			}
		default:
			return fmt.Errorf("tree %s: entry %q has mode %o (a submodule): not part of a ledger", h, e.Name, e.Mode)
		}
	}
	return nil
}

// WritePack writes objs, read through src and checked against their ids,
// as one pack and its index into the objects directory objects: the pack
// into objects/pack/tmp_pack_*, fsynced, then indexed by parsing it back
// (so the index lists the ids of what the pack holds, not of what was
// meant to go in, and must list exactly objs), the index fsynced, both
// renamed into place (the index last: git finds a pack by its index) and
// the directory fsynced. Nothing else in the repository changes.
func WritePack(src *Reader, objs []Object, objects string) error {
	if len(objs) == 0 {
		return nil
	}
	dir := filepath.Join(objects, "pack")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := SyncDir(objects); err != nil {
			return err
		}
	}
	pack, err := os.CreateTemp(dir, "tmp_pack_")
	if err != nil {
		return err
	}
	var idxName string
	done := false
	defer func() {
		if !done {
			pack.Close()
			os.Remove(pack.Name())
			if idxName != "" {
				os.Remove(idxName)
			}
		}
	}()
	ps := &packSource{src: src, types: make(map[plumbing.Hash]plumbing.ObjectType, len(objs))}
	hashes := make([]plumbing.Hash, len(objs))
	for i, o := range objs {
		hashes[i] = o.Hash
		ps.types[o.Hash] = o.Type
	}
	// No deltas (window 0): the pack is about three times the size of
	// one stock git would write, but the encoder then reads each object
	// once, in turn, through the one Reader (with a window, it
	// reads them from a goroutine per object type).
	buf := bufio.NewWriterSize(pack, 1<<16) // the encoder writes each header and deflate block
	sum, err := packfile.NewEncoder(buf, ps, false).Encode(hashes, 0)
	if err == nil {
		err = ps.err
	}
	if err == nil {
		err = buf.Flush()
	}
	if err != nil {
		return fmt.Errorf("write a pack: %w", err)
	}
	if err := pack.Sync(); err != nil {
		return err
	}
	idx, err := indexPack(pack, sum)
	if err != nil {
		return fmt.Errorf("index the new pack: %w", err)
	}
	if n, _ := idx.Count(); n != int64(len(objs)) {
		return fmt.Errorf("the new pack holds %d objects, want %d", n, len(objs))
	}
	for _, o := range objs {
		if ok, err := idx.Contains(o.Hash); err != nil || !ok {
			return fmt.Errorf("the new pack does not hold object %s", o.Hash)
		}
	}
	if err := pack.Chmod(0o444); err != nil {
		return err
	}
	if err := pack.Close(); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "tmp_idx_")
	if err != nil {
		return err
	}
	idxName = f.Name()
	if _, err := idxfile.NewEncoder(f).Encode(idx); err != nil {
		f.Close()
		return fmt.Errorf("write the pack index: %w", err)
	}
	if err := f.Chmod(0o444); err != nil {
		f.Close()
		return err
	}
	if err := WriteSynced(f, nil); err != nil {
		return err
	}
	base := filepath.Join(dir, "pack-"+sum.String())
	if err := os.Rename(pack.Name(), base+".pack"); err != nil {
		return err
	}
	if err := os.Rename(idxName, base+".idx"); err != nil {
		os.Remove(base + ".pack")
		return err
	}
	done = true
	return SyncDir(dir)
}

// indexPack parses the pack in f (no deltas: WritePack writes none) and
// returns its index; the pack's own checksum must be sum.
func indexPack(f *os.File, sum plumbing.Hash) (idx *idxfile.MemoryIndex, err error) {
	defer func() {
		if r := recover(); r != nil {
			idx, err = nil, fmt.Errorf("go-git's pack parser failed: %v", r)
		}
	}()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	w := new(idxfile.Writer)
	p, err := packfile.NewParser(packfile.NewScanner(f), w)
	if err != nil {
		return nil, err
	}
	got, err := p.Parse()
	if err != nil {
		return nil, err
	}
	if got != sum {
		return nil, fmt.Errorf("the pack's checksum is %s, its encoder said %s", got, sum)
	}
	return w.Index()
}

// packSource hands go-git's pack encoder the objects to pack, each read
// through the Reader (checked against its id) only when the encoder
// writes it, so that a large push does not hold the whole ledger in
// memory. The encoder, packing without deltas, asks only EncodedObject;
// every other method of the embedded (nil) storer is never called.
type packSource struct {
	storer.EncodedObjectStorer
	src   *Reader
	types map[plumbing.Hash]plumbing.ObjectType
	err   error // the first object that could not be read
}

func (p *packSource) EncodedObject(_ plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	typ, ok := p.types[h]
	if !ok {
		return nil, plumbing.ErrObjectNotFound
	}
	return &lazyObject{p: p, h: h, typ: typ, size: -1}, nil
}

// lazyObject is an object read when the encoder asks its size, and
// dropped once the encoder has read it.
type lazyObject struct {
	p       *packSource
	h       plumbing.Hash
	typ     plumbing.ObjectType
	size    int64
	content []byte
	err     error
}

func (o *lazyObject) load() {
	if o.content != nil || o.err != nil {
		return
	}
	o.content, o.err = o.p.src.Read(o.h, o.typ)
	if o.err != nil && o.p.err == nil {
		o.p.err = o.err
	}
	if o.content == nil {
		o.content = []byte{}
	}
	o.size = int64(len(o.content))
}

func (o *lazyObject) Hash() plumbing.Hash             { return o.h }
func (o *lazyObject) Type() plumbing.ObjectType       { return o.typ }
func (o *lazyObject) SetType(plumbing.ObjectType)     {}
func (o *lazyObject) SetSize(int64)                   {}
func (o *lazyObject) Writer() (io.WriteCloser, error) { return nil, errors.New("read only") }

func (o *lazyObject) Size() int64 {
	if o.size < 0 {
		o.load()
	}
	return o.size
}

func (o *lazyObject) Reader() (io.ReadCloser, error) {
	o.load()
	if o.err != nil {
		return nil, o.err
	}
	b := o.content
	o.content = nil // read once; a second Reader reads the object again
	return io.NopCloser(bytes.NewReader(b)), nil
}

// syncDir fsyncs a directory, so that a rename or a new file in it
// survives a power cut.
// SyncDir fsyncs a directory, so that the names made or removed in it
// are durable; a file system that cannot sync a directory is let be.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// WriteSynced writes content to f, fsyncs it and closes it: the file is
// on disk whole before anything renames or links it into place.
func WriteSynced(f *os.File, content []byte) error {
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
