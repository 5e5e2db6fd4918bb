package gitobj

import (
	"bytes"
	"compress/zlib"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// FuzzInflateLoose: any inflated loose object gives its type and exactly
// the content its header declares, or an error; never a panic.
func FuzzInflateLoose(f *testing.F) {
	f.Add([]byte("blob 5\x00hello"))
	f.Add([]byte("blob 10\x00" + strings.Repeat("\x00", 100)))
	f.Add([]byte("commit 99999999999999999999\x00"))
	f.Add([]byte("tree 0\x00"))
	f.Add([]byte("blob 05\x00hello"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var z bytes.Buffer
		w := zlib.NewWriter(&z)
		w.Write(raw)
		w.Close()
		zr, err := zlib.NewReader(&z)
		if err != nil {
			t.Fatal(err)
		}
		typ, content, err := inflateLoose(zr)
		if err != nil {
			return
		}
		if want := typ + " " + strconv.Itoa(len(content)) + "\x00" + string(content); want != string(raw) {
			t.Fatalf("read %q as %q", raw, want)
		}
	})
}

// TestReaderStores: a Reader reads loose objects and packed ones, its
// own store's first and then an alternate's (git clone --shared), checks
// each against its id wherever it is found (a copy in the first store
// whose content was swapped is an error, not a reason to read the
// alternate's), and names an object no store holds.
func TestReaderStores(t *testing.T) {
	base := history(t, 5)
	gitCmd(t, base, "gc", "-q", "--prune=now")
	clone := filepath.Join(t.TempDir(), "clone")
	gitCmd(t, base, "clone", "-q", "--shared", base, clone)
	if err := os.WriteFile(filepath.Join(clone, "new.txt"), []byte("loose"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, clone, "add", "new.txt")
	gitCmd(t, clone, "commit", "-q", "-m", "loose")
	own, alt := filepath.Join(clone, ".git", "objects"), filepath.Join(base, ".git", "objects")
	o := NewReader(own, alt)
	defer o.Close()
	for _, l := range strings.Split(strings.TrimSpace(gitCmd(t, clone, "rev-list", "--objects", "--no-object-names", "HEAD")), "\n") {
		h := plumbing.NewHash(l)
		typ, _ := plumbing.ParseObjectType(strings.TrimSpace(gitCmd(t, clone, "cat-file", "-t", l)))
		got, err := o.Read(h, typ)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		if want := gitCmd(t, clone, "cat-file", typ.String(), l); string(got) != want {
			t.Fatalf("%s reads %q, git %q", h, got, want)
		}
	}
	// the new blob is loose in the clone: its file now holds other content
	blob := strings.TrimSpace(gitCmd(t, clone, "rev-parse", "HEAD:new.txt"))
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write([]byte("blob 5\x00other"))
	w.Close()
	p := filepath.Join(own, blob[:2], blob[2:])
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Read(plumbing.NewHash(blob), plumbing.BlobObject); err == nil || err.Error() != "git object "+blob+" is corrupt: its content does not match its id" {
		t.Fatalf("a loose object with other content: %v", err)
	}
	var missing plumbing.Hash
	missing[0] = 1
	if _, err := o.Read(missing, plumbing.BlobObject); !errors.Is(err, plumbing.ErrObjectNotFound) || !strings.Contains(err.Error(), missing.String()) {
		t.Fatalf("a missing object: %v", err)
	}
}
