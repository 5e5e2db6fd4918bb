package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"custos/sign"
)

// TestDurableChild is the child process of the tests below; it does
// nothing in a normal test run. CUSTOS_DURABLE_CHILD says what it does
// to the ledger in CUSTOS_TEST_LEDGER, with the keys in CUSTOS_TEST_KEYS:
//
//	append    one record (hsm.enrolled, ceremony CUSTOS_TEST_CEREMONY),
//	          then exit at once: the kill test counts its system calls
//	stream    CUSTOS_TEST_N records, one ceremony each
//	ceremony  a ceremony of two records under Lock, pausing between them
//	intent    a key generation (intent, outcome, close) under Lock,
//	          pausing while the intent is open
//	resume    what resume does: Lock, Refresh, then report the open
//	          intent it would settle, if any
func TestDurableChild(t *testing.T) {
	mode := os.Getenv("CUSTOS_DURABLE_CHILD")
	if mode == "" {
		return
	}
	dir, keys, cer := os.Getenv("CUSTOS_TEST_LEDGER"), os.Getenv("CUSTOS_TEST_KEYS"), os.Getenv("CUSTOS_TEST_CEREMONY")
	f := &fixture{dir: dir, keys: keys, signers: map[string]sign.Signer{}}
	for _, n := range []string{"alice", "carol", "dave"} {
		s, err := sign.LoadFile(filepath.Join(keys, n), nil)
		if err != nil {
			t.Fatal(err)
		}
		f.signers[n] = s
	}
	f.open(t)
	f.now = f.l.State().Time
	switch mode {
	case "append":
		// One thread makes every system call of the append, so that
		// strace's count (per thread) walks through them in order.
		runtime.LockOSThread()
		f.add(t, "hsm.enrolled", cer, "alice", map[string]any{"hsm": map[string]any{"serial": "1"}})
		os.Exit(0)
	case "stream":
		n, _ := strconv.Atoi(os.Getenv("CUSTOS_TEST_N"))
		for i := range n {
			f.add(t, "hsm.enrolled", fmt.Sprintf("%s-%d", cer, i), "alice", map[string]any{"hsm": map[string]any{"serial": strconv.Itoa(i)}})
		}
	case "ceremony", "intent":
		unlock, err := f.l.Lock(cer, 30*time.Second, os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.l.Refresh(); err != nil {
			t.Fatal(err)
		}
		if f.now.Before(f.l.State().Time) {
			f.now = f.l.State().Time
		}
		var first *Record
		if mode == "ceremony" {
			first = f.add(t, "hsm.enrolled", cer, "alice", map[string]any{"hsm": map[string]any{"serial": cer}})
			time.Sleep(100 * time.Millisecond)
		} else {
			first = f.add(t, "key.generate.intent", cer, "alice", map[string]any{"key_id": cer, "label": cer, "type": "aes-256"}, "carol")
			time.Sleep(300 * time.Millisecond)
			f.add(t, "key.generated", cer, "alice", map[string]any{})
		}
		last := f.add(t, "ceremony.closed", cer, "alice", nil)
		unlock()
		fmt.Printf("records %d %d\n", first.Seq, last.Seq)
	case "resume":
		unlock, err := f.l.Lock("resume", 30*time.Second, os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		if err := f.l.Refresh(); err != nil {
			t.Fatal(err)
		}
		if oi := f.l.State().OpenIntent; oi != nil {
			fmt.Printf("would settle %s of %s\n", oi.Kind, oi.Ceremony)
		} else {
			fmt.Printf("nothing to resume\n")
		}
	default:
		t.Fatalf("unknown child mode %q", mode)
	}
}

// child returns the command for a TestDurableChild in mode on f's ledger.
func child(f *fixture, mode, cer string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurableChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{"CUSTOS_DURABLE_CHILD=" + mode, "CUSTOS_TEST_LEDGER=" + f.dir,
		"CUSTOS_TEST_KEYS=" + f.keys, "CUSTOS_TEST_CEREMONY=" + cer}, env...)...)
	return cmd
}

