package ledger

// Writes that cannot tear. go-git rewrites refs and the index in place
// (truncate, then write): a process killed in between leaves an empty
// file, and every later command stops. Custos writes every file of the
// git directory it changes itself, with git's own lock-file protocol:
// the new content goes into "<file>.lock", created with O_CREAT|O_EXCL
// (so stock git and Custos exclude each other), is fsynced, and the lock
// is renamed over the file; then the directory is fsynced. A reader sees
// the old file or the new one, never a part of either.
//
// Objects are written durably too (gitobj.DurableStore): the directories
// they went into are fsynced before the ref moves.

import (
	"bytes"
	"custos/ledger/internal/gitobj"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// Lock files of stock git are held for milliseconds; one older than
// StaleGitLock with no live Custos owner is left by a git (or a Custos)
// that died, and is removed with a message.
const StaleGitLock = 10 * time.Minute

// gitLockWait is how long a writer waits for a lock file of stock git
// to go away before giving up (git itself waits 100ms for a ref).
var gitLockWait = 2 * time.Second

// lockMessages receives the line said when a stale lock file is removed.
var lockMessages io.Writer = os.Stderr

// gitDirs are the directories of the repository in dir: gitDir holds
// HEAD and the index, commonDir the objects and refs (they differ only in
// a linked worktree).
func gitDirs(dir string) (gitDir, commonDir string, err error) {
	if dir, err = filepath.Abs(dir); err != nil {
		return "", "", err
	}
	dotGit := filepath.Join(dir, ".git")
	fi, err := os.Stat(dotGit)
	switch {
	case err == nil && fi.IsDir():
		gitDir = dotGit
	case err == nil:
		b, err := readSmall(dotGit, maxSmallFile)
		if err != nil {
			return "", "", err
		}
		to, ok := strings.CutPrefix(strings.TrimRight(string(b), "\r\n"), "gitdir: ")
		if !ok || to == "" {
			return "", "", fmt.Errorf("%s is not a .git file", dotGit)
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(dir, to)
		}
		gitDir = to
	default:
		gitDir = dir // bare
	}
	return gitDir, commonOf(gitDir), nil
}

// commonOf is the common directory of gitDir: the one its commondir
// file names (a linked worktree), else gitDir.
func commonOf(gitDir string) string {
	b, err := readSmall(filepath.Join(gitDir, "commondir"), maxSmallFile)
	if err != nil {
		return gitDir
	}
	to := strings.TrimRight(string(b), "\r\n")
	if !filepath.IsAbs(to) {
		to = filepath.Join(gitDir, to)
	}
	return to
}

// lockFile is git's lock of path: path+".lock", created exclusively,
// holding the new content until commit renames it over path.
type lockFile struct {
	path string
	f    *os.File
}

// takeGitLock creates path.lock. When it exists, it waits up to
// gitLockWait for it to go away; a lock older than StaleGitLock is
// removed with a message.
func takeGitLock(path string) (*lockFile, error) {
	lock := path + ".lock"
	deadline := time.Now().Add(gitLockWait)
	for {
		f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return &lockFile{path: path, f: f}, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(lock), 0o755); err != nil {
				return nil, err
			}
			continue
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		fi, serr := os.Lstat(lock)
		if serr == nil && time.Since(fi.ModTime()) > StaleGitLock {
			if err := os.Remove(lock); err == nil || errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(lockMessages, "custos: removed the stale lock file %s (left %s ago by a git or custos that died)\n", lock, time.Since(fi.ModTime()).Round(time.Second))
			}
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s exists: another git process is writing to the ledger; if none is running (one died), remove the file", lock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// commit writes content into the lock file, fsyncs it and renames it over
// the file, then fsyncs the directory.
func (lk *lockFile) commit(content []byte) error {
	if _, err := lk.f.Write(content); err != nil {
		lk.rollback()
		return err
	}
	if err := lk.f.Sync(); err != nil {
		lk.rollback()
		return err
	}
	if err := lk.f.Close(); err != nil {
		os.Remove(lk.f.Name())
		return err
	}
	if err := os.Rename(lk.f.Name(), lk.path); err != nil {
		os.Remove(lk.f.Name())
		return err
	}
	return gitobj.SyncDir(filepath.Dir(lk.path))
}

// rollback removes the lock, leaving the file as it was.
func (lk *lockFile) rollback() {
	lk.f.Close()
	os.Remove(lk.f.Name())
}

// refPath is the file of ref name in commonDir (HEAD: in gitDir).
func refPath(gitDir, commonDir string, name plumbing.ReferenceName) string {
	if name == plumbing.HEAD {
		return filepath.Join(gitDir, "HEAD")
	}
	return filepath.Join(commonDir, filepath.FromSlash(name.String()))
}

// readRefHash reads ref name as git does: the loose file, else its line
// in packed-refs; zero when it is in neither. A symbolic ref is an error.
func readRefHash(commonDir string, name plumbing.ReferenceName) (plumbing.Hash, error) {
	b, err := readSmall(filepath.Join(commonDir, filepath.FromSlash(name.String())), maxRefFile)
	switch {
	case err == nil:
		r, err := parseRef(b)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("%s: %w", name, err)
		}
		if r.target != "" {
			return plumbing.ZeroHash, fmt.Errorf("%s is a symbolic ref", name)
		}
		return r.hash, nil
	case !errors.Is(err, fs.ErrNotExist):
		return plumbing.ZeroHash, err
	}
	b, err = readSmall(filepath.Join(commonDir, "packed-refs"), maxListFile)
	if errors.Is(err, fs.ErrNotExist) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	packed, err := parsePackedRefs(b)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("packed-refs: %w", err)
	}
	return packed[name.String()], nil
}

