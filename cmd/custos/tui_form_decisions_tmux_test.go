package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTUIFormReview: in a real terminal at 80×24, the periodic review
// written by the form on a ledger with no key: offered with generate and
// an enrolment, its period and findings asked, no token page and no PIN,
// the script with no hsm: line; bob, an officer, alone at the people
// screen signs it, and the ledger records review.signed by bob with the
// findings typed.
func TestTUIFormReview(t *testing.T) {
	lab := newFormLab(t, "form-review")
	lab.start()
	tm := lab.tm
	tm.keys("n")
	s := tm.waitFor("", "┃ Which ceremony?", "review —", "enroll —")
	for _, k := range []string{"backup —", "export —", "destroy —", "compromise —"} {
		if strings.Contains(s, k) {
			t.Errorf("a ledger with no key offers %q:\n%s", k, s)
		}
	}
	tm.keys("Down", "Enter")
	lab.field("Period reviewed")
	tm.keys("Enter")
	lab.answer("Findings", "roster matches HR; no key past its rotation")
	lab.field("Operator")
	tm.waitFor("", "> bob")
	tm.keys("Enter")
	lab.field("Witnesses")
	tm.keys("Enter")
	name := lab.names(false)
	tm.waitFor("form-review-script", "The script the form wrote", "kind: review", "findings: roster matches HR")
	if strings.Contains(tm.capture(), "hsm:") {
		t.Errorf("the review's script names an HSM:\n%s", tm.capture())
	}
	tm.keys("Enter")
	tm.waitFor("", "What will happen", "the security officer signs the review")
	tm.keys("Enter")
	lab.presentAlone("bob", 1)
	id := strings.TrimSuffix(name, ".yaml")
	lab.signAndRun("review.signed", "form-review-done", id)
	sc := lab.saved(name, id)
	rec := lab.record(id, "review.signed")
	if rec.Actor != "bob" || rec.Facts["findings"] != "roster matches HR; no key past its rotation" || sc.HSM != "" {
		t.Errorf("review.signed by %s with %v; the script's hsm %q", rec.Actor, rec.Facts, sc.HSM)
	}
	if out := lab.custos("verify", "L"); !strings.HasPrefix(out, "ok: ") {
		t.Errorf("custos verify L: %s", out)
	}
}

// TestTUIFormEnroll: in a real terminal at 80×24, a new ledger whose HSM is
// not enrolled: the form offers the enrolment first, and the access review
// (no token), nothing on a token; the token is named by
// its label, the PIN read from its file, no certification (SoftHSM has
// none); alice operates, bob approves, and the ledger records the token's
// serial, after which the form offers a generate.
func TestTUIFormEnroll(t *testing.T) {
	lab := newBareFormLab(t, "form-enroll")
	lab.start()
	tm := lab.tm
	tm.keys("n")
	s := tm.waitFor("form-enroll-kind", "┃ Which ceremony?", "enroll —")
	if strings.Contains(s, "generate —") || !strings.Contains(s, "review —") {
		t.Errorf("a ledger with no enrolled HSM offers other than an enrolment and the review:\n%s", s)
	}
	tm.keys("Enter")
	lab.answer("Operator", "")
	lab.field("Witnesses")
	tm.keys("Down", "Space", "Enter") // bob
	lab.answer("Token label", lab.tok.Label)
	lab.answer("Token serial", "")
	lab.answer("User PIN", "file:"+lab.tok.UserPINFile)
	lab.field("Certification")
	tm.waitFor("form-enroll-certification", "none — the token has no certificate")
	tm.keys("Enter")
	name := lab.names(false)
	tm.waitFor("", "The script the form wrote", "kind: enroll", "token="+lab.tok.Label)
	tm.keys("Enter")
	tm.waitFor("", "What will happen")
	tm.keys("Enter")
	tm.present("")
	id := strings.TrimSuffix(name, ".yaml")
	lab.signAndRun("hsm.enrolled", "form-enroll-done", id)
	lab.saved(name, id)
	rec := lab.record(id, "hsm.enrolled")
	if h, _ := rec.Facts["hsm"].(map[string]any); h["label"] != lab.tok.Label {
		t.Errorf("hsm.enrolled records %v, want the token %s", rec.Facts["hsm"], lab.tok.Label)
	}
	tm.keys("Enter")
	tm.waitFor("", "n: new ceremony")
	tm.keys("n")
	tm.waitFor("", "┃ Which ceremony?", "generate —", "enroll —")
}

