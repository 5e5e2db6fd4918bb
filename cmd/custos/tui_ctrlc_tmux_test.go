package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTUICtrlCAtTheHSMStepInTmux: the real custos tui in a real terminal,
// a generate driven at the screen; the engine is held inside the HSM step
// (CUSTOS_TEST_PAUSE_AT=during-hsm), and ctrl+c is sent there, as a
// custodian would press it. The TUI does not quit: it says the step is
// finished first; the step finishes, the ceremony ends recorded and
// closed, and the TUI says so. The ledger verifies.
func TestTUICtrlCAtTheHSMStepInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (scripts/setup.sh installs it)")
	}
	w := newWorkspace(t, "ctrlc-token", [][2]string{{"alice", "custodian"}, {"bob", "officer"}})
	pinB, _ := os.ReadFile(w.tok.UserPINFile)
	pin := strings.TrimSpace(string(pinB))
	uri, _, _ := strings.Cut(w.tok.URI, "&pin-source")
	w.write("gen.yaml", fmt.Sprintf("kind: generate\nceremony: kek-ctrlc\nhsm: %q\noperator: alice\nwitnesses: [bob]\nkey:\n  label: kek-ctrlc\n  type: aes-256\n  owner: payments\n  purpose: wraps data keys\n  rotation: 1y\n", uri))
	paused := filepath.Join(w.dir, "paused")
	env := append(w.env, "TERM=xterm-256color", "CUSTOS_TEST_PAUSE_AT=during-hsm", "CUSTOS_TEST_PAUSE=4s", "CUSTOS_TEST_PAUSE_FILE="+paused)

	shell := fmt.Sprintf("cd %s && env %s %s tui L; echo EXIT=$?; sleep 60", w.dir, strings.Join(env, " "), w.bin)
	tm := newTmux(t, "ctrlc", 80, 24, shell, pin)

	tm.waitFor("", "Members", "alice")
	tm.keys("r")
	tm.waitFor("", "Which ceremony?")
	tm.text("gen.yaml")
	tm.keys("Enter")
	tm.waitFor("", "What will happen", "ceremony kek-ctrlc (generate)")
	tm.keys("Enter")
	tm.present("")
	tm.keys("c")
	tm.waitFor("", "The engine asks for a secret")
	tm.text(pin)
	tm.keys("Enter")
	tm.waitFor("", "What is signed", "→ now alice (operator)")
	tm.keys("Enter")
	tm.waitFor("", "→ now bob (approver)")
	tm.keys("Enter")
	for i := 1; i <= 4; i++ {
		tm.waitFor("", fmt.Sprintf("step %d of 4", i))
		tm.tickAll()
	}
	// The engine is inside the HSM step: ctrl+c, as pressed at the keyboard.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(paused); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine never reached the HSM step:\n%s", tm.capture())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tm.keys("C-c")
	tm.waitFor("ctrlc-hsm", "finishing the current step — the HSM is working")
	if strings.Contains(tm.capture(), "EXIT=") {
		t.Fatalf("ctrl+c at the HSM step quit the TUI:\n%s", tm.capture())
	}
	// The step finishes; the ceremony stops at the step boundary with its
	// outcome recorded, and the TUI says so.
	tm.waitFor("", "Ceremony kek-ctrlc is closed")
	log := w.must("log", "L")
	for _, k := range []string{"key.generate.intent", "key.generated", "ceremony.closed"} {
		if !strings.Contains(log, k) {
			t.Errorf("the ledger lacks %s after ctrl+c at the HSM step:\n%s", k, log)
		}
	}
	if strings.Contains(log, "ceremony.aborted") {
		t.Errorf("ctrl+c during the HSM step aborted the ceremony:\n%s", log)
	}
	if out := w.must("verify", "L"); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify: %s", out)
	}
}