// casRef moves ref name from old (zero: the ref must not exist) to next,
// under name.lock: the lock is taken, the ref read again and compared
// with old, and only then is the lock renamed over the ref. A ref that
// is only in packed-refs is read there and then written loose, which
// git reads first.
func casRef(gitDir, commonDir string, name plumbing.ReferenceName, next, old plumbing.Hash) error {
	lk, err := takeGitLock(refPath(gitDir, commonDir, name))
	if err != nil {
		return err
	}
	cur, err := readRefHash(commonDir, name)
	if err != nil {
		lk.rollback()
		return err
	}
	if cur != old {
		lk.rollback()
		if old.IsZero() {
			return fmt.Errorf("%s exists (at %s)", name, cur)
		}
		return fmt.Errorf("%s is at %s, not %s", name, cur, old)
	}
	crashPoint("ref-locked")
	return lk.commit([]byte(next.String() + "\n"))
}

// setRef writes ref name (a commit id, or "ref: <target>" when symbolic
// is set) under its lock, whatever it was.
func setRef(gitDir, commonDir string, name plumbing.ReferenceName, content string) error {
	lk, err := takeGitLock(refPath(gitDir, commonDir, name))
	if err != nil {
		return err
	}
	return lk.commit([]byte(content + "\n"))
}

// writeIndex writes idx as gitDir/index under index.lock.
func writeIndex(gitDir string, idx *index.Index) error {
	var buf bytes.Buffer
	if err := index.NewEncoder(&buf).Encode(idx); err != nil {
		return err
	}
	lk, err := takeGitLock(filepath.Join(gitDir, "index"))
	if err != nil {
		return err
	}
	return lk.commit(buf.Bytes())
}

// writeFileAtomic writes a work-tree file: a temporary file beside it,
// fsynced, renamed over it. The directory is fsynced by the caller
// (dirs collects it).
func writeFileAtomic(path string, content []byte, dirs map[string]bool) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		dirs[filepath.Dir(dir)] = true
	}
	tmp := path + ".custos-tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := gitobj.WriteSynced(f, content); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	dirs[dir] = true
	return nil
}

// syncDirs fsyncs each directory in dirs.
func syncDirs(dirs map[string]bool) error {
	for d := range dirs {
		if err := gitobj.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}
