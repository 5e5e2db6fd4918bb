package ledger

// Moving a ledger between sites: sync (fetch a shared copy, fast-forward
// only) and push (to a shared copy, fast-forward only). The ledger never
// forks: a history that has diverged from its shared copy is refused by
// sync, push and Append alike, and nothing is ever merged or rebased.
//
// The shared copy's last known head is kept in refs/remotes/shared/main
// of the ledger. It is written only when it is this ledger's head or an
// ancestor of it: after the copy it came from has verified and this
// ledger was fast-forwarded to it or is ahead of it (sync), or after this
// ledger verified and was pushed (push). A copy that is refused (it does
// not verify, holds another ledger, or has diverged) leaves no trace here.
//
// Neither runs anything the other copy configures: no git runs inside
// it; its files are read as stock git reads them and its objects checked
// against their ids (sync_transfer.go). A bundle is unpacked by stock git
// into a fresh repository of Custos's own (sync_bundle.go).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"

	"custos/internal/hint"
	"custos/ledger/internal/gitobj"
)

// sharedRef is where a ledger keeps the head of its shared copy.
const sharedRef = plumbing.ReferenceName("refs/remotes/shared/main")

var (
	// ErrBehind is returned (wrapped) by Append when the shared copy has
	// records this ledger lacks.
	ErrBehind = errors.New("ledger is behind its shared copy")
	// ErrDiverged is returned (wrapped) when the ledger and its shared copy
	// each have records the other lacks.
	ErrDiverged = errors.New("ledger has diverged from its shared copy")
	// ErrSharedAhead is returned (wrapped) by Push when the shared copy
	// has records this ledger lacks.
	ErrSharedAhead = errors.New("the shared copy has records this ledger lacks")
)

// Relation is how a ledger stands to its shared copy.
type Relation string

// The relations of a ledger to its shared copy.
const (
	UpToDate Relation = "up to date" // same head
	Behind   Relation = "behind"     // the shared copy extends this ledger
	Ahead    Relation = "ahead"      // this ledger extends the shared copy
	Diverged Relation = "diverged"   // each has records the other lacks
	Empty    Relation = "empty"      // the shared copy has no ledger yet (push)
)

// Tip names one record of a history: its seq, digest and commit.
type Tip struct {
	Seq    int64  `json:"seq"`
	Digest string `json:"digest"`
	Commit string `json:"commit"`
}

func (t Tip) String() string { return fmt.Sprintf("record %d %s", t.Seq, t.Digest) }

// SyncResult says what Sync found and did.
type SyncResult struct {
	Relation Relation `json:"relation"`
	Local    Tip      `json:"local"`  // this ledger's head before the sync
	Shared   Tip      `json:"shared"` // the shared copy's head
	Common   *Tip     `json:"common,omitempty"`
	Gained   int64    `json:"gained"` // records fast-forwarded
}

