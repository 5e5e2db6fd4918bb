package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfirmationsAtTerminal: the questions the command line asks are
// answered at a real terminal (tmux). An approval is shown, then asked
// y/N: anything but y signs nothing and writes no file; y writes it. A
// destroy whose script carries no confirm asks for the key's label typed
// in full: a wrong one records nothing, the right one destroys.
func TestConfirmationsAtTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (scripts/setup.sh installs it)")
	}
	w := newWorkspace(t, "confirm-token", [][2]string{{"alice", "custodian"}, {"bob", "officer"}, {"carol", "officer"}})
	dir, custos := w.dir, w.must
	w.write("gen.yaml", fmt.Sprintf("kind: generate\nhsm: %q\noperator: alice\nkey:\n  label: kek\n  type: aes-256\n  owner: pki\n  purpose: test\n", w.tok.URI))
	custos("run", "gen.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
	w.write("destroy.yaml", fmt.Sprintf("kind: destroy\nceremony: kek-destroy\nhsm: %q\noperator: alice\ndestroy:\n  key: kek\n  reason: superseded\n", w.tok.URI))
	custos("run", "destroy.yaml", "--ledger", "L", "--key", "alice=alice", "--request-out", "d.req")

	at := w.shell
	tm := newTmux(t, "confirm", 160, 50, at("approve d.req --ledger L --key carol=carol -o d.carol.sig"))

	// The approval: shown, then asked; "n" (or just Enter) signs nothing.
	for _, answer := range []string{"n", ""} {
		tm.waitFor("", "key.destroy.intent", "kek", "[y/N]")
		if answer != "" {
			tm.text(answer)
		}
		tm.keys("Enter")
		tm.waitFor("", "not signed (answer y to sign)", "EXIT=1")
		if _, err := os.Stat(filepath.Join(dir, "d.carol.sig")); err == nil {
			t.Fatalf("answer %q: the approval file was written", answer)
		}
		tm.tmux("respawn-pane", "-k", "-t", "ui", at("approve d.req --ledger L --key carol=carol -o d.carol.sig"))
	}
	tm.waitFor("", "[y/N]")
	tm.text("y")
	tm.keys("Enter")
	tm.waitFor("", "EXIT=0")
	if _, err := os.Stat(filepath.Join(dir, "d.carol.sig")); err != nil {
		t.Fatalf("answer y: %v", err)
	}

	// The destroy: the label typed in full, or nothing is recorded.
	run := at("run destroy.yaml --ledger L --key alice=alice --request d.req --approval d.carol.sig")
	tm.tmux("respawn-pane", "-k", "-t", "ui", run)
	tm.waitFor("", "type the label of the key to destroy (kek), in full:")
	tm.text("ke")
	tm.keys("Enter")
	tm.waitFor("", `"ke" is not the label of the key to destroy; nothing was done`, "EXIT=1")
	if log := custos("log", "L"); strings.Contains(log, "key.destroy.intent") {
		t.Fatalf("a wrong label recorded the intent:\n%s", log)
	}
	tm.tmux("respawn-pane", "-k", "-t", "ui", run)
	tm.waitFor("", "type the label of the key to destroy (kek), in full:")
	tm.text("kek")
	tm.keys("Enter")
	tm.waitFor("", "EXIT=0")
	if log := custos("log", "L"); !strings.Contains(log, "key.destroyed") {
		t.Fatalf("the right label did not destroy:\n%s", log)
	}
	if out := custos("verify", "L"); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify: %s", out)
	}
}
