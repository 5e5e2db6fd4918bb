package tui

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custos/ceremony"
	"custos/ledger"

	tea "charm.land/bubbletea/v2"
)

// TestFormCompromiseAndReview: the ceremonies that record people's
// decisions are written by the form too. They ask for no token and no
// PIN, their scripts name no HSM, and each is planned, signed and closed
// from the TUI: the key reads compromised, the review is recorded with
// its findings.
func TestFormCompromiseAndReview(t *testing.T) {
	f, l, _, signers := generateSetup(t)
	pin := filepath.Join(f.dir, "user.pin")
	gen := &ceremony.Script{File: "gen.yaml", Kind: ceremony.KindGenerate, HSM: f.uri + "&pin-source=file:" + pin, Operator: "alice",
		Key: &ceremony.KeyPlan{Label: "kek-c", Type: "aes-256", Owner: "o", Purpose: "p"}}
	if _, err := (&ceremony.Engine{Ledger: l, Script: gen, Signers: signers}).Run(); err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: ws, Now: time.Now}))

	// choose picks the kind whose option starts with what, from Home.
	choose := h.newCeremony
	// finish goes from the operator's page to the outcome, the operator
	// alone in the room.
	finish := func(operator, ceremonyID string) *ceremony.Script {
		h.at("operator")
		for h.m.form.v.operator != operator {
			h.key("down")
		}
		h.key("enter")
		h.at("witnesses")
		h.key("enter")
		// no token page: a decision is recorded on no HSM
		fits(t, h.at("ceremony"), 80, 24)
		if got := h.m.form.v.ceremony; got != ceremonyID {
			t.Errorf("ceremony id offered %q, want %q", got, ceremonyID)
		}
		h.key("enter")
		h.at("notes")
		h.key("enter")
		h.at("file")
		h.key("enter")
		v := h.waitFor("The script the form wrote")
		if strings.Contains(v, "hsm:") {
			t.Errorf("the script of a %s names an HSM:\n%s", ceremonyID, v)
		}
		h.key("enter")
		h.waitFor("What will happen")
		s, err := ceremony.LoadScript(filepath.Join(ws, ceremonyID+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		h.key("enter")
		h.waitFor("Who is present")
		for _, n := range []string{"alice", "bob", "carol"} { // the roster's order
			if n == operator {
				break
			}
			h.key("down")
		}
		h.key("enter")
		h.typ(f.keys[operator])
		h.key("enter")
		h.waitFor(operator + " is present")
		h.key("c")
		h.waitFor("What is signed")
		for h.m.screen == scrSign {
			h.key("enter")
		}
		h.tickSteps()
		h.waitFor("Ceremony " + ceremonyID + " is closed")
		h.key("esc")
		return s
	}

	choose("compromise —")
	v := h.at("key")
	if !strings.Contains(v, "kek-c · aes-256") {
		t.Errorf("the keys offered to report compromised:\n%s", v)
	}
	h.key("enter")
	h.at("reason")
	h.typ("the wrapped copy was seen on a shared drive")
	h.key("enter")
	h.at("reportedby")
	for h.m.form.v.reportedBy != "carol" {
		h.key("down")
	}
	h.key("enter")
	s := finish("alice", "compromise-kek-c")
	if c := s.Compromise; s.HSM != "" || c == nil || c.Key != "kek-c" || c.ReportedBy != "carol" || c.Reason != "the wrapped copy was seen on a shared drive" {
		t.Errorf("the compromise script: hsm %q, %+v", s.HSM, s.Compromise)
	}

	choose("review —")
	h.at("period")
	now := time.Now().UTC()
	if want := now.Format("2006") + "-Q" + string(rune('0'+(int(now.Month())+2)/3)); h.m.form.v.period != want {
		t.Errorf("period offered %q, want %q", h.m.form.v.period, want)
	}
	h.key("enter")
	h.at("findings")
	h.typ("roster matches HR; kek-c reported compromised, rotation due")
	h.key("enter")
	period := strings.ToLower(h.m.form.v.period)
	s = finish("bob", "review-"+period)
	if r := s.Review; s.HSM != "" || r == nil || r.Findings != "roster matches HR; kek-c reported compromised, rotation due" {
		t.Errorf("the review script: hsm %q, %+v", s.HSM, s.Review)
	}

	l, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	var compromised, reviewed bool
	for r, err := range l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		switch r.Kind {
		case "key.compromised":
			compromised = r.Actor == "alice" && r.Facts["reported_by"] == "carol"
		case "review.signed":
			reviewed = r.Actor == "bob" && r.Facts["findings"] == s.Review.Findings
		}
	}
	if !compromised || !reviewed {
		t.Errorf("the ledger: key.compromised by alice reported by carol %v, review.signed by bob with the findings %v", compromised, reviewed)
	}
	if l.State().Pending() != nil {
		t.Errorf("a ceremony left open: %+v", l.State().Pending())
	}
}

