package gitobj

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// TestDurableStore: an object written through a DurableStore is a loose
// object stock git reads, read-only, with no temporary file left beside
// it; writing it again changes nothing.
func TestDurableStore(t *testing.T) {
	dir := history(t, 1)
	gitDir := filepath.Join(dir, ".git")
	objects := filepath.Join(gitDir, "objects")
	st := NewDurableStore(filesystem.NewStorage(osfs.New(gitDir), cache.NewObjectLRUDefault()), objects)
	content := []byte("a record\n")
	h, err := Write(st, plumbing.BlobObject, content)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := gitCmd(t, dir, "cat-file", "blob", h.String()); got != string(content) {
		t.Fatalf("git reads %q", got)
	}
	p := filepath.Join(objects, h.String()[:2], h.String()[2:])
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode().Perm() != 0o444 {
		t.Fatalf("%s: %v, %v", p, fi.Mode(), err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(objects, "*", "tmp_obj_*")); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	if again, err := Write(st, plumbing.BlobObject, content); err != nil || again != h {
		t.Fatalf("written again: %s, %v", again, err)
	}
	gitCmd(t, dir, "fsck", "--no-dangling") // fails the test on a broken object
	if got, err := NewReader(objects).Read(h, plumbing.BlobObject); err != nil || string(got) != string(content) {
		t.Fatalf("read back: %q, %v", got, err)
	}
}
