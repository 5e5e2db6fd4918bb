package ledger

// Moving a ledger between sites: sync (fetch a shared copy, fast-forward
// only) and push (to a shared copy, fast-forward only). The ledger never
// forks: a history that has diverged from its shared copy is refused by
// sync, push and Append alike, and nothing is ever merged or rebased.
//
// The shared copy's last known head is kept in refs/remotes/shared/main
// of the ledger. It is written only after the copy it came from has
// verified (sync) or after this ledger verified and was pushed (push).
// Fetch and push between local paths use stock git, like bundles, with no
// system or user configuration and with hooks switched off.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"custos/hint"
)

// SharedRef is where a ledger keeps the head of its shared copy.
const SharedRef = plumbing.ReferenceName("refs/remotes/shared/main")

// incomingRef holds a fetch until it is checked against what verified.
const incomingRef = plumbing.ReferenceName("refs/custos/incoming")

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
// first; a copy that does not verify, or that holds another ledger,
// changes nothing. Then its main branch is kept as SharedRef and: equal
// heads → UpToDate; this ledger behind → its main branch and work tree
// are fast-forwarded; ahead → nothing to do (push it); diverged → an error
// wrapping ErrDiverged that names both heads and the last common record,
// with nothing changed but SharedRef. Sync never merges or rebases.
func Sync(dir, from string) (*SyncResult, error) {
	l, err := Open(dir)
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	// Sync writes the shared head and may move main: one writer at a time.
	unlock, err := l.Lock("sync", DefaultLockWait, LockMessages)
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	defer unlock()
	if err := l.Refresh(); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	src := from
	if IsBundle(from) {
		d, cleanup, err := Unbundle(from)
		if err != nil {
			return nil, fmt.Errorf("sync: %w", err)
		}
		defer cleanup()
		src = d
	} else if fi, err := os.Stat(from); err != nil || !fi.IsDir() {
		return nil, hint.With(fmt.Errorf("sync: %s is neither a ledger directory nor a git bundle", from), "give a clone of the ledger or a bundle written by custos bundle")
	}
	res := Verify(src, Options{})
	if !res.OK {
		return nil, hint.With(fmt.Errorf("sync: the copy in %s does not verify, nothing was changed: %w", from, res.Err()),
			"do not use this copy; find out who changed it, and sync from a copy that verifies")
	}
	if res.Ledger != l.state.LedgerID || res.Genesis != l.state.Genesis {
		return nil, fmt.Errorf("sync: %s holds another ledger (%s, genesis %s), not ledger %s (genesis %s)", from, res.Ledger, res.Genesis, l.state.LedgerID, l.state.Genesis)
	}
	shared := plumbing.NewHash(res.HeadCommit)
	if err := l.fetchVerified(src, shared); err != nil {
		return nil, fmt.Errorf("sync from %s: %w", from, err)
	}
	out := &SyncResult{
		Local:  Tip{Seq: l.state.Seq, Digest: l.state.Head, Commit: l.head.String()},
		Shared: Tip{Seq: res.Records, Digest: res.Head, Commit: res.HeadCommit},
	}
	rel, common, err := l.relate(shared, res.Records)
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	out.Relation, out.Common = rel, common
	switch rel {
	case Diverged:
		return out, divergedError("sync", from, out)
	case Behind:
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
	return out, nil
}

func divergedError(op, other string, r *SyncResult) error {
	common := "none"
	if r.Common != nil {
		common = r.Common.String()
	}
	return hint.With(fmt.Errorf("%s: %w %s: this ledger is at %s, the shared copy at %s, last common %s", op, ErrDiverged, other, r.Local, r.Shared, common),
		"never merge: the signed minutes say which records happened; keep the copy that holds them, and redo the other copy's records after the last common record on it")
}

// fetchVerified fetches src's main branch into SharedRef, but only if it
// is still the commit that verified (src could change in between).
func (l *Ledger) fetchVerified(src string, want plumbing.Hash) error {
	abs, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	if _, err := stockGit("-C", l.dir, "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
		abs, "+"+branchRef.String()+":"+incomingRef.String()); err != nil {
		return err
	}
	defer l.repo.Storer.RemoveReference(incomingRef)
	got, err := l.repo.Storer.Reference(incomingRef)
	if err != nil {
		return fmt.Errorf("fetched branch: %w", err)
	}
	if got.Hash() != want {
		return fmt.Errorf("the copy changed while it was read (verified commit %s, fetched %s): run custos sync again", want, got.Hash())
	}
	return l.setShared(want)
}

// setShared records h as the shared copy's head (SharedRef), under its
// lock file.
func (l *Ledger) setShared(h plumbing.Hash) error {
	gitDir, commonDir, err := l.dirs()
	if err != nil {
		return err
	}
	return setRef(gitDir, commonDir, SharedRef, h.String())
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
	if err := l.restoreWorktree(next); err != nil {
		return fmt.Errorf("ledger %s: update the work tree to %s: %w", l.dir, next, err)
	}
	return nil
}

// commitTip reads a ledger commit's seq, record digest and first parent
// from its header and trailers (Custos-Seq, Custos-Record), which verify
// checks against the record.
func commitTip(st storer.EncodedObjectStorer, h plumbing.Hash) (Tip, plumbing.Hash, error) {
	raw, err := readObject(st, h, plumbing.CommitObject)
	if err != nil {
		return Tip{}, plumbing.ZeroHash, err
	}
	c, err := parseCommit(raw)
	if err != nil {
		return Tip{}, plumbing.ZeroHash, fmt.Errorf("commit %s: %w", h, err)
	}
	seq, digest, err := parseTrailers(c.payload)
	if err != nil {
		return Tip{}, plumbing.ZeroHash, fmt.Errorf("commit %s: %w", h, err)
	}
	t := Tip{Seq: seq, Digest: digest, Commit: h.String()}
	var parent plumbing.Hash
	if len(c.parents) > 0 {
		parent = c.parents[0]
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
func back(st storer.EncodedObjectStorer, h plumbing.Hash, n int64) (plumbing.Hash, error) {
	for ; n > 0; n-- {
		raw, err := readObject(st, h, plumbing.CommitObject)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		c, err := parseCommit(raw)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", h, err)
		}
		if len(c.parents) == 0 {
			return plumbing.ZeroHash, fmt.Errorf("commit %s: history ends %d commits early", h, n)
		}
		h = c.parents[0]
	}
	return h, nil
}

// relate compares this Ledger's head with shared (at seq sharedSeq), both
// in this repository. One record per commit, linear: the commit of record
// k is seq-k first parents back from a head.
func (l *Ledger) relate(shared plumbing.Hash, sharedSeq int64) (Relation, *Tip, error) {
	st := l.repo.Storer
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
// copy or has diverged from it: SharedRef, when present, must be this
// Ledger's head or one of its ancestors. It reads the shared head's seq
// from its commit and walks back from the head at most that far.
func (l *Ledger) checkShared() error {
	ref, err := l.repo.Storer.Reference(SharedRef)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger %s: shared copy head %s: %w", l.dir, SharedRef, err)
	}
	shared := ref.Hash()
	if shared == l.head {
		return nil
	}
	st := l.repo.Storer
	tip, _, err := commitTip(st, shared)
	if err != nil {
		return fmt.Errorf("ledger %s: shared copy head %s: %w", l.dir, SharedRef, err)
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
		raw, err := readObject(st, h, plumbing.CommitObject)
		if err != nil {
			return fmt.Errorf("ledger %s: %w", l.dir, err)
		}
		c, err := parseCommit(raw)
		if err != nil || len(c.parents) == 0 {
			return fmt.Errorf("ledger %s: commit %s: history ends early", l.dir, h)
		}
		h = c.parents[0]
	}
	if h != shared && h != known {
		return diverged
	}
	confirmed.Store(shared, l.head)
	return nil
}

// pushGit runs stock git push like stockGit, but its error keeps git's
// reasons (a rejected ref and why, errors), not the first line ("To …").
func pushGit(args ...string) error {
	cmd := stockGitCmd(args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("git is not installed: %w", err)
	}
	var why []string
	for line := range strings.SplitSeq(out.String(), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "!") || strings.HasPrefix(line, "error:") || strings.HasPrefix(line, "fatal:") {
			why = append(why, line)
		}
	}
	return fmt.Errorf("git push: %w: %s", err, strings.Join(why, "; "))
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
// After the push the copy must verify at this ledger's head.
func Push(dir, to string) (*PushResult, error) {
	l, err := Open(dir)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	out := &PushResult{Local: Tip{Seq: l.state.Seq, Digest: l.state.Head, Commit: l.head.String()}}
	if res := Verify(dir, Options{}); !res.OK {
		return nil, fmt.Errorf("push: ledger %s does not verify, nothing was pushed: %w", dir, res.Err())
	}
	dst, err := git.PlainOpen(to)
	if err != nil {
		return nil, hint.With(fmt.Errorf("push: %s: %w", to, err), "push to a clone of the ledger or a bare repository; make a new shared copy with: git init --bare "+to)
	}
	_, err = dst.Worktree()
	out.Bare = errors.Is(err, git.ErrIsBareRepository)
	ref, err := dst.Storer.Reference(branchRef)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		out.Relation = Empty
	case err != nil:
		return nil, fmt.Errorf("push: %s: %w", to, err)
	default:
		theirs := ref.Hash()
		t, _, err := commitTip(dst.Storer, theirs)
		if err != nil {
			return nil, fmt.Errorf("push: %s: %w", to, err)
		}
		out.Shared = &t
		if l.repo.Storer.HasEncodedObject(theirs) != nil { // not here: the copy has more
			return out, hint.With(fmt.Errorf("push: %w: %s is at %s, this ledger at %s", ErrSharedAhead, to, t, out.Local),
				"run custos sync "+dir+" "+to+" first; the ledger is only ever fast-forwarded")
		}
		rel, common, err := l.relate(theirs, t.Seq)
		if err != nil {
			return nil, fmt.Errorf("push: %w", err)
		}
		out.Relation = rel
		switch rel {
		case Behind:
			return out, hint.With(fmt.Errorf("push: %w: %s is at %s, this ledger at %s", ErrSharedAhead, to, t, out.Local),
				"run custos sync "+dir+" "+to+" first; the ledger is only ever fast-forwarded")
		case Diverged:
			return out, divergedError("push", to, &SyncResult{Relation: rel, Local: out.Local, Shared: t, Common: common})
		}
	}
	if out.Relation != UpToDate {
		abs, err := filepath.Abs(to)
		if err != nil {
			return nil, fmt.Errorf("push: %w", err)
		}
		// The copy's own hooks do not run; a checked-out main is updated
		// with its work tree (refused by git if that work tree was edited).
		recv := "git -c core.hooksPath=/dev/null -c receive.denyCurrentBranch=updateInstead receive-pack"
		if err := pushGit("-C", l.dir, "-c", "core.hooksPath=/dev/null", "push", "--quiet", "--no-verify", "--porcelain", "--receive-pack="+recv,
			abs, branchRef.String()+":"+branchRef.String()); err != nil {
			return out, hint.With(fmt.Errorf("push to %s: %w", to, err), "run custos sync "+dir+" "+to+" and try again; a copy with edited files must be restored first (git -C "+to+" status)")
		}
		out.Pushed = out.Local.Seq
		if out.Shared != nil {
			out.Pushed -= out.Shared.Seq
		}
		if out.Relation == Empty { // a new copy: clones of it check out main
			if head, err := dst.Storer.Reference(plumbing.HEAD); err != nil || head.Type() != plumbing.SymbolicReference || head.Target() != branchRef {
				dg, dc, err := gitDirs(to)
				if err == nil {
					err = setRef(dg, dc, plumbing.HEAD, "ref: "+branchRef.String())
				}
				if err != nil {
					return out, fmt.Errorf("push: %s: point HEAD at main: %w", to, err)
				}
			}
		}
	}
	if err := l.setShared(l.head); err != nil {
		return out, fmt.Errorf("push: record the shared head: %w", err)
	}
	out.Verified = Verify(to, Options{})
	if !out.Verified.OK {
		return out, fmt.Errorf("push: %s does not verify after the push: %w", to, out.Verified.Err())
	}
	if out.Verified.HeadCommit != l.head.String() {
		return out, fmt.Errorf("push: %s is at commit %s after the push, want %s", to, out.Verified.HeadCommit, l.head)
	}
	if !out.Bare {
		if _, err := Open(to); err != nil { // and repairs a stale work tree
			return out, fmt.Errorf("push: %w", err)
		}
	}
	return out, nil
}
