package ledger

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"custos/ledger/internal/gitobj"
)

// What git shows is what verify checked: copies altered with stock git
// so that git would show another history are refused, naming what was
// found; what git could show beside the history is reported; the honest
// layouts stock git makes verify.

// refuseCopy verifies dir and wants a failure of check before any record
// (seq 0) whose reason holds every one of want.
func refuseCopy(t *testing.T, dir, check string, want ...string) Result {
	t.Helper()
	res := Verify(dir, Options{})
	if res.OK || res.Failure == nil {
		t.Fatalf("verified: %+v", res)
	}
	f := res.Failure
	if f.Check != check || f.Seq != 0 {
		t.Fatalf("failure = %v; want check %q before any record", res.Err(), check)
	}
	for _, w := range want {
		if !strings.Contains(f.Reason, w) {
			t.Fatalf("failure = %v; want it to name %q", res.Err(), w)
		}
	}
	if msg := res.Err().Error(); strings.Contains(msg, "\n") {
		t.Fatalf("message is not one line: %q", msg)
	}
	return res
}

// reports verifies dir, wants it to pass, to say it checked main at head,
// and to report a finding holding each of want.
func reports(t *testing.T, dir string, head string, want ...string) Result {
	t.Helper()
	res := mustVerify(t, dir, Options{})
	if res.Checked != "refs/heads/main at "+head {
		t.Fatalf("checked %q, want refs/heads/main at %s", res.Checked, head)
	}
	all := strings.Join(res.Findings, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Fatalf("findings %q; want one naming %q", res.Findings, w)
		}
	}
	if len(want) == 0 && len(res.Findings) > 0 {
		t.Fatalf("unexpected findings: %q", res.Findings)
	}
	return res
}

