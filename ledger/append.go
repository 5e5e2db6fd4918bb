package ledger

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"custos/internal/hint"
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

// SkipWorktree makes later appends leave the work tree and its index as
// they are, for a tool that writes many records at once (a benchmark's
// generator): rewriting an index that lists every record makes each append
// cost in proportion to the ledger's length. The next Open brings the work
// tree up to date.
func (l *Ledger) SkipWorktree() { l.noWorktree = true }

// CreateOption adjusts the genesis.
type CreateOption func(*createOpts)

type createOpts struct{ ledger, ceremony string }

// WithLedgerID sets the ledger id instead of a random one.
func WithLedgerID(id string) CreateOption { return func(o *createOpts) { o.ledger = id } }

// WithCeremony sets the genesis ceremony id (default "genesis").
func WithCeremony(id string) CreateOption { return func(o *createOpts) { o.ceremony = id } }

// Create makes a new ledger in dir (absent or empty): record 1,
// ledger.genesis, carries the roster and policy, is approved by every
// founding member and committed by the first member. It returns the
// genesis digest, the trust root to write into the minutes.
func Create(dir string, roster *Roster, policy *Policy, signers map[string]sign.Signer, t time.Time, opts ...CreateOption) (string, error) {
	o := createOpts{ceremony: "genesis"}
	for _, f := range opts {
		f(&o)
	}
	if o.ledger == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("ledger id: %w", err)
		}
		o.ledger = hex.EncodeToString(b[:])
	}
	if err := Validate(roster, policy); err != nil {
		return "", fmt.Errorf("roster: %w", err)
	}
	for _, m := range roster.Members {
		s, ok := signers[m.Name]
		if !ok {
			return "", hint.With(fmt.Errorf("no key for founding member %s", m.Name), "every founding member signs the genesis: give --key "+m.Name+"=REF")
		}
		if sign.AuthorizedKey(s.PublicKey()) != m.Key {
			return "", fmt.Errorf("the key given for %s (%s) is not the key in the roster", m.Name, sign.Fingerprint(s.PublicKey()))
		}
	}
	for name := range signers {
		if roster.Member(name) == nil {
			return "", fmt.Errorf("key given for %s, who is not in the roster", name)
		}
	}
	facts, err := rosterFacts(roster, policy)
	if err != nil {
		return "", err
	}
	rec := &Record{Version: Version, Seq: 1, Time: t.UTC().Truncate(time.Second), Ledger: o.ledger,
		Ceremony: o.ceremony, Kind: "ledger.genesis", Actor: roster.Members[0].Name, Facts: facts}
	var approvals []Approval
	for _, m := range roster.Members {
		a, err := Approve(rec, m.Name, signers[m.Name])
		if err != nil {
			return "", err
		}
		approvals = append(approvals, a)
	}
	if err := prepareDir(dir); err != nil {
		return "", err
	}
	// Built beside dir under a hidden name and renamed into place whole:
	// a kill at any instant leaves dir as it was (absent or empty) and at
	// most a ".NAME.custos-init-*" directory beside it, never a ledger
	// without its genesis.
	final := dir
	dir, err = os.MkdirTemp(filepath.Dir(final), "."+filepath.Base(final)+".custos-init-")
	if err != nil {
		return "", fmt.Errorf("create ledger %s: %w", final, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fmt.Errorf("create ledger %s: %w", final, err)
	}
	ok := false
	defer func() {
		if !ok { // nothing half-written
			os.RemoveAll(dir)
		}
	}()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		return "", fmt.Errorf("create ledger %s: %w", dir, err)
	}
	l := &Ledger{dir: dir, repo: repo, state: newState()}
	gitDir, commonDir, err := l.dirs()
	if err != nil {
		return "", err
	}
	if err := setRef(gitDir, commonDir, plumbing.HEAD, "ref: "+branchRef.String()); err != nil {
		return "", fmt.Errorf("create ledger %s: %w", dir, err)
	}
	if _, err := l.Append(rec, signers[rec.Actor], approvals); err != nil {
		return "", err
	}
	// rename(2) puts a directory over an empty one, atomically.
	if err := os.Rename(dir, final); err != nil {
		return "", fmt.Errorf("create ledger %s: %w", final, err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return "", fmt.Errorf("create ledger %s: %w", final, err)
	}
	ok = true
	return l.state.Genesis, nil
}