// TestTUIFormCompromise: in a real terminal at 80×24, a key reported
// compromised from the form: the live key offered, what happened typed,
// who reported it chosen from the roster; no token page; alice alone
// records it, and custos inventory then shows the key compromised.
func TestTUIFormCompromise(t *testing.T) {
	lab := newFormLab(t, "form-comp")
	lab.setupKey("kek-comp", "")
	lab.start()
	tm := lab.tm
	lab.newCeremony("compromise —")
	lab.field("Key reported compromised")
	tm.waitFor("", "kek-comp · aes-256")
	tm.keys("Enter")
	lab.answer("What happened", "the wrapped copy was found on a shared drive")
	lab.field("Reported by")
	tm.keys("Down", "Down", "Enter") // carol
	lab.answer("Operator", "")
	lab.answer("Witnesses", "")
	name := lab.names(false)
	s := tm.waitFor("form-compromise-script", "The script the form wrote", "kind: compromise", "reported_by: carol")
	if strings.Contains(s, "hsm:") {
		t.Errorf("the compromise's script names an HSM:\n%s", s)
	}
	tm.keys("Enter")
	tm.waitFor("", "What will happen", "record key \"kek-comp\"", "refuse its use")
	tm.keys("Enter")
	lab.presentAlone("alice", 0)
	id := strings.TrimSuffix(name, ".yaml")
	lab.signAndRun("key.compromised", "form-compromise-done", id)
	lab.saved(name, id)
	rec := lab.record(id, "key.compromised")
	if rec.Actor != "alice" || rec.Facts["reported_by"] != "carol" {
		t.Errorf("key.compromised by %s: %v", rec.Actor, rec.Facts)
	}
	if inv := lab.custos("inventory", "L"); !strings.Contains(inv, "COMPROMISED") {
		t.Errorf("custos inventory after the report:\n%s", inv)
	}
}