func TestWhatGitShows(t *testing.T) {
	base := newFixture(t)
	base.story(t) // 10 records
	head := mustVerify(t, base.dir, Options{}).HeadCommit
	clone := func(t *testing.T) *fixture { return copyFixture(t, base) }
	rev := func(f *fixture, spec string) string {
		return strings.TrimSpace(gitCmd(t, f.dir, "rev-parse", spec))
	}

	t.Run("plain", func(t *testing.T) {
		res := reports(t, base.dir, head)
		b, _ := json.Marshal(res)
		if !strings.Contains(string(b), `"checked":"refs/heads/main at `+head+`"`) {
			t.Fatalf("JSON does not say what was checked: %s", b)
		}
	})
	// refused: git would show another history
	t.Run("HEAD on another branch", func(t *testing.T) {
		f := clone(t)
		old := rev(f, "HEAD~3")
		gitCmd(t, f.dir, "branch", "other", old)
		gitCmd(t, f.dir, "symbolic-ref", "HEAD", "refs/heads/other")
		refuseCopy(t, f.dir, "refs", "HEAD is refs/heads/other at "+old, "not refs/heads/main at "+head)
	})
	t.Run("HEAD on a missing branch", func(t *testing.T) {
		f := clone(t)
		gitCmd(t, f.dir, "symbolic-ref", "HEAD", "refs/heads/nowhere")
		refuseCopy(t, f.dir, "refs", "HEAD is refs/heads/nowhere, which does not exist")
	})
	t.Run("HEAD detached elsewhere", func(t *testing.T) {
		f := clone(t)
		old := rev(f, "HEAD~1")
		gitCmd(t, f.dir, "checkout", "-q", "--detach", old)
		refuseCopy(t, f.dir, "refs", "HEAD is detached at "+old)
	})
	t.Run("replace ref", func(t *testing.T) {
		f := clone(t)
		c5, c4 := rev(f, "HEAD~5"), rev(f, "HEAD~6")
		gitCmd(t, f.dir, "replace", c5, c4)
		refuseCopy(t, f.dir, "refs", "refs/replace/"+c5, "git replace")
	})
	t.Run("replace ref packed", func(t *testing.T) {
		f := clone(t)
		c5, c4 := rev(f, "HEAD~5"), rev(f, "HEAD~6")
		gitCmd(t, f.dir, "replace", c5, c4)
		gitCmd(t, f.dir, "pack-refs", "--all")
		refuseCopy(t, f.dir, "refs", "refs/replace/"+c5)
	})
	t.Run("grafts", func(t *testing.T) {
		f := clone(t)
		c5, c3 := rev(f, "HEAD~5"), rev(f, "HEAD~7")
		os.MkdirAll(filepath.Join(f.dir, ".git", "info"), 0o755)
		if err := os.WriteFile(filepath.Join(f.dir, ".git", "info", "grafts"), []byte(c5+" "+c3+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := rev(f, "HEAD~6"); !strings.HasSuffix(got, c3) {
			t.Fatalf("git does not honour the graft: HEAD~6 is %s", got)
		}
		refuseCopy(t, f.dir, "repository", "info/grafts gives commit "+c5+" other parents")
	})
	t.Run("shallow clone", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "shallow")
		gitCmd(t, base.dir, "clone", "-q", "--depth", "3", "file://"+base.dir, dst)
		refuseCopy(t, dst, "repository", "shallow cuts the history", "clone without --depth")
	})
	t.Run("commondir in a plain repository", func(t *testing.T) {
		f := clone(t)
		other := newFixture(t)
		os.WriteFile(filepath.Join(f.dir, ".git", "commondir"), []byte(filepath.Join(other.dir, ".git")+"\n"), 0o644)
		refuseCopy(t, f.dir, "repository", "commondir names", "only a linked worktree")
	})
	t.Run("main a symbolic ref", func(t *testing.T) {
		f := clone(t)
		gitCmd(t, f.dir, "branch", "other")
		gitCmd(t, f.dir, "symbolic-ref", "refs/heads/main", "refs/heads/other")
		refuseCopy(t, f.dir, "refs", "refs/heads/main is a symbolic ref")
	})
	// reported: git could show it beside the history checked
	t.Run("another branch", func(t *testing.T) {
		f := clone(t)
		cs := f.commits(t)
		f.setHead(t, cs[4])
		f.open(t)
		f.add(t, "hsm.enrolled", "evil", "alice", map[string]any{})
		evil := f.l.head.String()
		gitCmd(t, f.dir, "update-ref", "refs/heads/evil", evil)
		gitCmd(t, f.dir, "update-ref", "refs/heads/main", head)
		gitCmd(t, f.dir, "reset", "-q", "--hard")
		res := reports(t, f.dir, head, "refs/heads/evil at "+evil+": another branch, not in the history checked")
		if res.Records != 10 {
			t.Fatalf("%d records", res.Records)
		}
	})
	t.Run("tags and notes", func(t *testing.T) {
		f := clone(t)
		gitCmd(t, f.dir, "tag", "v1", "HEAD~2")
		gitCmd(t, f.dir, "-c", "user.name=a", "-c", "user.email=a@a", "tag", "-a", "-m", "audit", "v2", "HEAD")
		reports(t, f.dir, head) // tags in the history: nothing to say
		gitCmd(t, f.dir, "-c", "user.name=a", "-c", "user.email=a@a", "notes", "add", "-m", "all good", "HEAD")
		gitCmd(t, f.dir, "update-ref", "refs/tags/elsewhere", rev(f, "refs/notes/commits"))
		reports(t, f.dir, head, "refs/notes/commits at", "git log shows these notes", "refs/tags/elsewhere at")
	})
	t.Run("HEAD detached at main", func(t *testing.T) {
		f := clone(t)
		gitCmd(t, f.dir, "checkout", "-q", "--detach", "main")
		reports(t, f.dir, head, "HEAD is detached at "+head)
	})
	// honest layouts made by stock git
	t.Run("clone", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "c")
		gitCmd(t, base.dir, "clone", "-q", base.dir, dst)
		reports(t, dst, head) // refs/remotes/origin/* are in the history
	})
	t.Run("clone --shared", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "c")
		gitCmd(t, base.dir, "clone", "-q", "--shared", base.dir, dst)
		if !exists(filepath.Join(dst, ".git", "objects", "info", "alternates")) {
			t.Fatal("no alternates")
		}
		reports(t, dst, head, "objects are also read from "+filepath.Join(base.dir, ".git", "objects"))
	})
	t.Run("clone --reference", func(t *testing.T) {
		ref := filepath.Join(t.TempDir(), "ref")
		gitCmd(t, base.dir, "clone", "-q", "--bare", base.dir, ref)
		dst := filepath.Join(t.TempDir(), "c")
		gitCmd(t, base.dir, "clone", "-q", "--reference", ref, "file://"+base.dir, dst)
		reports(t, dst, head, "objects are also read from")
		// and packed, in the reference only
		gitCmd(t, ref, "gc", "-q", "--prune=now")
		reports(t, dst, head, "objects are also read from")
	})
	t.Run("clone --separate-git-dir", func(t *testing.T) {
		tmp := t.TempDir()
		dst := filepath.Join(tmp, "c")
		gitCmd(t, base.dir, "clone", "-q", "--separate-git-dir", filepath.Join(tmp, "c.git"), base.dir, dst)
		reports(t, dst, head)
	})
	t.Run("clone --bare, refs packed", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "c.git")
		gitCmd(t, base.dir, "clone", "-q", "--bare", base.dir, dst)
		if !exists(filepath.Join(dst, "packed-refs")) || exists(filepath.Join(dst, "refs", "heads", "main")) {
			t.Fatal("main is not in packed-refs")
		}
		reports(t, dst, head)
	})
	t.Run("worktree", func(t *testing.T) {
		f := clone(t)
		wt := filepath.Join(t.TempDir(), "wt")
		gitCmd(t, f.dir, "worktree", "add", "-q", "--detach", wt)
		reports(t, wt, head, "HEAD is detached at "+head)
		wt2 := filepath.Join(t.TempDir(), "wt2")
		gitCmd(t, f.dir, "worktree", "add", "-q", "-b", "audit", wt2)
		reports(t, wt2, head, "HEAD is refs/heads/audit, not refs/heads/main, at the same commit")
		// the main work tree sees the worktree's branch
		reports(t, f.dir, head, "refs/heads/audit at "+head+": another branch, at a commit of the history checked")
		// the worktree's HEAD moved off main: refused there
		gitCmd(t, wt2, "checkout", "-q", "HEAD~2")
		refuseCopy(t, wt2, "refs", "HEAD is detached at")
	})
}

