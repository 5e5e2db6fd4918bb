package gitobj

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitCmd runs stock git in dir, without the user's or the system's
// config, and returns what it printed.
func gitCmd(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.org", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// history makes a repository with stock git: n commits on main, each
// adding a file in nested folders (as a ledger's records/) and growing
// one file, so that git gc --aggressive stores deltas.
func history(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	gitCmd(t, dir, "init", "-q", "-b", "main")
	var log strings.Builder
	for i := 1; i <= n; i++ {
		p := filepath.Join(dir, "records", fmt.Sprintf("%02d", i/10), fmt.Sprintf("%06d.json", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&log, "line %d of a file that grows with every commit, so that it is stored as deltas\n", i)
		for name, content := range map[string]string{p: fmt.Sprintf(`{"seq":%d}`, i), filepath.Join(dir, "LEDGER.md"): log.String()} {
			if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		gitCmd(t, dir, "add", "-A")
		gitCmd(t, dir, "commit", "-q", "-m", fmt.Sprintf("record %d", i))
	}
	return dir
}
