package media

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames old to new, refusing (fs.ErrExist) when new
// exists: atomically with renameat2(RENAME_NOREPLACE) where the file
// system supports it, else (FAT and exFAT through FUSE answer EINVAL) with
// a plain rename after the caller's check.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EEXIST):
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.ENOTSUP):
		return os.Rename(old, new)
	}
	return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
}

// dropCache asks the kernel to forget the cached pages of f, so the next
// read goes to the medium. Best effort: a file system may keep them.
func dropCache(f *os.File) {
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// full reports whether the file system of dir says it has no room left:
// no free blocks, or no free file slots (inodes, or clusters where a
// FUSE driver counts those instead of blocks).
func full(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	return (st.Blocks > 0 && st.Bavail == 0) || (st.Files > 0 && st.Ffree == 0)
}