// looseObjectPath is the file of loose object h in fixture f.
func looseObjectPath(f *fixture, h plumbing.Hash) string {
	s := h.String()
	return filepath.Join(f.dir, ".git", "objects", s[:2], s[2:])
}

// quickly runs Verify on dir, failing the test if it has not returned by
// a deadline (a hang is the failure these cases guard against).
func quickly(t *testing.T, dir string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	if d, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-5*time.Second))
	}
	defer cancel()
	done := make(chan Result, 1)
	go func() { done <- Verify(dir, Options{}) }()
	select {
	case res := <-done:
		return res
	case <-ctx.Done():
		t.Fatal("verify hangs")
	}
	return Result{}
}

func TestBadLooseObjects(t *testing.T) {
	base := newFixture(t)
	base.story(t)
	mustVerify(t, base.dir, Options{})
	// record 4's blob: read half way through the history
	rec4 := func(t *testing.T) (*fixture, plumbing.Hash, string) {
		f := copyFixture(t, base)
		h := f.recordBlobs(t, f.commits(t)[3])[3]
		p := looseObjectPath(f, h)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		return f, h, p
	}
	expect := func(t *testing.T, res Result, h plumbing.Hash, want string) {
		t.Helper()
		if res.OK || res.Failure == nil || !strings.Contains(res.Failure.Reason, h.String()) || !strings.Contains(res.Failure.Reason, want) {
			t.Fatalf("verify: %v; want a failure naming %s and %q", res.Err(), h, want)
		}
		if res.Failure.Seq != 4 {
			t.Fatalf("failure at record %d, want 4: %v", res.Failure.Seq, res.Err())
		}
	}
	t.Run("FIFO", func(t *testing.T) {
		f, h, p := rec4(t)
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		expect(t, quickly(t, f.dir), h, "is a FIFO, not a regular file")
	})
	t.Run("device", func(t *testing.T) {
		f, h, p := rec4(t)
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o644, 1<<8|3); err != nil { // /dev/null's numbers
			if os.Getuid() == 0 {
				t.Fatalf("mknod: %v", err)
			}
			t.Skipf("mknod needs root: %v", err) // make test runs as root
		}
		expect(t, quickly(t, f.dir), h, "is a character device, not a regular file")
	})
	t.Run("directory", func(t *testing.T) {
		f, h, p := rec4(t)
		os.Mkdir(p, 0o755)
		expect(t, quickly(t, f.dir), h, "is a directory, not a regular file")
	})
	t.Run("symbolic link", func(t *testing.T) {
		f, h, p := rec4(t)
		os.Symlink("/dev/zero", p)
		expect(t, quickly(t, f.dir), h, "is a symbolic link, not a regular file")
	})
	write := func(t *testing.T, p string, header string, body func(w *zlib.Writer)) {
		var b bytes.Buffer
		w, _ := zlib.NewWriterLevel(&b, zlib.BestCompression)
		w.Write([]byte(header))
		body(w)
		w.Close()
		if err := os.WriteFile(p, b.Bytes(), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	zeros := func(n int) func(w *zlib.Writer) {
		return func(w *zlib.Writer) {
			z := make([]byte, 1<<20)
			for ; n > 0; n -= len(z) {
				w.Write(z[:min(n, len(z))])
			}
		}
	}
	t.Run("zlib bomb", func(t *testing.T) {
		// declares 10 bytes, inflates to 256 MiB (250 KB on disk)
		f, h, p := rec4(t)
		write(t, p, "blob 10\x00", zeros(256<<20))
		expect(t, quickly(t, f.dir), h, "inflates past the 10 bytes its header declares")
	})
	t.Run("huge declared size", func(t *testing.T) {
		f, h, p := rec4(t)
		write(t, p, "blob 99999999999999\x00", zeros(1<<20))
		expect(t, quickly(t, f.dir), h, "its header declares 99999999999999 bytes, more than")
	})
	t.Run("size beyond int64", func(t *testing.T) {
		f, h, p := rec4(t)
		write(t, p, "blob 99999999999999999999999\x00", zeros(10))
		expect(t, quickly(t, f.dir), h, "bad object header")
	})
	t.Run("short of its declared size", func(t *testing.T) {
		f, h, p := rec4(t)
		write(t, p, "blob 4096\x00", zeros(10))
		expect(t, quickly(t, f.dir), h, "ends before the 4096 bytes its header declares")
	})
	t.Run("no header", func(t *testing.T) {
		f, h, p := rec4(t)
		write(t, p, "", func(w *zlib.Writer) { w.Write(bytes.Repeat([]byte("a"), 1<<20)) })
		expect(t, quickly(t, f.dir), h, "no object header")
	})
	t.Run("not zlib", func(t *testing.T) {
		f, h, p := rec4(t)
		os.WriteFile(p, []byte("plain text"), 0o444)
		expect(t, quickly(t, f.dir), h, "not zlib data")
	})
	t.Run("huge file", func(t *testing.T) {
		f, h, p := rec4(t)
		fd, _ := os.Create(p)
		fd.Truncate(gitobj.MaxLooseFile + 1) // sparse
		fd.Close()
		expect(t, quickly(t, f.dir), h, "more than the")
	})
	t.Run("FIFO as a ref", func(t *testing.T) {
		f := copyFixture(t, base)
		p := filepath.Join(f.dir, ".git", "refs", "heads", "main")
		os.Remove(p)
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		res := quickly(t, f.dir)
		if res.OK || res.Failure.Check != "refs" || !strings.Contains(res.Failure.Reason, "refs/heads/main") || !strings.Contains(res.Failure.Reason, "FIFO") {
			t.Fatalf("verify: %v", res.Err())
		}
	})
	t.Run("FIFO as HEAD, alternates, packed-refs", func(t *testing.T) {
		for _, name := range []string{"HEAD", "packed-refs", filepath.Join("objects", "info", "alternates"), filepath.Join("info", "grafts")} {
			f := copyFixture(t, base)
			p := filepath.Join(f.dir, ".git", name)
			os.Remove(p)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			res := quickly(t, f.dir)
			if res.OK || !strings.Contains(res.Failure.Reason, p+" is a FIFO") {
				t.Fatalf("%s: verify: %v", name, res.Err())
			}
		}
	})
}