// fsck runs stock git fsck --strict on dir; "" when it is clean.
func fsck(dir string) string {
	cmd := exec.Command("git", "-C", dir, "fsck", "--strict", "--no-progress")
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	// Objects left by an append killed before its ref moved are dangling:
	// unreachable, which fsck reports and git gc collects; not an error.
	var bad []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.HasPrefix(l, "dangling ") {
			bad = append(bad, l)
		}
	}
	if err != nil || len(bad) > 0 {
		return fmt.Sprintf("%v: %s", err, strings.Join(bad, "; "))
	}
	return ""
}

// TestKillAtEverySyscall kills a real child process, under strace, at
// each write, fsync, rename (and link) and unlink of an append in turn (the Nth call, for
// N = 1, 2, … until the append completes): after each kill the ledger
// opens, verifies, passes git fsck --strict, is at the old head or the
// new one, and takes the next append.
func TestKillAtEverySyscall(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatal("strace is not installed (scripts/setup.sh installs it)")
	}
	if testing.Short() {
		t.Skip("slow: one child process per kill point")
	}
	base := newFixture(t)
	oldSeq := base.l.State().Seq
	for _, c := range []struct{ name, syscalls string }{
		{"write", "write,pwrite64,writev"},
		{"fsync", "fsync,fdatasync"},
		{"rename", "rename,renameat,renameat2,link,linkat"},
		{"unlink", "unlink,unlinkat"},
	} {
		points, consistent, atNew := 0, 0, 0
		for n := 1; ; n++ {
			if n > 2000 {
				t.Fatalf("%s: the append did not complete after %d kills", c.name, n)
			}
			f := copyFixture(t, base)
			cmd := exec.Command("strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace="+c.syscalls,
				"-e", fmt.Sprintf("inject=%s:signal=SIGKILL:when=%d", c.syscalls, n),
				os.Args[0], "-test.run=^TestDurableChild$", "-test.count=1")
			cmd.Env = child(f, "append", "kill").Env
			out, err := cmd.CombinedOutput()
			if err == nil {
				break // no Nth call: the append completed
			}
			if !strings.Contains(err.Error(), "killed") && !strings.Contains(err.Error(), "137") {
				t.Fatalf("%s %d: child failed otherwise: %v\n%s", c.name, n, err, out)
			}
			points++
			msg := killCheck(t, f, oldSeq)
			if msg == "" {
				consistent++
			} else {
				t.Errorf("%s: kill at call %d: %s", c.name, n, msg)
			}
			if f.l != nil && f.l.State().Seq == oldSeq+2 {
				atNew++
			}
		}
		t.Logf("append: %d kill points (%s), %d consistent (%d left the new record, %d the old head)", points, c.name, consistent, atNew, points-atNew)
		fmt.Printf("append: %d kill points (%s), %d consistent\n", points, c.name, consistent)
		if points == 0 {
			t.Errorf("%s: no kill point: strace injected nothing", c.name)
		}
	}
}

// killCheck checks f's ledger after a kill of an append on a ledger of
// oldSeq records: "" when all is well.
func killCheck(t *testing.T, f *fixture, oldSeq int64) string {
	var msgs bytes.Buffer
	lockMessages = &msgs
	defer func() { lockMessages = os.Stderr }()
	res := Verify(f.dir, Options{})
	if !res.OK {
		return "does not verify: " + res.Err().Error()
	}
	if res.Records != oldSeq && res.Records != oldSeq+1 {
		return fmt.Sprintf("%d records, want %d or %d", res.Records, oldSeq, oldSeq+1)
	}
	if m := fsck(f.dir); m != "" {
		return "git fsck --strict: " + m
	}
	l, err := Open(f.dir) // clears the dead writer's lock, repairs the work tree
	if err != nil {
		return "open: " + err.Error()
	}
	if l.State().Seq != res.Records {
		return fmt.Sprintf("open sees %d records, verify %d", l.State().Seq, res.Records)
	}
	f.l, f.now = l, l.State().Time
	if _, err := f.try("hsm.enrolled", "after-kill", "alice", map[string]any{"hsm": map[string]any{"serial": "2"}}); err != nil {
		return "next append: " + err.Error()
	}
	if res := Verify(f.dir, Options{}); !res.OK || res.Records != l.State().Seq {
		return fmt.Sprintf("after the next append: %v", res.Err())
	}
	if m := fsck(f.dir); m != "" {
		return "git fsck --strict after the next append: " + m
	}
	if st := gitCmd(t, f.dir, "status", "--porcelain", "--untracked-files=no"); strings.TrimSpace(st) != "" {
		return "work tree after the next append:\n" + st
	}
	return ""
}