// TestTUIFormRootCertificate: in a real terminal at 80×24, a key pair's
// own root certificate written by the form, signed on the token; openssl
// verifies the self-signed output.
func TestTUIFormRootCertificate(t *testing.T) {
	lab := newFormLab(t, "form-root")
	pem := filepath.Join(lab.dir, "root.pub.pem")
	lab.write("setup-gen.yaml", fmt.Sprintf("kind: generate\nceremony: setup-root\nhsm: %q\noperator: alice\nkey: {label: root-2026, type: ec-p384, owner: pki, purpose: the root, public_key: {pem: %s}}\n", lab.tok.URI, pem))
	lab.custos("run", "setup-gen.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
	lab.start()
	tm := lab.tm
	lab.newCeremony("sign —")
	lab.field("Key to sign with")
	tm.waitFor("", "root-2026 · ec-p384")
	tm.keys("Enter")
	lab.field("What does the key sign?")
	tm.keys("Down", "Enter")
	lab.answer("Purpose", "the PKI's root")
	lab.answer("Common name", "Example Root CA 2026")
	lab.answer("Organization", "Example")
	lab.answer("Country", "NL")
	lab.answer("Valid from", "")
	lab.answer("Validity", "")
	out := filepath.Join(lab.dir, "root-2026.crt.pem")
	lab.field("Certificate file")
	tm.waitFor("form-root-cert", "> "+out)
	tm.keys("Enter")
	lab.peopleAndToken([]int{1}, "file:"+lab.tok.UserPINFile, "")
	name := lab.names(false)
	tm.waitFor("form-root-script", "The script the form wrote", "root_certificate:", "subject:")
	tm.keys("Enter")
	tm.waitFor("", "What will happen")
	tm.keys("Enter")
	tm.present("")
	id := strings.TrimSuffix(name, ".yaml")
	lab.signAndRun("key.sign.intent", "form-root-done", id)
	lab.saved(name, id)
	lab.record(id, "key.signed")
	if o, err := exec.Command("openssl", "verify", "-CAfile", out, out).CombinedOutput(); err != nil {
		t.Errorf("openssl verify of the root the form made: %v\n%s", err, o)
	}
}

// presentAlone makes one member, row rows down the people screen, the
// only one present.
func (lab *formLab) presentAlone(name string, row int) {
	lab.t.Helper()
	lab.tm.waitFor("", "Who is present")
	for range row {
		lab.tm.keys("Down")
	}
	lab.tm.keys("Enter")
	lab.tm.text(name)
	lab.tm.keys("Enter")
	lab.tm.waitFor("", name+" is present", "Everyone needed is present")
}

// signAndRun continues from the people screen: what is signed (the
// intent of kind) read and signed, every step ticked, until ceremony id
// is closed (captured as shot).
func (lab *formLab) signAndRun(kind, shot, id string) {
	lab.t.Helper()
	lab.tm.keys("c")
	lab.tm.waitFor("", "What is signed", kind)
	lab.tm.keys("Enter", "Enter")
	lab.steps()
	lab.tm.waitFor(shot, "Ceremony "+id+" is closed")
}

// TestTUIFormDestroyBackup: in a real terminal at 80×24, a backup made by
// a script (2 of 3: carol, dave, erin) destroyed from the form: the backup
// offered by id and key, how its media were destroyed, alice operating
// with bob witnessing; each holder comes forward at the people screen and
// signs that their share is destroyed. The ledger then reads the backup
// destroyed, and custos verify passes.
func TestTUIFormDestroyBackup(t *testing.T) {
	lab := newFormLab(t, "form-dbk")
	lab.setupKey("root-dbk", ", backup: true")
	if err := os.Mkdir(filepath.Join(lab.dir, "media"), 0o700); err != nil {
		t.Fatal(err)
	}
	lab.write("setup-backup.yaml", fmt.Sprintf("kind: backup\nceremony: setup-backup\nhsm: %q\nso_pin_source: \"file:%s\"\noperator: alice\nwitnesses: [bob]\nbackup:\n  key: root-dbk\n  id: root-dbk.bk1\n  threshold: 2\n  holders: [carol, dave, erin]\n  media: media/root-dbk.wrapped\n  share_dir: shares\n", lab.tok.URI, lab.tok.SOPINFile))
	lab.custos("run", "setup-backup.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob", "--key", "carol=carol", "--key", "dave=dave", "--key", "erin=erin")
	lab.start()
	tm := lab.tm
	lab.newCeremony("destroy-backup —")
	lab.field("Backup destroyed")
	tm.waitFor("form-destroy-backup", "root-dbk.bk1 · key root-dbk")
	tm.keys("Enter")
	lab.answer("How the media were destroyed", "USB stick shredded before alice and bob")
	lab.answer("Operator", "")
	lab.field("Witnesses")
	tm.keys("Down", "Space", "Enter") // bob
	name := lab.names(false)
	s := tm.waitFor("", "The script the form wrote", "kind: destroy-backup", "backup: root-dbk.bk1")
	if strings.Contains(s, "hsm:") {
		t.Errorf("the destroy-backup's script names an HSM:\n%s", s)
	}
	tm.keys("Enter")
	tm.waitFor("", "What will happen")
	tm.keys("Enter")
	tm.waitFor("", "Who is present")
	for i, who := range []string{"alice", "bob", "carol", "dave", "erin"} {
		if i > 0 {
			tm.keys("Down")
		}
		tm.keys("Enter", "C-u")
		tm.text(who)
		tm.keys("Enter")
		tm.waitFor("", who+" is present")
	}
	tm.waitFor("form-destroy-backup-people", "Everyone needed is present")
	id := strings.TrimSuffix(name, ".yaml")
	lab.signAndRun("backup.destroyed", "form-destroy-backup-done", id)
	lab.saved(name, id)
	rec := lab.record(id, "backup.destroyed")
	if rec.Facts["backup_id"] != "root-dbk.bk1" {
		t.Errorf("backup.destroyed: %v", rec.Facts)
	}
	if out := lab.custos("verify", "L"); !strings.Contains(out, "ok") {
		t.Errorf("custos verify after the destruction:\n%s", out)
	}
}
