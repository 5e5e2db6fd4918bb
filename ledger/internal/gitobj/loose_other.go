//go:build !unix

// Reading a loose object's file, bounded, where there is no unix.

package gitobj

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// readLoose reads the loose object file at path into buf[:0]; false when
// there is none. It must be a regular file of at most max bytes.
func readLoose(path string, buf []byte, limit int64) ([]byte, bool, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return buf, false, nil
	case err != nil:
		return buf, true, err
	case !fi.Mode().IsRegular():
		return buf, true, fmt.Errorf("%s is a %s, not a regular file", path, FileKind(fi.Mode()))
	case fi.Size() > limit:
		return buf, true, fmt.Errorf("%s is %d bytes, more than the %d a ledger object may take", path, fi.Size(), limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return buf, true, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, fi.Size()+1))
	if err == nil && int64(len(b)) > fi.Size() {
		err = fmt.Errorf("%s changed while it was read", path)
	}
	return b, true, err
}