// TestReadersDuringAppends runs Open and Verify in a loop while another
// process appends 120 records: no reader ever fails.
func TestReadersDuringAppends(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	f := newFixture(t)
	cmd := child(f, "stream", "stream", "CUSTOS_TEST_N=120")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var mu sync.Mutex
	var failures []string
	reads, seen := 0, map[int64]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				var n int64
				if r == 0 {
					var l *Ledger
					if l, err = Open(f.dir); err == nil {
						n = l.State().Seq
					}
				} else {
					res := Verify(f.dir, Options{})
					err, n = res.Err(), res.Records
				}
				mu.Lock()
				reads++
				seen[n] = true
				if err != nil {
					failures = append(failures, err.Error())
				}
				mu.Unlock()
			}
		}()
	}
	err := <-done
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("writer: %v\n%s", err, out.String())
	}
	res := mustVerify(t, f.dir, Options{})
	t.Logf("%d reads (Open and Verify) during 120 appends, %d distinct heads seen, %d failures", reads, len(seen), len(failures))
	fmt.Printf("readers: %d reads during 120 appends, %d heads seen, %d failures\n", reads, len(seen), len(failures))
	if len(failures) > 0 {
		t.Fatalf("%d readers failed, first: %s", len(failures), failures[0])
	}
	if res.Records != 1+120 {
		t.Fatalf("%d records, want %d", res.Records, 1+120)
	}
}

// TestTwoWriters starts two ceremonies in two processes together, 20
// times: the second waits for the first to close, then appends after it;
// never a fork, never a lost record.
func TestTwoWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	f := newFixture(t)
	waited := 0
	for round := range 20 {
		before := Verify(f.dir, Options{}).Records
		var cmds [2]*exec.Cmd
		var outs, errs [2]bytes.Buffer
		for i := range cmds {
			cmds[i] = child(f, "ceremony", fmt.Sprintf("w%d-%d", round, i))
			cmds[i].Stdout, cmds[i].Stderr = &outs[i], &errs[i]
		}
		for _, c := range cmds {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		var spans [2][2]int64
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("round %d writer %d: %v\n%s%s", round, i, err, outs[i].String(), errs[i].String())
			}
			if _, err := fmt.Sscanf(outs[i].String(), "records %d %d", &spans[i][0], &spans[i][1]); err != nil {
				t.Fatalf("round %d writer %d: %q", round, i, outs[i].String())
			}
			if strings.Contains(errs[i].String(), "— waiting") {
				waited++
			}
		}
		// Each ceremony's records are contiguous, one after the other.
		a, b := spans[0], spans[1]
		if a[0] > b[0] {
			a, b = b, a
		}
		if a[0] != before+1 || a[1] != a[0]+1 || b[0] != a[1]+1 || b[1] != b[0]+1 {
			t.Fatalf("round %d: records %v and %v after %d", round, spans[0], spans[1], before)
		}
		res := mustVerify(t, f.dir, Options{})
		if res.Records != before+4 {
			t.Fatalf("round %d: %d records, want %d", round, res.Records, before+4)
		}
		if n := strings.Count(gitCmd(t, f.dir, "rev-list", "--all"), "\n"); int64(n) != res.Records {
			t.Fatalf("round %d: %d commits in the repository, %d records: a fork", round, n, res.Records)
		}
	}
	if m := fsck(f.dir); m != "" {
		t.Fatal(m)
	}
	t.Logf("20 rounds of two writers: no fork, no lost record; the second said it waited in %d rounds", waited)
	fmt.Printf("two writers: 20 rounds, 80 records, no fork; the second waited in %d rounds\n", waited)
	if waited < 10 {
		t.Errorf("the second writer waited in only %d of 20 rounds", waited)
	}
}

