package ledger

// Moving objects between copies of a ledger without running anything the
// other copy configures. Push and sync never start git inside a shared
// copy: its config (hooks, core.fsmonitor, core.alternateRefsCommand,
// filters, include.path, …) is never read, because nothing here reads a
// config file at all. The other copy is read as stock git reads it
// (openGitRepo: its layout, refs and object stores, alternates included),
// every object is checked against its id wherever it is found, and what
// is written is one pack (go-git's pack encoder and index writer), written
// durably, then a ref moved by compare-and-swap under git's lock file
// (casRef).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// gitObj is an object to copy: its id and type.
type gitObj struct {
	h   plumbing.Hash
	typ plumbing.ObjectType
}

// objectsBetween lists the objects of head's history that a copy at base
// lacks: base is a first-parent ancestor of head, or zero for a copy with
// no ledger yet. They are the commits after base, and every tree and blob
// of their trees that base's tree does not hold. Trees and commits are
// read through src, each checked against its id; blobs are read (and
// checked) when the pack is written.
func objectsBetween(src *objectReader, head, base plumbing.Hash) ([]gitObj, error) {
	have := map[plumbing.Hash]bool{}
	if !base.IsZero() {
		c, err := src.commit(base)
		if err != nil {
			return nil, err
		}
		if err := walkTree(src, c.tree, have, nil); err != nil {
			return nil, err
		}
	}
	var out []gitObj
	for h := head; h != base; {
		if h.IsZero() {
			return nil, fmt.Errorf("the history of commit %s does not pass through commit %s", head, base)
		}
		c, err := src.commit(h)
		if err != nil {
			return nil, err
		}
		if len(c.parents) > 1 {
			return nil, fmt.Errorf("commit %s is a merge: a ledger's history is one line", h)
		}
		out = append(out, gitObj{h, plumbing.CommitObject})
		if err := walkTree(src, c.tree, have, &out); err != nil {
			return nil, err
		}
		h = plumbing.ZeroHash
		if len(c.parents) == 1 {
			h = c.parents[0]
		}
	}
	return out, nil
}

// walkTree adds tree h and everything under it that have lacks to have
// and, when out is not nil, to out.
func walkTree(src *objectReader, h plumbing.Hash, have map[plumbing.Hash]bool, out *[]gitObj) error {
	if have[h] {
		return nil
	}
	b, err := src.read(h, plumbing.TreeObject)
	if err != nil {
		return err
	}
	es, err := parseTree(b)
	if err != nil {
		return fmt.Errorf("tree %s: %w", h, err)
	}
	have[h] = true
	if out != nil {
		*out = append(*out, gitObj{h, plumbing.TreeObject})
	}
	for _, e := range es {
		switch e.mode {
		case filemode.Dir:
			if err := walkTree(src, e.hash, have, out); err != nil {
				return err
			}
		case filemode.Regular, filemode.Executable, filemode.Symlink, filemode.Deprecated:
			if !have[e.hash] {
				have[e.hash] = true
				if out != nil {
					*out = append(*out, gitObj{e.hash, plumbing.BlobObject})
				}
			}
		default:
			return fmt.Errorf("tree %s: entry %q has mode %o (a submodule): not part of a ledger", h, e.name, e.mode)
		}
	}
	return nil
}

