package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"custos/ceremony"
	"custos/hsm/hsmtest"
	"custos/ledger"
)

// formLab is a ledger (alice custodian; bob officer; carol custodian and
// officer; dave and erin custodians), its own SoftHSM token, enrolled, and
// the built custos in tmux at 80×24, started in the lab's directory: the
// workspace where the form saves its scripts. Every ceremony under test is
// written by the form; only the lab's setup (enrolment, a key to act on)
// runs hand-written scripts through custos run.
type formLab struct {
	t        *testing.T
	dir, bin string
	tok      *hsmtest.Standalone
	pin      string
	env      []string
	tm       *tmuxTerm
}

func newFormLab(t *testing.T, name string) *formLab {
	t.Helper()
	lab := newBareFormLab(t, name)
	lab.write("setup-enroll.yaml", fmt.Sprintf("kind: enroll\nhsm: %q\noperator: alice\n", lab.tok.URI))
	lab.custos("run", "setup-enroll.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
	return lab
}

// newBareFormLab is a formLab whose token the ledger has not enrolled.
func newBareFormLab(t *testing.T, name string) *formLab {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (scripts/setup.sh installs it)")
	}
	lab := &formLab{t: t, dir: t.TempDir()}
	lab.bin = os.Getenv("CUSTOS_BIN")
	if lab.bin == "" {
		lab.bin = filepath.Join(lab.dir, "custos")
		if out, err := exec.Command("go", "build", "-o", lab.bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	lab.bin, _ = filepath.Abs(lab.bin)
	roles := map[string]string{"alice": "custodian", "bob": "officer", "carol": "custodian, officer", "dave": "custodian", "erin": "custodian"}
	var roster strings.Builder
	roster.WriteString("members:\n")
	for _, n := range []string{"alice", "bob", "carol", "dave", "erin"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", n, "-f", filepath.Join(lab.dir, n)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub, _ := os.ReadFile(filepath.Join(lab.dir, n+".pub"))
		fmt.Fprintf(&roster, "  - name: %s\n    roles: [%s]\n    key: %s\n", n, roles[n], strings.TrimSpace(string(pub)))
	}
	roster.WriteString("policy:\n  approvals:\n")
	for _, k := range []string{"key.generate.intent", "backup.intent", "key.export.intent", "key.destroy.intent"} {
		fmt.Fprintf(&roster, "    %s: {roles: [officer], count: 1}\n", k)
	}
	lab.write("roster.yaml", roster.String())
	tok, err := hsmtest.NewStandalone(filepath.Join(lab.dir, "hsm"), name)
	if err != nil {
		t.Fatal(err)
	}
	lab.tok = tok
	pin, _ := os.ReadFile(tok.UserPINFile)
	so, _ := os.ReadFile(tok.SOPINFile)
	lab.pin = strings.TrimSpace(string(pin))
	lab.env = []string{"SOFTHSM2_CONF=" + tok.Conf, "NO_COLOR=1", "HOME=" + lab.dir}
	lab.custos("init", "L", "--roster", "roster.yaml", "--key", "alice=alice", "--key", "bob=bob", "--key", "carol=carol", "--key", "dave=dave", "--key", "erin=erin")
	lab.tm = &tmuxTerm{t: t, socket: fmt.Sprintf("custos-form-%s-%d", name, os.Getpid()), shots: map[string]string{},
		secrets: []string{lab.pin, strings.TrimSpace(string(so))}}
	t.Cleanup(func() {
		exec.Command("tmux", "-L", lab.tm.socket, "kill-server").Run()
		if d := os.Getenv("CUSTOS_SCREENS_DIR"); d != "" {
			for name, s := range lab.tm.shots {
				os.WriteFile(filepath.Join(d, name+".txt"), []byte(s), 0o644)
			}
		}
	})
	return lab
}

func (lab *formLab) write(name, body string) string {
	lab.t.Helper()
	p := filepath.Join(lab.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		lab.t.Fatal(err)
	}
	return p
}

func (lab *formLab) custos(args ...string) string {
	lab.t.Helper()
	cmd := exec.Command(lab.bin, args...)
	cmd.Dir, cmd.Env = lab.dir, append(os.Environ(), lab.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		lab.t.Fatalf("custos %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// setupKey generates a key by a hand-written script: setup, not the
// ceremony under test.
func (lab *formLab) setupKey(label, extra string) {
	lab.t.Helper()
	lab.write("setup-gen.yaml", fmt.Sprintf("kind: generate\nceremony: setup-%s\nhsm: %q\noperator: alice\nkey: {label: %s, type: aes-256, owner: payments, purpose: setup%s}\n", label, lab.tok.URI, label, extra))
	lab.custos("run", "setup-gen.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
}

// start opens the TUI on L, at Home.
func (lab *formLab) start() {
	shell := fmt.Sprintf("cd %s && env %s TERM=xterm-256color %s tui L; sleep 600", lab.dir, strings.Join(lab.env, " "), lab.bin)
	lab.tm.tmux("-f", "/dev/null", "new-session", "-d", "-s", "ui", "-x", "80", "-y", "24", shell)
	lab.tm.waitFor("", "Members", "n: new ceremony")
}

// newCeremony goes from Home to the form and picks the kind whose option
// starts with label ("sign —").
func (lab *formLab) newCeremony(label string) {
	lab.t.Helper()
	tm := lab.tm
	tm.keys("n")
	tm.waitFor("", "┃ Which ceremony?", label)
	for !strings.Contains(tm.capture(), "> "+label) {
		tm.keys("Down")
	}
	tm.keys("Enter")
}

// field waits until the form's focused field (marked ┃) is title.
func (lab *formLab) field(title string) string {
	lab.t.Helper()
	return lab.tm.waitFor("", "┃ "+title)
}

// answer types text into the focused field title and goes on.
func (lab *formLab) answer(title, text string) {
	lab.t.Helper()
	lab.field(title)
	if text != "" {
		lab.tm.text(text)
	}
	lab.tm.keys("Enter")
}

// people and token pages, common to every kind: alice operates, the
// witnesses are ticked by their place in the roster, PINs from the files
// given (blank: typed at the prompt).
func (lab *formLab) peopleAndToken(witnesses []int, pin, so string) {
	lab.t.Helper()
	lab.answer("Operator", "")
	lab.field("Witnesses")
	lab.tm.waitFor("", "bob (officer)")
	at := 0
	for _, w := range witnesses {
		for ; at < w; at++ {
			lab.tm.keys("Down")
		}
		lab.tm.keys("Space")
	}
	lab.tm.keys("Enter")
	lab.answer("Token", "")
	lab.answer("User PIN", pin)
	if so != "" {
		lab.answer("Security officer PIN", so)
	}
}

// names accepts the default ceremony id (and backup id), no notes, and the
// default file name; it returns the file name shown.
func (lab *formLab) names(backup bool) string {
	lab.t.Helper()
	lab.answer("Ceremony id", "")
	if backup {
		lab.answer("Backup id", "")
	}
	lab.answer("Notes", "")
	s := lab.field("Save the script as")
	m := regexp.MustCompile(`> ([A-Za-z0-9._-]+\.yaml)`).FindStringSubmatch(s[strings.Index(s, "Save the script as"):])
	if m == nil {
		lab.t.Fatalf("no file name shown:\n%s", s)
	}
	lab.tm.keys("Enter")
	return m[1]
}

// steps ticks through every step of the run, however many there are.
func (lab *formLab) steps() {
	lab.t.Helper()
	m := regexp.MustCompile(`step (\d+) of (\d+)`).FindStringSubmatch(lab.tm.waitFor("", "step 1 of"))
	n, _ := strconv.Atoi(m[2])
	for i := 1; i <= n; i++ {
		lab.tm.waitFor("", fmt.Sprintf("step %d of %d", i, n))
		lab.tm.tickAll()
	}
}

// whole is the screen s and, while it says more lines follow, the pages
// after it: a long done screen read to its end.
func (lab *formLab) whole(s string) string {
	lab.t.Helper()
	all := s
	for i := 0; i < 20 && strings.Contains(s, "more lines (↓/pgdn)"); i++ {
		lab.tm.keys("NPage")
		s = lab.tm.capture()
		all += "\n" + s
	}
	return all
}

// saved checks the script the form saved decodes with the strict decoder
// custos run uses, and that the ceremony's intent records its digest.
func (lab *formLab) saved(file, ceremonyID string) *ceremony.Script {
	lab.t.Helper()
	s, err := ceremony.LoadScript(filepath.Join(lab.dir, file))
	if err != nil {
		lab.t.Fatalf("the saved script: %v", err)
	}
	if s.Ceremony != ceremonyID {
		lab.t.Errorf("the saved script names ceremony %q, the run %q", s.Ceremony, ceremonyID)
	}
	for _, r := range lab.records() {
		if r.Ceremony == ceremonyID && strings.HasSuffix(r.Kind, ".intent") && r.Facts["script_sha256"] != s.SHA256 {
			lab.t.Errorf("%s records script_sha256 %v; the saved script is %s", r.Kind, r.Facts["script_sha256"], s.SHA256)
		}
	}
	return s
}

func (lab *formLab) records() []*ledger.Record {
	lab.t.Helper()
	l, err := ledger.Open(filepath.Join(lab.dir, "L"))
	if err != nil {
		lab.t.Fatal(err)
	}
	var out []*ledger.Record
	for r, err := range l.Records() {
		if err != nil {
			lab.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// record is the last record of ceremony id of that kind.
func (lab *formLab) record(id, kind string) *ledger.Record {
	lab.t.Helper()
	var found *ledger.Record
	for _, r := range lab.records() {
		if r.Ceremony == id && r.Kind == kind {
			found = r
		}
	}
	if found == nil {
		lab.t.Fatalf("no %s record of ceremony %s", kind, id)
	}
	return found
}

// logHead is the digest custos log gives the last record: the head the
// done screen must show.
func (lab *formLab) logHead() (string, []map[string]any) {
	lab.t.Helper()
	var rows []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(lab.custos("log", "L", "--json")), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			lab.t.Fatalf("custos log --json: %v: %s", err, l)
		}
		rows = append(rows, e)
	}
	d, _ := rows[len(rows)-1]["digest"].(string)
	return d, rows
}

// outcome checks the captured done screen shows each fact of rec as the
// ledger recorded it, and the head custos log ends at.
// done waits for the done screen and returns all its pages; it must show
// what the ledger recorded.
func (lab *formLab) done(shot, closed string) string {
	lab.t.Helper()
	// the outcome is read from the ledger once the run has ended
	lab.tm.waitFor("", closed)
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := lab.whole(lab.tm.capture())
		for range strings.Count(all, "more lines (↓/pgdn)") {
			lab.tm.keys("PPage")
		}
		if strings.Contains(all, "Recorded, to compare") || time.Now().After(deadline) {
			lab.tm.shots[shot] = all
			if !strings.Contains(all, "Recorded, to compare") {
				lab.t.Fatalf("the done screen never shows what was recorded:\n%s", all)
			}
			return all
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// noSpace is s without its spaces and line breaks.
func noSpace(s string) string { return strings.Join(strings.Fields(s), "") }

func (lab *formLab) outcome(done string, rec *ledger.Record, facts ...string) {
	lab.t.Helper()
	for _, f := range facts {
		v, _ := rec.Facts[f].(string)
		if v == "" {
			lab.t.Fatalf("%s (record %d) has no %s: %v", rec.Kind, rec.Seq, f, rec.Facts)
		}
		// values are grouped and wrapped to be read aloud: compared
		// without the spaces and line breaks
		if !strings.Contains(noSpace(done), noSpace(f+": "+v)) {
			lab.t.Errorf("the done screen does not show %s: %s (record %d):\n%s", f, v, rec.Seq, done)
		}
	}
	head, _ := lab.logHead()
	if !strings.Contains(noSpace(done), noSpace(head)) {
		lab.t.Errorf("the done screen does not show the head custos log ends at, %s:\n%s", head, done)
	}
	if out := lab.custos("verify", "L"); !strings.HasPrefix(out, "ok: ") {
		lab.t.Errorf("custos verify L: %s", out)
	}
}

// TestTUIFormGenerate: from Home, n; the form offers only generate on a
// ledger with no key; a key is chosen by label, type, owner, purpose,
// rotation and flags; the script it writes is shown, saved, planned and
// run with the PIN typed at the masked prompt; the done screen shows the
// key id, check value and head the ledger recorded.
func TestTUIFormGenerate(t *testing.T) {
	lab := newFormLab(t, "form-gen")
	lab.start()
	tm := lab.tm
	tm.keys("n")
	s := tm.waitFor("", "┃ Which ceremony?", "generate —")
	for _, k := range []string{"backup —", "export —", "destroy —"} {
		if strings.Contains(s, k) {
			t.Errorf("a ledger with no key offers %q:\n%s", k, s)
		}
	}
	tm.keys("Enter")
	lab.answer("Label of the new key", "kek-form")
	lab.field("Key type")
	tm.waitFor("", "aes-256", "ec-p384")
	tm.keys("Enter")
	lab.answer("Owner", "payments")
	lab.answer("Purpose", "wraps the payment data keys")
	// the policy names no vocabularies: free words, one each, optional
	lab.field("Environment")
	tm.waitFor("", "optional, one word")
	lab.answer("Environment", "production")
	lab.answer("Classification", "")
	lab.field("Rotation")
	tm.waitFor("form-rotation", "> 1y", "none")
	tm.keys("Enter")
	lab.field("Exportable?")
	tm.keys("y")
	lab.field("To be backed up?")
	tm.keys("n")
	lab.peopleAndToken([]int{1}, "", "")
	file := lab.names(false)
	tm.waitFor("form-script", "The script the form wrote", "label: kek-form", "witnesses: [bob]", "rotation: 1y")
	tm.keys("NPage")
	tm.waitFor("", "environment: production", "exportable: true")
	tm.keys("Enter")
	tm.waitFor("form-plan", "What will happen", "ceremony generate-kek-form (generate)", "script saved as", file)
	// The same file, by the command line: the plan it states is the one
	// on the screen.
	dry := lab.custos("run", file, "--ledger", "L", "--dry-run")
	for _, w := range []string{"ceremony generate-kek-form (generate)", "approvals: 1 by officer", "dry run: nothing was touched"} {
		if !strings.Contains(dry, w) {
			t.Errorf("custos run %s --dry-run does not say %q:\n%s", file, w, dry)
		}
	}
	tm.keys("Enter")
	tm.present("")
	tm.keys("c")
	tm.waitFor("", "The engine asks for a secret")
	tm.text(lab.pin)
	tm.keys("Enter")
	tm.waitFor("", "What is signed", "→ now alice (operator)")
	tm.keys("Enter")
	tm.waitFor("", "→ now bob (approver)")
	tm.keys("Enter")
	lab.steps()
	done := lab.done("form-done", "Ceremony generate-kek-form is closed")
	s2 := lab.saved(file, "generate-kek-form")
	if k := s2.Key; k.Label != "kek-form" || k.Type != "aes-256" || k.Rotation.Days != 365 || !k.Exportable || k.Backup || k.Environment != "production" || k.Classification != "" {
		t.Errorf("the saved script's key: %+v", k)
	}
	if in := lab.record("generate-kek-form", "key.generate.intent"); in.Facts["environment"] != "production" || in.Facts["classification"] != nil {
		t.Errorf("key.generate.intent: environment %v, classification %v", in.Facts["environment"], in.Facts["classification"])
	}
	gen := lab.record("generate-kek-form", "key.generated")
	if id, _ := gen.Facts["key_id"].(string); !strings.Contains(noSpace(done), noSpace("key_id: "+id)) {
		t.Errorf("the done screen does not show key id %s:\n%s", id, done)
	}
	lab.outcome(done, gen, "kcv_aes_cmac")
}

// TestTUIFormDestroy: the form offers the ledger's live key; the default
// file name steps past a file already there, which stays as it was; the
// label is typed in full at the plan, as for any destroy.
func TestTUIFormDestroy(t *testing.T) {
	lab := newFormLab(t, "form-destroy")
	lab.setupKey("old-kek", "")
	taken := lab.write("destroy-old-kek.yaml", "# a custodian's own notes\n")
	lab.start()
	tm := lab.tm
	tm.keys("n")
	tm.waitFor("", "┃ Which ceremony?", "rotate —", "destroy —")
	tm.keys("Down", "Down", "Enter")
	lab.field("Key to destroy")
	tm.waitFor("", "old-kek · aes-256")
	tm.keys("Enter")
	lab.answer("Reason", "superseded by kek-2027")
	lab.answer("Operator", "")
	lab.answer("Witnesses", "")
	lab.answer("Token", "")
	// The PIN itself, typed into the PIN source by mistake: refused, and
	// never on the screen (capture fails on any PIN of the token).
	lab.answer("User PIN", lab.pin)
	tm.waitFor("form-pin-refused", "want file:PATH, or leave it blank")
	tm.keys("C-u")
	tm.text("file:" + lab.tok.UserPINFile)
	tm.keys("Enter")
	file := lab.names(false)
	if file != "destroy-old-kek-2.yaml" {
		t.Errorf("the file name offered is %s, want destroy-old-kek-2.yaml (destroy-old-kek.yaml exists)", file)
	}
	tm.waitFor("", "The script the form wrote", "key: old-kek", "reason: superseded by kek-2027")
	tm.keys("Enter")
	tm.waitFor("", "What will happen", "cannot be undone")
	tm.keys("Enter")
	tm.text("old-kek")
	tm.keys("Enter")
	tm.present("")
	tm.keys("c")
	tm.waitFor("", "What is signed", "key.destroy.intent")
	tm.keys("Enter", "Enter")
	lab.steps()
	done := lab.whole(tm.waitFor("form-destroy-done", "Ceremony destroy-old-kek is closed", `destroyed key "old-kek"`))
	lab.saved(file, "destroy-old-kek")
	if b, _ := os.ReadFile(taken); string(b) != "# a custodian's own notes\n" {
		t.Errorf("%s was written over: %q", taken, b)
	}
	rec := lab.record("destroy-old-kek", "key.destroyed")
	if id, _ := rec.Facts["key_id"].(string); !strings.Contains(noSpace(done), noSpace("key_id: "+id)) {
		t.Errorf("the done screen does not show key id %s:\n%s", id, done)
	}
	lab.outcome(done, rec)
	_, rows := lab.logHead()
	last := rows[len(rows)-2] // before ceremony.closed
	if last["kind"] != "key.destroyed" || last["actor"] != "alice" {
		t.Errorf("custos log: %v", last)
	}
}

// TestTUIFormBackup: a backup 2-of-3 to carol, dave and erin, chosen in
// the form from the members who may hold a share; each holder's screen
// shows the file digest and commitment the ledger recorded, and the done
// screen the wrapping key's check value and the blob's digest.
func TestTUIFormBackup(t *testing.T) {
	lab := newFormLab(t, "form-backup")
	lab.setupKey("root-bk", ", backup: true")
	if err := os.Mkdir(filepath.Join(lab.dir, "media"), 0o700); err != nil {
		t.Fatal(err)
	}
	lab.start()
	tm := lab.tm
	tm.keys("n")
	tm.waitFor("", "┃ Which ceremony?", "backup —")
	tm.keys("Down", "Enter")
	lab.field("Key to back up")
	tm.waitFor("", "root-bk · aes-256")
	tm.keys("Enter")
	lab.field("Share holders")
	tm.waitFor("form-holders", "alice", "carol", "dave", "erin")
	tm.keys("Down", "Space", "Down", "Space", "Down", "Space", "Enter")
	lab.field("Threshold")
	tm.waitFor("", "2 of 3", "3 of 3")
	tm.keys("Enter")
	lab.answer("Medium for the wrapped key", filepath.Join(lab.dir, "media", "root-bk.wrapped"))
	lab.answer("Directory for the share files", "")
	lab.field("Word cards too?")
	tm.keys("n")
	lab.peopleAndToken([]int{1}, "file:"+lab.tok.UserPINFile, "file:"+lab.tok.SOPINFile)
	file := lab.names(true)
	tm.waitFor("form-backup-script", "The script the form wrote", "id: root-bk.bk1", "threshold: 2")
	tm.keys("NPage")
	tm.waitFor("", "holders: [carol, dave, erin]", "share_dir: shares")
	tm.keys("Enter")
	tm.waitFor("", "What will happen", "ceremony backup-root-bk (backup)")
	tm.keys("Enter")
	tm.present("")
	tm.keys("c")
	tm.waitFor("", "What is signed", "backup.intent")
	tm.keys("Enter", "Enter")
	lab.steps()
	tm.waitFor("", "Share holder 1 of 3: carol")
	split := lab.record("backup-root-bk", "backup.split")
	holders, _ := split.Facts["holders"].([]any)
	if len(holders) != 3 {
		t.Fatalf("backup.split holders: %v", split.Facts["holders"])
	}
	for i, n := range []string{"carol", "dave", "erin"} {
		tm.waitFor("", fmt.Sprintf("Share holder %d of 3: %s", i+1, n))
		tm.keys("Enter")
		s := tm.waitFor("", n+": your share", "read back from the medium and checked")
		h, _ := holders[i].(map[string]any)
		for _, f := range []string{"file_sha256", "commitment"} {
			v, _ := h[f].(string)
			if h["member"] != n || v == "" || !strings.Contains(noSpace(s), noSpace(v[:min(40, len(v))])) {
				t.Errorf("%s's screen does not show the %s recorded (%v):\n%s", n, f, h, s)
			}
		}
		tm.keys("Enter")
	}
	done := lab.done("form-backup-done", "Ceremony backup-root-bk is closed")
	s := lab.saved(file, "backup-root-bk")
	if b := s.Backup; b.Threshold != 2 || strings.Join(b.Holders, ",") != "carol,dave,erin" || b.ID != "root-bk.bk1" || b.Cards {
		t.Errorf("the saved script's backup: %+v", b)
	}
	if split.Facts["m"] != json.Number("2") && fmt.Sprint(split.Facts["m"]) != "2" {
		t.Errorf("backup.split m: %v", split.Facts["m"])
	}
	lab.outcome(done, split, "wrapping_key_kcv_cmac", "blob_sha256")
}

// TestTUIFormExport: an export to a recipient's RSA key chosen in the
// form; the request is written from the people screen, carol approves it
// elsewhere with custos approve, her approval is attached as a file; the
// done screen shows the output's digest as recorded, which is the
// digest of the file written.
func TestTUIFormExport(t *testing.T) {
	lab := newFormLab(t, "form-export")
	lab.setupKey("kek-ex", ", exportable: true")
	k, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pubFile := lab.write("partner.pub.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	out := filepath.Join(lab.dir, "kek-ex.partner.wrapped")
	lab.start()
	tm := lab.tm
	tm.keys("n")
	tm.waitFor("form-kind", "┃ Which ceremony?", "backup —", "export —", "destroy —")
	tm.keys("Down", "Down", "Enter")
	lab.field("Key to export")
	tm.waitFor("", "kek-ex · aes-256")
	tm.keys("Enter")
	lab.answer("Recipient", "partner-bank")
	lab.field("Recipient's RSA public key")
	tm.text(filepath.Join(lab.dir, "missing.pem"))
	tm.keys("Enter")
	tm.waitFor("form-bad-pem", "no such file")
	tm.keys("C-u")
	tm.text(pubFile)
	tm.keys("Enter")
	lab.answer("Purpose", "settlement link")
	lab.answer("Expires", "")
	lab.answer("Output file", out)
	lab.peopleAndToken(nil, "file:"+lab.tok.UserPINFile, "file:"+lab.tok.SOPINFile)
	file := lab.names(false)
	tm.waitFor("form-export-script", "The script the form wrote", "recipient: partner-bank", "purpose: settlement link")
	tm.keys("NPage")
	tm.waitFor("", "expires: ", "output: "+out[:40])
	tm.keys("Enter")
	tm.waitFor("", "What will happen", "ceremony export-kek-ex (export)")
	tm.keys("Enter")
	tm.waitFor("", "Who is present")
	req := filepath.Join(lab.dir, "req.json")
	tm.keys("o")
	tm.text(req)
	tm.keys("Enter")
	tm.waitFor("", "request written to")
	// carol, elsewhere, with her own copy of the ledger
	if o := lab.custos("approve", req, "--ledger", "L", "--key", "carol=carol", "-o", "carol.sig", "--yes"); !strings.Contains(o, "key.export.intent") {
		t.Errorf("custos approve: %s", o)
	}
	tm.keys("a")
	tm.text(filepath.Join(lab.dir, "carol.sig"))
	tm.keys("Enter")
	tm.waitFor("", "approval of carol attached")
	tm.keys("Enter")
	tm.text("alice")
	tm.keys("Enter")
	tm.waitFor("form-export-people", "alice is present", "✓ approval file", "Everyone needed is present")
	tm.keys("c")
	tm.waitFor("", "What is signed", "key.export.intent", "carol (approval file")
	tm.keys("Enter")
	lab.steps()
	done := lab.done("form-export-done", "Ceremony export-kek-ex is closed")
	lab.saved(file, "export-kek-ex")
	intent := lab.record("export-kek-ex", "key.export.intent")
	if len(intent.Approvals) != 1 || intent.Approvals[0].Member != "carol" {
		t.Errorf("the intent's approvals: %+v", intent.Approvals)
	}
	exported := lab.record("export-kek-ex", "key.exported")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got, _ := exported.Facts["output_sha256"].(string); got != hex.EncodeToString(sum[:]) {
		t.Errorf("key.exported output_sha256 %s, the file %x", got, sum)
	}
	lab.outcome(done, exported, "output_sha256")
	_, rows := lab.logHead()
	for _, r := range rows {
		if r["kind"] == "key.export.intent" && fmt.Sprint(r["approvers"]) != "[carol]" {
			t.Errorf("custos log: the export intent approved by %v", r["approvers"])
		}
	}
}

// TestTUIFormRotate: the form starts the new version from the old key
// (label counted up, type, owner, purpose) and schedules the old one's
// retirement; the ledger records both, the done screen the new key's
// check value.
func TestTUIFormRotate(t *testing.T) {
	lab := newFormLab(t, "form-rotate")
	lab.setupKey("kek-2026", ", environment: staging")
	lab.start()
	tm := lab.tm
	tm.keys("n")
	tm.waitFor("", "┃ Which ceremony?", "rotate —")
	tm.keys("Down", "Enter")
	lab.field("Key to rotate")
	tm.waitFor("", "kek-2026 · aes-256")
	tm.keys("Enter")
	lab.answer("Retire the old version on", "")
	lab.field("Label of the new key")
	tm.waitFor("form-rotate-label", "> kek-2027")
	tm.keys("Enter")
	lab.answer("Key type", "")
	lab.field("Owner")
	tm.waitFor("", "> payments")
	tm.keys("Enter")
	lab.answer("Purpose", "")
	lab.field("Environment")
	tm.waitFor("", "> staging") // the old version's
	tm.keys("Enter")
	lab.answer("Classification", "")
	lab.field("Rotation")
	tm.waitFor("", "> 1y") // its options are made once the page shows
	tm.keys("Enter")
	lab.field("Exportable?")
	tm.keys("n")
	lab.field("To be backed up?")
	tm.keys("n")
	lab.peopleAndToken([]int{1}, "file:"+lab.tok.UserPINFile, "")
	file := lab.names(false)
	tm.waitFor("", "The script the form wrote", "kind: rotate", "label: kek-2027")
	tm.keys("NPage")
	tm.waitFor("", "rotate:", "key: kek-2026", "retire_on: ")
	tm.keys("Enter")
	tm.waitFor("", "What will happen", "ceremony rotate-kek-2026 (rotate)", `schedule the retirement of "kek-2026"`)
	tm.keys("Enter")
	tm.present("")
	tm.keys("c")
	tm.waitFor("", "What is signed", "key.generate.intent")
	tm.keys("Enter", "Enter")
	lab.steps()
	done := lab.done("form-rotate-done", "Ceremony rotate-kek-2026 is closed")
	s := lab.saved(file, "rotate-kek-2026")
	gen := lab.record("rotate-kek-2026", "key.generated")
	lab.outcome(done, gen, "kcv_aes_cmac")
	if in := lab.record("rotate-kek-2026", "key.generate.intent"); in.Facts["environment"] != "staging" {
		t.Errorf("the new version's environment %v; the old one's is staging", in.Facts["environment"])
	}
	ret := lab.record("rotate-kek-2026", "key.retirement.scheduled")
	if ret.Facts["label"] != "kek-2026" || ret.Facts["retire_on"] != s.Rotate.RetireOn.String() || ret.Facts["successor"] != gen.Facts["key_id"] {
		t.Errorf("key.retirement.scheduled: %v; the new key %v", ret.Facts, gen.Facts["key_id"])
	}
}

// TestTUIFormRestore: after a backup and the key's destruction (setup),
// the form offers the backup, its medium and share files as the ledger
// recorded them; carol and dave enter their age files with their own
// keys; the restored key's check value on the done screen is the one
// recorded at its generation.
func TestTUIFormRestore(t *testing.T) {
	lab := newFormLab(t, "form-restore")
	lab.setupKey("root-rs", ", backup: true")
	if err := os.Mkdir(filepath.Join(lab.dir, "media"), 0o700); err != nil {
		t.Fatal(err)
	}
	media := filepath.Join(lab.dir, "media", "root-rs.wrapped")
	lab.write("setup-backup.yaml", fmt.Sprintf("kind: backup\nceremony: setup-bk\nhsm: %q\nso_pin_source: \"file:%s\"\noperator: alice\nbackup: {key: root-rs, id: root-rs.bk1, threshold: 2, holders: [carol, dave, erin], media: %s, share_dir: shares}\n", lab.tok.URI, lab.tok.SOPINFile, media))
	lab.custos("run", "setup-backup.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
	lab.write("setup-destroy.yaml", fmt.Sprintf("kind: destroy\nceremony: setup-destroy\nhsm: %q\noperator: alice\ndestroy: {key: root-rs, reason: lost, confirm: root-rs}\n", lab.tok.URI))
	lab.custos("run", "setup-destroy.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
	lab.start()
	tm := lab.tm
	tm.keys("n")
	tm.waitFor("", "┃ Which ceremony?", "restore —")
	tm.keys("Down", "Enter")
	lab.field("Backup to restore from")
	tm.waitFor("", "root-rs.bk1 · key root-rs (destroyed) · 2 of 3: carol, dave, erin")
	tm.keys("Enter")
	lab.field("The wrapped key's medium")
	tm.waitFor("", "> "+media[:40])
	tm.keys("Enter")
	lab.field("Share files offered at the share screen")
	tm.waitFor("", "shares/root-rs.bk1-share1-carol.age", "shares/root-rs.bk1-share3-erin.age")
	tm.keys("Enter")
	lab.peopleAndToken([]int{1}, "file:"+lab.tok.UserPINFile, "")
	file := lab.names(false)
	tm.waitFor("", "The script the form wrote", "kind: restore", "backup: root-rs.bk1")
	tm.keys("Enter")
	tm.waitFor("", "What will happen", "ceremony restore-root-rs.bk1 (restore)")
	tm.keys("Enter")
	tm.waitFor("", "0 of the 2 needed")
	for i, n := range []string{"carol", "dave"} {
		tm.keys("f")
		tm.waitFor("", fmt.Sprintf("share%d-%s.age", i+1, n))
		tm.keys("Enter")
		tm.waitFor("", "is encrypted: type the holder's key file")
		tm.text(filepath.Join(lab.dir, n))
		tm.keys("Enter")
		tm.waitFor("", fmt.Sprintf("share %d of %s accepted", i+1, n))
	}
	tm.waitFor("", "Enough good shares")
	tm.keys("c")
	tm.present("")
	tm.keys("c")
	tm.waitFor("", "What is signed", "key.restore.intent")
	tm.keys("Enter", "Enter")
	lab.steps()
	done := lab.done("form-restore-done", "Ceremony restore-root-rs.bk1 is closed")
	lab.saved(file, "restore-root-rs.bk1")
	restored := lab.record("restore-root-rs.bk1", "key.restored")
	lab.outcome(done, restored, "kcv_aes_cmac")
	if gen := lab.record("setup-root-rs", "key.generated"); gen.Facts["kcv_aes_cmac"] != restored.Facts["kcv_aes_cmac"] {
		t.Errorf("restored check value %v, generated %v", restored.Facts["kcv_aes_cmac"], gen.Facts["kcv_aes_cmac"])
	}
}

// TestTUIFormSign: once the ledger holds a key pair the form offers a
// detached signature over a file, the outputs named after it; bob
// approves at the screen; stock openssl and ssh-keygen verify the
// signatures against the public key the generation wrote.
func TestTUIFormSign(t *testing.T) {
	lab := newFormLab(t, "form-sign")
	pem, ssh := filepath.Join(lab.dir, "rel.pem"), filepath.Join(lab.dir, "rel.pub")
	lab.write("setup-gen.yaml", fmt.Sprintf("kind: generate\nceremony: setup-rel\nhsm: %q\noperator: alice\nkey: {label: rel-2026, type: ec-p256, owner: releases, purpose: signs releases, public_key: {pem: %s, ssh: %s}}\n", lab.tok.URI, pem, ssh))
	lab.custos("run", "setup-gen.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
	file := lab.write("release.json", `{"version":"1.4.0"}`+"\n")
	lab.start()
	tm := lab.tm
	tm.keys("n")
	tm.waitFor("form-sign-kind", "┃ Which ceremony?", "sign —")
	tm.keys("Down", "Down", "Enter")
	lab.field("Key to sign with")
	tm.waitFor("", "rel-2026 · ec-p256")
	tm.keys("Enter")
	lab.field("What does the key sign?")
	tm.keys("Enter")
	lab.answer("File to sign", file)
	lab.answer("Purpose", "release 1.4.0 metadata")
	lab.field("Raw signature file")
	tm.waitFor("form-sign-outputs", "> "+file+".sig", "> "+file+".sshsig", "> file")
	tm.keys("Enter")
	lab.answer("SSH signature file", "")
	lab.answer("SSH signature namespace", "")
	lab.peopleAndToken([]int{1}, "file:"+lab.tok.UserPINFile, "")
	name := lab.names(false)
	tm.waitFor("form-sign-script", "The script the form wrote", "kind: sign", "key: rel-2026", "detached:")
	tm.keys("Enter")
	tm.waitFor("", "What will happen", "ceremony sign-release.json (sign)", "CKM_ECDSA")
	tm.keys("Enter")
	tm.present("")
	tm.keys("c")
	tm.waitFor("", "What is signed", "key.sign.intent")
	tm.keys("Enter", "Enter")
	lab.steps()
	done := lab.done("form-sign-done", "Ceremony sign-release.json is closed")
	s := lab.saved(name, "sign-release.json")
	if d := s.Sign.Detached; d == nil || d.File != file || d.Signature != file+".sig" || d.SSHSig != file+".sshsig" || d.Namespace != "file" {
		t.Errorf("the saved script's sign: %+v", s.Sign)
	}
	signed := lab.record("sign-release.json", "key.signed")
	lab.outcome(done, signed, "key_id", "tbs_sha256", "signature_sha256")
	body, _ := os.ReadFile(file)
	if sum := sha256.Sum256(body); signed.Facts["tbs_sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("key.signed tbs_sha256 %v; the file's is %x", signed.Facts["tbs_sha256"], sum)
	}
	if out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pem, "-signature", file+".sig", file).CombinedOutput(); err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Errorf("openssl dgst -verify: %v\n%s", err, out)
	}
	pub, _ := os.ReadFile(ssh)
	allowed := lab.write("allowed", "rel-2026 "+string(pub))
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	vf := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "rel-2026", "-n", "file", "-s", file+".sshsig")
	vf.Stdin = in
	if out, err := vf.CombinedOutput(); err != nil {
		t.Errorf("ssh-keygen -Y verify: %v\n%s", err, out)
	}
}
