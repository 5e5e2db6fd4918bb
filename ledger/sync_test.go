package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"custos/internal/hint"
)

// cloneFixture clones f's ledger with stock git into a new directory and
// opens it with the same members' keys: a second site's copy.
func cloneFixture(t testing.TB, f *fixture, name string, args ...string) *fixture {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	gitCmd(t, filepath.Dir(dst), append(append([]string{"clone", "-q"}, args...), f.dir, dst)...)
	c := &fixture{dir: dst, keys: f.keys, signers: f.signers, now: f.now}
	if !strings.Contains(strings.Join(args, " "), "--bare") {
		c.open(t)
	}
	return c
}

// review appends an access review, a record that needs no HSM facts.
func (f *fixture) review(t testing.TB, period string) {
	t.Helper()
	if last := f.l.State().Time; f.now.Before(last) { // after a sync
		f.now = last
	}
	f.add(t, "review.signed", "review-"+period, "carol", map[string]any{"period": period, "findings": "ok"})
}

// snapshot is every file of a ledger directory (work tree and .git)
// with its content, to prove that something changed nothing.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		m[strings.TrimPrefix(p, dir)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameSnapshot(t testing.TB, what string, before, after map[string]string, ignore ...string) {
	t.Helper()
	skip := func(p string) bool {
		for _, i := range ignore {
			if strings.Contains(p, i) {
				return true
			}
		}
		return false
	}
	for p, b := range before {
		if a, ok := after[p]; !skip(p) && (!ok || a != b) {
			t.Errorf("%s: %s changed", what, p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok && !skip(p) {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

func sharedHead(t testing.TB, dir string) string {
	t.Helper()
	l, err := openNoKeep(dir) // a look that leaves the ledger's files as they were
	if err != nil {
		t.Fatal(err)
	}
	ref, err := l.repo.Storer.Reference(sharedRef)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return ref.Hash().String()
}

// cleanTree: stock git sees the work tree exactly as the head commit.
func cleanTree(t testing.TB, dir string) {
	t.Helper()
	if st := gitCmd(t, dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
		t.Fatalf("git status in %s:\n%s", dir, st)
	}
}

// TestSyncBehind: a copy that is behind is fast-forwarded, verifies, and
// its work tree is what stock git expects; a second sync is a no-op.
func TestSyncBehind(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	site := cloneFixture(t, f, "site")
	f.review(t, "2026-Q1")
	f.review(t, "2026-Q2")
	head, commit := f.l.Head()

	res, err := Sync(site.dir, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Relation != Behind || res.Gained != 2 || res.Shared.Digest != head || res.Shared.Commit != commit || res.Local.Seq != f.l.State().Seq-2 {
		t.Fatalf("sync: %+v", res)
	}
	v := mustVerify(t, site.dir, Options{Genesis: f.l.State().Genesis, TrustedHead: head})
	if v.HeadCommit != commit {
		t.Fatalf("site at %s, want %s", v.HeadCommit, commit)
	}
	site.open(t)
	if h, c := site.l.Head(); h != head || c != commit || site.l.State().Seq != f.l.State().Seq {
		t.Fatalf("site head %s %s", h, c)
	}
	if got, err := os.ReadFile(filepath.Join(site.dir, recordFile(f.l.State().Seq))); err != nil || len(got) == 0 {
		t.Fatalf("work tree has no last record: %v", err)
	}
	cleanTree(t, site.dir)
	if sharedHead(t, site.dir) != commit {
		t.Fatal("shared ref not set")
	}
	if gitCmd(t, site.dir, "rev-list", "--merges", "--count", "main") != "0\n" {
		t.Fatal("sync made a merge")
	}
	// the site can append after the sync
	site.review(t, "2026-Q3")

	res, err = Sync(f.dir, site.dir)
	if err != nil || res.Relation != Behind || res.Gained != 1 {
		t.Fatalf("sync back: %+v %v", res, err)
	}
	res, err = Sync(f.dir, site.dir)
	if err != nil || res.Relation != UpToDate || res.Gained != 0 {
		t.Fatalf("second sync: %+v %v", res, err)
	}
}

// TestSyncAheadAndEqual: equal heads and a ledger ahead of its copy are
// reported and nothing moves.
func TestSyncAheadAndEqual(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	site := cloneFixture(t, f, "site")
	res, err := Sync(site.dir, f.dir)
	if err != nil || res.Relation != UpToDate {
		t.Fatalf("equal: %+v %v", res, err)
	}
	site.review(t, "2026-Q1")
	site.review(t, "2026-Q2")
	before := snapshot(t, site.dir)
	res, err = Sync(site.dir, f.dir)
	if err != nil || res.Relation != Ahead || res.Local.Seq != res.Shared.Seq+2 || res.Gained != 0 {
		t.Fatalf("ahead: %+v %v", res, err)
	}
	sameSnapshot(t, "sync of a ledger ahead", before, snapshot(t, site.dir), ".git/")
	if h, _ := site.l.Head(); mustVerify(t, site.dir, Options{}).Head != h {
		t.Fatal("head moved")
	}
	// ahead: appending is still allowed (the shared copy is an ancestor)
	site.review(t, "2026-Q3")
}

// TestDiverged: two sites each append a different record. Sync refuses
// naming both heads and the last common record and changes nothing, push
// refuses both ways; append refuses only once a shared ref names the
// other history.
func TestDiverged(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	site := cloneFixture(t, f, "site")
	common, commonCommit := f.l.Head()
	commonSeq := f.l.State().Seq
	f.review(t, "hq")
	site.review(t, "site")
	site.review(t, "site-2")
	hqHead, hqCommit := f.l.Head()
	siteHead, siteCommit := site.l.Head()

	hqBefore, siteBefore := snapshot(t, f.dir), snapshot(t, site.dir)
	// push before any sync: the copy's head is not even known here
	if _, err := Push(site.dir, f.dir); !errors.Is(err, ErrSharedAhead) || !strings.Contains(hint.Of(err), "custos sync") {
		t.Fatalf("push of a diverged ledger: %v", err)
	}
	sameSnapshot(t, "refused push", hqBefore, snapshot(t, f.dir))

	res, err := Sync(site.dir, f.dir)
	if !errors.Is(err, ErrDiverged) || res == nil || res.Relation != Diverged {
		t.Fatalf("sync of diverged copies: %+v %v", res, err)
	}
	msg := err.Error()
	for _, want := range []string{siteHead, hqHead, common, "record 12 ", "record 11 ", "last common record 10 "} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "\n") || hint.Of(err) == "" {
		t.Errorf("not one line with a hint: %q", msg)
	}
	if res.Common == nil || res.Common.Commit != commonCommit || res.Common.Seq != commonSeq || res.Common.Digest != common {
		t.Fatalf("common: %+v", res.Common)
	}
	if res.Local.Commit != siteCommit || res.Shared.Commit != hqCommit {
		t.Fatalf("heads: %+v", res)
	}
	// a refused sync changes nothing at all: no shared ref, no objects
	sameSnapshot(t, "refused sync", siteBefore, snapshot(t, site.dir))
	if sharedHead(t, site.dir) != "" {
		t.Fatal("a refused sync left the shared ref")
	}
	mustVerify(t, site.dir, Options{TrustedHead: siteCommit})

	// pushes are refused; the site is not blocked from appending by a
	// copy it did not take
	if _, err := Push(site.dir, f.dir); !errors.Is(err, ErrSharedAhead) {
		t.Fatalf("push after sync: %v", err)
	}
	sameSnapshot(t, "refused push", hqBefore, snapshot(t, f.dir))
	site.review(t, "site-3")
	siteHead, _ = site.l.Head()
	// a shared ref that names the other history (stock git fetched it)
	// blocks appends
	gitCmd(t, site.dir, "fetch", "-q", f.dir, "+refs/heads/main:"+sharedRef.String())
	if _, err := site.try("review.signed", "review-x", "carol", map[string]any{"period": "x"}); !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "run custos sync") {
		t.Fatalf("append on a diverged ledger: %v", err)
	}
	// and the other way round
	if _, err := Sync(f.dir, site.dir); !errors.Is(err, ErrDiverged) {
		t.Fatalf("sync the other way: %v", err)
	}
	if h, _ := (mustVerify(t, site.dir, Options{})).Head, 0; h != siteHead {
		t.Fatal("site moved")
	}
}

// TestAppendBehind: a ledger that knows its shared copy is ahead refuses
// to append until it is synced; a stale Ledger opened before a sync too.
func TestAppendBehind(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	site := cloneFixture(t, f, "site")
	f.review(t, "hq")
	// stock git fetches the shared copy without the fast-forward
	gitCmd(t, site.dir, "fetch", "-q", f.dir, "+refs/heads/main:"+sharedRef.String())
	_, err := site.try("review.signed", "review-x", "carol", map[string]any{"period": "x"})
	if !errors.Is(err, ErrBehind) || !strings.Contains(err.Error(), "ledger is behind its shared copy (shared copy at record 11 sha256:") ||
		!strings.HasSuffix(err.Error(), "): run custos sync first") {
		t.Fatalf("append behind: %v", err)
	}
	// a Ledger opened before the sync is refused the same way
	stale := site.l
	if _, err := Sync(site.dir, f.dir); err != nil {
		t.Fatal(err)
	}
	rec := stale.Draft("review.signed", "review-y", "carol", map[string]any{"period": "y"}, site.now)
	if _, err := stale.Append(rec, site.signers["carol"], nil); !errors.Is(err, ErrBehind) {
		t.Fatalf("stale append: %v", err)
	}
	site.open(t)
	site.review(t, "site")
	site.review(t, "site-2") // cached ancestor check
	mustVerify(t, site.dir, Options{})
	// a shared ref that is not a ledger commit is an error, not a pass
	gitCmd(t, site.dir, "-c", "user.name=x", "-c", "user.email=x@example.org", "commit", "-q", "--allow-empty", "-m", "x")
	gitCmd(t, site.dir, "update-ref", sharedRef.String(), "HEAD")
	gitCmd(t, site.dir, "reset", "-q", "--hard", "HEAD~1")
	site.open(t)
	if _, err := site.try("review.signed", "review-z", "carol", map[string]any{"period": "z"}); err == nil || !strings.Contains(err.Error(), "not a ledger commit") {
		t.Fatalf("append with a foreign shared ref: %v", err)
	}
}

// TestPush: to a new bare repository, then fast-forwards; to a clone with
// a work tree, which stock git then sees clean; refused when the copy is
// ahead; the copy verifies after each push.
func TestPush(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	bare := filepath.Join(t.TempDir(), "shared.git")
	gitCmd(t, filepath.Dir(bare), "init", "-q", "--bare", bare)
	res, err := Push(f.dir, bare)
	if err != nil || res.Relation != Empty || res.Pushed != f.l.State().Seq || !res.Bare || !res.Verified.OK {
		t.Fatalf("first push: %+v %v", res, err)
	}
	f.review(t, "q1")
	f.review(t, "q2")
	res, err = Push(f.dir, bare)
	head, commit := f.l.Head()
	if err != nil || res.Relation != Ahead || res.Pushed != 2 || res.Verified.Head != head || res.Verified.HeadCommit != commit {
		t.Fatalf("push: %+v %v", res, err)
	}
	if r := VerifyPath(bare, Options{Genesis: f.l.State().Genesis, TrustedHead: head}); !r.OK {
		t.Fatal(r.Err())
	}
	if got := strings.TrimSpace(gitCmd(t, bare, "rev-parse", "main")); got != commit {
		t.Fatalf("stock git sees main at %s", got)
	}
	if res, err = Push(f.dir, bare); err != nil || res.Relation != UpToDate || res.Pushed != 0 {
		t.Fatalf("again: %+v %v", res, err)
	}
	if sharedHead(t, f.dir) != commit {
		t.Fatal("shared ref not recorded by push")
	}

	// a clone with a work tree is updated with its work tree
	site := cloneFixture(t, f, "site")
	f.review(t, "q3")
	if _, err := Push(f.dir, site.dir); err != nil {
		t.Fatal(err)
	}
	cleanTree(t, site.dir)
	site.open(t)
	if h, _ := site.l.Head(); h != f.l.State().Head {
		t.Fatal("site not at the pushed head")
	}
	if _, err := os.Stat(filepath.Join(site.dir, recordFile(f.l.State().Seq))); err != nil {
		t.Fatal(err)
	}
	// a copy whose work tree was edited, or holds a link where a
	// directory belongs: refused, the copy unchanged
	dirty := cloneFixture(t, f, "dirty")
	os.WriteFile(filepath.Join(dirty.dir, "LEDGER.md"), []byte("edited\n"), 0o644)
	f.review(t, "q3b")
	dirtyBefore := snapshot(t, dirty.dir)
	if _, err := Push(f.dir, dirty.dir); err == nil || !strings.Contains(err.Error(), "LEDGER.md was changed") || !strings.Contains(hint.Of(err), "push to a bare copy") {
		t.Fatalf("push to an edited work tree: %v", err)
	}
	sameSnapshot(t, "refused push to an edited work tree", dirtyBefore, snapshot(t, dirty.dir))
	linked := cloneFixture(t, f, "linked")
	elsewhere := t.TempDir()
	recs := filepath.Join(linked.dir, "records", "00", "00")
	if err := os.Rename(recs, filepath.Join(elsewhere, "00")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(elsewhere, "00"), recs); err != nil {
		t.Fatal(err)
	}
	f.review(t, "q3c")
	if _, err := Push(f.dir, linked.dir); err == nil || !strings.Contains(err.Error(), "is a symbolic link, not a directory") {
		t.Fatalf("push through a link: %v", err)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "00", filepath.Base(recordFile(f.l.State().Seq)))); err == nil {
		t.Fatal("push wrote through a link")
	}
	if _, err := Push(f.dir, site.dir); err != nil {
		t.Fatal(err)
	}
	site.open(t)
	// the copy is ahead: refused, the copy unchanged
	site.review(t, "site")
	before := snapshot(t, site.dir)
	f.review(t, "q4")
	_, err = Push(f.dir, site.dir)
	if !errors.Is(err, ErrSharedAhead) && !errors.Is(err, ErrDiverged) {
		t.Fatalf("push to a diverged copy: %v", err)
	}
	sameSnapshot(t, "refused push", before, snapshot(t, site.dir))
	// TO ahead only (no divergence): the bare copy gets a record from the site
	g := cloneFixture(t, f, "g")
	g.review(t, "g")
	if _, err := Push(g.dir, bare); err != nil {
		t.Fatal(err)
	}
	before = snapshot(t, bare)
	_, err = Push(f.dir, bare)
	if !errors.Is(err, ErrSharedAhead) || !strings.Contains(hint.Of(err), "custos sync "+f.dir+" "+bare) {
		t.Fatalf("push to a copy ahead: %v", err)
	}
	sameSnapshot(t, "refused push", before, snapshot(t, bare))
	if r, err := Sync(f.dir, bare); err != nil || r.Relation != Behind {
		t.Fatalf("sync from the bare copy: %+v %v", r, err)
	}
	if _, err := Push(f.dir, filepath.Join(t.TempDir(), "nowhere")); err == nil || !strings.Contains(hint.Of(err), "git init --bare") {
		t.Fatalf("push to nowhere: %v", err)
	}
}

// TestSyncBundle: a bundle carried across the air gap fast-forwards the
// other site's copy.
func TestSyncBundle(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	site := cloneFixture(t, f, "site")
	f.review(t, "q1")
	out := filepath.Join(t.TempDir(), "ledger.bundle")
	head, commit, err := WriteBundle(f.dir, out)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Sync(site.dir, out)
	if err != nil || res.Relation != Behind || res.Gained != 1 || res.Shared.Digest != head {
		t.Fatalf("sync from a bundle: %+v %v", res, err)
	}
	if v := mustVerify(t, site.dir, Options{TrustedHead: head}); v.HeadCommit != commit {
		t.Fatal("not at the bundle's head")
	}
	cleanTree(t, site.dir)
	if _, err := Sync(site.dir, filepath.Join(site.dir, "roster.json")); err == nil || !strings.Contains(err.Error(), "neither a ledger directory nor a git bundle") {
		t.Fatalf("sync from a json file: %v", err)
	}
}

// TestSyncRefused: a tampered copy, or another ledger, is refused before
// anything is fetched: the ledger is untouched.
func TestSyncRefused(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	site := cloneFixture(t, f, "site")
	f.review(t, "q1")
	// tamper the shared copy: rewrite the last record's findings and commit it
	evil := cloneFixture(t, f, "evil")
	p := filepath.Join(evil.dir, recordFile(f.l.State().Seq))
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), `"ok"`, `"ko"`, 1)), 0o644)
	gitCmd(t, evil.dir, "-c", "user.name=carol", "-c", "user.email=carol@example.org", "commit", "-q", "-a", "-m", "fix")

	before := snapshot(t, site.dir)
	_, err := Sync(site.dir, evil.dir)
	if err == nil || !strings.Contains(err.Error(), "does not verify, nothing was changed") || !strings.Contains(err.Error(), "record 12") {
		t.Fatalf("sync from a tampered copy: %v", err)
	}
	sameSnapshot(t, "sync from a tampered copy", before, snapshot(t, site.dir))

	other := newFixture(t)
	if _, err := Sync(site.dir, other.dir); err == nil || !strings.Contains(err.Error(), "holds another ledger") {
		t.Fatalf("sync from another ledger: %v", err)
	}
	sameSnapshot(t, "sync from another ledger", before, snapshot(t, site.dir))
	if _, err := Sync(site.dir, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("sync from nowhere")
	}
}