// prepareDir checks that dir is absent or empty, creating its parent.
func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("create ledger directory: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("ledger directory: %w", err)
	case len(entries) > 0:
		return hint.With(fmt.Errorf("ledger directory %s exists and is not empty", dir), "choose a new directory; custos init never writes over anything")
	}
	return nil
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

// Open opens the ledger in dir and replays it. It checks the chain and
// the rules but not signatures: use Verify for that.
func Open(dir string) (*Ledger, error) { return OpenEach(dir, nil) }

// OpenEach is Open that also hands each record and its digest, once
// checked and replayed, to each (when not nil), so that a reader of every
// record (inventory, report, log) reads the ledger once.
func OpenEach(dir string, each func(rec *Record, digest string) error) (*Ledger, error) {
	repo, err := openRepo(dir)
	if err != nil {
		return nil, hint.With(fmt.Errorf("open ledger %s: %w", dir, err), "a ledger is a git repository made by custos init")
	}
	ref, err := repo.Storer.Reference(branchRef)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: no %s branch: %w", dir, branchRef.Short(), err)
	}
	l := &Ledger{dir: dir, repo: repo, head: ref.Hash(), state: newState()}
	for rec, err := range l.Records() {
		if err != nil {
			return nil, fmt.Errorf("open ledger %s: %w", dir, err)
		}
		d, err := rec.Digest()
		if err != nil {
			return nil, fmt.Errorf("open ledger %s: record %d: %w", dir, rec.Seq, err)
		}
		if _, _, err := l.state.authorize(rec); err != nil {
			return nil, fmt.Errorf("open ledger %s: record %d: %w", dir, rec.Seq, err)
		}
		if err := l.state.apply(rec, d); err != nil {
			return nil, fmt.Errorf("open ledger %s: record %d: %w", dir, rec.Seq, err)
		}
		if each != nil {
			if err := each(rec, d); err != nil {
				return nil, err
			}
		}
	}
	if l.state.Seq == 0 {
		return nil, fmt.Errorf("open ledger %s: no records", dir)
	}
	if err := l.syncWorktreeIfStale(); err != nil {
		return nil, err
	}
	return l, nil
}

// openRepo opens the repository in dir as git.PlainOpen does, with a
// small object cache: a replay reads each object once, so go-git's
// default 96 MB cache only held memory (inventory and report of a long
// ledger).
func openRepo(dir string) (*git.Repository, error) {
	gitDir, worktree := gitDirOf(dir)
	if !worktree {
		return git.PlainOpen(dir) // bare, or .git is a file: go-git's own handling
	}
	return git.Open(filesystem.NewStorage(osfs.New(gitDir), cache.NewObjectLRU(4*cache.MiByte)), osfs.New(dir))
}

// gitDirOf is the git directory of the repository in dir: dir/.git when
// that is a directory (a work tree), else dir itself (a bare repository).
func gitDirOf(dir string) (gitDir string, worktree bool) {
	gitDir = filepath.Join(dir, ".git")
	if fi, err := os.Stat(gitDir); err != nil || !fi.IsDir() {
		return dir, false
	}
	return gitDir, true
}

// Dir is the ledger's directory.
func (l *Ledger) Dir() string { return l.dir }

// State is the replayed state at the head this Ledger read. Callers must
// not modify it.
func (l *Ledger) State() *State { return l.state }

// Head returns the digest of the last record and the commit id holding it.
func (l *Ledger) Head() (digest, commit string) { return l.state.Head, l.head.String() }

