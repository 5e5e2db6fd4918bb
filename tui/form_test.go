package tui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custos/ceremony"
	"custos/hsm/hsmtest"
	"custos/ledger"
	"custos/sign"

	tea "charm.land/bubbletea/v2"
	"charm.land/huh/v2"
)

// at feeds messages until the form's focused field is the one keyed k.
func (h *harness) at(k string) string {
	h.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if fs := h.m.form; fs != nil && h.m.screen == scrForm && fs.f.GetFocusedField().GetKey() == k {
			return h.view()
		}
		select {
		case msg := <-h.msgs:
			h.send(msg)
		case <-deadline:
			h.t.Fatalf("the form never focused %q; it shows:\n%s", k, h.view())
		}
	}
}

// TestFormGenerate: from Home, n opens the form; its answers make a
// generate script that is saved in the workspace, decodes with the strict
// decoder, and is planned and run like a script typed by path.
func TestFormGenerate(t *testing.T) {
	f := newFixture(t)
	f.enrol(t)
	ws := filepath.Join(f.dir, "ws")
	if err := os.Mkdir(ws, 0o700); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: ws, Now: time.Now}))
	h.waitFor("n: new ceremony")
	h.key("n")
	v := h.waitFor("Which ceremony?")
	fits(t, v, 80, 24)
	if strings.Contains(v, "destroy —") || strings.Contains(v, "export —") || strings.Contains(v, "sign —") {
		t.Errorf("a ledger with no key offers more than generate:\n%s", v)
	}
	h.key("enter")
	h.at("label")
	h.typ("kek-2026")
	h.key("enter")
	h.at("type")
	h.key("enter")
	h.at("owner")
	h.typ("payments")
	h.key("enter")
	h.at("purpose")
	h.typ("wraps data keys")
	h.key("enter")
	// The policy names no vocabularies: free words, checked, optional.
	h.at("environment")
	h.typ("Prod!")
	h.key("enter")
	if v := h.waitFor("not one word"); h.m.form.f.GetFocusedField().GetKey() != "environment" {
		t.Errorf("a word that is not one goes on:\n%s", v)
	}
	h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	h.typ("staging")
	h.key("enter")
	h.at("classification")
	h.key("enter")
	h.at("rotation")
	fits(t, h.waitFor("none"), 80, 24) // its options are made from the type chosen
	h.key("enter")
	h.at("exportable")
	h.key("y")
	h.at("backup")
	h.key("n")
	fits(t, h.at("operator"), 80, 24)
	h.key("enter")
	h.at("witnesses")
	h.key("down")
	h.key("space")
	h.key("enter")
	h.at("token")
	h.key("enter")
	h.at("pin")
	h.key("enter")
	fits(t, h.at("ceremony"), 80, 24)
	h.key("enter")
	h.at("notes")
	h.key("enter")
	h.at("file")
	h.key("enter")
	v = h.waitFor("The script the form wrote")
	fits(t, v, 80, 24)
	// A file appears under the name shown before it is saved: it is not
	// written over; e goes back to the answers and offers a new name.
	taken := filepath.Join(ws, "generate-kek-2026.yaml")
	writeFile(t, taken, "# someone else's\n")
	h.key("enter")
	h.waitFor("never writes over a file")
	if got := mustRead(t, taken); got != "# someone else's\n" {
		t.Fatalf("%s was written over:\n%s", taken, got)
	}
	h.key("e")
	for _, k := range []string{"label", "type", "owner", "purpose", "environment", "classification", "rotation", "exportable", "backup"} {
		h.at(k)
		if k == "rotation" {
			h.waitFor("none")
		}
		h.key("enter")
	}
	h.at("operator")
	h.key("enter")
	h.at("witnesses")
	h.key("enter")
	h.at("token")
	h.key("enter")
	h.at("pin")
	h.key("enter")
	h.at("ceremony")
	h.key("enter")
	h.at("notes")
	h.key("enter")
	v = h.at("file")
	if !strings.Contains(v, "> generate-kek-2026-2.yaml") {
		t.Errorf("the file name offered after a clash:\n%s", v)
	}
	h.key("enter")
	h.waitFor("The script the form wrote")
	h.key("enter")
	v = h.waitFor("What will happen")
	if !strings.Contains(v, "script saved as") || !strings.Contains(v, "generate-kek-2026-2.yaml") {
		t.Errorf("the plan does not name the file saved:\n%s", v)
	}
	p := filepath.Join(ws, "generate-kek-2026-2.yaml")
	s, err := ceremony.LoadScript(p)
	if err != nil {
		t.Fatal(err)
	}
	if vs := strings.Join(strings.Fields(h.view()), ""); !strings.Contains(vs, "sha256"+s.SHA256+";") {
		t.Errorf("the plan's status does not show the script's whole SHA-256 %s:\n%s", s.SHA256, h.view())
	}
	fits(t, h.view(), 80, 24)
	if s.Key.Label != "kek-2026" || s.Key.Type != "aes-256" || !s.Key.Exportable || s.Key.Backup || len(s.Witnesses) != 1 || s.Witnesses[0] != "bob" ||
		s.Key.Environment != "staging" || s.Key.Classification != "" {
		t.Errorf("script: %+v %+v", s, s.Key)
	}
	h.key("enter")
	v = h.runToClose(f.keys, string(f.tok.UserPIN), "generate-kek-2026", "alice", "bob")
	t.Logf("\n%s", v)
	l, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	for r, err := range l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind == "key.generate.intent" && r.Facts["script_sha256"] != s.SHA256 {
			t.Errorf("intent script_sha256 %v, the saved script %s", r.Facts["script_sha256"], s.SHA256)
		}
	}
}