// writePack writes objs, read through src and checked against their ids,
// as one pack and its index into the objects directory objects: the pack
// into objects/pack/tmp_pack_*, fsynced, then indexed by parsing it back
// (so the index lists the ids of what the pack holds, not of what was
// meant to go in, and must list exactly objs), the index fsynced, both
// renamed into place (the index last: git finds a pack by its index) and
// the directory fsynced. Nothing else in the repository changes.
func writePack(src *objectReader, objs []gitObj, objects string) error {
	if len(objs) == 0 {
		return nil
	}
	dir := filepath.Join(objects, "pack")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := syncDir(objects); err != nil {
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
		hashes[i] = o.h
		ps.types[o.h] = o.typ
	}
	// No deltas (window 0): the pack is about three times the size of
	// one stock git would write, but the encoder then reads each object
	// once, in turn, through the one objectReader (with a window, it
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
		if ok, err := idx.Contains(o.h); err != nil || !ok {
			return fmt.Errorf("the new pack does not hold object %s", o.h)
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
	if err := writeSynced(f, nil); err != nil {
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
	return syncDir(dir)
}

// indexPack parses the pack in f (no deltas: writePack writes none) and
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
// through the objectReader (checked against its id) only when the encoder
// writes it, so that a large push does not hold the whole ledger in
// memory. The encoder, packing without deltas, asks only EncodedObject;
// every other method of the embedded (nil) storer is never called.
type packSource struct {
	storer.EncodedObjectStorer
	src   *objectReader
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
	o.content, o.err = o.p.src.read(o.h, o.typ)
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

// commitSource reads commits, and only commits, through an objectReader:
// what commitTip, back and relate read.
type commitSource struct{ o *objectReader }

func (c commitSource) EncodedObject(_ plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	b, err := c.o.read(h, plumbing.CommitObject)
	if err != nil {
		return nil, err
	}
	obj := &plumbing.MemoryObject{}
	obj.SetType(plumbing.CommitObject)
	obj.Write(b)
	return obj, nil
}

// eitherSource reads an object from the first source that has it.
type eitherSource []objectSource

func (e eitherSource) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
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

// verifyAt verifies the history at head as the objects directory objects
// (and the alternates it names) holds it, before any ref names head
// there: a repository of its own in a new temporary directory, with no
// objects but, through objects/info/alternates, those of objects, and
// its main at head.
func verifyAt(objects string, head plumbing.Hash) (Result, error) {
	abs, err := filepath.Abs(objects)
	if err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp("", "custos-check-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)
	line := abs
	if strings.ContainsAny(abs, "\"\\\n\r") || strings.HasPrefix(abs, "#") {
		line = strconv.Quote(abs)
	}
	for _, d := range []string{filepath.Join(tmp, "objects", "info"), filepath.Join(tmp, "refs", "heads")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Result{}, err
		}
	}
	files := map[string]string{
		filepath.Join(tmp, "objects", "info", "alternates"): line + "\n",
		filepath.Join(tmp, "refs", "heads", "main"):         head.String() + "\n",
		filepath.Join(tmp, "HEAD"):                          "ref: " + branchRef.String() + "\n",
	}
	for p, content := range files {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return Result{}, err
		}
	}
	return Verify(tmp, Options{}), nil
}

// sharedCopy is a copy a push writes to, read as stock git reads it
// (openGitRepo), never through its config.
type sharedCopy struct {
	dir       string
	gitDir    string
	commonDir string
	bare      bool
	main      plumbing.Hash // zero: the copy holds no ledger yet
	objects   *objectReader
}

// openSharedCopy opens the repository at dir for a push: a ledger
// (verify's reading of it must succeed), or a git directory without a
// main branch (a new shared copy, git init --bare).
func openSharedCopy(dir string) (*sharedCopy, error) {
	r, err := openGitRepo(dir)
	if err == nil {
		c := &sharedCopy{dir: dir, gitDir: r.gitDir, commonDir: r.commonDir, bare: r.gitDir == r.dir, main: r.main, objects: r.objectReader()}
		if !c.bare && (c.gitDir != filepath.Join(dir, ".git") || c.commonDir != c.gitDir) {
			c.objects.close()
			return nil, fmt.Errorf("its .git is a file naming %s: custos pushes to a bare repository or to a work tree with its own .git directory", c.gitDir)
		}
		return c, nil
	}
	e := &gitRepo{dir: dir}
	if _, ferr := e.findGitDir(); ferr != nil || exists(filepath.Join(e.gitDir, "commondir")) {
		return nil, err
	}
	if h, rerr := readRefHash(e.gitDir, branchRef); rerr != nil || !h.IsZero() {
		return nil, err // main exists, but git would not show it: verify's reason
	}
	if fi, serr := os.Stat(filepath.Join(e.gitDir, "objects")); serr != nil || !fi.IsDir() {
		return nil, err
	}
	c := &sharedCopy{dir: dir, gitDir: e.gitDir, commonDir: e.gitDir, bare: e.gitDir == dir}
	if !c.bare && c.gitDir != filepath.Join(dir, ".git") {
		return nil, fmt.Errorf("its .git is a file naming %s: custos pushes to a bare repository or to a work tree with its own .git directory", c.gitDir)
	}
	c.objects = (&gitRepo{objects: []string{filepath.Join(e.gitDir, "objects")}}).objectReader()
	return c, nil
}

// checkWorktree refuses a work tree that a push would have to write
// through, or over edits: for each file of the tree of next (read
// through src), every directory on its path must be a directory (not a
// link) or absent, and the file absent or a regular file that holds what
// it holds at cur (zero: nothing) or at next.
func checkWorktree(src *objectReader, dir string, cur, next plumbing.Hash) error {
	old := map[string]plumbing.Hash{}
	if !cur.IsZero() {
		if err := treeFiles(src, cur, func(p string, h plumbing.Hash) error { old[p] = h; return nil }); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	return treeFiles(src, next, func(p string, h plumbing.Hash) error {
		parts := strings.Split(p, "/")
		at := dir
		for _, d := range parts[:len(parts)-1] {
			at = filepath.Join(at, d)
			if seen[at] {
				continue
			}
			fi, err := os.Lstat(at)
			switch {
			case errors.Is(err, fs.ErrNotExist):
			case err != nil:
				return err
			case !fi.IsDir():
				kind := "file"
				if !fi.Mode().IsRegular() {
					kind = fileKind(fi.Mode())
				}
				return fmt.Errorf("%s is a %s, not a directory: a push would write through it or over it", at, kind)
			}
			seen[at] = true
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		fi, err := os.Lstat(full)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return err
		case !fi.Mode().IsRegular():
			return fmt.Errorf("%s is a %s, not a file", full, fileKind(fi.Mode()))
		}
		b, err := readSmall(full, maxObjectSize)
		if err != nil {
			return err
		}
		if got := hashObject(plumbing.BlobObject, b); got != h && got != old[p] {
			return fmt.Errorf("%s was changed: it holds neither what the copy's head holds nor what the push brings", full)
		}
		return nil
	})
}

// treeFiles calls each for every file of commit's tree, by path.
func treeFiles(src *objectReader, commit plumbing.Hash, each func(path string, blob plumbing.Hash) error) error {
	c, err := src.commit(commit)
	if err != nil {
		return err
	}
	var walk func(prefix string, h plumbing.Hash) error
	walk = func(prefix string, h plumbing.Hash) error {
		b, err := src.read(h, plumbing.TreeObject)
		if err != nil {
			return err
		}
		es, err := parseTree(b)
		if err != nil {
			return fmt.Errorf("tree %s: %w", h, err)
		}
		for _, e := range es {
			if e.name == "" || e.name == "." || e.name == ".." || strings.ContainsAny(e.name, "/\x00") || strings.EqualFold(e.name, ".git") {
				return fmt.Errorf("tree %s: entry %q is not a file name a ledger holds", h, e.name)
			}
			if e.mode == filemode.Dir {
				if err := walk(prefix+e.name+"/", e.hash); err != nil {
					return err
				}
				continue
			}
			if err := each(prefix+e.name, e.hash); err != nil {
				return err
			}
		}
		return nil
	}
	return walk("", c.tree)
}

// worktreeStorage is the storage of a shared copy's work tree update:
// the copy's own index (and everything else go-git keeps there), but
// objects read from this ledger, which holds the history just pushed
// and verified. go-git cannot read every copy's objects itself (it
// resolves objects/info/alternates only within the copy's directory).
type worktreeStorage struct {
	*filesystem.Storage
	ours storer.EncodedObjectStorer
}

func (w worktreeStorage) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	return w.ours.EncodedObject(t, h)
}

// updateWorktree brings the work tree and index of the copy dst to head,
// as an append does (restoreWorktree: only files that differ are written,
// each through a temporary file and a rename; the index under
// index.lock), under the copy's writer lock.
func (l *Ledger) updateWorktree(dst *sharedCopy, head plumbing.Hash) (err error) {
	// go-git reads the copy's index, a file anyone could have written:
	// whatever it meets there is an error, never a panic.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the copy's index cannot be read (%v)", r)
		}
	}()
	unlock, err := lockGitDir(dst.gitDir, "push", DefaultLockWait, LockMessages)
	if err != nil {
		return err
	}
	defer unlock()
	st := worktreeStorage{filesystem.NewStorage(osfs.New(dst.gitDir), cache.NewObjectLRU(cache.MiByte)), l.repo.Storer}
	repo, err := git.Open(st, osfs.New(dst.dir))
	if err != nil {
		return err
	}
	t := &Ledger{dir: dst.dir, repo: repo, head: head, gitDir: dst.gitDir, commonDir: dst.commonDir}
	return t.restoreWorktree(head)
}
