package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"custos/hsm/hsmtest"
	"custos/ledger"
)

// tmuxTerm is a real terminal: a tmux server of this test alone (its own
// socket), one 80×24 window running the built custos binary.
type tmuxTerm struct {
	t       *testing.T
	socket  string
	shots   map[string]string
	secrets []string
}

// newTmux starts shell in a tmux server of its own (socket custos-NAME-PID),
// in a w×h terminal, killed when the test ends; a capture showing any of
// secrets fails the test.
func newTmux(t *testing.T, name string, w, h int, shell string, secrets ...string) *tmuxTerm {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (scripts/setup.sh installs it)")
	}
	tm := &tmuxTerm{t: t, socket: fmt.Sprintf("custos-%s-%d", name, os.Getpid()), shots: map[string]string{}, secrets: secrets}
	t.Cleanup(func() { exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	tm.tmux("-f", "/dev/null", "new-session", "-d", "-s", "ui", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), shell)
	return tm
}

func (tm *tmuxTerm) tmux(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (tm *tmuxTerm) capture() string {
	tm.t.Helper()
	s := tm.tmux("capture-pane", "-p", "-t", "ui")
	for _, sec := range tm.secrets {
		if strings.Contains(s, sec) {
			tm.t.Fatalf("a PIN shows on the screen:\n%s", s)
		}
	}
	return s
}

// keys sends tmux key names; text sends literal text.
func (tm *tmuxTerm) keys(k ...string) {
	tm.t.Helper()
	for _, x := range k {
		tm.tmux("send-keys", "-t", "ui", x)
		time.Sleep(120 * time.Millisecond)
	}
}

func (tm *tmuxTerm) text(s string) {
	tm.t.Helper()
	tm.tmux("send-keys", "-t", "ui", "-l", s)
	time.Sleep(120 * time.Millisecond)
}

// waitFor polls the screen until it shows every want; shot names the
// capture kept for docs/screens.
func (tm *tmuxTerm) waitFor(shot string, want ...string) string {
	tm.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := tm.capture()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			if shot != "" {
				tm.shots[shot] = s
			}
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("screen never showed %q; it shows:\n%s", want, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// present brings alice (key file alice) and bob (bob) to the keyboard on
// the people screen until everyone needed is present; shot names the
// capture of the last screen.
func (tm *tmuxTerm) present(shot string) {
	tm.t.Helper()
	tm.waitFor("", "Who is present")
	tm.keys("Enter")
	tm.text("alice")
	tm.keys("Enter")
	tm.waitFor("", "alice is present")
	tm.keys("Down", "Enter")
	tm.text("bob")
	tm.keys("Enter")
	tm.waitFor(shot, "bob is present", "Everyone needed is present")
}

// tickAll ticks the checklist of the current step, then goes on.
func (tm *tmuxTerm) tickAll() {
	tm.t.Helper()
	for range 10 {
		if !strings.Contains(tm.capture(), "→ now:") {
			break
		}
		tm.keys("Space")
	}
	tm.keys("Enter")
}

// TestTUIInTmux runs the built custos in tmux against a SoftHSM token and
// a ledger made here, drives a generate ceremony (PIN typed at the masked
// prompt) and a destroy ceremony with two people by send-keys, and checks
// the screens, that no PIN is ever on screen, that the ledger verifies
// and that it holds the same kinds and facts as the scripted run of the
// same ceremonies.
func TestTUIInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (scripts/setup.sh installs it)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "custos")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	custos := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("custos %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	for _, n := range []string{"alice", "bob"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", n, "-f", filepath.Join(dir, n)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub := func(n string) string {
		b, _ := os.ReadFile(filepath.Join(dir, n+".pub"))
		return strings.TrimSpace(string(b))
	}
	roster := fmt.Sprintf(`members:
  - name: alice
    roles: [custodian]
    key: %s
  - name: bob
    roles: [officer]
    key: %s
policy:
  approvals:
    key.generate.intent: {roles: [officer], count: 1}
    key.destroy.intent: {roles: [officer], count: 1}
`, pub("alice"), pub("bob"))
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("roster.yaml", roster)
	gen := func(uri string) string {
		return fmt.Sprintf("kind: generate\nceremony: kek-2026\nhsm: %q\noperator: alice\nwitnesses: [bob]\nkey:\n  label: kek-2026\n  type: aes-256\n  owner: payments\n  purpose: wraps the payment data keys\n  rotation: 1y\n", uri)
	}
	enroll := func(uri string) string {
		return fmt.Sprintf("kind: enroll\nhsm: %q\noperator: alice\n", uri)
	}
	destroy := func(uri, confirm string) string {
		return fmt.Sprintf("kind: destroy\nceremony: kek-destroy\nhsm: %q\noperator: alice\ndestroy:\n  key: kek-2026\n  reason: superseded\n%s", uri, confirm)
	}

	// The scripted run: the reference the TUI must match.
	ref, err := hsmtest.NewStandalone(filepath.Join(dir, "ref-hsm"), "ref-token")
	if err != nil {
		t.Fatal(err)
	}
	refEnv := []string{"SOFTHSM2_CONF=" + ref.Conf, "NO_COLOR=1", "HOME=" + dir}
	custos(refEnv, "init", "REF", "--roster", "roster.yaml", "--key", "alice=alice", "--key", "bob=bob")
	// The ledger names only enrolled HSMs: each token is enrolled first.
	write("ref-enroll.yaml", enroll(ref.URI))
	custos(refEnv, "run", "ref-enroll.yaml", "--ledger", "REF", "--key", "alice=alice")
	write("ref-gen.yaml", gen(ref.URI))
	write("ref-destroy.yaml", destroy(ref.URI, "  confirm: kek-2026\n"))
	custos(refEnv, "run", "ref-gen.yaml", "--ledger", "REF", "--key", "alice=alice", "--key", "bob=bob")
	custos(refEnv, "run", "ref-destroy.yaml", "--ledger", "REF", "--key", "alice=alice", "--key", "bob=bob")

	// The TUI run, on its own token; the URI has no pin-source, so the
	// PIN is typed into the TUI's masked field.
	tok, err := hsmtest.NewStandalone(filepath.Join(dir, "hsm"), "tui-token")
	if err != nil {
		t.Fatal(err)
	}
	pinB, _ := os.ReadFile(tok.UserPINFile)
	pin := strings.TrimSpace(string(pinB))
	uri, _, _ := strings.Cut(tok.URI, "&pin-source")
	env := []string{"SOFTHSM2_CONF=" + tok.Conf, "NO_COLOR=1", "HOME=" + dir}
	custos(env, "init", "L", "--roster", "roster.yaml", "--key", "alice=alice", "--key", "bob=bob")
	write("enroll.yaml", enroll(tok.URI))
	custos(env, "run", "enroll.yaml", "--ledger", "L", "--key", "alice=alice")
	write("gen.yaml", gen(uri))
	write("destroy.yaml", destroy(uri, ""))

	shell := fmt.Sprintf("cd %s && env %s TERM=xterm-256color %s tui L; sleep 60", dir, strings.Join(env, " "), bin)
	tm := newTmux(t, "test", 80, 24, shell, pin)

	tm.waitFor("home-empty", "Members", "alice", "custodian", "bob", "officer", "none yet")
	tm.keys("r")
	tm.waitFor("", "Which ceremony?")
	tm.text("gen.yaml")
	tm.keys("Enter")
	tm.waitFor("plan", "What will happen", "ceremony kek-2026 (generate)", "approvals: 1 by officer")
	tm.keys("Enter")
	tm.present("people")
	tm.keys("c")
	tm.waitFor("", "The engine asks for a secret", `user PIN of token "tui-token"`)
	tm.text(pin)
	tm.waitFor("prompt", strings.Repeat("•", len(pin)))
	tm.keys("Enter")
	tm.waitFor("sign", "What is signed", "→ now alice (operator)", "words (read aloud):")
	tm.keys("Enter")
	tm.waitFor("", "→ now bob (approver)")
	tm.keys("Enter")
	tm.waitFor("step", "Step 1:", "→ now: bob", "HSM serial on the device label")
	for i := 1; i <= 4; i++ {
		tm.waitFor("", fmt.Sprintf("step %d of 4", i))
		tm.tickAll()
	}
	tm.waitFor("done", "Ceremony kek-2026 is closed", "generated aes-256 key", "Write into the minutes")
	tm.keys("Enter")
	tm.waitFor("home", "kek-2026", "active", "rotate by", "key.generate")

	// destroy with two people: alice operates, bob approves
	tm.keys("r")
	tm.waitFor("", "Which ceremony?")
	tm.text("destroy.yaml")
	tm.keys("Enter")
	tm.waitFor("", "cannot be undone")
	tm.keys("Enter")
	tm.text("kek-202")
	tm.keys("Enter")
	tm.waitFor("destroy-confirm", "is not the label of the key to destroy")
	tm.text("kek-2026")
	tm.keys("Enter")
	tm.present("")
	tm.keys("c")
	tm.waitFor("", "The engine asks for a secret")
	tm.text(pin)
	tm.keys("Enter")
	tm.waitFor("", "What is signed", "key.destroy.intent")
	tm.keys("Enter", "Enter")
	for i := 1; i <= 4; i++ {
		tm.waitFor("", fmt.Sprintf("step %d of 4", i))
		tm.tickAll()
	}
	tm.waitFor("destroy-done", "Ceremony kek-destroy is closed", `destroyed key "kek-2026"`)
	tm.keys("Enter")
	tm.waitFor("", "destroyed", "kek-destroy")
	tm.keys("l")
	tm.waitFor("ledger", "key.destroy.intent", "key.destroyed")
	tm.keys("Enter")
	tm.waitFor("record", "Record 1 · ledger.genesis")
	tm.keys("Escape", "v")
	tm.waitFor("verify", "✓ verify: ok, 9 records")
	tm.keys("q")

	out := custos(env, "verify", "L")
	if !strings.HasPrefix(out, "ok: 9 records") {
		t.Errorf("custos verify L: %s", out)
	}
	got, want := shape(t, filepath.Join(dir, "L")), shape(t, filepath.Join(dir, "REF"))
	if !slices.Equal(got, want) {
		t.Errorf("the TUI recorded\n  %s\nthe scripted run\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if d := os.Getenv("CUSTOS_SCREENS_DIR"); d != "" {
		for name, s := range tm.shots {
			if err := os.WriteFile(filepath.Join(d, name+".txt"), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// shape is each record's kind, actor, approvers and fact names: what must
// be equal between two runs of the same ceremonies (ids and times differ).
func shape(t *testing.T, dir string) []string {
	t.Helper()
	l, err := ledger.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for r, err := range l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		var facts, approvers []string
		for k, v := range r.Facts {
			if m, ok := v.(map[string]any); ok {
				for kk := range m {
					facts = append(facts, k+"."+kk)
				}
				continue
			}
			facts = append(facts, k)
		}
		for _, a := range r.Approvals {
			approvers = append(approvers, a.Member)
		}
		sort.Strings(facts)
		out = append(out, fmt.Sprintf("%s by %s approved by %v: %s", r.Kind, r.Actor, approvers, strings.Join(facts, " ")))
	}
	return out
}