// TestFormEnrollsFirst: on a ledger with no enrolled HSM the form offers
// an enrolment first and the access review (no token), nothing on a
// token; it names the token by label, asks no certification
// of SoftHSM, and the enrolment runs to its record, after which the form
// offers the ceremonies on that token.
func TestFormEnrollsFirst(t *testing.T) {
	f := newFixture(t)
	t.Setenv("CUSTOS_PKCS11_MODULE", hsmtest.ModulePath())
	ws := t.TempDir()
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: ws, Now: time.Now}))
	h.waitFor("n: new ceremony")
	h.key("n")
	v := h.waitFor("Which ceremony?")
	if !strings.Contains(v, "> enroll —") || !strings.Contains(v, "review —") || strings.Contains(v, "generate —") {
		t.Errorf("a ledger with no enrolled HSM offers other than an enrolment (first) and the review:\n%s", v)
	}
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
	h.at("tokenlabel")
	h.key("enter")
	h.waitFor("label is required")
	h.typ(f.tok.Label)
	h.key("enter")
	h.at("tokenserial")
	h.key("enter")
	h.at("pin")
	h.key("enter")
	fits(t, h.at("validprogram"), 80, 24)
	h.key("enter") // none: SoftHSM has no certificate
	h.at("ceremony")
	id := h.m.form.v.ceremony
	if id != "enroll-"+f.tok.Label {
		t.Errorf("ceremony id offered %q", id)
	}
	for _, k := range []string{"ceremony", "notes", "file"} {
		h.at(k)
		h.key("enter")
	}
	h.waitFor("The script the form wrote")
	h.key("enter")
	h.waitFor("What will happen")
	s, err := ceremony.LoadScript(filepath.Join(ws, id+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.HSM, "pkcs11:token="+f.tok.Label) || strings.Contains(s.HSM, "pin-value") || s.Validation != nil {
		t.Errorf("the enroll script: hsm %q, validation %+v", s.HSM, s.Validation)
	}
	h.key("enter")
	h.runToClose(f.keys, string(f.tok.UserPIN), id, "alice", "bob")
	h.key("esc")
	h.waitFor("n: new ceremony")
	h.key("n")
	if v := h.waitFor("generate —"); !strings.Contains(v, "enroll —") {
		t.Errorf("after the enrolment the form offers:\n%s", v)
	}
	l, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.State().HSMs[f.tok.Serial]; !ok || len(l.State().HSMs) != 1 {
		t.Errorf("enrolled HSMs after the form's enrolment: %v, want the token's serial %s", l.State().HSMs, f.tok.Serial)
	}
}

