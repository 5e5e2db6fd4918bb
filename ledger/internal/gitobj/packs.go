// Packed objects: the packs of one object directory, read from their
// files, with no per-object table in memory.

package gitobj

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// packSet reads the packed objects of one object directory (an auditor's
// clone, packed by git gc). go-git's pack reader was the way before: its
// index holds every entry in memory and its Packfile keeps a map of every
// offset it has read to the object's type, so that verify of a packed
// clone held 53 MB at 10 000 records against 15 MB loose, growing with
// the history (a 100 000-record ledger is a million objects). Here an
// index stays in its file: in memory is every sampleEvery-th id (20
// bytes per 32 objects), and a lookup reads one block of ids and one
// offset from the file. Objects are inflated from the pack file; a delta
// is applied to its base by go-git's PatchDelta, the bases kept in a
// cache of bounded size. The packs are listed once, on the first read: a
// pack added later is not seen.
type packSet struct {
	dir    string // .git/objects/pack
	opened bool
	packs  []*pack
	bases  baseCache
}

// sampleEvery: one id in memory per this many in an index.
const sampleEvery = 32

// maxDeltaDepth bounds a chain of deltas (git's deepest, --aggressive, is
// 250); a longer one is refused as corrupt, as is a loop of REF_DELTAs.
const maxDeltaDepth = 4096

// pack is one pack file and its version 2 index.
type pack struct {
	name      string   // pack-<id>, for errors
	idx, data *os.File // the .idx and .pack files
	size      int64    // of the .pack file
	n         uint32   // objects
	sample    []plumbing.Hash
	block     []byte // a block of ids read from the index
	br        *bufio.Reader
	zr        io.ReadCloser
}

// Index version 2 layout: header, fan-out, ids, CRCs, offsets, large
// offsets, two checksums.
const (
	idxHeader = 8
	idxFanout = 256 * 4
)

func (p *pack) namesAt() int64   { return idxHeader + idxFanout }
func (p *pack) offsetsAt() int64 { return p.namesAt() + 24*int64(p.n) }
func (p *pack) largeAt() int64   { return p.offsetsAt() + 4*int64(p.n) }

// get reads object h from the packs: its type and content (not yet
// checked against h); plumbing.ErrObjectNotFound when no pack holds it.
func (s *packSet) get(h plumbing.Hash) (plumbing.ObjectType, []byte, error) {
	if !s.opened {
		s.opened = true
		if err := s.open(); err != nil {
			s.close()
			return 0, nil, err
		}
	}
	for _, p := range s.packs {
		off, ok, err := p.find(h)
		if err != nil {
			return 0, nil, err
		}
		if ok {
			typ, b, err := s.read(p, off, 0)
			if s.bases.has(p, off) {
				b = bytes.Clone(b) // the cache's copy stays as it is
			}
			return typ, b, err
		}
	}
	return 0, nil, plumbing.ErrObjectNotFound
}

func (s *packSet) open() error {
	names, err := filepath.Glob(filepath.Join(s.dir, "pack-*.idx"))
	if err != nil || len(names) == 0 {
		return nil // no packs: nothing to read here
	}
	slices.Sort(names)
	s.bases.init(8 << 20)
	for _, name := range names {
		p, err := openPack(name)
		if err != nil {
			return err
		}
		s.packs = append(s.packs, p)
	}
	return nil
}

func (s *packSet) close() {
	for _, p := range s.packs {
		p.idx.Close()
		p.data.Close()
	}
	s.packs = nil
	s.bases.init(0)
}

// openPack opens the index name and its pack, checks their headers and
// that the index's ids are in order, and keeps the sample.
func openPack(name string) (*pack, error) {
	base := strings.TrimSuffix(filepath.Base(name), ".idx")
	packPath := strings.TrimSuffix(name, ".idx") + ".pack"
	for _, f := range []string{name, packPath} {
		// a FIFO or a device would block the reads below
		if fi, err := os.Lstat(f); err != nil || !fi.Mode().IsRegular() {
			if err == nil {
				err = fmt.Errorf("%s is a %s, not a regular file", f, FileKind(fi.Mode()))
			}
			return nil, err
		}
	}
	p := &pack{name: base}
	var err error
	if p.idx, err = os.Open(name); err != nil {
		return nil, err
	}
	if p.data, err = os.Open(packPath); err != nil {
		p.idx.Close()
		return nil, fmt.Errorf("pack of %s: %w", filepath.Base(name), err)
	}
	if err := p.check(); err != nil {
		p.idx.Close()
		p.data.Close()
		return nil, fmt.Errorf("%s is corrupt: %w", base, err)
	}
	p.br = bufio.NewReaderSize(nil, 4096)
	return p, nil
}

