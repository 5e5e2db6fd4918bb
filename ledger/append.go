// Appending a record: the Ledger type, a draft record, its approvals,
// and Append, which checks the record against the replayed state, writes
// its commit and moves the head (or refuses when another writer moved it).

package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"custos/internal/hint"
	"custos/ledger/internal/gitobj"
	"custos/sign"
)

// ErrHeadMoved is returned (wrapped) by Append when another writer
// appended since this Ledger read the head.
var ErrHeadMoved = errors.New("ledger head moved")

// crashHook, when set (tests only), is called at each stage of an append
// so a test can kill the process there and check atomicity.
var crashHook func(stage string)

func crashPoint(stage string) {
	if crashHook != nil {
		crashHook(stage)
	}
}

// Ledger is an open ledger: its replayed state at the head it read.
type Ledger struct {
	dir   string
	repo  *git.Repository
	head  plumbing.Hash // commit
	state *State
	// noWorktree: appends leave the work tree and index alone
	noWorktree bool
	// gitDir and commonDir (dirs): where HEAD and the index, and the refs
	// and objects, are
	gitDir, commonDir string
	// replayed counts the records Open replayed (not loaded from a kept
	// state)
	replayed int64
	obj      *objects // objs
}

// dirs returns the ledger's git directory and common directory.
func (l *Ledger) dirs() (gitDir, commonDir string, err error) {
	if l.gitDir == "" {
		if l.gitDir, l.commonDir, err = gitDirs(l.dir); err != nil {
			l.gitDir = ""
			return "", "", fmt.Errorf("ledger %s: %w", l.dir, err)
		}
	}
	return l.gitDir, l.commonDir, nil
}

// Approve signs rec's signing digest as member: an approval.
func Approve(rec *Record, member string, s sign.Signer) (Approval, error) {
	if s == nil {
		return Approval{}, fmt.Errorf("approval by %s: no signer", member)
	}
	d, err := rec.SigningDigest()
	if err != nil {
		return Approval{}, err
	}
	sig, err := s.Sign(NamespaceApproval, []byte(d))
	if err != nil {
		return Approval{}, fmt.Errorf("approval by %s: %w", member, err)
	}
	return Approval{Member: member, Signature: string(sig)}, nil
}

// Draft returns the next record for the current head: seq, prev, ledger id
// and time filled in. Approvers sign it (Approve) before Append.
func (l *Ledger) Draft(kind, ceremony, actor string, facts map[string]any, t time.Time) *Record {
	if facts == nil {
		facts = map[string]any{}
	}
	return &Record{Version: recordVersion, Seq: l.state.Seq + 1, Prev: l.state.Head, Time: t.UTC().Truncate(time.Second),
		Ledger: l.state.LedgerID, Ceremony: ceremony, Kind: kind, Actor: actor, Facts: facts}
}