// Sync brings the ledger in dir up to date with another copy, from: a
// clone directory (bare or not) or a git bundle. The copy is verified
// first; a copy that does not verify, that holds another ledger, or whose
// history has diverged from this one changes nothing here, not even
// refs/remotes/shared/main. Then: equal heads → UpToDate; this ledger
// behind → the objects it lacks are copied in (one pack), and its main
// branch and work tree are fast-forwarded; ahead → nothing to do (push
// it); diverged → an error wrapping ErrDiverged that names both heads and
// the last common record. refs/remotes/shared/main is set to the copy's
// head when it is this ledger's head or an ancestor of it. Sync never
// merges or rebases, and never runs anything the copy configures: it
// reads the copy's files (sync_transfer.go).
func Sync(dir, from string) (*SyncResult, error) {
	l, err := openNoKeep(dir)
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	// Sync writes the shared head and may move main: one writer at a time.
	unlock, err := l.Lock("sync", DefaultLockWait, lockMessages)
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	defer unlock()
	if err := l.Refresh(); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	src := from
	var bundleMain plumbing.Hash
	if IsBundle(from) {
		d, main, cleanup, err := unbundleBare(from)
		if err != nil {
			return nil, fmt.Errorf("sync: %w", err)
		}
		defer cleanup()
		src, bundleMain = d, main
	} else if fi, err := os.Stat(from); err != nil || !fi.IsDir() {
		return nil, hint.With(fmt.Errorf("sync: %s is neither a ledger directory nor a git bundle", from), "give a clone of the ledger or a bundle written by custos bundle")
	}
	res := Verify(src, Options{})
	if res.OK && !bundleMain.IsZero() && res.HeadCommit != bundleMain.String() {
		res.OK, res.Failure = false, &Failure{Check: "bundle", Reason: fmt.Sprintf("the clone of %s is at %s, its header says %s", from, res.HeadCommit, bundleMain)}
	}
	if !res.OK {
		return nil, hint.With(fmt.Errorf("sync: the copy in %s does not verify, nothing was changed: %w", from, res.Err()),
			"do not use this copy; find out who changed it, and sync from a copy that verifies")
	}
	if res.Ledger != l.state.LedgerID || res.Genesis != l.state.Genesis {
		return nil, fmt.Errorf("sync: %s holds another ledger (%s, genesis %s), not ledger %s (genesis %s)", from, res.Ledger, res.Genesis, l.state.LedgerID, l.state.Genesis)
	}
	// What verified is the history at this commit; every object read
	// below is checked against its id, so a copy changed meanwhile can
	// only make the copy fail, not bring in anything else.
	shared := plumbing.NewHash(res.HeadCommit)
	repo, err := openGitRepo(src)
	if err != nil {
		return nil, fmt.Errorf("sync: %s changed while it was read: %w", from, err)
	}
	theirs := repo.objectReader()
	defer theirs.Close()
	out := &SyncResult{
		Local:  Tip{Seq: l.state.Seq, Digest: l.state.Head, Commit: l.head.String()},
		Shared: Tip{Seq: res.Records, Digest: res.Head, Commit: res.HeadCommit},
	}
	rel, common, err := l.relate(gitobj.Either{l.repo.Storer, theirs.Commits()}, shared, res.Records)
	if err != nil {
		return nil, fmt.Errorf("sync from %s: %w", from, err)
	}
	out.Relation, out.Common = rel, common
	switch rel {
	case Diverged:
		return out, divergedError("sync", from, out)
	case Behind:
		if err := l.fetchFrom(theirs, shared); err != nil {
			return nil, fmt.Errorf("sync from %s: %w", from, err)
		}
		if err := l.fastForward(shared); err != nil {
			return nil, fmt.Errorf("sync: %w", err)
		}
		n, err := Open(dir)
		if err != nil {
			return nil, fmt.Errorf("sync: after the fast-forward: %w", err)
		}
		if n.state.Seq != res.Records || n.state.Head != res.Head || n.head != shared {
			return nil, fmt.Errorf("sync: after the fast-forward the ledger is at record %d %s, want record %d %s", n.state.Seq, n.state.Head, res.Records, res.Head)
		}
		out.Gained = res.Records - out.Local.Seq
	}
	if err := l.setShared(shared); err != nil {
		return out, fmt.Errorf("sync: record the shared head: %w", err)
	}
	return out, nil
}

// fetchFrom copies into this ledger the objects of the history at shared
// (which extends this Ledger's head) that it lacks, read through theirs,
// as one pack; then it reopens the repository so that go-git sees it.
func (l *Ledger) fetchFrom(theirs *gitobj.Reader, shared plumbing.Hash) error {
	_, commonDir, err := l.dirs()
	if err != nil {
		return err
	}
	objs, err := gitobj.Between(theirs, shared, l.head)
	if err != nil {
		return err
	}
	if err := gitobj.WritePack(theirs, objs, filepath.Join(commonDir, "objects")); err != nil {
		return err
	}
	repo, err := openRepo(l.dir)
	if err != nil {
		return err
	}
	l.repo = repo
	return nil
}
func divergedError(op, other string, r *SyncResult) error {
	common := "none"
	if r.Common != nil {
		common = r.Common.String()
	}
	return hint.With(fmt.Errorf("%s: %w %s: this ledger is at %s, the shared copy at %s, last common %s", op, ErrDiverged, other, r.Local, r.Shared, common),
		"never merge: the signed minutes say which records happened; keep the copy that holds them, and redo the other copy's records after the last common record on it")
}