// check reads the headers, the fan-out and the ids once.
func (p *pack) check() error {
	fi, err := p.idx.Stat()
	if err != nil {
		return err
	}
	var hdr [idxHeader + idxFanout]byte
	if _, err := p.idx.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("index header: %w", err)
	}
	if !bytes.Equal(hdr[:4], []byte{0xff, 't', 'O', 'c'}) || binary.BigEndian.Uint32(hdr[4:]) != 2 {
		return errors.New("not a version 2 pack index")
	}
	prev := uint32(0)
	for i := range 256 {
		v := binary.BigEndian.Uint32(hdr[idxHeader+4*i:])
		if v < prev {
			return errors.New("index fan-out out of order")
		}
		prev = v
	}
	p.n = prev
	if fi.Size() < p.largeAt()+40 {
		return fmt.Errorf("index of %d objects is %d bytes, too short", p.n, fi.Size())
	}
	pf, err := p.data.Stat()
	if err != nil {
		return err
	}
	p.size = pf.Size()
	var ph [12]byte
	if _, err := p.data.ReadAt(ph[:], 0); err != nil {
		return fmt.Errorf("pack header: %w", err)
	}
	if string(ph[:4]) != "PACK" || binary.BigEndian.Uint32(ph[8:]) != p.n {
		return fmt.Errorf("pack header does not describe the %d objects its index lists", p.n)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(p.idx, p.namesAt(), 20*int64(p.n)), 64<<10)
	p.sample = make([]plumbing.Hash, 0, p.n/sampleEvery+1)
	var last, h plumbing.Hash
	for i := range p.n {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return fmt.Errorf("index ids: %w", err)
		}
		if i > 0 && bytes.Compare(h[:], last[:]) <= 0 {
			return errors.New("index ids out of order")
		}
		if i%sampleEvery == 0 {
			p.sample = append(p.sample, h)
		}
		last = h
	}
	return nil
}

// find is the offset of object h in the pack, and whether it is there.
func (p *pack) find(h plumbing.Hash) (int64, bool, error) {
	s, _ := slices.BinarySearchFunc(p.sample, h, func(e, h plumbing.Hash) int { return bytes.Compare(e[:], h[:]) })
	if s < len(p.sample) && p.sample[s] == h {
		return p.offset(uint32(s * sampleEvery))
	}
	if s == 0 {
		return 0, false, nil
	}
	// h sorts after sample s-1: it is in that one's block, if anywhere.
	start := uint32(s-1) * sampleEvery
	end := min(start+sampleEvery, p.n)
	p.block = slices.Grow(p.block[:0], 20*int(end-start))[:20*int(end-start)]
	if _, err := p.idx.ReadAt(p.block, p.namesAt()+20*int64(start)); err != nil {
		return 0, false, fmt.Errorf("%s: index ids: %w", p.name, err)
	}
	i, found := 0, false
	lo, hi := 0, int(end-start)
	for lo < hi {
		m := (lo + hi) / 2
		switch c := bytes.Compare(p.block[20*m:20*m+20], h[:]); {
		case c == 0:
			i, found, lo, hi = m, true, m, m
		case c < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	if !found {
		return 0, false, nil
	}
	return p.offset(start + uint32(i))
}

// offset reads the pack offset of the index's entry pos.
func (p *pack) offset(pos uint32) (int64, bool, error) {
	var b [8]byte
	if _, err := p.idx.ReadAt(b[:4], p.offsetsAt()+4*int64(pos)); err != nil {
		return 0, false, fmt.Errorf("%s: index offsets: %w", p.name, err)
	}
	off := int64(binary.BigEndian.Uint32(b[:4]))
	if off&0x80000000 != 0 {
		at := p.largeAt() + 8*(off&0x7fffffff)
		if _, err := p.idx.ReadAt(b[:], at); err != nil {
			return 0, false, fmt.Errorf("%s: index large offsets: %w", p.name, err)
		}
		off = int64(binary.BigEndian.Uint64(b[:]) & (1<<63 - 1))
	}
	if off < 12 || off >= p.size-20 {
		return 0, false, fmt.Errorf("%s: index gives offset %d, outside the pack", p.name, off)
	}
	return off, true, nil
}

// read inflates the object at off, applying deltas to their bases.
func (s *packSet) read(p *pack, off int64, depth int) (plumbing.ObjectType, []byte, error) {
	if depth > maxDeltaDepth {
		return 0, nil, fmt.Errorf("%s: a chain of more than %d deltas", p.name, maxDeltaDepth)
	}
	if typ, b, ok := s.bases.get(p, off); ok {
		return typ, b, nil
	}
	p.br.Reset(io.NewSectionReader(p.data, off, p.size-20-off))
	typ, size, err := objectHeader(p.br)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: object at %d: %w", p.name, off, err)
	}
	limit := int64(MaxObjectSize)
	baseOff := int64(0)
	switch typ {
	case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
	case plumbing.OFSDeltaObject:
		rel, err := ofsDeltaOffset(p.br)
		if err != nil || rel <= 0 || rel >= off {
			return 0, nil, fmt.Errorf("%s: object at %d: bad delta base offset", p.name, off)
		}
		baseOff, limit = off-rel, 2*MaxObjectSize
	case plumbing.REFDeltaObject:
		var base plumbing.Hash
		if _, err := io.ReadFull(p.br, base[:]); err != nil {
			return 0, nil, fmt.Errorf("%s: object at %d: %w", p.name, off, err)
		}
		o, ok, err := p.find(base)
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			return 0, nil, fmt.Errorf("%s: object at %d: its delta base %s is not in the pack", p.name, off, base)
		}
		baseOff, limit = o, 2*MaxObjectSize
	default:
		return 0, nil, fmt.Errorf("%s: object at %d has type %d", p.name, off, typ)
	}
	if size > limit {
		return 0, nil, fmt.Errorf("%s: object at %d declares %d bytes, more than the %d a ledger object may take", p.name, off, size, MaxObjectSize)
	}
	b, err := p.inflate(size)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: object at %d: %w", p.name, off, err)
	}
	if baseOff == 0 {
		return typ, b, nil
	}
	btyp, base, err := s.read(p, baseOff, depth+1)
	if err != nil {
		return 0, nil, err
	}
	s.bases.put(p, baseOff, btyp, base)
	src, tgt, ok := deltaSizes(b)
	if !ok || src != uint64(len(base)) || tgt > MaxObjectSize {
		return 0, nil, fmt.Errorf("%s: object at %d: a delta that does not fit its base", p.name, off)
	}
	out, err := packfile.PatchDelta(base, b)
	if err != nil || uint64(len(out)) != tgt {
		return 0, nil, fmt.Errorf("%s: object at %d: a delta that does not apply", p.name, off)
	}
	return btyp, out, nil
}