// Append commits rec with approvals, signed by actor. It refuses a record
// that does not follow the head this Ledger read, that breaks the policy
// or lifecycle, or whose signatures do not verify; and it refuses to move
// the branch if another writer moved it meanwhile (ErrHeadMoved). It
// returns the commit id.
func (l *Ledger) Append(rec *Record, actor sign.Signer, approvals []Approval) (string, error) {
	if rec.Seq > maxRecords {
		return "", hint.With(fmt.Errorf("append record %d: a ledger holds at most %d records", rec.Seq, maxRecords), "start a new ledger whose genesis minutes name this one's head")
	}
	gitDir, commonDir, err := l.dirs()
	if err != nil {
		return "", err
	}
	if !holds(gitDir) { // one writer at a time (lock.go)
		unlock, err := lockGitDir(gitDir, rec.Ceremony, appendLockWait, lockMessages)
		if err != nil {
			return "", fmt.Errorf("append record %d: %w", rec.Seq, err)
		}
		defer unlock()
	}
	if err := l.checkShared(); err != nil { // the ledger never forks (sync.go)
		return "", fmt.Errorf("append record %d: %w", rec.Seq, err)
	}
	r := *rec
	r.Approvals = slices.Clone(approvals)
	if r.Facts == nil {
		r.Facts = map[string]any{}
	}
	canon, err := r.Canonical()
	if err != nil {
		return "", fmt.Errorf("append record %d: %w", r.Seq, err)
	}
	// Re-decode so the state holds exactly what a reader will read.
	dec, err := DecodeRecord(canon)
	if err != nil {
		return "", fmt.Errorf("append record %d: %w", r.Seq, err)
	}
	digest := digestOf(canon)
	signing, _ := dec.SigningDigest()
	// The writer's clock bounds the record's time (one member must not
	// date a record so far ahead that every honest append after it is
	// refused), and a checkpoint must name the head commit.
	l.state.notAfter = time.Now().Add(WriterClockMargin)
	l.state.parentCommit = ""
	if !l.head.IsZero() {
		l.state.parentCommit = l.head.String()
	}
	actorKey, checks, err := l.state.authorize(dec)
	if err != nil {
		return "", fmt.Errorf("append record %d (%s): %w", r.Seq, r.Kind, err)
	}
	if actor == nil {
		return "", fmt.Errorf("append record %d: no signer for %s", r.Seq, r.Actor)
	}
	if sign.AuthorizedKey(actor.PublicKey()) != sign.AuthorizedKey(actorKey) {
		return "", fmt.Errorf("append record %d: the signer's key %s is not %s's key in the roster", r.Seq, sign.Fingerprint(actor.PublicKey()), r.Actor)
	}
	for _, c := range checks {
		if err := c.verify(signing); err != nil {
			return "", fmt.Errorf("append record %d: %s does not verify: %w", r.Seq, c.what(), err)
		}
	}
	next := l.state.clone()
	if err := next.apply(dec, digest); err != nil {
		return "", fmt.Errorf("append record %d (%s): %w", r.Seq, r.Kind, err)
	}
	// The e-mail comes from the roster in force before the record, the
	// one that authorizes it (the genesis roster for record 1).
	email := l.state.Roster.Member(r.Actor)
	if dec.Seq == 1 {
		email = next.Roster.Member(r.Actor)
	}
	objs := gitobj.NewDurableStore(l.repo.Storer, filepath.Join(commonDir, "objects"))
	files, tree, err := l.writeTree(objs, next, dec.Seq, append(canon, '\n'))
	if err != nil {
		return "", fmt.Errorf("append record %d: %w", r.Seq, err)
	}
	crashPoint("objects")
	commit := commitObject(dec, digest, email.commitEmail(), tree, l.head)
	payload, err := gitobj.Payload(commit)
	if err != nil {
		return "", fmt.Errorf("append record %d: %w", r.Seq, err)
	}
	sig, err := gitSigner{actor}.Sign(bytes.NewReader(payload))
	if err != nil {
		return "", fmt.Errorf("append record %d: commit signature: %w", r.Seq, err)
	}
	// Verify the signature right after making it, on the exact bytes
	// stored, the way verify will.
	commit.PGPSignature = string(sig)
	raw, err := gitobj.EncodeCommit(commit)
	if err != nil {
		return "", fmt.Errorf("append record %d: %w", r.Seq, err)
	}
	pc, err := gitobj.ParseCommit(raw)
	if err != nil || string(pc.Payload) != string(payload) {
		return "", fmt.Errorf("append record %d: commit does not round-trip", r.Seq)
	}
	if err := sign.Verify(actorKey, namespaceGit, pc.Payload, pc.Sig); err != nil {
		return "", fmt.Errorf("append record %d: commit signature does not verify: %w", r.Seq, err)
	}
	h, err := gitobj.Write(objs, plumbing.CommitObject, raw)
	if err != nil {
		return "", fmt.Errorf("append record %d: write commit: %w", r.Seq, err)
	}
	if err := objs.Sync(); err != nil {
		return "", fmt.Errorf("append record %d: write objects: %w", r.Seq, err)
	}
	crashPoint("commit")
	// The ref moves last, and only if nobody else moved it: the append is
	// atomic at this compare-and-swap, made under refs/heads/main.lock and
	// completed by a rename (atomic.go).
	if err := casRef(gitDir, commonDir, branchRef, h, l.head); err != nil {
		return "", hint.With(fmt.Errorf("append record %d: %w: %v", r.Seq, ErrHeadMoved, err), "another custos appended to this ledger; open it again and redo the step")
	}
	crashPoint("ref")
	l.head, l.state = h, next
	if l.noWorktree {
		return h.String(), nil
	}
	if err := l.syncWorktree(files); err != nil {
		return h.String(), fmt.Errorf("record %d is committed (%s) but the work tree was not updated: %w", r.Seq, h, err)
	}
	crashPoint("worktree")
	return h.String(), nil
}