// TestFormLeavesWithEsc: esc leaves the form at any page; nothing is
// written to the workspace.
func TestFormLeavesWithEsc(t *testing.T) {
	f := newFixture(t)
	f.enrol(t)
	ws := t.TempDir()
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: ws}))
	h.waitFor("n: new ceremony")
	h.key("n")
	h.at("kind")
	h.key("enter")
	h.at("label")
	h.typ("q?x") // typed into the field: neither quits nor opens the help
	h.key("esc")
	v := h.waitFor("nothing was written")
	if h.m.screen != scrHome {
		t.Errorf("esc in the form:\n%s", v)
	}
	if ents, _ := os.ReadDir(ws); len(ents) != 0 {
		t.Errorf("the workspace holds %d files", len(ents))
	}
}

// TestFormWaitsForAnInterruptedCeremony: while a ceremony waits to be
// resumed, n says so and opens no form (Plan would refuse its script).
func TestFormWaitsForAnInterruptedCeremony(t *testing.T) {
	f, l, s, signers := generateSetup(t)
	type stop struct{}
	e := &ceremony.Engine{Ledger: l, Script: s, Signers: signers, OnStep: func(st ceremony.Step) {
		if st.Kind == ceremony.StepOutcome {
			panic(stop{}) // the process "dies" once the outcome is committed
		}
	}}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stop); !ok {
					panic(r)
				}
			}
		}()
		e.Run()
	}()
	e.Close()
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: f.dir}))
	h.waitFor("was not closed")
	h.key("n")
	v := h.waitFor("no new one begins until it is finished")
	if h.m.screen != scrHome || !strings.Contains(v, "u resumes it here") {
		t.Errorf("n with an interrupted ceremony:\n%s", v)
	}
}

// TestFormAsksDeliveryForAKeyAgeCannotTake: frank's roster key is ECDSA
// (age cannot encrypt a share to it); once he is ticked as a holder the
// form asks how his share reaches him, and the script names it, so the
// plan accepts it.
func TestFormAsksDeliveryForAKeyAgeCannotTake(t *testing.T) {
	f := &fixture{dir: t.TempDir(), keys: map[string]string{}}
	signers := map[string]sign.Signer{}
	var roster ledger.Roster
	for _, mem := range []struct{ name, role, typ string }{{"alice", "custodian", "ed25519"}, {"bob", "officer", "ed25519"}, {"carol", "custodian", "ed25519"}, {"frank", "custodian", "ecdsa"}} {
		p := filepath.Join(f.dir, mem.name)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", mem.typ, "-N", "", "-C", mem.name, "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		s, err := sign.LoadFile(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[mem.name], signers[mem.name] = p, s
		roster.Members = append(roster.Members, ledger.Member{Name: mem.name, Roles: []string{mem.role}, Key: sign.AuthorizedKey(s.PublicKey())})
	}
	f.ledger = filepath.Join(f.dir, "L")
	if _, err := ledger.Create(f.ledger, &roster, &ledger.Policy{Approvals: map[string]ledger.Requirement{}, Algorithms: ledger.DefaultAlgorithms}, signers, time.Now().UTC().Truncate(time.Second)); err != nil {
		t.Fatal(err)
	}
	f.tok = hsmtest.NewToken(t, "tui")
	f.uri = fmt.Sprintf("pkcs11:token=%s?module-path=%s", f.tok.Label, hsmtest.ModulePath())
	f.enrol(t)
	pin := filepath.Join(f.dir, "user.pin")
	writeFile(t, pin, string(f.tok.UserPIN))
	l, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	gen := &ceremony.Script{File: "gen.yaml", Kind: ceremony.KindGenerate, HSM: f.uri + "&pin-source=file:" + pin, Operator: "alice",
		Key: &ceremony.KeyPlan{Label: "root-fr", Type: "aes-256", Owner: "o", Purpose: "p", Backup: true}}
	if _, err := (&ceremony.Engine{Ledger: l, Script: gen, Signers: signers}).Run(); err != nil {
		t.Fatal(err)
	}

	ws := t.TempDir()
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: ws, Now: time.Now}))
	h.waitFor("n: new ceremony")
	h.key("n")
	h.at("kind")
	h.waitFor("backup —")
	h.key("down")
	h.key("enter")
	h.at("key")
	h.key("enter")
	h.at("holders")
	for _, k := range []string{"down", "space", "down", "space", "enter"} { // carol, frank
		h.key(k)
	}
	h.at("threshold")
	h.waitFor("2 of 2")
	h.key("enter")
	h.at("media")
	h.typ(filepath.Join(ws, "root-fr.wrapped"))
	h.key("enter")
	h.at("sharedir")
	h.key("enter")
	h.at("cards")
	h.key("n")
	v := h.at("delivery-frank")
	if !strings.Contains(v, "frank's key is ecdsa-sha2-nistp256") {
		t.Errorf("the delivery page:\n%s", v)
	}
	h.key("down")
	h.key("enter") // card
	for _, k := range []string{"operator", "witnesses", "token", "pin", "sopin", "ceremony", "backupid", "notes", "file"} {
		h.at(k)
		h.key("enter")
	}
	v = h.waitFor("The script the form wrote")
	h.key("enter")
	h.waitFor("What will happen")
	s, err := ceremony.LoadScript(filepath.Join(ws, "backup-root-fr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if b := s.Backup; strings.Join(b.Holders, ",") != "carol,frank" || len(b.Delivery) != 1 || b.Delivery["frank"] != "card" {
		t.Errorf("the script's backup: %+v\n%s", b, v)
	}
}

