package ledger

// One writer at a time. A ceremony holds custos.lock in the git
// directory from its first record to its close (Lock); an Append made
// without it takes it for that one append. The file says who holds it:
// pid, host, ceremony, since (and the process's start time, so that a
// reused pid is not taken for the holder). It is written complete to a
// temporary file and linked into place, so it is never seen empty, and
// the link fails when the file exists: the lock is exclusive.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"custos/internal/hint"
	"custos/ledger/internal/gitobj"
)

// lockFileName is the name of the writer's lock in the git directory.
const lockFileName = "custos.lock"

// DefaultLockWait is how long a writer waits for the ledger to be free:
// an Append made outside Lock, resume, sync.
const DefaultLockWait = 2 * time.Minute

// appendLockWait is DefaultLockWait (tests shorten it).
var appendLockWait = DefaultLockWait

// ErrLocked is returned (wrapped) when the ledger stayed in use for the
// whole wait.
var ErrLocked = errors.New("ledger in use")

// LockInfo is what custos.lock says.
type LockInfo struct {
	PID      int
	Host     string
	Ceremony string
	Since    time.Time
	Start    string // the process's start time (Linux), "" when unknown
}

func (i LockInfo) String() string {
	return fmt.Sprintf("ceremony %s, pid %d on %s, since %s", i.Ceremony, i.PID, i.Host, i.Since.Format(time.RFC3339))
}

func (i LockInfo) encode() []byte {
	return fmt.Appendf(nil, "custos ledger lock\npid: %d\nhost: %s\nceremony: %s\nsince: %s\nstart: %s\n",
		i.PID, i.Host, strings.ReplaceAll(i.Ceremony, "\n", " "), i.Since.UTC().Format(time.RFC3339Nano), i.Start)
}

func parseLockInfo(b []byte) (LockInfo, error) {
	var i LockInfo
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	if !sc.Scan() || sc.Text() != "custos ledger lock" {
		return i, errors.New("not a custos lock file")
	}
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		switch k {
		case "pid":
			i.PID, _ = strconv.Atoi(v)
		case "host":
			i.Host = v
		case "ceremony":
			i.Ceremony = v
		case "since":
			i.Since, _ = time.Parse(time.RFC3339Nano, v)
		case "start":
			i.Start = v
		}
	}
	if i.PID <= 0 || i.Host == "" || i.Since.IsZero() {
		return i, errors.New("incomplete custos lock file")
	}
	return i, nil
}

// held counts, per git directory, the Locks this process holds: the lock
// belongs to the process, and a Lock taken inside another is free.
var held = struct {
	sync.Mutex
	n    map[string]int
	info map[string]LockInfo
}{n: map[string]int{}, info: map[string]LockInfo{}}

// holds reports whether this process holds the lock of gitDir.
func holds(gitDir string) bool {
	held.Lock()
	defer held.Unlock()
	return held.n[gitDir] > 0
}

// Lock takes the ledger's writer lock for ceremony and holds it until
// unlock is called. While another process holds it, Lock says so once on
// progress ("ledger in use by ceremony X, pid N, since T — waiting") and
// waits up to wait, then fails with an error naming the holder (ErrLocked).
// A lock left by a process that is gone (same host, pid dead) is removed
// with a message on progress. Lock does not re-read the ledger: after it,
// call Refresh, since another writer may have appended meanwhile.
func (l *Ledger) Lock(ceremony string, wait time.Duration, progress io.Writer) (unlock func(), err error) {
	gitDir, _, err := gitDirs(l.dir)
	if err != nil {
		return nil, fmt.Errorf("lock ledger %s: %w", l.dir, err)
	}
	return lockGitDir(gitDir, ceremony, wait, progress)
}

// Refresh reads the ledger again when another writer moved its head
// since this Ledger read it.
func (l *Ledger) Refresh() error {
	ref, err := l.repo.Storer.Reference(branchRef)
	if err == nil && ref.Hash() == l.head {
		return nil
	}
	n, err := Open(l.dir)
	if err != nil {
		return err
	}
	noWorktree := l.noWorktree
	*l = *n
	l.noWorktree = noWorktree
	return nil
}