// setShared records h as the shared copy's head (sharedRef), under its
// lock file.
func (l *Ledger) setShared(h plumbing.Hash) error {
	gitDir, commonDir, err := l.dirs()
	if err != nil {
		return err
	}
	return setRef(gitDir, commonDir, sharedRef, h.String())
}

// fastForward moves main from this Ledger's head to next (which must
// descend from it) and brings the work tree along.
func (l *Ledger) fastForward(next plumbing.Hash) error {
	gitDir, commonDir, err := l.dirs()
	if err != nil {
		return err
	}
	if err := casRef(gitDir, commonDir, branchRef, next, l.head); err != nil {
		return hint.With(fmt.Errorf("fast-forward %s: %w: %v", l.dir, ErrHeadMoved, err), "another custos appended to this ledger meanwhile; run custos sync again")
	}
	l.forgetObjects() // the sync's objects came in a pack written after it was made
	if err := l.restoreWorktree(next); err != nil {
		return fmt.Errorf("ledger %s: update the work tree to %s: %w", l.dir, next, err)
	}
	return nil
}

// commitTip reads a ledger commit's seq, record digest and first parent
// from its header and trailers (Custos-Seq, Custos-Record), which verify
// checks against the record.
func commitTip(st gitobj.Source, h plumbing.Hash) (Tip, plumbing.Hash, error) {
	raw, err := gitobj.Read(st, h, plumbing.CommitObject)
	if err != nil {
		return Tip{}, plumbing.ZeroHash, err
	}
	c, err := gitobj.ParseCommit(raw)
	if err != nil {
		return Tip{}, plumbing.ZeroHash, fmt.Errorf("commit %s: %w", h, err)
	}
	seq, digest, err := parseTrailers(c.Payload)
	if err != nil {
		return Tip{}, plumbing.ZeroHash, fmt.Errorf("commit %s: %w", h, err)
	}
	t := Tip{Seq: seq, Digest: digest, Commit: h.String()}
	var parent plumbing.Hash
	if len(c.Parents) > 0 {
		parent = c.Parents[0]
	}
	return t, parent, nil
}

// parseTrailers reads the Custos-Seq and Custos-Record trailers of a
// commit (payload: the commit without its signature).
func parseTrailers(payload []byte) (seq int64, digest string, err error) {
	_, msg, _ := bytes.Cut(payload, []byte("\n\n"))
	for line := range bytes.SplitSeq(msg, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("Custos-Seq: ")); ok && seq == 0 {
			if seq, err = strconv.ParseInt(string(v), 10, 64); err != nil || seq < 1 {
				seq = -1
			}
		} else if v, ok := bytes.CutPrefix(line, []byte("Custos-Record: ")); ok && digest == "" {
			digest = NormalizeDigest(string(v))
		}
	}
	if seq < 1 || digest == "" {
		return 0, "", errors.New("not a ledger commit: no valid Custos-Seq and Custos-Record trailers")
	}
	return seq, digest, nil
}

// back walks n first parents back from h.
func back(st gitobj.Source, h plumbing.Hash, n int64) (plumbing.Hash, error) {
	for ; n > 0; n-- {
		raw, err := gitobj.Read(st, h, plumbing.CommitObject)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		c, err := gitobj.ParseCommit(raw)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", h, err)
		}
		if len(c.Parents) == 0 {
			return plumbing.ZeroHash, fmt.Errorf("commit %s: history ends %d commits early", h, n)
		}
		h = c.Parents[0]
	}
	return h, nil
}