// TestFormDestroyBackup: a backup's destruction written by the form: the
// backups not destroyed are offered, no token is asked, and each holder
// signs at the people screen before the record is made.
func TestFormDestroyBackup(t *testing.T) {
	f := newBkFixture(t)
	f.engine(t, &ceremony.Script{Kind: ceremony.KindGenerate, HSM: f.uri, Operator: "alice",
		Key: &ceremony.KeyPlan{Label: "root-db", Type: "ec-p256", Owner: "o", Purpose: "p", Backup: true}})
	f.engine(t, &ceremony.Script{Kind: ceremony.KindBackup, HSM: f.uri, SOPINSource: f.so, Operator: "alice", Witnesses: []string{"bob"},
		Backup: &ceremony.BackupPlan{Key: "root-db", ID: "root-db.bk1", Threshold: 2, Holders: []string{"carol", "dave", "erin"},
			Media: filepath.Join(f.dir, "root.wrapped"), ShareDir: filepath.Join(f.dir, "shares")}})
	ws := t.TempDir()
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: ws, Now: time.Now}))
	h.newCeremony("destroy-backup —")
	v := h.at("destroybackup")
	if !strings.Contains(v, "root-db.bk1 · key root-db") {
		t.Errorf("the backups offered:\n%s", v)
	}
	h.key("enter")
	h.at("mediadestroyed")
	h.typ("USB stick shredded before alice and bob")
	h.key("enter")
	h.at("operator")
	for h.m.form.v.operator != "alice" {
		h.key("down")
	}
	h.key("enter")
	h.at("witnesses")
	h.key("down")
	h.key("space") // bob
	h.key("enter")
	h.at("ceremony")
	if got := h.m.form.v.ceremony; got != "destroy-backup-root-db.bk1" {
		t.Errorf("ceremony id offered %q", got)
	}
	for _, k := range []string{"ceremony", "notes", "file"} {
		h.at(k)
		h.key("enter")
	}
	h.waitFor("The script the form wrote")
	h.key("enter")
	h.waitFor("What will happen")
	s, err := ceremony.LoadScript(filepath.Join(ws, "destroy-backup-root-db.bk1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if d := s.DestroyBackup; s.HSM != "" || d == nil || d.Backup != "root-db.bk1" || d.Media != "USB stick shredded before alice and bob" {
		t.Fatalf("the script: hsm %q, %+v", s.HSM, s.DestroyBackup)
	}
	h.key("enter")
	h.runToClose(f.keys, "", "destroy-backup-root-db.bk1", "alice", "bob", "carol", "dave", "erin")
	l, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := l.State().Backup("root-db.bk1"); !ok || b.Destroyed == 0 {
		t.Errorf("backup root-db.bk1 after the ceremony: %+v", b)
	}
}

// TestFormRootCertificate: a key pair's own root certificate written by
// the form (subject, start, validity, output; a root's profile), planned
// and signed on the token; openssl reads it as a self-signed CA
// certificate whose key is the key's.
func TestFormRootCertificate(t *testing.T) {
	f, l, _, signers := generateSetup(t)
	pin := filepath.Join(f.dir, "user.pin")
	pub := filepath.Join(f.dir, "root.pub.pem")
	gen := &ceremony.Script{File: "gen.yaml", Kind: ceremony.KindGenerate, HSM: f.uri + "&pin-source=file:" + pin, Operator: "alice",
		Key: &ceremony.KeyPlan{Label: "root-c", Type: "ec-p384", Owner: "o", Purpose: "p", PublicKey: &ceremony.PublicKeyOut{PEM: pub}}}
	if _, err := (&ceremony.Engine{Ledger: l, Script: gen, Signers: signers}).Run(); err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: ws, Now: time.Now}))
	h.newCeremony("sign —")
	h.at("key")
	h.key("enter")
	h.at("signwhat")
	h.key("down")
	h.key("enter")
	h.at("purpose")
	h.typ("the PKI's root")
	h.key("enter")
	h.at("certcn")
	h.typ("Example Root CA")
	h.key("enter")
	h.at("certorg")
	h.typ("Example")
	h.key("enter")
	h.at("certcountry")
	h.typ("nl")
	h.key("enter")
	h.waitFor("two capital letters")
	h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	h.typ("NL")
	h.key("enter")
	fits(t, h.at("certnotbefore"), 80, 24)
	h.key("enter")
	h.at("certvalidity")
	h.key("enter")
	h.at("certoutput")
	out := filepath.Join(ws, "root-c.crt.pem")
	if got := h.m.form.v.certOutput; got != out {
		t.Errorf("certificate file offered %q, want %q", got, out)
	}
	h.key("enter")
	for _, k := range []string{"operator", "witnesses", "token", "pin", "ceremony", "notes", "file"} {
		h.at(k)
		h.key("enter")
	}
	h.waitFor("The script the form wrote")
	h.key("enter")
	h.waitFor("What will happen")
	s, err := ceremony.LoadScript(filepath.Join(ws, "sign-root-c-certificate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Sign.RootCertificate; c == nil || s.Sign.Detached != nil || c.Sub.CommonName != "Example Root CA" || c.Output != out || !c.BasicConstraints.CA {
		t.Fatalf("the script's sign: %+v", s.Sign)
	}
	h.key("enter")
	h.runToClose(f.keys, string(f.tok.UserPIN), "sign-root-c-certificate", "alice")
	if o, err := exec.Command("openssl", "verify", "-CAfile", out, out).CombinedOutput(); err != nil {
		t.Errorf("openssl verify of the self-signed root: %v\n%s", err, o)
	}
	txt, err := exec.Command("openssl", "x509", "-in", out, "-noout", "-subject", "-ext", "basicConstraints", "-pubkey").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, txt)
	}
	if !strings.Contains(string(txt), "CN = Example Root CA") || !strings.Contains(string(txt), "CA:TRUE") || !strings.Contains(string(txt), strings.TrimSpace(mustRead(t, pub))) {
		t.Errorf("the certificate as openssl reads it:\n%s", txt)
	}
}
