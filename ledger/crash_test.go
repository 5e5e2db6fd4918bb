package ledger

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"custos/sign"
)

// TestCrashHelper is the child of TestCrashAtEveryStage: it appends one
// record and kills itself with SIGKILL at the stage named in
// CUSTOS_TEST_CRASH_AT. It does nothing in a normal test run.
func TestCrashHelper(t *testing.T) {
	stage := os.Getenv("CUSTOS_TEST_CRASH_AT")
	if stage == "" {
		return
	}
	crashHook = func(s string) {
		if s == stage {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	l, err := Open(os.Getenv("CUSTOS_TEST_LEDGER"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.LoadFile(os.Getenv("CUSTOS_TEST_KEY"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := l.Draft("hsm.enrolled", "crash", "alice", map[string]any{"hsm": map[string]any{"serial": "1"}}, t0.Add(3600e9))
	if _, err := l.Append(rec, s, nil); err != nil {
		t.Fatal(err)
	}
	t.Fatal("append finished without reaching the crash stage")
}

// TestCrashAtEveryStage kills a real child process at each stage of an
// append; the ledger is then before or after the record, never between,
// verifies, and takes the next append.
func TestCrashAtEveryStage(t *testing.T) {
	base := newFixture(t)
	for _, c := range []struct {
		stage string
		after int64
	}{{"objects", 1}, {"commit", 1}, {"ref", 2}, {"worktree", 2}} {
		t.Run(c.stage, func(t *testing.T) {
			f := *base
			f.dir = filepath.Join(t.TempDir(), "ledger")
			if err := os.CopyFS(f.dir, os.DirFS(base.dir)); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), "CUSTOS_TEST_CRASH_AT="+c.stage, "CUSTOS_TEST_LEDGER="+f.dir,
				"CUSTOS_TEST_KEY="+filepath.Join(base.keys, "alice"))
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed at %s: %v\n%s", c.stage, err, out)
			}
			res := mustVerify(t, f.dir, Options{})
			if res.Records != c.after {
				t.Fatalf("after a crash at %s: %d records, want %d", c.stage, res.Records, c.after)
			}
			f.open(t) // repairs a stale work tree
			f.now = t0.Add(7200e9)
			f.add(t, "hsm.enrolled", "after", "alice", nil)
			res = mustVerify(t, f.dir, Options{})
			if res.Records != c.after+1 {
				t.Fatalf("append after crash: %d records", res.Records)
			}
			if st := gitCmd(t, f.dir, "status", "--porcelain", "--untracked-files=no"); strings.TrimSpace(st) != "" {
				t.Fatalf("work tree after crash at %s:\n%s", c.stage, st)
			}
			signers := filepath.Join(f.dir, "allowed_signers")
			for _, r := range strings.Fields(gitCmd(t, f.dir, "rev-list", "HEAD")) {
				gitCmd(t, f.dir, "-c", "gpg.ssh.allowedSignersFile="+signers, "verify-commit", r)
			}
		})
	}
}
