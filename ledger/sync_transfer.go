package ledger

// Moving objects between copies of a ledger without running anything the
// other copy configures. Push and sync never start git inside a shared
// copy: its config (hooks, core.fsmonitor, core.alternateRefsCommand,
// filters, include.path, …) is never read, because nothing here reads a
// config file at all. The other copy is read as stock git reads it
// (openGitRepo: its layout, refs and object stores, alternates included),
// every object is checked against its id wherever it is found
// (gitobj.Reader), and what is written is one pack (gitobj.WritePack),
// written durably, then a ref moved by compare-and-swap under git's lock
// file (casRef). Here: the check of a history before any ref names it
// (verifyAt), the shared copy a push writes to, and its work tree.

import (
	"errors"
	"fmt"
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
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"custos/ledger/internal/gitobj"
)

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
	objects   *gitobj.Reader
}

// openSharedCopy opens the repository at dir for a push: a ledger
// (verify's reading of it must succeed), or a git directory without a
// main branch (a new shared copy, git init --bare).
func openSharedCopy(dir string) (*sharedCopy, error) {
	r, err := openGitRepo(dir)
	if err == nil {
		c := &sharedCopy{dir: dir, gitDir: r.gitDir, commonDir: r.commonDir, bare: r.gitDir == r.dir, main: r.main, objects: r.objectReader()}
		if !c.bare && (c.gitDir != filepath.Join(dir, ".git") || c.commonDir != c.gitDir) {
			c.objects.Close()
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
	c.objects = gitobj.NewReader(filepath.Join(e.gitDir, "objects"))
	return c, nil
}

// checkWorktree refuses a work tree that a push would have to write
// through, or over edits: for each file of the tree of next (read
// through src), every directory on its path must be a directory (not a
// link) or absent, and the file absent or a regular file that holds what
// it holds at cur (zero: nothing) or at next.
func checkWorktree(src *gitobj.Reader, dir string, cur, next plumbing.Hash) error {
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
					kind = gitobj.FileKind(fi.Mode())
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
			return fmt.Errorf("%s is a %s, not a file", full, gitobj.FileKind(fi.Mode()))
		}
		b, err := readSmall(full, gitobj.MaxObjectSize)
		if err != nil {
			return err
		}
		if got := gitobj.Hash(plumbing.BlobObject, b); got != h && got != old[p] {
			return fmt.Errorf("%s was changed: it holds neither what the copy's head holds nor what the push brings", full)
		}
		return nil
	})
}

// treeFiles calls each for every file of commit's tree, by path.
func treeFiles(src *gitobj.Reader, commit plumbing.Hash, each func(path string, blob plumbing.Hash) error) error {
	c, err := src.Commit(commit)
	if err != nil {
		return err
	}
	var walk func(prefix string, h plumbing.Hash) error
	walk = func(prefix string, h plumbing.Hash) error {
		b, err := src.Read(h, plumbing.TreeObject)
		if err != nil {
			return err
		}
		es, err := gitobj.ParseTree(b)
		if err != nil {
			return fmt.Errorf("tree %s: %w", h, err)
		}
		for _, e := range es {
			if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") || strings.EqualFold(e.Name, ".git") {
				return fmt.Errorf("tree %s: entry %q is not a file name a ledger holds", h, e.Name)
			}
			if e.Mode == filemode.Dir {
				if err := walk(prefix+e.Name+"/", e.Hash); err != nil {
					return err
				}
				continue
			}
			if err := each(prefix+e.Name, e.Hash); err != nil {
				return err
			}
		}
		return nil
	}
	return walk("", c.Tree)
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
	unlock, err := lockGitDir(dst.gitDir, "push", DefaultLockWait, lockMessages)
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