// TestFormDefaultsFollowTheAnswers: the ceremony id and file offered
// follow an edited label, until the custodian types their own id.
func TestFormDefaultsFollowTheAnswers(t *testing.T) {
	f := newFixture(t)
	f.enrol(t)
	ws := t.TempDir()
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: ws, Now: time.Now}))
	h.waitFor("n: new ceremony")
	h.key("n")
	h.at("kind")
	h.key("enter")
	first := true
	pass := func(label, id string) string {
		h.t.Helper()
		h.at("label")
		if label != "" {
			h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
			h.typ(label)
		}
		h.key("enter")
		for _, k := range []string{"type", "owner", "purpose", "environment", "classification", "rotation", "exportable", "backup", "operator", "witnesses", "token", "pin", "ceremony"} {
			h.at(k)
			switch k {
			case "owner", "purpose":
				if first {
					h.typ("x")
				}
			case "rotation":
				h.waitFor("none")
			case "ceremony":
				if id != "" {
					h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
					h.typ(id)
				}
			}
			h.key("enter")
		}
		first = false
		h.at("notes")
		h.key("enter")
		v := h.at("file")
		h.key("enter")
		h.waitFor("The script the form wrote")
		h.key("e")
		return v
	}
	if v := pass("kek-a", ""); !strings.Contains(v, "> generate-kek-a") || !strings.Contains(v, "> generate-kek-a.yaml") {
		t.Errorf("first pass:\n%s", v)
	}
	// the file name offered on the page is the one saved: it follows an
	// id typed on that page the next time the page is shown
	if v := pass("kek-b", "my-ceremony"); !strings.Contains(v, "> my-ceremony") || !strings.Contains(v, "> generate-kek-b.yaml") {
		t.Errorf("after the label and the id changed:\n%s", v)
	}
	if v := pass("kek-c", ""); !strings.Contains(v, "> my-ceremony") || !strings.Contains(v, "> my-ceremony.yaml") || strings.Contains(v, "kek-c") {
		t.Errorf("a typed id stays when the label changes again:\n%s", v)
	}
}

