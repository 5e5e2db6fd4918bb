// The ledger's work tree and index: kept in step with the head after an
// append, brought up to date when stale, and restored from the head.

package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"

	"custos/ledger/internal/gitobj"
)

// SkipWorktree makes later appends leave the work tree and its index as
// they are, for a tool that writes many records at once (a benchmark's
// generator): rewriting an index that lists every record makes each append
// cost in proportion to the ledger's length. The next Open brings the work
// tree up to date.
func (l *Ledger) SkipWorktree() { l.noWorktree = true }

// syncWorktree writes files into the work tree (each through a temporary
// file, fsynced, and a rename) and records them in the index (written
// under index.lock), so `git status` in an auditor's clone and in this
// directory is clean.
func (l *Ledger) syncWorktree(files map[string][]byte) error {
	gitDir, _, err := l.dirs()
	if err != nil {
		return err
	}
	idx, err := l.repo.Storer.Index()
	if err != nil {
		return err
	}
	byName := map[string]*index.Entry{}
	for _, e := range idx.Entries {
		byName[e.Name] = e
	}
	dirs := map[string]bool{}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		full := filepath.Join(l.dir, filepath.FromSlash(p))
		if err := writeFileAtomic(full, files[p], dirs); err != nil {
			return err
		}
		fi, err := os.Stat(full)
		if err != nil {
			return err
		}
		e := byName[p]
		if e == nil {
			e = &index.Entry{Name: p}
			idx.Entries = append(idx.Entries, e)
			byName[p] = e
		}
		setEntry2(e, gitobj.Hash(plumbing.BlobObject, files[p]), fi)
	}
	if err := syncDirs(dirs); err != nil {
		return err
	}
	sort.Slice(idx.Entries, func(i, j int) bool { return idx.Entries[i].Name < idx.Entries[j].Name })
	return writeIndex(gitDir, idx)
}

// setEntry2 fills index entry e for a regular file with blob h, as fi.
func setEntry2(e *index.Entry, h plumbing.Hash, fi os.FileInfo) {
	e.Hash = h
	e.Mode = filemode.Regular
	e.Size = uint32(fi.Size())
	e.ModifiedAt, e.CreatedAt = fi.ModTime(), fi.ModTime()
}

// syncWorktreeIfStale repairs the work tree after an append that was
// interrupted between moving the ref and writing the files. It repairs
// only with the writer's lock, taken without waiting: while a writer is
// at work (between its ref and its index), the work tree is its to
// bring along, and a reader leaves it alone.
func (l *Ledger) syncWorktreeIfStale() error {
	if fi, err := os.Stat(filepath.Join(l.dir, ".git")); err != nil || !fi.IsDir() {
		return nil // a bare copy (an unpacked bundle) has no work tree to bring along
	}
	gitDir, commonDir, err := l.dirs()
	if err != nil {
		return err
	}
	want := recordFile(l.state.Seq)
	if l.indexLists(gitDir, want) {
		if _, err := os.Stat(filepath.Join(l.dir, want)); err == nil {
			return nil
		}
	}
	unlock, err := lockGitDir(gitDir, "work tree repair", 0, lockMessages)
	if errors.Is(err, ErrLocked) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger %s: restore work tree: %w", l.dir, err)
	}
	defer unlock()
	if cur, err := readRefHash(commonDir, branchRef); err != nil || cur != l.head {
		return nil // moved meanwhile: its writer updated the work tree
	}
	if err := l.restoreWorktree(l.head); err != nil {
		return fmt.Errorf("ledger %s: restore work tree: %w", l.dir, err)
	}
	return nil
}

// indexLists reports whether the work tree's index lists name. Decoding
// the index took a sixth of a second at every open of a 60 000-record
// ledger, to find one entry: versions 2 and 3 store each entry's name
// whole, NUL-terminated, after flags that hold its length, so a search of
// the file's bytes finds it; only when that fails (version 4 compresses
// names, or the entry is not there) is the index decoded.
func (l *Ledger) indexLists(gitDir, name string) bool {
	if b, err := os.ReadFile(filepath.Join(gitDir, "index")); err == nil {
		pat := append([]byte(name), 0)
		for i := bytes.Index(b, pat); i >= 0; {
			for _, at := range []int{i - 2, i - 4} { // flags, or v3's extended flags after them
				if at >= 0 && int(binary.BigEndian.Uint16(b[at:])&0x0fff) == len(name) {
					return true
				}
			}
			j := bytes.Index(b[i+1:], pat)
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	idx, err := l.repo.Storer.Index()
	if err != nil {
		return false
	}
	for _, e := range idx.Entries {
		if e.Name == name {
			return true
		}
	}
	return false
}

// restoreWorktree makes the work tree and the index those of commit: each
// file of its tree whose index entry or content differs is written anew
// (writeFileAtomic), then the index, under index.lock. Other files are
// left alone. The caller holds the writer's lock.
func (l *Ledger) restoreWorktree(commit plumbing.Hash) error {
	if fi, err := os.Stat(filepath.Join(l.dir, ".git")); err != nil || !fi.IsDir() {
		return fmt.Errorf("ledger %s work tree: %w", l.dir, git.ErrIsBareRepository)
	}
	gitDir, _, err := l.dirs()
	if err != nil {
		return err
	}
	st := l.repo.Storer
	root, err := l.rootTree(commit)
	if err != nil {
		return err
	}
	idx, err := st.Index()
	if err != nil {
		idx = &index.Index{Version: 2}
	}
	old := map[string]*index.Entry{}
	for _, e := range idx.Entries {
		old[e.Name] = e
	}
	var entries []*index.Entry
	dirs := map[string]bool{}
	var walk func(prefix string, es []gitobj.TreeEntry) error
	walk = func(prefix string, es []gitobj.TreeEntry) error {
		for _, te := range es {
			p := prefix + te.Name
			if te.Mode == filemode.Dir {
				sub, err := gitobj.ReadTree(st, te.Hash)
				if err != nil {
					return err
				}
				if err := walk(p+"/", sub); err != nil {
					return err
				}
				continue
			}
			full := filepath.Join(l.dir, filepath.FromSlash(p))
			fi, serr := os.Lstat(full)
			if e := old[p]; e != nil && e.Hash == te.Hash && serr == nil && fi.Mode().IsRegular() && fi.Size() == int64(e.Size) {
				entries = append(entries, e)
				continue
			}
			content, err := gitobj.Read(st, te.Hash, plumbing.BlobObject)
			if err != nil {
				return err
			}
			if disk, err := os.ReadFile(full); serr != nil || !fi.Mode().IsRegular() || err != nil || !bytes.Equal(disk, content) {
				if err := writeFileAtomic(full, content, dirs); err != nil {
					return err
				}
			}
			if fi, err = os.Stat(full); err != nil {
				return err
			}
			e := &index.Entry{Name: p}
			setEntry2(e, te.Hash, fi)
			entries = append(entries, e)
		}
		return nil
	}
	if err := walk("", root); err != nil {
		return err
	}
	if err := syncDirs(dirs); err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	idx.Entries, idx.Cache, idx.ResolveUndo = entries, nil, nil
	return writeIndex(gitDir, idx)
}