// TestResumeWaitsForLiveCeremony starts a ceremony that keeps an intent
// open for a while and, during it, what resume does: resume waits for the
// lock and finds nothing to settle.
func TestResumeWaitsForLiveCeremony(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	f := newFixture(t)
	f.add(t, "hsm.enrolled", "enrol", "alice", map[string]any{"hsm": testHSM})
	for round := range 5 {
		w := child(f, "intent", fmt.Sprintf("k%d", round))
		var wout bytes.Buffer
		w.Stdout, w.Stderr = &wout, &wout
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		// Resume once the intent is on the ledger, while it is open.
		deadline := time.Now().Add(20 * time.Second)
		for {
			l, err := Open(f.dir)
			if err == nil && l.State().OpenIntent != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the intent never appeared: %v\n%s", err, wout.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		r := child(f, "resume", "resume")
		var rout, rerr bytes.Buffer
		r.Stdout, r.Stderr = &rout, &rerr
		if err := r.Run(); err != nil {
			t.Fatalf("resume: %v\n%s%s", err, rout.String(), rerr.String())
		}
		if err := w.Wait(); err != nil {
			t.Fatalf("writer: %v\n%s", err, wout.String())
		}
		if !strings.Contains(rout.String(), "nothing to resume") || !strings.Contains(rerr.String(), "ledger in use by ceremony k") {
			t.Fatalf("round %d: resume said %q, %q", round, rout.String(), rerr.String())
		}
	}
	mustVerify(t, f.dir, Options{})
}

// writeLock writes a custos.lock naming pid (and its start time).
func writeLock(t *testing.T, dir string, pid int, cer string, since time.Time) string {
	t.Helper()
	host, _ := os.Hostname()
	p := filepath.Join(dir, ".git", lockFileName)
	i := LockInfo{PID: pid, Host: host, Ceremony: cer, Since: since, Start: procStart(pid)}
	if err := os.WriteFile(p, i.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStaleLock: a lock whose process is gone is removed with a message,
// with the ref lock that process left; the append goes on.
func TestStaleLock(t *testing.T) {
	f := newFixture(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Minute)
	p := writeLock(t, f.dir, dead.Process.Pid, "gen-dead", since)
	refLock := filepath.Join(f.dir, ".git", "refs", "heads", "main.lock")
	if err := os.WriteFile(refLock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var msgs bytes.Buffer
	unlock, err := f.l.Lock("next", time.Second, &msgs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msgs.String(), "removed the stale ledger lock") || !strings.Contains(msgs.String(), "gen-dead") ||
		!strings.Contains(msgs.String(), fmt.Sprintf("pid %d is gone", dead.Process.Pid)) || !strings.Contains(msgs.String(), "main.lock") {
		t.Fatalf("message: %q", msgs.String())
	}
	b, _ := os.ReadFile(p)
	if i, err := parseLockInfo(b); err != nil || i.PID != os.Getpid() || i.Ceremony != "next" {
		t.Fatalf("lock now: %q", b)
	}
	f.add(t, "hsm.enrolled", "next", "alice", map[string]any{"hsm": testHSM})
	unlock()
	if exists(p) {
		t.Fatal("unlock left custos.lock")
	}
	// A lock file of stock git older than StaleGitLock goes too.
	if err := os.WriteFile(refLock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-StaleGitLock - time.Minute)
	os.Chtimes(refLock, old, old)
	lockMessages = &msgs
	defer func() { lockMessages = os.Stderr }()
	f.add(t, "hsm.enrolled", "next-2", "alice", map[string]any{"hsm": map[string]any{"serial": "9"}})
	if !strings.Contains(msgs.String(), "removed the stale lock file "+refLock) {
		t.Fatalf("message: %q", msgs.String())
	}
	// A young one of stock git: the append waits, then names it.
	if err := os.WriteFile(refLock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	gitLockWait = 200 * time.Millisecond
	defer func() { gitLockWait = 2 * time.Second }()
	_, err = f.try("hsm.enrolled", "next-3", "alice", map[string]any{"hsm": map[string]any{"serial": "8"}})
	if err == nil || !strings.Contains(err.Error(), "main.lock exists: another git process") {
		t.Fatalf("append with git's lock held: %v", err)
	}
	os.Remove(refLock)
	mustVerify(t, f.dir, Options{})
}

// TestLiveLock: a lock held by a live process makes a second writer say
// so, wait, and fail after the bound naming the ceremony, pid and time.
func TestLiveLock(t *testing.T) {
	f := newFixture(t)
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	since := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	writeLock(t, f.dir, sleeper.Process.Pid, "gen-live", since)
	var msgs bytes.Buffer
	start := time.Now()
	_, err := f.l.Lock("second", 500*time.Millisecond, &msgs)
	if took := time.Since(start); took < 500*time.Millisecond || took > 5*time.Second {
		t.Fatalf("waited %s", took)
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock: %v", err)
	}
	pid := strconv.Itoa(sleeper.Process.Pid)
	for _, s := range []string{"gen-live", "pid " + pid, since.Format(time.RFC3339), "gave up after 500ms"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	want := "ledger in use by ceremony gen-live, pid " + pid + ", since " + since.Format(time.RFC3339) + " — waiting"
	if !strings.HasPrefix(msgs.String(), want) || strings.Count(msgs.String(), "\n") != 1 {
		t.Fatalf("progress: %q, want %q", msgs.String(), want)
	}
	// An append outside Lock waits too, and its error names the holder.
	appendLockWait = 200 * time.Millisecond
	defer func() { appendLockWait = DefaultLockWait }()
	if _, err := f.try("hsm.enrolled", "third", "alice", map[string]any{"hsm": testHSM}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "gen-live") {
		t.Fatalf("append: %v", err)
	}
	// Once the holder is gone, its lock is cleared.
	sleeper.Process.Kill()
	sleeper.Wait()
	msgs.Reset()
	unlock, err := f.l.Lock("second", time.Second, &msgs)
	if err != nil || !strings.Contains(msgs.String(), "is gone") {
		t.Fatalf("after the holder died: %v %q", err, msgs.String())
	}
	unlock()
}

// TestPackedRefs: a main branch only in packed-refs is read and appended to.
func TestPackedRefs(t *testing.T) {
	f := newFixture(t)
	gitCmd(t, f.dir, "pack-refs", "--all")
	if exists(filepath.Join(f.dir, ".git", "refs", "heads", "main")) {
		t.Fatal("git pack-refs left the loose ref")
	}
	f.open(t)
	f.add(t, "hsm.enrolled", "packed", "alice", map[string]any{"hsm": testHSM})
	res := mustVerify(t, f.dir, Options{})
	if res.Records != 2 {
		t.Fatalf("%d records", res.Records)
	}
	// A stale Ledger still sees that the packed head moved.
	g := copyFixture(t, f)
	gitCmd(t, g.dir, "pack-refs", "--all")
	stale, err := Open(g.dir)
	if err != nil {
		t.Fatal(err)
	}
	g.add(t, "hsm.enrolled", "packed-2", "alice", map[string]any{"hsm": map[string]any{"serial": "2"}})
	g.l = stale
	if _, err := g.try("hsm.enrolled", "packed-3", "alice", map[string]any{"hsm": map[string]any{"serial": "3"}}); !errors.Is(err, ErrHeadMoved) {
		t.Fatalf("append on a stale head: %v", err)
	}
	if m := fsck(g.dir); m != "" {
		t.Fatal(m)
	}
}
