// Creating a ledger (its genesis record, its first commit) and opening
// one: the repository found, its records replayed into a State.

package ledger

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"custos/internal/hint"
	"custos/ledger/internal/gitobj"
	"custos/sign"
)

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
	rec := &Record{Version: recordVersion, Seq: 1, Time: t.UTC().Truncate(time.Second), Ledger: o.ledger,
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
	if err := gitobj.SyncDir(filepath.Dir(final)); err != nil {
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

// Open opens the ledger in dir and replays it. It checks the chain and
// the rules but not signatures: use Verify for that.
func Open(dir string) (*Ledger, error) { return OpenEach(dir, nil) }

// OpenEach is Open that also hands each record and its digest, once
// checked and replayed, to each (when not nil), so that a reader of every
// record (inventory, report, log) reads the ledger once.
func OpenEach(dir string, each func(rec *Record, digest string) error) (*Ledger, error) {
	return open(dir, each, true)
}

// openNoKeep is Open that writes no kept state: for a command that
// promises to write nothing when it refuses (push, sync), the replay it
// reaches is not kept (a kept state it finds is used).
func openNoKeep(dir string) (*Ledger, error) { return open(dir, nil, false) }

func open(dir string, each func(rec *Record, digest string) error, keepIt bool) (*Ledger, error) {
	repo, err := openRepo(dir)
	if err != nil {
		return nil, hint.With(fmt.Errorf("open ledger %s: %w", dir, err), "a ledger is a git repository made by custos init")
	}
	ref, err := repo.Storer.Reference(branchRef)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: no %s branch: %w", dir, branchRef.Short(), err)
	}
	l := &Ledger{dir: dir, repo: repo, head: ref.Hash(), state: newState()}
	if err := l.replay(each, keepIt); err != nil {
		var e eachError
		if errors.As(err, &e) {
			return nil, e.error
		}
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	if err := l.syncWorktreeIfStale(); err != nil {
		return nil, err
	}
	return l, nil
}

// replay replays the records at the head into l.state: from the kept
// state of the head or of a commit it extends (kept.go), when there is
// one, and then only the records after it; each (when not nil) is handed
// every record, so it replays them all. A replay that read records keeps
// its state for the next Open.
func (l *Ledger) replay(each func(rec *Record, digest string) error, keepIt bool) error {
	top, err := l.recordsDir(l.head)
	if err != nil {
		return err
	}
	key := keptKeyOf()
	from := int64(1)
	if each == nil {
		if s := l.loadKept(top, key); s != nil {
			l.state, from = s, s.Seq+1
		}
	}
	for r, err := range l.recordsFrom(top, from) {
		if err != nil {
			return err
		}
		rec, d := r.rec, r.digest
		if _, _, err := l.state.authorize(rec); err != nil {
			return fmt.Errorf("record %d: %w", rec.Seq, err)
		}
		if err := l.state.apply(rec, d); err != nil {
			return fmt.Errorf("record %d: %w", rec.Seq, err)
		}
		l.replayed++
		if each != nil {
			if err := each(rec, d); err != nil {
				return eachError{err}
			}
		}
	}
	if l.state.Seq == 0 {
		return errors.New("no records")
	}
	if l.replayed > 0 && keepIt {
		l.saveKept(key)
	}
	return nil
}

// eachError is an error of OpenEach's each, returned as it is.
type eachError struct{ error }

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
