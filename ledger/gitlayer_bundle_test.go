package ledger

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestBundleWhatCloneShows: verify checks the history git clone checks
// out of a bundle, its HEAD, and refuses a bundle whose HEAD is not its
// main branch.
func TestBundleWhatCloneShows(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	head := strings.TrimSpace(gitCmd(t, f.dir, "rev-parse", "HEAD"))
	old := strings.TrimSpace(gitCmd(t, f.dir, "rev-parse", "HEAD~3"))
	tmp := t.TempDir()
	t.Run("written by custos", func(t *testing.T) {
		out := filepath.Join(tmp, "ok.bundle")
		if _, _, err := WriteBundle(f.dir, out); err != nil {
			t.Fatal(err)
		}
		res := VerifyPath(out, Options{})
		if !res.OK || res.Checked != "refs/heads/main at "+head+", the HEAD of ok.bundle" || len(res.Findings) > 0 {
			t.Fatalf("verify: %+v", res)
		}
	})
	t.Run("HEAD elsewhere", func(t *testing.T) {
		// a copy whose HEAD is detached at an older commit, bundled with both
		c := copyFixture(t, f)
		gitCmd(t, c.dir, "checkout", "-q", "--detach", old)
		out := filepath.Join(tmp, "head.bundle")
		gitCmd(t, c.dir, "bundle", "create", "-q", out, "HEAD", "main")
		clone := filepath.Join(t.TempDir(), "c")
		gitCmd(t, tmp, "clone", "-q", out, clone)
		if got := strings.TrimSpace(gitCmd(t, clone, "rev-parse", "HEAD")); got != old {
			t.Fatalf("git clone checked out %s, want the bundle's HEAD %s", got, old)
		}
		res := VerifyPath(out, Options{})
		if res.OK || res.Failure.Check != "bundle" || !strings.Contains(res.Failure.Reason, "the HEAD of "+out+" is "+old+", its refs/heads/main is "+head) {
			t.Fatalf("verify: %v", res.Err())
		}
	})
	t.Run("another branch", func(t *testing.T) {
		c := copyFixture(t, f)
		gitCmd(t, c.dir, "branch", "evil", old)
		out := filepath.Join(tmp, "evil.bundle")
		gitCmd(t, c.dir, "bundle", "create", "-q", out, "HEAD", "main", "evil")
		res := VerifyPath(out, Options{})
		if !res.OK || len(res.Findings) != 1 || !strings.Contains(res.Findings[0], "refs/heads/evil at "+old+", which was not checked") {
			t.Fatalf("verify: %v %q", res.Err(), res.Findings)
		}
	})
	t.Run("no HEAD", func(t *testing.T) {
		out := filepath.Join(tmp, "nohead.bundle")
		gitCmd(t, f.dir, "bundle", "create", "-q", out, "main")
		res := VerifyPath(out, Options{})
		if !res.OK || len(res.Findings) != 1 || !strings.Contains(res.Findings[0], "has no HEAD") {
			t.Fatalf("verify: %v %q", res.Err(), res.Findings)
		}
	})
	t.Run("no main", func(t *testing.T) {
		c := copyFixture(t, f)
		gitCmd(t, c.dir, "branch", "-m", "main", "trunk")
		out := filepath.Join(tmp, "nomain.bundle")
		gitCmd(t, c.dir, "bundle", "create", "-q", out, "HEAD", "trunk")
		res := VerifyPath(out, Options{})
		if res.OK || res.Failure.Check != "bundle" || !strings.Contains(res.Failure.Reason, "carries no refs/heads/main") {
			t.Fatalf("verify: %v", res.Err())
		}
	})
	t.Run("incremental", func(t *testing.T) {
		out := filepath.Join(tmp, "incr.bundle")
		gitCmd(t, f.dir, "bundle", "create", "-q", out, old+"..main")
		res := VerifyPath(out, Options{})
		if res.OK || res.Failure.Check != "bundle" || !strings.Contains(res.Failure.Reason, "an incremental bundle") {
			t.Fatalf("verify: %v", res.Err())
		}
	})
}

func TestBundleRefsDisagree(t *testing.T) {
	var a, b plumbing.Hash
	a[0], b[0] = 1, 2
	_, _, err := checkBundleRefs("x.bundle", []bundleRef{{"refs/heads/main", a}, {"HEAD", a}, {"refs/heads/main", b}})
	if err == nil || !strings.Contains(err.Error(), "lists refs/heads/main twice") {
		t.Fatalf("refs disagree: %v", err)
	}
}

// FuzzBundleHeader: any header gives refs or an error, never a panic;
// every ref it gives is named and has a well-formed id.
func FuzzBundleHeader(f *testing.F) {
	id := strings.Repeat("ab", 20)
	f.Add([]byte("# v2 git bundle\n" + id + " HEAD\n" + id + " refs/heads/main\n"))
	f.Add([]byte("# v3 git bundle\n@object-format=sha1\n@filter=blob:none\n" + id + " refs/heads/main\n"))
	f.Add([]byte("# v3 git bundle\n@object-format=sha256\n"))
	f.Add([]byte("# v2 git bundle\n-" + id + " x\n" + id + " refs/heads/main\n"))
	f.Add([]byte("# v2 git bundle\n" + id + "refs/heads/main\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := parseBundleHeader(b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		for _, r := range refs {
			if r.name == "" || !bytes.Contains(b, []byte(r.hash.String()+" "+r.name+"\n")) {
				t.Fatalf("ref %q at %s is not a line of %q", r.name, r.hash, b)
			}
		}
	})
}

// FuzzRefs: any loose ref or packed-refs content gives refs or an error,
// never a panic; a packed ref is a line of the file.
func FuzzRefs(f *testing.F) {
	id := strings.Repeat("0f", 20)
	f.Add([]byte("# pack-refs with: peeled fully-peeled sorted \n" + id + " refs/heads/main\n" + id + " refs/tags/v1\n^" + id + "\n"))
	f.Add([]byte(id + " refs/heads/main\n\n"))
	f.Add([]byte("ref: refs/heads/main\n"))
	f.Add([]byte(id + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := parseRef(b); err == nil && r.target == "" && !bytes.Equal(b, []byte(r.hash.String()+"\n")) {
			t.Fatalf("ref %s read from %q", r.hash, b)
		}
		refs, err := parsePackedRefs(b)
		if err != nil {
			return
		}
		for name, h := range refs {
			if !bytes.Contains(b, []byte(h.String()+" "+name)) {
				t.Fatalf("ref %q at %s is not in %q", name, h, b)
			}
		}
	})
}