// inflate reads exactly size bytes of zlib data from p.br, and its end.
func (p *pack) inflate(size int64) ([]byte, error) {
	var err error
	if p.zr == nil {
		p.zr, err = zlib.NewReader(p.br)
	} else {
		err = p.zr.(zlib.Resetter).Reset(p.br, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("not zlib data: %w", err)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(p.zr, b); err != nil {
		return nil, fmt.Errorf("it ends before the %d bytes its header declares", size)
	}
	var one [1]byte
	switch m, err := io.ReadFull(p.zr, one[:]); {
	case m > 0:
		return nil, fmt.Errorf("it inflates past the %d bytes its header declares", size)
	case !errors.Is(err, io.EOF):
		return nil, err
	}
	return b, nil
}

// objectHeader reads a pack entry's type and size.
func objectHeader(r io.ByteReader) (plumbing.ObjectType, int64, error) {
	c, err := r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	typ := plumbing.ObjectType(c >> 4 & 7)
	size := int64(c & 15)
	for shift := 4; c&0x80 != 0; shift += 7 {
		if shift > 56 {
			return 0, 0, errors.New("object size too long")
		}
		if c, err = r.ReadByte(); err != nil {
			return 0, 0, err
		}
		size |= int64(c&0x7f) << shift
	}
	return typ, size, nil
}

// ofsDeltaOffset reads an OFS_DELTA's distance back to its base.
func ofsDeltaOffset(r io.ByteReader) (int64, error) {
	c, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	v := int64(c & 0x7f)
	for n := 0; c&0x80 != 0; n++ {
		if n > 8 {
			return 0, errors.New("delta offset too long")
		}
		if c, err = r.ReadByte(); err != nil {
			return 0, err
		}
		v = (v+1)<<7 | int64(c&0x7f)
	}
	return v, nil
}

// deltaSizes reads a delta's source and target sizes.
func deltaSizes(d []byte) (src, tgt uint64, ok bool) {
	var n int
	if src, n = binary.Uvarint(d); n <= 0 {
		return 0, 0, false
	}
	if tgt, n = binary.Uvarint(d[n:]); n <= 0 {
		return 0, 0, false
	}
	return src, tgt, true
}

// baseCache keeps the most recently used delta bases, up to a number of
// bytes.
type baseCache struct {
	max, used int
	order     *list.List // of *cached, most recent first
	at        map[cacheKey]*list.Element
}

type cacheKey struct {
	p   *pack
	off int64
}

type cached struct {
	key  cacheKey
	typ  plumbing.ObjectType
	data []byte
}

func (c *baseCache) init(max int) {
	*c = baseCache{max: max, order: list.New(), at: map[cacheKey]*list.Element{}}
}

func (c *baseCache) get(p *pack, off int64) (plumbing.ObjectType, []byte, bool) {
	e, ok := c.at[cacheKey{p, off}]
	if !ok {
		return 0, nil, false
	}
	c.order.MoveToFront(e)
	v := e.Value.(*cached)
	return v.typ, v.data, true
}

func (c *baseCache) has(p *pack, off int64) bool {
	_, ok := c.at[cacheKey{p, off}]
	return ok
}

func (c *baseCache) put(p *pack, off int64, typ plumbing.ObjectType, data []byte) {
	k := cacheKey{p, off}
	if _, ok := c.at[k]; ok || len(data) > c.max/4 {
		return
	}
	c.at[k] = c.order.PushFront(&cached{k, typ, data})
	c.used += len(data)
	for c.used > c.max {
		e := c.order.Back()
		v := e.Value.(*cached)
		c.order.Remove(e)
		delete(c.at, v.key)
		c.used -= len(v.data)
	}
}
