//go:build unix

// Reading a loose object's file, bounded, with bare system calls.

package gitobj

import (
	"fmt"
	"io/fs"
	"syscall"
)

// readLoose reads the loose object file at path into buf[:0]; false when
// there is none. A loose object is read with bare system calls: os.Open
// would also register the file with the poller (refused for regular files
// on Linux, one more call) and attach a cleanup, for every object of the
// history. The file must be a regular file of at most max bytes: a FIFO,
// a device, a directory or a symbolic link in its place is an error, and
// it is opened without blocking or following a link, in case it was
// swapped since.
func readLoose(path string, buf []byte, limit int64) ([]byte, bool, error) {
	var st syscall.Stat_t
	var err error
	for {
		if err = syscall.Lstat(path, &st); err != syscall.EINTR {
			break
		}
	}
	switch {
	case err == syscall.ENOENT || err == syscall.ENOTDIR:
		return buf, false, nil
	case err != nil:
		return buf, true, fmt.Errorf("%s: %w", path, err)
	case st.Mode&syscall.S_IFMT != syscall.S_IFREG:
		return buf, true, fmt.Errorf("%s is a %s, not a regular file", path, FileKind(unixMode(uint32(st.Mode))))
	case st.Size > limit:
		return buf, true, fmt.Errorf("%s is %d bytes, more than the %d a ledger object may take", path, st.Size, limit)
	}
	var fd int
	for {
		if fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0); err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return buf, true, fmt.Errorf("%s: %w", path, err)
	}
	defer syscall.Close(fd)
	want := int(st.Size) + 1 // one more: a file that grew is caught
	if cap(buf) < want {
		buf = make([]byte, 0, max(4096, want))
	}
	buf = buf[:0]
	for len(buf) < want {
		n, err := syscall.Read(fd, buf[len(buf):want])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return buf, true, fmt.Errorf("%s: %w", path, err)
		case n == 0:
			return buf, true, nil
		}
		buf = buf[:len(buf)+n]
	}
	return buf, true, fmt.Errorf("%s changed while it was read", path)
}

// unixMode is the fs.FileMode type bits of a stat mode.
func unixMode(m uint32) fs.FileMode {
	switch m & syscall.S_IFMT {
	case syscall.S_IFLNK:
		return fs.ModeSymlink
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		return fs.ModeDevice
	case syscall.S_IFSOCK:
		return fs.ModeSocket
	case syscall.S_IFDIR:
		return fs.ModeDir
	}
	return fs.ModeIrregular
}