// relate compares this Ledger's head with shared (at seq sharedSeq),
// reading commits through st (this repository, or this one and the other
// copy). One record per commit, linear: the commit of record k is seq-k
// first parents back from a head.
func (l *Ledger) relate(st gitobj.Source, shared plumbing.Hash, sharedSeq int64) (Relation, *Tip, error) {
	local, localSeq := l.head, l.state.Seq
	if shared == local {
		return UpToDate, nil, nil
	}
	a, b := local, shared
	var err error
	switch {
	case sharedSeq > localSeq:
		if b, err = back(st, shared, sharedSeq-localSeq); err != nil {
			return "", nil, err
		}
		if b == local {
			return Behind, nil, nil
		}
	case sharedSeq < localSeq:
		if a, err = back(st, local, localSeq-sharedSeq); err != nil {
			return "", nil, err
		}
		if a == shared {
			return Ahead, nil, nil
		}
	}
	// Diverged: step both back together to the last common commit.
	for a != b {
		if a, err = back(st, a, 1); err != nil {
			return Diverged, nil, nil // no common record at all
		}
		if b, err = back(st, b, 1); err != nil {
			return Diverged, nil, nil
		}
	}
	t, _, err := commitTip(st, a)
	if err != nil {
		return "", nil, err
	}
	return Diverged, &t, nil
}

// confirmed remembers, per shared head, one commit known to descend from
// it, so the check before each append walks back only over the records
// appended since the last check.
var confirmed sync.Map // plumbing.Hash (shared) → plumbing.Hash (descendant)

// checkShared refuses to append to a ledger that is behind its shared
// copy or has diverged from it: sharedRef, when present, must be this
// Ledger's head or one of its ancestors. It reads the shared head's seq
// from its commit and walks back from the head at most that far.
func (l *Ledger) checkShared() error {
	ref, err := l.repo.Storer.Reference(sharedRef)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger %s: shared copy head %s: %w", l.dir, sharedRef, err)
	}
	shared := ref.Hash()
	if shared == l.head {
		return nil
	}
	st := l.repo.Storer
	tip, _, err := commitTip(st, shared)
	if err != nil {
		return fmt.Errorf("ledger %s: shared copy head %s: %w", l.dir, sharedRef, err)
	}
	here := fmt.Sprintf("shared copy at %s, this ledger at record %d %s", tip, l.state.Seq, l.state.Head)
	diverged := hint.With(fmt.Errorf("%w (%s): run custos sync to see where they part", ErrDiverged, here),
		"the ledger never forks: nothing can be appended until one history is chosen")
	if tip.Seq > l.state.Seq || l.head.IsZero() {
		// Behind, unless the shared history does not pass through the head.
		if b, err := back(st, shared, tip.Seq-l.state.Seq); l.head.IsZero() || (err == nil && b == l.head) {
			return hint.With(fmt.Errorf("%w (%s): run custos sync first", ErrBehind, here),
				"custos sync LEDGER SHARED-COPY fetches the records this ledger lacks; append after it")
		}
		return diverged
	}
	known, _ := confirmed.Load(shared)
	h := l.head
	for range l.state.Seq - tip.Seq {
		if h == known {
			break
		}
		raw, err := gitobj.Read(st, h, plumbing.CommitObject)
		if err != nil {
			return fmt.Errorf("ledger %s: %w", l.dir, err)
		}
		c, err := gitobj.ParseCommit(raw)
		if err != nil || len(c.Parents) == 0 {
			return fmt.Errorf("ledger %s: commit %s: history ends early", l.dir, h)
		}
		h = c.Parents[0]
	}
	if h != shared && h != known {
		return diverged
	}
	confirmed.Store(shared, l.head)
	return nil
}

