package ledger

// Bounded reads of the small files of a git directory (HEAD, refs,
// packed-refs, alternates, a .git file, commondir, grafts, shallow). A copy
// of a ledger comes from anyone: each file is checked to be a regular
// file of a sensible size before it is read, so that a FIFO, a device or
// a huge file is an error naming it, never a hang or a memory blow-up.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"custos/ledger/internal/gitobj"
)

// Limits on what verify reads.
const (
	maxRefFile     = 4 << 10  // a loose ref or HEAD: 41 bytes, or "ref: " and a name
	maxSmallFile   = 64 << 10 // a .git file, commondir, alternates
	maxListFile    = 16 << 20 // packed-refs, info/grafts, shallow
	maxRefs        = 100000   // refs in a repository
	maxObjectDepth = 5        // alternates of alternates, as git allows
)

// readSmall reads the regular file at path, of at most limit bytes. A
// file that is not regular (a symbolic link included) or too large is an
// error naming it; a missing one wraps fs.ErrNotExist.
func readSmall(path string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is a %s, not a regular file", path, gitobj.FileKind(fi.Mode()))
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d it may hold", path, fi.Size(), limit)
	}
	// Not blocking, not following a link: the file could have been
	// swapped for a FIFO or a link since the Lstat.
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is more than the %d bytes it may hold", path, limit)
	}
	return b, nil
}

// exists reports whether there is anything at path (a broken link too).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
