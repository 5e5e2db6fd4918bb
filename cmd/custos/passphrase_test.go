package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custos/hsm/hsmtest"
)

// TestPassphraseAtTerminal: a share delivered by passphrase with no
// passphrase source is asked at a real terminal (tmux), twice, never
// echoed; a weak one and two entries that differ are refused and asked
// again, before anything is recorded; the share then opens with the
// passphrase typed at the terminal of a share check.
func TestPassphraseAtTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (scripts/setup.sh installs it)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "custos")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tok, err := hsmtest.NewStandalone(filepath.Join(dir, "hsm"), "pass-token")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SOFTHSM2_CONF=" + tok.Conf, "NO_COLOR=1", "HOME=" + dir}
	custos := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("custos %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	keys := map[string]string{"alice": "ed25519", "bob": "ed25519", "carol": "ed25519", "dave": "ecdsa"}
	pub := map[string]string{}
	for n, typ := range keys {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-C", n, "-f", filepath.Join(dir, n)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		b, _ := os.ReadFile(filepath.Join(dir, n+".pub"))
		pub[n] = strings.TrimSpace(string(b))
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("roster.yaml", fmt.Sprintf("members:\n  - {name: alice, roles: [custodian], key: %s}\n  - {name: bob, roles: [officer], key: %s}\n"+
		"  - {name: carol, roles: [custodian], key: %s}\n  - {name: dave, roles: [custodian], key: %s}\n", pub["alice"], pub["bob"], pub["carol"], pub["dave"]))
	all := []string{"--key", "alice=alice", "--key", "bob=bob", "--key", "carol=carol", "--key", "dave=dave"}
	custos(append([]string{"init", "L", "--roster", "roster.yaml"}, all...)...)
	write("enroll.yaml", fmt.Sprintf("kind: enroll\nhsm: %q\noperator: alice\n", tok.URI))
	custos("run", "enroll.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
	write("gen.yaml", fmt.Sprintf("kind: generate\nhsm: %q\noperator: alice\nkey:\n  label: kek\n  type: aes-256\n  owner: pki\n  purpose: test\n  backup: true\n", tok.URI))
	custos("run", "gen.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
	write("bk.yaml", fmt.Sprintf("kind: backup\nhsm: %q\nso_pin_source: \"file:%s\"\noperator: alice\nbackup:\n  key: kek\n  id: kek.bk1\n  threshold: 2\n"+
		"  holders: [carol, dave]\n  media: kek.wrapped\n  share_dir: shares\n  delivery: {dave: passphrase}\n", tok.URI, tok.SOPINFile))

	const weak, strong, other = "password1234", "lantern ostrich velvet quarry", "lantern ostrich velvet quartz"
	// The passphrases are the tmuxTerm's secrets: any capture showing one fails.
	shell := fmt.Sprintf("cd %s && env %s %s run bk.yaml --ledger L --key alice=alice --key bob=bob; echo EXIT=$?; sleep 60", dir, strings.Join(env, " "), bin)
	tm := newTmux(t, "pass", 160, 50, shell, weak, strong, other)

	tm.waitFor("", "dave: new passphrase for your share of backup kek.bk1:")
	tm.text(weak)
	tm.keys("Enter")
	tm.waitFor("", "too easy to guess")
	tm.text(strong)
	tm.keys("Enter")
	tm.waitFor("", "dave: the same passphrase again:")
	tm.text(other)
	tm.keys("Enter")
	tm.waitFor("", "the two entries differ")
	if n := strings.Count(custos("log", "L"), "\n"); n == 0 {
		t.Fatal("custos log printed nothing")
	}
	if strings.Contains(custos("log", "L"), "backup.intent") {
		t.Fatal("backup.intent recorded before the passphrase was settled")
	}
	tm.waitFor("", "dave: new passphrase for your share of backup kek.bk1:")
	tm.text(strong)
	tm.keys("Enter")
	time.Sleep(time.Second) // the second question of this try (the first try's is on the screen)
	tm.text(strong)
	tm.keys("Enter")
	screen := tm.waitFor("", "recorded backup.split", "EXIT=0")
	for _, p := range []string{weak, strong, other} {
		if strings.Contains(screen, p) {
			t.Fatalf("the passphrase %q was echoed:\n%s", p, screen)
		}
	}
	if !strings.Contains(custos("log", "L"), "backup.split") {
		t.Fatal("no backup.split")
	}

	// The share check asks the passphrase at the terminal too.
	check := fmt.Sprintf("clear; cd %s && env %s %s share-check shares/kek.bk1-share2-dave.age --ledger L --backup kek.bk1 --holder dave --key dave=dave; echo EXIT=$?; sleep 60",
		dir, strings.Join(env, " "), bin)
	tm.tmux("respawn-pane", "-k", "-t", "ui", check) // the same terminal, a new command
	tm.waitFor("", "passphrase of the share shares/kek.bk1-share2-dave.age:")
	tm.text(strong)
	tm.keys("Enter")
	screen = tm.waitFor("", "share 2 of backup kek.bk1, held by dave, is intact", "EXIT=0")
	if strings.Contains(screen, strong) {
		t.Fatalf("the passphrase was echoed:\n%s", screen)
	}
	if out := custos("verify", "L"); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify: %s", out)
	}
}