func lockGitDir(gitDir, ceremony string, wait time.Duration, progress io.Writer) (func(), error) {
	if progress == nil {
		progress = io.Discard
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown"
	}
	me := LockInfo{PID: os.Getpid(), Host: host, Ceremony: ceremony, Start: procStart(os.Getpid())}
	path := filepath.Join(gitDir, lockFileName)
	deadline := time.Now().Add(wait)
	said := false
	for {
		// Under held's mutex: a goroutine of this process that finds the
		// file names this pid then also finds it in held.
		held.Lock()
		if held.n[gitDir] > 0 {
			held.n[gitDir]++
			held.Unlock()
			return sync.OnceFunc(func() { release(gitDir) }), nil
		}
		me.Since = time.Now().UTC()
		err := linkLock(path, me.encode())
		if err == nil {
			held.n[gitDir]++
			held.info[gitDir] = me
		}
		held.Unlock()
		if err == nil {
			return sync.OnceFunc(func() { release(gitDir) }), nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock ledger: %w", err)
		}
		other, stale, why := inspectLock(gitDir, path, host)
		if stale {
			if clearStale(gitDir, path, other, why, progress) {
				continue
			}
		}
		if other == nil { // vanished meanwhile, or unreadable and young
			other = &LockInfo{Ceremony: "unknown"}
		}
		if time.Now().After(deadline) {
			return nil, hint.With(fmt.Errorf("%w: ledger %s is in use by %s; gave up after %s", ErrLocked, filepath.Dir(gitDir), other, wait),
				"wait for that ceremony to close and try again; if its process is gone (another host), remove "+path)
		}
		if !said && other.PID != 0 {
			fmt.Fprintf(progress, "ledger in use by ceremony %s, pid %d, since %s — waiting (up to %s)\n", other.Ceremony, other.PID, other.Since.Format(time.RFC3339), wait)
			said = true
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// linkLock writes content to a temporary file and links it to path: the
// link fails (fs.ErrExist) when path exists.
func linkLock(path string, content []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), lockFileName+".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := gitobj.WriteSynced(f, content); err != nil {
		return err
	}
	if err := os.Link(f.Name(), path); err != nil {
		return err
	}
	return gitobj.SyncDir(filepath.Dir(path))
}

// inspectLock reads the lock at path: its holder, and whether it is
// stale (the holder is gone) and why.
func inspectLock(gitDir, path, host string) (*LockInfo, bool, string) {
	b, err := readSmall(path, maxSmallFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, ""
	}
	if err == nil {
		if i, perr := parseLockInfo(b); perr == nil {
			switch {
			case i.Host != host:
				return &i, false, "" // another host: it cannot be checked
			case i.PID == os.Getpid() && (i.Start == "" || i.Start == procStart(i.PID)):
				if holds(gitDir) {
					return &i, false, ""
				}
				return &i, true, "this process no longer holds it"
			case !pidAlive(i.PID):
				return &i, true, fmt.Sprintf("pid %d is gone", i.PID)
			case i.Start != "" && procStart(i.PID) != "" && procStart(i.PID) != i.Start:
				return &i, true, fmt.Sprintf("pid %d is another process now", i.PID)
			}
			return &i, false, ""
		}
	}
	// Not a lock custos wrote: stale once it is old.
	if fi, serr := os.Lstat(path); serr == nil && time.Since(fi.ModTime()) > StaleGitLock {
		return nil, true, "it is unreadable and " + time.Since(fi.ModTime()).Round(time.Second).String() + " old"
	}
	return nil, false, ""
}

// clearStale removes the stale lock at path, and the lock files of git
// its holder left (a ref or the index it was writing when it died),
// saying so on progress. It reports whether it removed the lock.
func clearStale(gitDir, path string, who *LockInfo, why string, progress io.Writer) bool {
	// Move it aside first: of two processes clearing the same stale lock,
	// only one wins the rename, and neither removes a fresh lock.
	aside := fmt.Sprintf("%s.stale-%d", path, os.Getpid())
	if err := os.Rename(path, aside); err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	b, _ := os.ReadFile(aside)
	if i, err := parseLockInfo(b); who != nil && (err != nil || i != *who) {
		// Not the lock we judged: a new holder took it in between.
		if os.Link(aside, path) == nil {
			os.Remove(aside)
			return false
		}
	}
	os.Remove(aside)
	desc := "an unreadable lock"
	if who != nil {
		desc = who.String()
	}
	fmt.Fprintf(progress, "custos: removed the stale ledger lock %s (%s): %s\n", path, desc, why)
	// Temporary files of lock-takers killed before their link.
	if tmps, err := filepath.Glob(filepath.Join(gitDir, lockFileName+".*")); err == nil {
		for _, p := range tmps {
			if fi, err := os.Lstat(p); err == nil && time.Since(fi.ModTime()) > time.Minute {
				os.Remove(p)
			}
		}
	}
	if who == nil {
		return true
	}
	commonDir := commonOf(gitDir)
	for _, p := range []string{
		filepath.Join(gitDir, "index.lock"), filepath.Join(gitDir, "HEAD.lock"),
		refPath(gitDir, commonDir, branchRef) + ".lock", refPath(gitDir, commonDir, sharedRef) + ".lock",
	} {
		// Only those made while it held the ledger: stock git's are its own.
		if fi, err := os.Lstat(p); err == nil && !fi.ModTime().Before(who.Since.Add(-time.Second)) {
			if os.Remove(p) == nil {
				fmt.Fprintf(progress, "custos: removed %s, left by the same process\n", p)
			}
		}
	}
	return true
}

// release drops one hold of gitDir's lock; the last removes the file if
// it is still this process's.
func release(gitDir string) {
	held.Lock()
	defer held.Unlock()
	held.n[gitDir]--
	if held.n[gitDir] > 0 {
		return
	}
	me := held.info[gitDir]
	delete(held.n, gitDir)
	delete(held.info, gitDir)
	path := filepath.Join(gitDir, lockFileName)
	if b, err := os.ReadFile(path); err == nil {
		if i, err := parseLockInfo(b); err == nil && i == me {
			os.Remove(path)
			gitobj.SyncDir(gitDir)
		}
	}
}