// runFormScript saves the script on the review screen (shown), plans it,
// and runs it with the people named present (the first operates) and the
// PIN typed at the masked prompt, until closed says it is.
func (h *harness) runFormScript(f *fixture, closed string, present ...string) string {
	h.t.Helper()
	h.key("enter")
	h.waitFor("What will happen")
	h.key("enter")
	h.waitFor("Who is present")
	h.present(f.keys, present...)
	h.key("c")
	h.waitFor("The engine asks for a secret")
	h.typ(string(f.tok.UserPIN))
	h.key("enter")
	h.waitFor("What is signed")
	for h.m.screen == scrSign {
		h.key("enter")
	}
	h.tickSteps()
	return h.waitFor(closed)
}

// record is the last record of kind in the ledger at dir.
func lastRecord(t *testing.T, dir, kind string) *ledger.Record {
	t.Helper()
	l, err := ledger.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var found *ledger.Record
	for r, err := range l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind == kind {
			found = r
		}
	}
	if found == nil {
		t.Fatalf("no %s record", kind)
	}
	return found
}

// TestFormOffersThePolicysVocabularies: where the policy names
// environments and classifications, the form offers those words only, as
// a choice (nothing typed), and the intent records the ones chosen.
func TestFormOffersThePolicysVocabularies(t *testing.T) {
	f := newFixturePolicy(t, func(p *ledger.Policy) {
		p.Environments = []string{"production", "staging"}
		p.Classifications = []string{"confidential", "internal", "public"}
	})
	f.enrol(t)
	ws := t.TempDir()
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: ws, Now: time.Now}))
	h.waitFor("n: new ceremony")
	h.key("n")
	h.at("kind")
	h.key("enter")
	h.at("label")
	h.typ("kek-vocab")
	h.key("enter")
	for _, k := range []string{"type", "owner", "purpose"} {
		h.at(k)
		if k != "type" {
			h.typ("x")
		}
		h.key("enter")
	}
	v := h.at("environment")
	fits(t, v, 80, 24)
	for _, w := range []string{"production", "staging", "confidential", "internal", "public", "the policy's words; one is required"} {
		if !strings.Contains(v, w) {
			t.Errorf("the page does not offer %q:\n%s", w, v)
		}
	}
	if strings.Contains(v, "optional, one word") {
		t.Errorf("a free word is asked where the policy has words:\n%s", v)
	}
	for _, k := range []string{"environment", "classification"} {
		if _, ok := h.m.form.f.GetFocusedField().(*huh.Select[string]); !ok {
			t.Fatalf("%s is a %T, not a choice of the policy's words", k, h.m.form.f.GetFocusedField())
		}
		h.key("down")
		h.key("enter")
		if k == "environment" {
			h.at("classification")
		}
	}
	for _, k := range []string{"rotation", "exportable", "backup", "operator", "witnesses"} {
		h.at(k)
		if k == "rotation" {
			h.waitFor("none")
		}
		if k == "witnesses" {
			h.key("down")
			h.key("space")
		}
		h.key("enter")
	}
	for _, k := range []string{"token", "pin", "ceremony", "notes", "file"} {
		h.at(k)
		h.key("enter")
	}
	h.waitFor("The script the form wrote")
	h.key("pgdown")
	if v := h.waitFor("environment: staging"); !strings.Contains(v, "classification: internal") {
		t.Errorf("the script does not name the words chosen:\n%s", v)
	}
	h.runFormScript(f, "Ceremony generate-kek-vocab is closed", "alice", "bob")
	intent := lastRecord(t, f.ledger, "key.generate.intent")
	if intent.Facts["environment"] != "staging" || intent.Facts["classification"] != "internal" {
		t.Errorf("key.generate.intent records environment %v, classification %v", intent.Facts["environment"], intent.Facts["classification"])
	}
}