// PushResult says what Push found and did.
type PushResult struct {
	Relation Relation `json:"relation"` // of this ledger to the copy before the push
	Local    Tip      `json:"local"`
	Shared   *Tip     `json:"shared,omitempty"` // the copy's head before the push
	Pushed   int64    `json:"pushed"`           // records pushed
	Bare     bool     `json:"bare"`
	Verified Result   `json:"verified"` // the copy, after the push
}

// Push fast-forwards the copy of the ledger at to (a bare repository, an
// empty one for a first push, or a clone with a work tree, which is
// updated too) to this ledger's head. The ledger must verify first. Push
// refuses, changing nothing, when the copy has records this ledger lacks
// (ErrSharedAhead) or the two have diverged (ErrDiverged): sync first.
//
// Push runs nothing in the copy (no git, so none of its hooks or config):
// it reads the copy's refs and objects as stock git would, writes the
// objects the copy lacks as one pack into the copy's own object store,
// verifies the history at this ledger's head as the copy's objects hold
// it, and only then moves the copy's main from the commit it read to
// this head, under refs/heads/main.lock (compare-and-swap: a copy that
// moved meanwhile is not overwritten). After the push stock git must show
// the copy's main at this ledger's head (a copy that was up to date is
// verified whole).
func Push(dir, to string) (*PushResult, error) {
	l, err := openNoKeep(dir)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	out := &PushResult{Local: Tip{Seq: l.state.Seq, Digest: l.state.Head, Commit: l.head.String()}}
	if res := Verify(dir, Options{}); !res.OK {
		return nil, fmt.Errorf("push: ledger %s does not verify, nothing was pushed: %w", dir, res.Err())
	}
	if res := l.repo.Storer.HasEncodedObject(l.head); res != nil {
		return nil, fmt.Errorf("push: ledger %s: %w", dir, res)
	}
	dst, err := openSharedCopy(to)
	if err != nil {
		return nil, hint.With(fmt.Errorf("push: %s: %w", to, err), "push to a clone of the ledger or a bare repository; make a new shared copy with: git init --bare "+to)
	}
	defer dst.objects.Close()
	out.Bare = dst.bare
	// One writer at a time, here (the shared ref) and there (its main,
	// its work tree): a push killed midway leaves locks that the next
	// writer finds stale, and with them the lock files of git it left.
	unlock, err := l.Lock("push", DefaultLockWait, lockMessages)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	defer unlock()
	unlockCopy, err := lockGitDir(dst.gitDir, "push", DefaultLockWait, lockMessages)
	if err != nil {
		return nil, fmt.Errorf("push: %s: %w", to, err)
	}
	defer unlockCopy()
	mine, err := openGitRepo(dir)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	ours := mine.objectReader()
	defer ours.Close()
	syncFirst := "run custos sync " + dir + " " + to + " first; the ledger is only ever fast-forwarded"
	switch {
	case dst.main.IsZero():
		out.Relation = Empty
	default:
		theirs := dst.main
		t, _, err := commitTip(dst.objects.Commits(), theirs)
		if err != nil {
			return nil, fmt.Errorf("push: %s: %w", to, err)
		}
		out.Shared = &t
		if l.repo.Storer.HasEncodedObject(theirs) != nil { // not here: the copy has more
			return out, hint.With(fmt.Errorf("push: %w: %s is at %s, this ledger at %s", ErrSharedAhead, to, t, out.Local), syncFirst)
		}
		rel, common, err := l.relate(l.repo.Storer, theirs, t.Seq)
		if err != nil {
			return nil, fmt.Errorf("push: %w", err)
		}
		out.Relation = rel
		switch rel {
		case Behind:
			return out, hint.With(fmt.Errorf("push: %w: %s is at %s, this ledger at %s", ErrSharedAhead, to, t, out.Local), syncFirst)
		case Diverged:
			return out, divergedError("push", to, &SyncResult{Relation: rel, Local: out.Local, Shared: t, Common: common})
		}
	}
	if !dst.bare {
		if err := checkWorktree(ours, to, dst.main, l.head); err != nil {
			return out, hint.With(fmt.Errorf("push to %s: its work tree: %w; nothing was pushed", to, err),
				"a shared copy's work tree holds only what its commits hold: find out who changed it; keep what matters, remove the changed files (custos push writes them anew), or push to a bare copy")
		}
	}
	if out.Relation != UpToDate {
		if out.Verified, err = pushObjects(ours, dst, l.head, out.Relation == Empty); err != nil {
			return out, fmt.Errorf("push to %s: %w", to, err)
		}
		out.Pushed = out.Local.Seq
		if out.Shared != nil {
			out.Pushed -= out.Shared.Seq
		}
	}
	if err := l.setShared(l.head); err != nil {
		return out, fmt.Errorf("push: record the shared head: %w", err)
	}
	if !out.Bare { // also when up to date: it brings a stale work tree along
		if err := l.updateWorktree(dst, l.head); err != nil {
			return out, fmt.Errorf("push: %s: update the work tree: %w", to, err)
		}
	}
	if out.Verified, err = checkPushed(to, l.head, out.Verified); err != nil {
		return out, fmt.Errorf("push: %w", err)
	}
	return out, nil
}

