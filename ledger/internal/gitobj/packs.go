// Packed objects: the packs of one object directory, read with go-git's
// pack reader through a compact index of their own.

package gitobj

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// packSet reads the packed objects of one object directory (an auditor's
// clone, packed by git gc) with go-git's pack reader, but with an index
// of its own per pack. To find the base of a delta, go-git's index maps
// every offset of the pack to its object id, built whole on first use:
// 80 MB for the million objects of a 100 000-record ledger. compactIndex
// answers the same question from a sorted table of 16 bytes per object.
// The packs are listed once, on the first read: a pack added later is
// not seen.
type packSet struct {
	dir    string // .git/objects/pack
	opened bool
	packs  []*packfile.Packfile
	idx    []*compactIndex
}

// get reads object h from the packs; plumbing.ErrObjectNotFound when no
// pack holds it.
func (s *packSet) get(h plumbing.Hash) (plumbing.EncodedObject, error) {
	if !s.opened {
		s.opened = true
		if err := s.open(); err != nil {
			s.close()
			return nil, err
		}
	}
	for i, idx := range s.idx {
		if ok, err := idx.Contains(h); err == nil && ok {
			return s.packs[i].Get(h)
		}
	}
	return nil, plumbing.ErrObjectNotFound
}

func (s *packSet) open() error {
	names, err := filepath.Glob(filepath.Join(s.dir, "pack-*.idx"))
	if err != nil || len(names) == 0 {
		return nil // no packs: nothing to read here
	}
	slices.Sort(names)
	// One delta-base cache for all packs: each object is read once, so it
	// serves only the bases of deltas.
	bases := cache.NewObjectLRU(16 * cache.MiByte)
	fs := osfs.New(s.dir)
	for _, name := range names {
		pack := strings.TrimSuffix(name, ".idx") + ".pack"
		for _, p := range []string{name, pack} {
			// a FIFO or a device would block the reads below
			if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
				if err == nil {
					err = fmt.Errorf("%s is a %s, not a regular file", p, FileKind(fi.Mode()))
				}
				return err
			}
		}
		idx, err := readCompactIndex(name)
		if err != nil {
			return err
		}
		f, err := fs.Open(strings.TrimSuffix(filepath.Base(name), ".idx") + ".pack")
		if err != nil {
			return fmt.Errorf("pack of %s: %w", filepath.Base(name), err)
		}
		s.idx = append(s.idx, idx)
		s.packs = append(s.packs, packfile.NewPackfileWithCache(idx, nil, f, bases, 0))
	}
	return nil
}

func (s *packSet) close() {
	for _, p := range s.packs {
		p.Close()
	}
	s.packs, s.idx = nil, nil
}

// compactIndex is a pack's index with FindHash (offset → id) answered by a
// binary search of the entries sorted by offset.
type compactIndex struct {
	*idxfile.MemoryIndex
	byOffset []offsetEntry
}

type offsetEntry struct {
	offset uint64
	pos    uint32 // the entry's place in the index, in id order
}

func readCompactIndex(name string) (*compactIndex, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mi := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(mi); err != nil {
		return nil, fmt.Errorf("pack index %s: %w", filepath.Base(name), err)
	}
	n, _ := mi.Count()
	idx := &compactIndex{MemoryIndex: mi, byOffset: make([]offsetEntry, 0, n)}
	it, err := mi.Entries()
	if err != nil {
		return nil, fmt.Errorf("pack index %s: %w", filepath.Base(name), err)
	}
	defer it.Close()
	for pos := uint32(0); ; pos++ {
		e, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("pack index %s: %w", filepath.Base(name), err)
		}
		idx.byOffset = append(idx.byOffset, offsetEntry{e.Offset, pos})
	}
	slices.SortFunc(idx.byOffset, func(a, b offsetEntry) int { return cmp.Compare(a.offset, b.offset) })
	return idx, nil
}

// FindHash is the id of the object at offset o.
func (idx *compactIndex) FindHash(o int64) (plumbing.Hash, error) {
	i, ok := slices.BinarySearchFunc(idx.byOffset, uint64(o), func(e offsetEntry, o uint64) int { return cmp.Compare(e.offset, o) })
	if !ok {
		return plumbing.ZeroHash, plumbing.ErrObjectNotFound
	}
	return idx.nameAt(idx.byOffset[i].pos), nil
}

// nameAt is the id of the entry at place pos (in id order): the fan-out
// table gives the ids' first byte and where its run starts.
func (idx *compactIndex) nameAt(pos uint32) plumbing.Hash {
	first, _ := slices.BinarySearch(idx.Fanout[:], pos+1)
	start := uint32(0)
	if first > 0 {
		start = idx.Fanout[first-1]
	}
	var h plumbing.Hash
	k := idx.FanoutMapping[first]
	copy(h[:], idx.Names[k][(pos-start)*20:])
	return h
}
