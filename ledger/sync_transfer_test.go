package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// packsIn lists the packs of the objects directory objects.
func packsIn(t *testing.T, objects string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(objects, "pack", "pack-*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPushStockGitReads: what push writes (one pack and its index, then
// main) is what stock git reads: git fsck --strict finds nothing wrong,
// and a clone made by stock git verifies; the same for a sync. No
// temporary file is left.
func TestPushStockGitReads(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	bare := filepath.Join(t.TempDir(), "shared.git")
	gitCmd(t, filepath.Dir(bare), "init", "-q", "--bare", bare)
	if _, err := Push(f.dir, bare); err != nil {
		t.Fatal(err)
	}
	f.review(t, "q1")
	if _, err := Push(f.dir, bare); err != nil {
		t.Fatal(err)
	}
	if n := len(packsIn(t, filepath.Join(bare, "objects"))); n != 2 {
		t.Fatalf("%d packs after two pushes, want 2", n)
	}
	gitCmd(t, bare, "fsck", "--strict", "--no-dangling")
	if got := gitCmd(t, bare, "count-objects", "-v"); !strings.Contains(got, "\ncount: 0\n") && !strings.HasPrefix(got, "count: 0\n") {
		t.Fatalf("loose objects in the copy:\n%s", got)
	}
	if tmp, _ := filepath.Glob(filepath.Join(bare, "objects", "pack", "tmp_*")); len(tmp) > 0 {
		t.Fatalf("left behind: %v", tmp)
	}
	if _, err := os.Stat(filepath.Join(bare, "refs", "heads", "main.lock")); err == nil {
		t.Fatal("main.lock left behind")
	}
	if got := strings.TrimSpace(gitCmd(t, bare, "symbolic-ref", "HEAD")); got != branchRef.String() {
		t.Fatalf("HEAD of the new copy is %s", got)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	gitCmd(t, filepath.Dir(clone), "clone", "-q", "--no-local", bare, clone)
	head, _ := f.l.Head()
	mustVerify(t, clone, Options{Genesis: f.l.State().Genesis, TrustedHead: head})

	// sync writes one pack into the ledger, which stock git reads too
	site := cloneFixture(t, f, "site")
	f.review(t, "q2")
	before := len(packsIn(t, filepath.Join(site.dir, ".git", "objects")))
	if _, err := Sync(site.dir, f.dir); err != nil {
		t.Fatal(err)
	}
	if n := len(packsIn(t, filepath.Join(site.dir, ".git", "objects"))); n != before+1 {
		t.Fatalf("%d packs after the sync, want %d", n, before+1)
	}
	gitCmd(t, site.dir, "fsck", "--strict", "--no-dangling")
	cleanTree(t, site.dir)
	// and the ledger appends on top of it
	site.open(t)
	site.review(t, "q3")
	mustVerify(t, site.dir, Options{})
}

// TestPushLockedCopy: a copy whose main is being written (main.lock, as
// git leaves it while it moves the ref) is not moved; the push says so
// and a later one succeeds.
func TestPushLockedCopy(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	bare := filepath.Join(t.TempDir(), "shared.git")
	gitCmd(t, filepath.Dir(bare), "clone", "-q", "--bare", f.dir, bare)
	f.review(t, "q1")
	lock := filepath.Join(bare, "refs", "heads", "main.lock")
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	was := gitCmd(t, bare, "rev-parse", "main")
	_, err := Push(f.dir, bare)
	if err == nil || !strings.Contains(err.Error(), "main.lock exists") {
		t.Fatalf("push to a locked copy: %v", err)
	}
	if gitCmd(t, bare, "rev-parse", "main") != was {
		t.Fatal("main moved under another writer's lock")
	}
	if sharedHead(t, f.dir) != "" {
		t.Fatal("the shared ref was recorded for a push that failed")
	}
	os.Remove(lock)
	if res, err := Push(f.dir, bare); err != nil || res.Pushed != 1 {
		t.Fatalf("push after the lock went: %+v %v", res, err)
	}
}

// TestPushAlternates: a copy that borrows objects from another
// repository (git clone --shared) gets the new objects in its own store;
// the repository it borrows from is not written. With a work tree, the
// work tree is brought along (go-git alone could not read such a copy).
func TestPushAlternates(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	base := filepath.Join(t.TempDir(), "base.git")
	gitCmd(t, filepath.Dir(base), "clone", "-q", "--bare", f.dir, base)
	for _, bare := range []bool{true, false} {
		dir := filepath.Join(t.TempDir(), "copy")
		args := []string{"clone", "-q", "--shared"}
		if bare {
			args = append(args, "--bare")
		}
		gitCmd(t, filepath.Dir(dir), append(args, base, dir)...)
		objects := filepath.Join(dir, "objects")
		if !bare {
			objects = filepath.Join(dir, ".git", "objects")
		}
		baseBefore := snapshot(t, base)
		f.review(t, fmt.Sprintf("alt-%v", bare))
		res, err := Push(f.dir, dir)
		if err != nil || res.Pushed < 1 || res.Verified.HeadCommit != f.l.head.String() {
			t.Fatalf("push (bare %v): %+v %v", bare, res, err)
		}
		sameSnapshot(t, "the repository borrowed from", baseBefore, snapshot(t, base))
		if len(packsIn(t, objects)) != 1 {
			t.Fatalf("no pack in the copy's own store")
		}
		gitCmd(t, dir, "fsck", "--strict", "--no-dangling")
		if !bare {
			cleanTree(t, dir)
			if _, err := os.Stat(filepath.Join(dir, recordFile(f.l.State().Seq))); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestPushWorktrees: a new copy with a work tree (git init) gets the
// ledger's files and HEAD; an up-to-date copy whose work tree was
// edited is refused, not silently restored; a copy whose .git is a file
// is refused before anything is written.
func TestPushWorktrees(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	dir := filepath.Join(t.TempDir(), "new")
	gitCmd(t, filepath.Dir(dir), "init", "-q", dir)
	res, err := Push(f.dir, dir)
	if err != nil || res.Relation != Empty || res.Bare {
		t.Fatalf("push to a new work tree: %+v %v", res, err)
	}
	cleanTree(t, dir)
	if got := strings.TrimSpace(gitCmd(t, dir, "symbolic-ref", "HEAD")); got != branchRef.String() {
		t.Fatalf("HEAD is %s", got)
	}

	os.WriteFile(filepath.Join(dir, "LEDGER.md"), []byte("edited\n"), 0o644)
	before := snapshot(t, dir)
	if _, err := Push(f.dir, dir); err == nil || !strings.Contains(err.Error(), "LEDGER.md was changed") {
		t.Fatalf("up-to-date push to an edited work tree: %v", err)
	}
	sameSnapshot(t, "refused push", before, snapshot(t, dir))
	// a file that is missing is written anew
	gitCmd(t, dir, "checkout", "-q", "--", "LEDGER.md")
	os.Remove(filepath.Join(dir, "LEDGER.md"))
	if _, err := Push(f.dir, dir); err != nil {
		t.Fatal(err)
	}
	cleanTree(t, dir)

	sep := filepath.Join(t.TempDir(), "sep")
	gitCmd(t, filepath.Dir(sep), "clone", "-q", "--separate-git-dir", sep+".git", f.dir, sep)
	f.review(t, "q1")
	before = snapshot(t, sep+".git")
	if _, err := Push(f.dir, sep); err == nil || !strings.Contains(err.Error(), "its .git is a file") {
		t.Fatalf("push to a work tree whose .git is a file: %v", err)
	}
	sameSnapshot(t, "refused push", before, snapshot(t, sep+".git"))
}

// TestSyncWritesNothingWhenRefused: a fork, a tampered copy and another
// ledger leave every file of the ledger as it was, and no ref.
func TestSyncWritesNothingWhenRefused(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	fork := cloneFixture(t, f, "fork")
	f.review(t, "hq")
	fork.review(t, "fork")
	before := snapshot(t, f.dir)
	if _, err := Sync(f.dir, fork.dir); !errors.Is(err, ErrDiverged) {
		t.Fatalf("sync from a fork: %v", err)
	}
	sameSnapshot(t, "a sync from a fork", before, snapshot(t, f.dir))
	if sharedHead(t, f.dir) != "" {
		t.Fatal("shared ref written")
	}
	// a bundle of the fork: the same
	b := filepath.Join(t.TempDir(), "fork.bundle")
	if _, _, err := WriteBundle(fork.dir, b); err != nil {
		t.Fatal(err)
	}
	if _, err := Sync(f.dir, b); !errors.Is(err, ErrDiverged) {
		t.Fatalf("sync from a bundle of a fork: %v", err)
	}
	sameSnapshot(t, "a sync from a bundle of a fork", before, snapshot(t, f.dir))
	f.review(t, "hq-2") // not blocked
}

// TestSyncChild is the child process of TestKillPushAndSync; it does
// nothing in a normal test run. CUSTOS_SYNC_CHILD is push or sync, from
// CUSTOS_SYNC_FROM to CUSTOS_SYNC_TO.
func TestSyncChild(t *testing.T) {
	mode := os.Getenv("CUSTOS_SYNC_CHILD")
	if mode == "" {
		return
	}
	from, to := os.Getenv("CUSTOS_SYNC_FROM"), os.Getenv("CUSTOS_SYNC_TO")
	runtime.LockOSThread()
	var err error
	switch mode {
	case "push":
		_, err = Push(from, to)
	case "sync":
		_, err = Sync(to, from)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(0)
}

// TestKillPushAndSync kills a real push (to a copy with a work tree) and
// a real sync, under strace, at each write, fsync, rename and unlink in
// turn: after each kill the copy written to verifies at its old head or
// the new one, passes git fsck --strict, and the same push or sync run
// again completes.
func TestKillPushAndSync(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatal("strace is not installed (scripts/setup.sh installs it)")
	}
	if testing.Short() {
		t.Skip("slow: one child process per kill point")
	}
	base := newFixture(t)
	old := mustVerify(t, base.dir, Options{}).HeadCommit
	copyBase := filepath.Join(t.TempDir(), "copy")
	gitCmd(t, filepath.Dir(copyBase), "clone", "-q", base.dir, copyBase)
	base.review(t, "q1")
	newHead := base.l.head.String()
	for _, mode := range []string{"push", "sync"} {
		for _, c := range []struct{ name, syscalls string }{
			{"write", "write,pwrite64,writev"},
			{"fsync", "fsync,fdatasync"},
			{"rename", "rename,renameat,renameat2,link,linkat"},
			{"unlink", "unlink,unlinkat"},
		} {
			points, atNew := 0, 0
			for n := 1; ; n++ {
				if n > 2000 {
					t.Fatalf("%s %s: did not complete after %d kills", mode, c.name, n)
				}
				// push: from the ledger to the copy; sync: the copy
				// fetches from the ledger. dst is what is written.
				src := copyFixture(t, base).dir
				dst := filepath.Join(t.TempDir(), "copy")
				if err := os.CopyFS(dst, os.DirFS(copyBase)); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command("strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace="+c.syscalls,
					"-e", fmt.Sprintf("inject=%s:signal=SIGKILL:when=%d", c.syscalls, n),
					os.Args[0], "-test.run=^TestSyncChild$", "-test.count=1")
				// a killed push leaves its scratch repository (verifyAt) in TMPDIR
				cmd.Env = append(os.Environ(), "CUSTOS_SYNC_CHILD="+mode, "CUSTOS_SYNC_FROM="+src, "CUSTOS_SYNC_TO="+dst, "TMPDIR="+t.TempDir())
				out, err := cmd.CombinedOutput()
				if err == nil {
					break // no Nth call: it completed
				}
				if !strings.Contains(err.Error(), "killed") && !strings.Contains(err.Error(), "137") {
					t.Fatalf("%s %s %d: child failed otherwise: %v\n%s", mode, c.name, n, err, out)
				}
				points++
				res := Verify(dst, Options{})
				switch {
				case !res.OK:
					t.Errorf("%s: kill at %s %d: the copy does not verify: %v", mode, c.name, n, res.Err())
					continue
				case res.HeadCommit == newHead:
					atNew++
				case res.HeadCommit != old:
					t.Errorf("%s: kill at %s %d: the copy is at %s", mode, c.name, n, res.HeadCommit)
				}
				if m := fsck(dst); m != "" {
					t.Errorf("%s: kill at %s %d: git fsck --strict: %s", mode, c.name, n, m)
				}
				var again error
				var msgs bytes.Buffer
				lockMessages = &msgs
				if mode == "push" {
					_, again = Push(src, dst)
				} else {
					_, again = Sync(dst, src)
				}
				lockMessages = os.Stderr
				if again != nil {
					t.Errorf("%s: kill at %s %d: run again: %v", mode, c.name, n, again)
					continue
				}
				if res := Verify(dst, Options{}); !res.OK || res.HeadCommit != newHead {
					t.Errorf("%s: kill at %s %d: after running again: %v at %s", mode, c.name, n, res.Err(), res.HeadCommit)
				}
				cleanTree(t, dst)
			}
			t.Logf("%s: %d kill points (%s), %d left the new head", mode, points, c.name, atNew)
			fmt.Printf("%s: %d kill points (%s), %d left the new head\n", mode, points, c.name, atNew)
			if points == 0 {
				t.Errorf("%s %s: no kill point: strace injected nothing", mode, c.name)
			}
		}
	}
}

// TestPushDamagedCopy: a copy whose index is garbage is brought along all
// the same; one whose pack is truncated is refused before its main moves,
// with one line that names what is wrong.
func TestPushDamagedCopy(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	wt := filepath.Join(t.TempDir(), "wt")
	gitCmd(t, filepath.Dir(wt), "clone", "-q", f.dir, wt)
	bare := filepath.Join(t.TempDir(), "bare.git")
	gitCmd(t, filepath.Dir(bare), "clone", "-q", "--bare", "--no-local", f.dir, bare)
	f.review(t, "q1")

	if err := os.WriteFile(filepath.Join(wt, ".git", "index"), []byte("DIRC\x00\x00\x00\x02\xff\xff\xff\xffgarbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(f.dir, wt); err != nil {
		t.Fatalf("push to a copy with a garbage index: %v", err)
	}
	cleanTree(t, wt)

	packs := packsIn(t, filepath.Join(bare, "objects"))
	if len(packs) != 1 {
		t.Fatalf("packs: %v", packs)
	}
	os.Chmod(packs[0], 0o644)
	fi, _ := os.Stat(packs[0])
	if err := os.Truncate(packs[0], fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	was := gitCmd(t, bare, "rev-parse", "main")
	_, err := Push(f.dir, bare)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), bare) {
		t.Fatalf("push to a copy with a truncated pack: %v", err)
	}
	if gitCmd(t, bare, "rev-parse", "main") != was {
		t.Fatal("main moved")
	}
}
