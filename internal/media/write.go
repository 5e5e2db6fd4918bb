package media

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"custos/internal/hint"
)

// Modes of new outputs: Secret for anything a stranger must not read (a
// share, even encrypted; a wrapped key; a word card), Public for what is
// meant to be shown (a report, a bundle, a request).
const (
	Secret fs.FileMode = 0o600
	Public fs.FileMode = 0o644
)

// IncompleteName is where an output to path is written until it is whole:
// ".NAME.incomplete" in the same directory (the same file system, so the
// rename to the final name is atomic; hidden, so a file manager does not
// offer it as the output).
func IncompleteName(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".incomplete")
}

// Write writes data as a new file at path with mode: never over an
// existing file, never half-written under path (see the package comment).
func Write(path string, data []byte, mode fs.FileMode) error {
	return WriteWith(path, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteWith is Write for content produced by write (a report rendered or
// a bundle copied straight to the file, not held in memory first).
func WriteWith(path string, mode fs.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := refuseExisting(path); err != nil {
		return err
	}
	tmp := IncompleteName(path)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return hint.With(fmt.Errorf("write %s: %s is already there: an earlier write of it was interrupted, or another one is under way", path, tmp),
				"it is not a complete output; once nothing else writes there, remove it (shred it if it held a secret) and try again")
		}
		return fmt.Errorf("write %s: %w", path, classify(dir, err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			syncDir(dir) // best effort: the removal is durable too
		}
	}()
	// Umask can only clear bits; set the mode explicitly. FAT and exFAT
	// have no permission bits: their drivers refuse (or ignore) chmod,
	// and the mount's own mode applies.
	if err := f.Chmod(mode); err != nil && !noModes(err) {
		return fmt.Errorf("write %s: chmod: %w", path, err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, classify(dir, err))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, classify(dir, err))
	}
	// A full medium often shows only here: the data was cached, and the
	// blocks are allocated when it is written out.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, classify(dir, err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", path, classify(dir, err))
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: sync directory %s: %w", path, dir, err)
	}
	// Checked again just before the rename, which on FAT and exFAT (and
	// wherever renameat2's RENAME_NOREPLACE is not supported) would
	// replace a file another program created at path since the check at
	// the start. The window between this check and the rename is a race
	// that cannot be closed there: POSIX rename always replaces, and
	// link(2), the usual way to refuse, does not exist on FAT. It is
	// narrow (no sync in between), and only another program could win it:
	// custos writes each output once, under the ledger's lock. Where the
	// file system supports RENAME_NOREPLACE, rename refuses and there is no race.
	if err := refuseExisting(path); err != nil {
		return err
	}
	if err := renameNoReplace(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return exists(path)
		}
		return fmt.Errorf("write %s: rename %s: %w", path, filepath.Base(tmp), err)
	}
	if err := syncDir(dir); err != nil {
		// The file is whole under its name; only the name's durability
		// is in doubt. Say so rather than remove a good file.
		return fmt.Errorf("write %s: sync directory %s after the rename: %w", path, dir, err)
	}
	return nil
}

func refuseExisting(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return exists(path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func exists(path string) error {
	return hint.With(fmt.Errorf("write %s: %w", path, &existsError{path}),
		"custos never writes over a file: choose a new name, or move the old file away first")
}

type existsError struct{ path string }

func (e *existsError) Error() string { return e.path + " already exists" }
func (e *existsError) Is(target error) bool {
	return target == fs.ErrExist
}

// NoSpaceError is a write that found its medium full.
type NoSpaceError struct {
	Dir string // the destination directory
	Err error
}

func (e *NoSpaceError) Error() string { return "no space left on " + e.Dir }
func (e *NoSpaceError) Unwrap() error { return e.Err }

// classify names a full medium as such: ENOSPC or a quota, or another
// error of a write while the file system reports nothing free (fusefat
// answers a full FAT with EPERM, and reports its free clusters as free
// file slots).
func classify(dir string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || full(dir) {
		return hint.With(&NoSpaceError{Dir: dir, Err: err}, "nothing was left on the medium; use one with more free space")
	}
	return err
}

// noModes reports whether a chmod error says the file system keeps no
// permission bits (FUSE FAT drivers answer ENOSYS; the kernel's vfat
// EPERM unless mounted "quiet").
func noModes(err error) bool {
	return errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EPERM)
}

// syncDir makes the directory's entries durable. File systems that cannot
// sync a directory (EINVAL, ENOTSUP: FUSE drivers without fsyncdir) make
// their entries durable with the file's own sync or not at all; that is
// not an error of the write.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) && !errors.Is(err, syscall.ENOSYS) {
		return err
	}
	return nil
}

// MaxReadBack bounds what ReadBack reads.
const MaxReadBack = 64 << 20

// ReadBack re-opens the output at path from its medium and returns its
// bytes; the pages the kernel cached while writing it are dropped first
// (posix_fadvise DONTNEED after the file was synced), so they come from
// the medium as far as the system allows. A drive's own cache is out of
// reach.
func ReadBack(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read back %s: %w", path, err)
	}
	defer f.Close()
	dropCache(f)
	data, err := io.ReadAll(io.LimitReader(f, MaxReadBack+1))
	if err != nil {
		clear(data)
		return nil, fmt.Errorf("read back %s: %w", path, err)
	}
	if len(data) > MaxReadBack {
		clear(data)
		return nil, fmt.Errorf("read back %s: more than %d bytes", path, MaxReadBack)
	}
	return data, nil
}

// Check reads back the output at path and compares its SHA-256 with
// wantHex, the digest about to be recorded for it. It returns the bytes
// read back (the caller zeroes them if they are secret).
func Check(path, wantHex string) ([]byte, error) {
	data, err := ReadBack(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(got), []byte(wantHex)) != 1 {
		clear(data)
		return nil, hint.With(fmt.Errorf("read back %s: the medium returns %d bytes with sha256 %s, not the sha256 %s written", path, len(data), got, wantHex),
			"the medium is failing or was changed under the write: nothing was recorded; use another medium")
	}
	return data, nil
}

// SHA256 is the hex SHA-256 of data, the form outputs' digests are
// recorded in.
func SHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