// Records iterates over the records at the head, oldest first, reading one
// at a time.
func (l *Ledger) Records() iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		if l.head.IsZero() {
			return
		}
		top, err := l.recordsDir(l.head)
		if err != nil {
			yield(nil, err)
			return
		}
		seq := int64(0)
		for e, err := range walkRecords(l.repo.Storer, top) {
			if err == nil {
				seq++
				if e.name != recordFile(seq) {
					err = fmt.Errorf("%s: unexpected file, want %s", e.name, recordFile(seq))
				}
			}
			var rec *Record
			if err == nil {
				rec, err = l.readRecord(e)
			}
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

// walkRecords yields the files under records/ (top: its entries) in tree
// order, each named by its path in the ledger.
func walkRecords(st objectSource, top []treeEntry) iter.Seq2[treeEntry, error] {
	return func(yield func(treeEntry, error) bool) {
		var walk func(dir string, es []treeEntry, depth int) bool
		walk = func(dir string, es []treeEntry, depth int) bool {
			for _, e := range es {
				p := dir + "/" + e.name
				if depth == 2 || e.mode != filemode.Dir {
					if !yield(treeEntry{name: p, mode: e.mode, hash: e.hash}, nil) {
						return false
					}
					continue
				}
				sub, err := readTree(st, e.hash)
				if err != nil {
					yield(treeEntry{}, fmt.Errorf("%s/: %w", p, err))
					return false
				}
				if !walk(p, sub, depth+1) {
					return false
				}
			}
			return true
		}
		walk(dirRecords, top, 0)
	}
}

// Record reads record seq at the head (1 ≤ seq ≤ State().Seq).
func (l *Ledger) Record(seq int64) (*Record, error) {
	if seq < 1 || seq > l.state.Seq {
		return nil, fmt.Errorf("ledger %s has no record %d", l.dir, seq)
	}
	es, err := l.recordsDir(l.head)
	if err != nil {
		return nil, err
	}
	d1, d2, name := recordPath(seq)
	for _, part := range []string{d1, d2} {
		if es, err = subdir(l.repo.Storer, es, part); err != nil {
			return nil, err
		}
	}
	for _, e := range es {
		if e.name == name {
			return l.readRecord(treeEntry{name: recordFile(seq), hash: e.hash})
		}
	}
	return nil, fmt.Errorf("%s: missing", recordFile(seq))
}

// readRecord reads and decodes the record file e (named by its path).
func (l *Ledger) readRecord(e treeEntry) (*Record, error) {
	b, err := readObject(l.repo.Storer, e.hash, plumbing.BlobObject)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	rec, err := DecodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	return rec, nil
}

func (l *Ledger) rootTree(commit plumbing.Hash) ([]treeEntry, error) {
	raw, err := readObject(l.repo.Storer, commit, plumbing.CommitObject)
	if err != nil {
		return nil, err
	}
	c, err := parseCommit(raw)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	return readTree(l.repo.Storer, c.tree)
}

// recordsDir returns the entries of records/ at commit.
func (l *Ledger) recordsDir(commit plumbing.Hash) ([]treeEntry, error) {
	root, err := l.rootTree(commit)
	if err != nil {
		return nil, err
	}
	es, err := subdir(l.repo.Storer, root, dirRecords)
	if err == nil && es == nil {
		err = errors.New("no records/ directory")
	}
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	return es, nil
}

// subdir returns the entries of folder name in es, none when it is absent.
func subdir(st objectSource, es []treeEntry, name string) ([]treeEntry, error) {
	for _, e := range es {
		if e.name != name {
			continue
		}
		if e.mode != filemode.Dir {
			return nil, fmt.Errorf("%s is not a folder", name)
		}
		return readTree(st, e.hash)
	}
	return nil, nil
}

// Draft returns the next record for the current head: seq, prev, ledger id
// and time filled in. Approvers sign it (Approve) before Append.
func (l *Ledger) Draft(kind, ceremony, actor string, facts map[string]any, t time.Time) *Record {
	if facts == nil {
		facts = map[string]any{}
	}
	return &Record{Version: Version, Seq: l.state.Seq + 1, Prev: l.state.Head, Time: t.UTC().Truncate(time.Second),
		Ledger: l.state.LedgerID, Ceremony: ceremony, Kind: kind, Actor: actor, Facts: facts}
}

// Append commits rec with approvals, signed by actor. It refuses a record
// that does not follow the head this Ledger read, that breaks the policy
// or lifecycle, or whose signatures do not verify; and it refuses to move
// the branch if another writer moved it meanwhile (ErrHeadMoved). It
// returns the commit id.
func (l *Ledger) Append(rec *Record, actor sign.Signer, approvals []Approval) (string, error) {
	if rec.Seq > MaxRecords {
		return "", hint.With(fmt.Errorf("append record %d: a ledger holds at most %d records", rec.Seq, MaxRecords), "start a new ledger whose genesis minutes name this one's head")
	}
	gitDir, commonDir, err := l.dirs()
	if err != nil {
		return "", err
	}
	if !holds(gitDir) { // one writer at a time (lock.go)
		unlock, err := lockGitDir(gitDir, rec.Ceremony, appendLockWait, LockMessages)
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
	objs := durableObjects{l.repo.Storer, newLooseWriter(filepath.Join(commonDir, "objects"))}
	files, tree, err := l.writeTree(objs, next, dec.Seq, append(canon, '\n'))
	if err != nil {
		return "", fmt.Errorf("append record %d: %w", r.Seq, err)
	}
	crashPoint("objects")
	commit := commitObject(dec, digest, email.CommitEmail(), tree, l.head)
	payload, err := payloadOf(commit)
	if err != nil {
		return "", fmt.Errorf("append record %d: %w", r.Seq, err)
	}
	sig, err := gitSigner{actor}.Sign(bytesReader(payload))
	if err != nil {
		return "", fmt.Errorf("append record %d: commit signature: %w", r.Seq, err)
	}
	// Verify the signature right after making it, on the exact bytes
	// stored, the way verify will.
	commit.PGPSignature = string(sig)
	raw, err := encodeCommit(commit)
	if err != nil {
		return "", fmt.Errorf("append record %d: %w", r.Seq, err)
	}
	pc, err := parseCommit(raw)
	if err != nil || string(pc.payload) != string(payload) {
		return "", fmt.Errorf("append record %d: commit does not round-trip", r.Seq)
	}
	if err := sign.Verify(actorKey, NamespaceGit, pc.payload, pc.sig); err != nil {
		return "", fmt.Errorf("append record %d: commit signature does not verify: %w", r.Seq, err)
	}
	h, err := writeObject(objs, plumbing.CommitObject, raw)
	if err != nil {
		return "", fmt.Errorf("append record %d: write commit: %w", r.Seq, err)
	}
	if err := objs.w.sync(); err != nil {
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
	var root []treeEntry
	if !l.head.IsZero() {
		if root, err = l.rootTree(l.head); err != nil {
			return nil, plumbing.ZeroHash, err
		}
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		h, err := writeObject(st, plumbing.BlobObject, files[p])
		if err != nil {
			return nil, plumbing.ZeroHash, err
		}
		if root, err = putFile(st, root, p, h); err != nil {
			return nil, plumbing.ZeroHash, err
		}
	}
	th, err := writeObject(st, plumbing.TreeObject, encodeTree(root))
	return files, th, err
}

// putFile returns es, the entries of a folder, with the file at path below
// it set to blob, writing the folders on the path anew.
func putFile(st storer.EncodedObjectStorer, es []treeEntry, path string, blob plumbing.Hash) ([]treeEntry, error) {
	dir, rest, nested := strings.Cut(path, "/")
	if !nested {
		return setEntry(es, treeEntry{name: path, mode: filemode.Regular, hash: blob}), nil
	}
	sub, err := subdir(st, es, dir)
	if err != nil {
		return nil, err
	}
	if sub, err = putFile(st, sub, rest, blob); err != nil {
		return nil, err
	}
	h, err := writeObject(st, plumbing.TreeObject, encodeTree(sub))
	if err != nil {
		return nil, err
	}
	return setEntry(es, treeEntry{name: dir, mode: filemode.Dir, hash: h}), nil
}

// setEntry replaces the entry named e.name in es, or adds it.
func setEntry(es []treeEntry, e treeEntry) []treeEntry {
	for i := range es {
		if es[i].name == e.name {
			es[i] = e
			return es
		}
	}
	return append(es, e)
}

// syncWorktree writes files into the work tree (each through a temporary
// file, fsynced, and a rename) and records them in the index (written
// under index.lock), so `git status` in an auditor's clone and in this
// directory is clean.
func (l *Ledger) syncWorktree(files map[string][]byte) error {
	gitDir, _, err := l.dirs()
	if err != nil {
		return err
	}
	idx, err := l.repo.Storer.Index()
	if err != nil {
		return err
	}
	byName := map[string]*index.Entry{}
	for _, e := range idx.Entries {
		byName[e.Name] = e
	}
	dirs := map[string]bool{}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		full := filepath.Join(l.dir, filepath.FromSlash(p))
		if err := writeFileAtomic(full, files[p], dirs); err != nil {
			return err
		}
		fi, err := os.Stat(full)
		if err != nil {
			return err
		}
		e := byName[p]
		if e == nil {
			e = &index.Entry{Name: p}
			idx.Entries = append(idx.Entries, e)
			byName[p] = e
		}
		setEntry2(e, hashObject(plumbing.BlobObject, files[p]), fi)
	}
	if err := syncDirs(dirs); err != nil {
		return err
	}
	sort.Slice(idx.Entries, func(i, j int) bool { return idx.Entries[i].Name < idx.Entries[j].Name })
	return writeIndex(gitDir, idx)
}

// setEntry2 fills index entry e for a regular file with blob h, as fi.
func setEntry2(e *index.Entry, h plumbing.Hash, fi os.FileInfo) {
	e.Hash = h
	e.Mode = filemode.Regular
	e.Size = uint32(fi.Size())
	e.ModifiedAt, e.CreatedAt = fi.ModTime(), fi.ModTime()
}

// syncWorktreeIfStale repairs the work tree after an append that was
// interrupted between moving the ref and writing the files. It repairs
// only with the writer's lock, taken without waiting: while a writer is
// at work (between its ref and its index), the work tree is its to
// bring along, and a reader leaves it alone.
func (l *Ledger) syncWorktreeIfStale() error {
	idx, err := l.repo.Storer.Index()
	if err == nil {
		want := recordFile(l.state.Seq)
		for _, e := range idx.Entries {
			if e.Name == want {
				if _, err := os.Stat(filepath.Join(l.dir, want)); err == nil {
					return nil
				}
			}
		}
	}
	gitDir, commonDir, err := l.dirs()
	if err != nil {
		return err
	}
	unlock, err := lockGitDir(gitDir, "work tree repair", 0, LockMessages)
	if errors.Is(err, ErrLocked) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger %s: restore work tree: %w", l.dir, err)
	}
	defer unlock()
	if cur, err := readRefHash(commonDir, branchRef); err != nil || cur != l.head {
		return nil // moved meanwhile: its writer updated the work tree
	}
	if err := l.restoreWorktree(l.head); err != nil {
		return fmt.Errorf("ledger %s: restore work tree: %w", l.dir, err)
	}
	return nil
}

// restoreWorktree makes the work tree and the index those of commit: each
// file of its tree whose index entry or content differs is written anew
// (writeFileAtomic), then the index, under index.lock. Other files are
// left alone. The caller holds the writer's lock.
func (l *Ledger) restoreWorktree(commit plumbing.Hash) error {
	if fi, err := os.Stat(filepath.Join(l.dir, ".git")); err != nil || !fi.IsDir() {
		return fmt.Errorf("ledger %s work tree: %w", l.dir, git.ErrIsBareRepository)
	}
	gitDir, _, err := l.dirs()
	if err != nil {
		return err
	}
	st := l.repo.Storer
	root, err := l.rootTree(commit)
	if err != nil {
		return err
	}
	idx, err := st.Index()
	if err != nil {
		idx = &index.Index{Version: 2}
	}
	old := map[string]*index.Entry{}
	for _, e := range idx.Entries {
		old[e.Name] = e
	}
	var entries []*index.Entry
	dirs := map[string]bool{}
	var walk func(prefix string, es []treeEntry) error
	walk = func(prefix string, es []treeEntry) error {
		for _, te := range es {
			p := prefix + te.name
			if te.mode == filemode.Dir {
				sub, err := readTree(st, te.hash)
				if err != nil {
					return err
				}
				if err := walk(p+"/", sub); err != nil {
					return err
				}
				continue
			}
			full := filepath.Join(l.dir, filepath.FromSlash(p))
			fi, serr := os.Lstat(full)
			if e := old[p]; e != nil && e.Hash == te.hash && serr == nil && fi.Mode().IsRegular() && fi.Size() == int64(e.Size) {
				entries = append(entries, e)
				continue
			}
			content, err := readObject(st, te.hash, plumbing.BlobObject)
			if err != nil {
				return err
			}
			if disk, err := os.ReadFile(full); serr != nil || !fi.Mode().IsRegular() || err != nil || !bytes.Equal(disk, content) {
				if err := writeFileAtomic(full, content, dirs); err != nil {
					return err
				}
			}
			if fi, err = os.Stat(full); err != nil {
				return err
			}
			e := &index.Entry{Name: p}
			setEntry2(e, te.hash, fi)
			entries = append(entries, e)
		}
		return nil
	}
	if err := walk("", root); err != nil {
		return err
	}
	if err := syncDirs(dirs); err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	idx.Entries, idx.Cache, idx.ResolveUndo = entries, nil, nil
	return writeIndex(gitDir, idx)
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