// checkPushed checks the copy at to after a push: stock git must show
// its main at head. staged is the verification of head from the copy's
// objects made before main moved (pushObjects); when nothing was pushed
// (OK unset), the copy is verified whole now.
func checkPushed(to string, head plumbing.Hash, staged Result) (Result, error) {
	if !staged.OK {
		res := Verify(to, Options{})
		if !res.OK {
			return res, fmt.Errorf("%s does not verify: %w", to, res.Err())
		}
		staged = res
	}
	r, err := openGitRepo(to)
	if err != nil {
		return staged, fmt.Errorf("%s after the push: %w", to, err)
	}
	if r.main != head {
		return staged, fmt.Errorf("%s is at commit %s after the push, want %s", to, r.main, head)
	}
	staged.Checked, staged.Findings = r.checked(), r.findings
	return staged, nil
}

// pushObjects moves the copy dst from its main (zero when empty) to head:
// it writes the objects the copy lacks, read
// through ours, verifies head as the copy now holds it, and then moves
// main by compare-and-swap (and points a new copy's HEAD at it).
func pushObjects(ours *gitobj.Reader, dst *sharedCopy, head plumbing.Hash, empty bool) (Result, error) {
	objs, err := gitobj.Between(ours, head, dst.main)
	if err != nil {
		return Result{}, err
	}
	objects := filepath.Join(dst.commonDir, "objects")
	if err := gitobj.WritePack(ours, objs, objects); err != nil {
		return Result{}, fmt.Errorf("write objects: %w", err)
	}
	res, err := verifyAt(objects, head)
	if err != nil {
		return Result{}, err
	}
	if !res.OK {
		return Result{}, fmt.Errorf("the copy's objects do not hold this ledger at its head, its main was not moved: %w", res.Err())
	}
	if res.HeadCommit != head.String() {
		return Result{}, fmt.Errorf("the copy's objects show commit %s, want %s; its main was not moved", res.HeadCommit, head)
	}
	if empty { // a new copy: clones of it check out main (first,
		// so that a push cut short leaves a copy still taken as new)
		if r, err := readRefFile(filepath.Join(dst.gitDir, "HEAD")); err != nil || r.target != branchRef.String() {
			if err := setRef(dst.gitDir, dst.commonDir, plumbing.HEAD, "ref: "+branchRef.String()); err != nil {
				return Result{}, fmt.Errorf("point HEAD at main: %w", err)
			}
		}
	}
	if err := casRef(dst.gitDir, dst.commonDir, branchRef, head, dst.main); err != nil {
		return Result{}, hint.With(fmt.Errorf("move its main: %w", err), "the copy changed while custos pushed to it: run custos sync, then push again")
	}
	return res, nil
}