// writeTree writes the blobs and trees of the commit for record seq and
// returns the files it changes (path → content) and the root tree id. It
// starts from the head's tree and rewrites only the folders on the paths
// of the record and of the key files the record changed.
func (l *Ledger) writeTree(st storer.EncodedObjectStorer, s *State, seq int64, recBytes []byte) (map[string][]byte, plumbing.Hash, error) {
	roster, err := s.rosterFile()
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	files := map[string][]byte{
		fileLedgerMD:    s.ledgerMD(),
		fileSigners:     s.signersFile(),
		fileRoster:      roster,
		recordFile(seq): recBytes,
	}
	for id := range s.dirty.keys {
		files[keyPath(s.Keys[id])] = keyFile(s.Keys[id])
	}
	s.dirty = dirtySet{}
	var root []gitobj.TreeEntry
	if !l.head.IsZero() {
		if root, err = l.rootTree(l.head); err != nil {
			return nil, plumbing.ZeroHash, err
		}
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		h, err := gitobj.Write(st, plumbing.BlobObject, files[p])
		if err != nil {
			return nil, plumbing.ZeroHash, err
		}
		if root, err = putFile(st, root, p, h); err != nil {
			return nil, plumbing.ZeroHash, err
		}
	}
	th, err := gitobj.Write(st, plumbing.TreeObject, gitobj.EncodeTree(root))
	return files, th, err
}

// putFile returns es, the entries of a folder, with the file at path below
// it set to blob, writing the folders on the path anew.
func putFile(st storer.EncodedObjectStorer, es []gitobj.TreeEntry, path string, blob plumbing.Hash) ([]gitobj.TreeEntry, error) {
	dir, rest, nested := strings.Cut(path, "/")
	if !nested {
		return setEntry(es, gitobj.TreeEntry{Name: path, Mode: filemode.Regular, Hash: blob}), nil
	}
	sub, err := subdir(st, es, dir)
	if err != nil {
		return nil, err
	}
	if sub, err = putFile(st, sub, rest, blob); err != nil {
		return nil, err
	}
	h, err := gitobj.Write(st, plumbing.TreeObject, gitobj.EncodeTree(sub))
	if err != nil {
		return nil, err
	}
	return setEntry(es, gitobj.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h}), nil
}

// setEntry replaces the entry named e.name in es, or adds it.
func setEntry(es []gitobj.TreeEntry, e gitobj.TreeEntry) []gitobj.TreeEntry {
	for i := range es {
		if es[i].Name == e.Name {
			es[i] = e
			return es
		}
	}
	return append(es, e)
}

// clone returns a copy of s for an append to work on. Key states are
// copied only when the append changes them (ownKey): copying every key for
// every append would make appends cost in proportion to the ledger.
func (s *State) clone() *State {
	n := *s
	n.Keys = maps.Clone(s.Keys)
	n.owned = map[string]bool{}
	n.signers = slices.Clone(s.signers)
	n.dirty = dirtySet{}
	n.ceremonies, n.backups, n.labels = s.ceremonies.fork(), s.backups.fork(), s.labels.fork()
	return &n
}

// ownKey returns key id for changing: in a clone, a copy of the shared
// original, made once.
func (s *State) ownKey(id string) *KeyState {
	k := s.Keys[id]
	if k == nil || s.owned == nil || s.owned[id] {
		return k
	}
	kc := *k
	kc.Facts = maps.Clone(k.Facts)
	kc.History = slices.Clip(k.History)
	kc.histJSON = slices.Clip(k.histJSON)
	s.Keys[id] = &kc
	s.owned[id] = true
	return &kc
}
