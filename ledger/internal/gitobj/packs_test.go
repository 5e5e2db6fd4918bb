package gitobj

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// TestPackSet: in a repository packed by stock git (deltas included),
// every object reads through packSet as through go-git, and the compact
// index maps each entry's offset to its id.
func TestPackSet(t *testing.T) {
	dir := history(t, 30)
	gitCmd(t, dir, "gc", "-q", "--aggressive", "--prune=now")
	if loose, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "??", "*")); len(loose) != 0 {
		t.Fatalf("%d loose objects after gc", len(loose))
	}
	o := NewReader(filepath.Join(dir, ".git", "objects"))
	defer o.Close()
	ps := o.stores[0].packs
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(gitCmd(t, dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname):%(objecttype):%(deltabase)"))
	deltas := 0
	for _, l := range lines {
		parts := strings.Split(l, ":")
		h, typ := plumbing.NewHash(parts[0]), parts[1]
		if parts[2] != strings.Repeat("0", 40) {
			deltas++
		}
		ot, _ := plumbing.ParseObjectType(typ)
		got, err := o.Read(h, ot)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		// o.Read checked the content against its id; go-git agrees.
		if want, err := Read(repo.Storer, h, ot); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s reads differently through packSet (go-git: %v)", h, err)
		}
	}
	if deltas == 0 {
		t.Fatal("the pack has no deltas: the test checks nothing about them")
	}
	// Every id of the index is found at the offset git gives it, and the
	// id one above it (absent, but in the same block of the sample) is not.
	if _, _, err := ps.get(plumbing.ZeroHash); err != plumbing.ErrObjectNotFound {
		t.Fatalf("the zero id: %v", err)
	}
	p := ps.packs[0]
	idxs, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.idx"))
	n := 0
	for _, l := range strings.Split(gitCmd(t, dir, "verify-pack", "-v", idxs[0]), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 || len(f[0]) != 40 {
			continue
		}
		n++
		h := plumbing.NewHash(f[0])
		off, ok, err := p.find(h)
		if err != nil || !ok || strconv.FormatInt(off, 10) != f[4] {
			t.Fatalf("%s: offset %d %v %v, git says %s", h, off, ok, err, f[4])
		}
		h[19]++
		present := slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, h.String()) })
		if _, ok, err := p.find(h); ok != present || err != nil {
			t.Fatalf("%s: found %v, in the pack %v (%v)", h, ok, present, err)
		}
	}
	if n != len(lines) || n <= sampleEvery {
		t.Fatalf("%d index entries, %d objects (the test wants more than one block of %d)", n, len(lines), sampleEvery)
	}
}

// FuzzPackSet: a pack or pack index altered anywhere gives each object
// either its content (checked against its id) or an error naming it;
// never a panic, never wrong content; an unaltered pack reads whole.
func FuzzPackSet(f *testing.F) {
	dir := history(f, 30)
	gitCmd(f, dir, "gc", "-q", "--aggressive", "--prune=now")
	packDir := filepath.Join(dir, ".git", "objects", "pack")
	idxs, _ := filepath.Glob(filepath.Join(packDir, "*.idx"))
	if len(idxs) != 1 {
		f.Fatalf("%d pack indexes", len(idxs))
	}
	pack, _ := os.ReadFile(strings.TrimSuffix(idxs[0], ".idx") + ".pack")
	idx, _ := os.ReadFile(idxs[0])
	type object struct {
		id  plumbing.Hash
		typ plumbing.ObjectType
	}
	var objects []object
	for _, l := range strings.Fields(gitCmd(f, dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname):%(objecttype)")) {
		id, typ, _ := strings.Cut(l, ":")
		ot, _ := plumbing.ParseObjectType(typ)
		objects = append(objects, object{plumbing.NewHash(id), ot})
	}
	f.Add(false, uint32(0), byte(0))  // unaltered
	f.Add(false, uint32(12), byte(1)) // the first object's header
	f.Add(false, uint32(200), byte(0x80))
	f.Add(true, uint32(8+4*255), byte(3)) // the fan-out's total
	f.Add(true, uint32(1100), byte(0xff))
	f.Fuzz(func(t *testing.T, inIdx bool, at uint32, flip byte) {
		p, x := bytes.Clone(pack), bytes.Clone(idx)
		target := p
		if inIdx {
			target = x
		}
		target[int(at)%len(target)] ^= flip
		store := t.TempDir()
		os.MkdirAll(filepath.Join(store, "pack"), 0o755)
		os.WriteFile(filepath.Join(store, "pack", "pack-x.pack"), p, 0o644)
		os.WriteFile(filepath.Join(store, "pack", "pack-x.idx"), x, 0o644)
		o := NewReader(store)
		defer o.Close()
		// Read checks any content against its id (a panic would be turned
		// into an error by it): what can go wrong is an unaltered pack
		// that does not read, or an error that does not name the object
		for _, ob := range objects {
			_, err := o.Read(ob.id, ob.typ)
			if err != nil && flip == 0 {
				t.Fatalf("unaltered pack: %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), ob.id.String()) {
				t.Fatalf("the error does not name object %s: %v", ob.id, err)
			}
		}
	})
}
