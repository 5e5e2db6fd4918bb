package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// TestTUIHomeBeforeVerifyInTmux opens a ledger of 200 records (made by
// ledger/internal/benchgen, its replay kept) in the built custos in
// tmux, with every byte the TUI writes to the terminal recorded
// (pipe-pane): Home is drawn from the kept replay marked "verifying…",
// and the mark becomes verify's result. A copy whose record 150 was
// replaced on disk (its kept replay still there, still matching the
// head) also shows Home marked first and ends as a failed verify, with
// no member or key shown as if it were so.
func TestTUIHomeBeforeVerifyInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (scripts/setup.sh installs it)")
	}
	dir := t.TempDir()
	bin, gen := filepath.Join(dir, "custos"), filepath.Join(dir, "benchgen")
	for out, pkg := range map[string]string{bin: ".", gen: "custos/ledger/internal/benchgen"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	// The kept replay's MAC key lives in the cache directory: benchgen
	// and the TUI share one, so the TUI opens from the replay benchgen kept.
	env := []string{"HOME=" + dir, "XDG_CACHE_HOME=" + filepath.Join(dir, "cache"), "NO_COLOR=1"}
	led := filepath.Join(dir, "L")
	cmd := exec.Command(gen, "200", led)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("benchgen: %v\n%s", err, out)
	}
	if m, _ := filepath.Glob(filepath.Join(led, ".git", "custos", "state-*")); len(m) != 1 {
		t.Fatalf("benchgen kept no replay: %v", m)
	}

	// The tampered copy: record 150's file replaced by record 151's bytes
	// (a well-formed object under the wrong id), the rest as it was.
	bad := filepath.Join(dir, "T")
	if out, err := exec.Command("cp", "-a", led, bad).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	object := func(path string) string {
		out, err := exec.Command("git", "-C", bad, "rev-parse", "HEAD:"+path).Output()
		if err != nil {
			t.Fatalf("git rev-parse %s: %v", path, err)
		}
		h := strings.TrimSpace(string(out))
		return filepath.Join(bad, ".git", "objects", h[:2], h[2:])
	}
	victim, other := object("records/00/01/000150.json"), object("records/00/01/000151.json")
	b, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, b, 0o444); err != nil {
		t.Fatal(err)
	}

	// The independent check: custos verify refuses the copy at that record.
	cmd = exec.Command(bin, "verify", bad)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "record 150") {
		t.Fatalf("custos verify of the tampered copy: %v\n%s", err, out)
	}

	open := func(name, ledger string, final ...string) (raw, screen string) {
		t.Helper()
		rec := filepath.Join(dir, name+".out")
		shell := fmt.Sprintf("cd %s && env %s TERM=xterm-256color %s tui %s; sleep 60", dir, strings.Join(env, " "), bin, ledger)
		// The pane starts on a shell that waits for the recorder to be
		// attached before it runs custos.
		gate := filepath.Join(dir, name+".go")
		tm := newTmux(t, "verify-"+name, 100, 40, fmt.Sprintf("while [ ! -e %s ]; do sleep 0.05; done; %s", gate, shell))
		tm.tmux("pipe-pane", "-t", "ui", "-o", "cat >> "+rec)
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		screen = tm.waitFor(name, final...)
		tm.keys("q")
		out, err := os.ReadFile(rec)
		if err != nil {
			t.Fatal(err)
		}
		return ansi.Strip(string(out)), screen
	}

	raw, screen := open("good", "L", "200 records · ✓ verified", "Members", "alice", "key-000000")
	if !strings.Contains(raw, "verifying…") {
		t.Errorf("Home was never drawn marked verifying…; the terminal got:\n%s", raw)
	}
	if strings.Contains(screen, "verifying…") {
		t.Errorf("the mark stayed after verify finished:\n%s", screen)
	}

	raw, screen = open("tampered", "T", "THIS LEDGER DOES NOT VERIFY", "✗ verify FAILED", "record 150")
	if !strings.Contains(raw, "verifying…") || !strings.Contains(raw, "Members") {
		t.Errorf("the tampered copy's Home was not drawn from its kept replay, marked, first; the terminal got:\n%s", raw)
	}
	for _, hidden := range []string{"Members", "verifying…", "✓ verified"} {
		if strings.Contains(screen, hidden) {
			t.Errorf("a failed verify still shows %q:\n%s", hidden, screen)
		}
	}
}
