package ledger

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
