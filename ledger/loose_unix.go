//go:build unix

package ledger

import "syscall"

// readLoose reads the file at path into buf[:0]; false when it cannot be
// opened. A loose object is read with bare system calls: os.Open would
// also register the file with the poller (refused for regular files on
// Linux, one more call) and attach a cleanup, for every object of the
// history.
func readLoose(path string, buf []byte) ([]byte, bool, error) {
	var fd int
	var err error
	for {
		if fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return buf, false, nil
	}
	defer syscall.Close(fd)
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, max(4096, cap(buf)))...)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return buf, true, err
		case n == 0:
			return buf, true, nil
		}
		buf = buf[:len(buf)+n]
	}
}