// FuzzParseTrailers: commit messages come from copies of unknown origin.
func FuzzParseTrailers(f *testing.F) {
	f.Add([]byte("tree x\n\nkind by a\n\nCustos-Seq: 3\nCustos-Record: sha256:" + strings.Repeat("ab", 32) + "\n"))
	f.Add([]byte("\n\nCustos-Seq: -1\nCustos-Record: x\n"))
	f.Add([]byte("\n\nCustos-Seq: 99999999999999999999\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, d, err := parseTrailers(b)
		if err == nil && (seq < 1 || NormalizeDigest(d) != d) {
			t.Fatalf("accepted seq %d digest %q", seq, d)
		}
	})
}

// BenchmarkCheckShared: the check before every append, with the shared
// ref 200 records behind the head: the first check walks 200 commits,
// later ones stop at the last confirmed head.
func BenchmarkCheckShared(b *testing.B) {
	f := newFixture(b)
	gitCmd(b, f.dir, "update-ref", sharedRef.String(), "main")
	for i := range 200 {
		f.review(b, fmt.Sprintf("p%06d", i))
	}
	b.Run("walk-200", func(b *testing.B) {
		for b.Loop() {
			confirmed.Clear()
			if err := f.l.checkShared(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("confirmed", func(b *testing.B) {
		for b.Loop() {
			if err := f.l.checkShared(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