// TestFormSign: sign is offered once the ledger holds a key pair, and
// only key pairs are offered to sign with; the outputs offered are named
// after the file and step past one already there; the script decodes
// with the strict decoder, plans on the ledger, and runs: stock openssl
// and ssh-keygen verify what the token signed against the public key the
// generation wrote.
func TestFormSign(t *testing.T) {
	f, l, _, signers := generateSetup(t)
	pin := filepath.Join(f.dir, "user.pin")
	pub := filepath.Join(f.dir, "rel.pub.pem")
	pubSSH := filepath.Join(f.dir, "rel.pub")
	for _, k := range []*ceremony.KeyPlan{
		{Label: "kek-s", Type: "aes-256", Owner: "o", Purpose: "p"},
		{Label: "rel-s", Type: "ec-p256", Owner: "o", Purpose: "p", PublicKey: &ceremony.PublicKeyOut{PEM: pub, SSH: pubSSH}},
	} {
		gen := &ceremony.Script{File: k.Label + ".yaml", Kind: ceremony.KindGenerate, HSM: f.uri + "&pin-source=file:" + pin, Operator: "alice", Key: k}
		if _, err := (&ceremony.Engine{Ledger: l, Script: gen, Signers: signers}).Run(); err != nil {
			t.Fatal(err)
		}
	}
	ws := t.TempDir()
	file := filepath.Join(ws, "release.json")
	writeFile(t, file, `{"version":"1.0.0"}`+"\n")
	writeFile(t, file+".sig", "# an older signature\n")

	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: ws, Now: time.Now}))
	h.newCeremony("sign —")
	v := h.at("key")
	if !strings.Contains(v, "rel-s · ec-p256") || strings.Contains(v, "kek-s ·") {
		t.Errorf("the keys offered to sign with:\n%s", v)
	}
	h.key("enter")
	h.at("signwhat")
	h.key("enter") // a file
	h.at("signfile")
	h.typ(filepath.Join(ws, "missing.json"))
	h.key("enter")
	h.waitFor("the file to sign: stat")
	h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	h.typ(file)
	h.key("enter")
	h.at("purpose")
	h.typ("release 1.0.0 metadata")
	h.key("enter")
	fits(t, h.at("signature"), 80, 24)
	if got := h.m.form.v.signature; got != file+"-2.sig" {
		t.Errorf("raw signature offered as %s; %s.sig is taken", got, file)
	}
	h.key("enter")
	h.at("sshsig")
	if got := h.m.form.v.sshsig; got != file+".sshsig" {
		t.Errorf("SSH signature offered as %s", got)
	}
	h.key("enter")
	h.at("namespace")
	h.key("enter")
	for _, k := range []string{"operator", "witnesses", "token", "pin", "ceremony", "notes", "file"} {
		h.at(k)
		h.key("enter")
	}
	h.waitFor("The script the form wrote")
	h.key("enter")
	h.waitFor("What will happen")

	s, err := ceremony.LoadScript(filepath.Join(ws, "sign-release.json.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := ceremony.DetachedPlan{File: file, Signature: file + "-2.sig", SSHSig: file + ".sshsig", Namespace: "file"}
	if g := s.Sign; g.Key != "rel-s" || g.Purpose != "release 1.0.0 metadata" || g.Detached == nil || *g.Detached != want {
		t.Fatalf("the script's sign: %+v %+v", g, g.Detached)
	}
	l2, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	p, err := (&ceremony.Engine{Ledger: l2, Script: s}).Plan()
	if err != nil {
		t.Fatalf("Plan refuses the form's sign script: %v", err)
	}
	if steps := strings.Join(p.Steps, "\n"); !strings.Contains(steps, "CKM_ECDSA") || !strings.Contains(steps, file+" (file): sha256 ") {
		t.Errorf("the plan's steps:\n%s", steps)
	}

	h.key("enter")
	h.runToClose(f.keys, string(f.tok.UserPIN), "sign-release.json", "alice")
	if out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pub, "-signature", file+"-2.sig", file).CombinedOutput(); err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Errorf("openssl dgst -verify: %v\n%s", err, out)
	}
	allowed := filepath.Join(f.dir, "allowed")
	writeFile(t, allowed, "rel-s "+mustRead(t, pubSSH))
	vf := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "rel-s", "-n", "file", "-s", file+".sshsig")
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	vf.Stdin = in
	if out, err := vf.CombinedOutput(); err != nil {
		t.Errorf("ssh-keygen -Y verify: %v\n%s", err, out)
	}
	if got := mustRead(t, file+".sig"); got != "# an older signature\n" {
		t.Errorf("%s.sig was written over", file)
	}
}
