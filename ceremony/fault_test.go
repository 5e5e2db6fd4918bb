package ceremony

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"custos/hsm"
	"custos/hsm/hsmtest"
	"custos/internal/media"
	"custos/ledger"
)

// p11Object is one object as stock pkcs11-tool --list-objects shows it.
type p11Object struct {
	Class, Label, ID string
	Access           []string
}

func (o p11Object) key() string { return o.Class + " " + o.Label + " " + o.ID }

// listObjects asks stock pkcs11-tool (another process, another view of
// the token) for every object on the token, logged in as the user.
func listObjects(t *testing.T, tk *hsmtest.Token) []p11Object {
	t.Helper()
	cmd := exec.Command("pkcs11-tool", "--module", hsmtest.ModulePath(), "--token-label", tk.Label,
		"--login", "--pin", string(tk.UserPIN), "--list-objects")
	var stderr strings.Builder
	cmd.Stderr = &stderr // its warnings (CKR_ATTRIBUTE_SENSITIVE on values) go there
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pkcs11-tool --list-objects on %s: %v\n%s%s", tk.Label, err, out, stderr.String())
	}
	var objs []p11Object
	for _, line := range strings.Split(string(out), "\n") {
		trim := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Secret Key Object"):
			objs = append(objs, p11Object{Class: "secret"})
		case strings.HasPrefix(line, "Private Key Object"):
			objs = append(objs, p11Object{Class: "private"})
		case strings.HasPrefix(line, "Public Key Object"):
			objs = append(objs, p11Object{Class: "public"})
		case line != "" && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "warning") && !strings.HasPrefix(line, "Using slot"):
			objs = append(objs, p11Object{Class: "other: " + line})
		case len(objs) > 0 && strings.HasPrefix(trim, "label:"):
			objs[len(objs)-1].Label = strings.TrimSpace(strings.TrimPrefix(trim, "label:"))
		case len(objs) > 0 && strings.HasPrefix(trim, "ID:"):
			objs[len(objs)-1].ID = strings.TrimSpace(strings.TrimPrefix(trim, "ID:"))
		case len(objs) > 0 && strings.HasPrefix(trim, "Access:"):
			for _, a := range strings.Split(strings.TrimPrefix(trim, "Access:"), ",") {
				objs[len(objs)-1].Access = append(objs[len(objs)-1].Access, strings.TrimSpace(a))
			}
		}
	}
	return objs
}

// ledgerHolds is what the ledger says the token with serial holds: for
// every key on it, its secret key, or the private and public halves.
func ledgerHolds(st *ledger.State, serial string) []string {
	var out []string
	for _, ks := range st.Keys {
		if !slices.Contains(ks.HeldOn(), serial) {
			continue
		}
		if hsm.KeyType(ks.Type).Secret() {
			out = append(out, "secret "+ks.Label+" "+ks.ID)
		} else {
			out = append(out, "private "+ks.Label+" "+ks.ID, "public "+ks.Label+" "+ks.ID)
		}
	}
	sort.Strings(out)
	return out
}

// consistent checks that the ledger verifies, that no ceremony is left
// unclosed, and that each token holds exactly what the ledger says, with
// no object beyond it: none unlabelled, no secret or private key that is
// not sensitive, no trusted key, none modifiable (seen both by pkcs11-tool
// and by a fresh session of this process, which also sees session objects).
func consistent(t *testing.T, l *ledger.Ledger, tokens ...*hsmtest.Token) error {
	t.Helper()
	if r := ledger.Verify(l.Dir(), ledger.Options{}); !r.OK {
		return fmt.Errorf("ledger does not verify: %v", r.Err())
	}
	st := l.State()
	if p := st.Pending(); p != nil {
		return fmt.Errorf("ceremony %s (%s) is not closed", p.Ceremony, p.Opening.Kind)
	}
	for _, tk := range tokens {
		want := ledgerHolds(st, tk.Serial)
		var got []string
		for _, o := range listObjects(t, tk) {
			got = append(got, o.key())
			if (o.Class == "secret" || o.Class == "private") && !slices.Contains(o.Access, "sensitive") {
				return fmt.Errorf("token %s: %s %q (id %s) is not sensitive", tk.Label, o.Class, o.Label, o.ID)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("token %s: pkcs11-tool lists\n  %s\nthe ledger says\n  %s", tk.Label, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		tok, err := tk.Module.OpenToken(hsm.Selector{Label: tk.Label})
		if err != nil {
			return err
		}
		err = tok.Login(tk.UserPIN)
		var objs []hsm.Object
		if err == nil {
			objs, err = tok.Objects()
		}
		tok.Close()
		if err != nil {
			return err
		}
		got = got[:0]
		for _, o := range objs {
			got = append(got, o.Class+" "+o.Label+" "+o.ID)
			if o.Trusted || o.Modifiable || !o.Token {
				return fmt.Errorf("token %s: %+v is trusted, modifiable or a session object left", tk.Label, o)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("token %s: a session of this process sees\n  %s\nthe ledger says\n  %s", tk.Label, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	return nil
}

// faultRun is one ceremony to run under faults: prepare sets up what it
// needs (without faults) and returns the script, the URI resume should
// use, and the tokens to check.
type faultRun struct {
	name    string
	prepare func(t *testing.T, n int) (s *Script, resumeURI string, tokens []*hsmtest.Token)
}

// runFaulted runs s with the fault plan f installed; a simulated crash
// comes back as crashed.
func runFaulted(b *bkEnv, s *Script, f *hsmtest.Faults) (crashed bool, err error) {
	undo := f.Install()
	defer undo()
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(hsmtest.Crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	_, _, err = b.run(s)
	return false, err
}

// faultEveryPoint runs the ceremony once to list its mutating PKCS#11
// calls, then once per call and per mode (fail before, fail after acting,
// crash before, crash after acting), resumes when the ceremony was left
// unclosed, and checks the ledger against the tokens each time.
func faultEveryPoint(t *testing.T, b *bkEnv, fr faultRun) {
	s, _, tokens := fr.prepare(t, 0)
	count := hsmtest.NewFaults(hsmtest.Point{}, 0)
	if crashed, err := runFaulted(b, s, count); err != nil || crashed {
		t.Fatalf("%s without faults: %v", fr.name, err)
	}
	// Uninterrupted, too, it leaves nothing the ledger does not name.
	if err := consistent(t, b.l, tokens...); err != nil {
		t.Fatalf("%s without faults: %v", fr.name, err)
	}
	points := count.Seen()
	if len(points) == 0 {
		t.Fatalf("%s made no mutating call", fr.name)
	}
	total, ok, resumed := 0, 0, 0
	for i, p := range points {
		for _, mode := range hsmtest.Modes {
			s, uri, tokens := fr.prepare(t, 1+i*len(hsmtest.Modes)+int(mode))
			f := hsmtest.NewFaults(p, mode)
			crashed, runErr := runFaulted(b, s, f)
			if !f.Fired() {
				t.Logf("%s: %s %s: not reached (this run made %v)", fr.name, p, mode, f.Seen())
				continue
			}
			total++
			if b.l.State().Pending() != nil {
				if _, err := Resume(b.l, ResumeOptions{HSM: uri, Signers: b.signers}); err != nil {
					t.Fatalf("%s: %s %s: resume: %v (run: crashed %v, %v)", fr.name, p, mode, err, crashed, runErr)
				}
				resumed++
			}
			if err := consistent(t, b.l, tokens...); err != nil {
				t.Errorf("%s: %s %s (crashed %v, run error %v): %v", fr.name, p, mode, crashed, runErr, err)
				continue
			}
			ok++
			t.Logf("%s %-12s → %s", p, mode, lastCeremony(t, b.l))
		}
	}
	t.Logf("%s: %d mutating calls %v", fr.name, len(points), points)
	fmt.Printf("%s: %d fault points, %d consistent (%d resumed)\n", fr.name, total, ok, resumed)
	if ok != total {
		t.Errorf("%s: %d fault points, %d consistent", fr.name, total, ok)
	}
}

// lastCeremony lists the kinds of the last ceremony's records.
func lastCeremony(t *testing.T, l *ledger.Ledger) string {
	t.Helper()
	var kinds []string
	cer := ""
	for seq := l.State().Seq; seq > 0; seq-- {
		rec, err := l.Record(seq)
		if err != nil {
			t.Fatal(err)
		}
		if cer != "" && rec.Ceremony != cer {
			break
		}
		cer = rec.Ceremony
		kinds = append([]string{rec.Kind}, kinds...)
	}
	return strings.Join(kinds, " → ")
}

func writeRecipient(t *testing.T, dir string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	p := filepath.Join(dir, "recipient.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFaultsEveryCall: for each of generate, export, destroy (AES and EC
// pair), backup, restore and rotate, a failure before and after every
// mutating PKCS#11 call, and a crash before and after each; after each
// (and resume when needed) the ledger verifies, the ceremony is closed,
// and every token holds exactly what the ledger names.
func TestFaultsEveryCall(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs every ceremony dozens of times")
	}
	b := newBackupEnv(t)
	uri, so, src := b.token("fault-src")
	recipient := writeRecipient(t, b.dir)
	var restoreRun func(typ string) func(t *testing.T, n int) (*Script, string, []*hsmtest.Token)
	gen := func(t *testing.T, label, typ string, exportable bool) {
		t.Helper()
		_, out, err := b.run(&Script{Kind: KindGenerate, HSM: uri, Operator: "alice",
			Key: &KeyPlan{Label: label, Type: typ, Owner: "o", Purpose: "p", Backup: !exportable, Exportable: exportable}})
		if err != nil {
			t.Fatalf("generate %s: %v\n%s", label, err, out)
		}
	}
	only := []*hsmtest.Token{src}
	restoreRun = func(typ string) func(t *testing.T, n int) (*Script, string, []*hsmtest.Token) {
		return func(t *testing.T, n int) (*Script, string, []*hsmtest.Token) {
			label := fmt.Sprintf("r-%s-%d", typ, n)
			gen(t, label, typ, false)
			id := fmt.Sprintf("rbk-%s-%d", typ, n)
			b.backup(uri, so, label, id, 2, "carol", "dave", "erin")
			dr, _, drTok := b.token("fault-dr")
			return b.restoreScript(dr, id, b.shareFile(id, 1, "carol"), b.shareFile(id, 2, "dave")), dr, []*hsmtest.Token{src, drTok}
		}
	}
	runs := []faultRun{
		{"generate aes-256", func(t *testing.T, n int) (*Script, string, []*hsmtest.Token) {
			return &Script{Kind: KindGenerate, HSM: uri, Operator: "alice",
				Key: &KeyPlan{Label: fmt.Sprintf("g-aes-%d", n), Type: "aes-256", Owner: "o", Purpose: "p", Backup: true}}, uri, only
		}},
		{"generate ec-p256", func(t *testing.T, n int) (*Script, string, []*hsmtest.Token) {
			return &Script{Kind: KindGenerate, HSM: uri, Operator: "alice",
				Key: &KeyPlan{Label: fmt.Sprintf("g-ec-%d", n), Type: "ec-p256", Owner: "o", Purpose: "p"}}, uri, only
		}},
		{"export", func(t *testing.T, n int) (*Script, string, []*hsmtest.Token) {
			label := fmt.Sprintf("x-%d", n)
			gen(t, label, "aes-256", true)
			return &Script{Kind: KindExport, HSM: uri, SOPINSource: so, Operator: "alice",
				Export: &ExportPlan{Key: label, Recipient: "bank", RecipientKey: recipient, Purpose: "p",
					Expires: Date{time.Now().AddDate(0, 1, 0)}, Output: filepath.Join(b.dir, label+".wrapped")}}, uri, only
		}},
		{"destroy aes-256", func(t *testing.T, n int) (*Script, string, []*hsmtest.Token) {
			label := fmt.Sprintf("d-aes-%d", n)
			gen(t, label, "aes-256", false)
			return &Script{Kind: KindDestroy, HSM: uri, Operator: "alice", Destroy: &DestroyPlan{Key: label, Reason: "test", Confirm: label}}, uri, only
		}},
		{"destroy ec-p256", func(t *testing.T, n int) (*Script, string, []*hsmtest.Token) {
			label := fmt.Sprintf("d-ec-%d", n)
			gen(t, label, "ec-p256", false)
			return &Script{Kind: KindDestroy, HSM: uri, Operator: "alice", Destroy: &DestroyPlan{Key: label, Reason: "test", Confirm: label}}, uri, only
		}},
		{"backup", func(t *testing.T, n int) (*Script, string, []*hsmtest.Token) {
			label := fmt.Sprintf("b-%d", n)
			gen(t, label, "ec-p256", false)
			return b.backupScript(uri, so, label, fmt.Sprintf("bk-%d", n), 2, "carol", "dave", "erin"), uri, only
		}},
		{"restore ec-p256", restoreRun("ec-p256")},
		{"restore aes-256", restoreRun("aes-256")},
		{"rotate", func(t *testing.T, n int) (*Script, string, []*hsmtest.Token) {
			old := fmt.Sprintf("ro-%d", n)
			gen(t, old, "aes-256", false)
			return &Script{Kind: KindRotate, HSM: uri, Operator: "alice",
				Key:    &KeyPlan{Label: old + "-next", Type: "aes-256", Owner: "o", Purpose: "p", Backup: true},
				Rotate: &RotatePlan{Key: old, RetireOn: Date{time.Now().AddDate(0, 0, 30)}}}, uri, only
		}},
	}
	for _, fr := range runs {
		t.Run(strings.ReplaceAll(fr.name, " ", "_"), func(t *testing.T) { faultEveryPoint(t, b, fr) })
	}
}

// stopAt runs s and stops it (as a kill would) when Run reaches step k.
func stopAt(b *bkEnv, s *Script, k StepKind) {
	e := &Engine{Ledger: b.l, Script: s, Signers: b.signers,
		OnStep: func(st Step) {
			if st.Kind == k {
				panic(hsmtest.Crash{Point: "step"})
			}
		}}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(hsmtest.Crash); !ok {
				panic(r)
			}
		}
	}()
	e.Run()
}

// TestResumeFinishesAfterOutcome: a ceremony interrupted after its outcome
// is finished by resume: a rotation gets its key.retirement.scheduled, and
// every ceremony its ceremony.closed.
func TestResumeFinishesAfterOutcome(t *testing.T) {
	b := newBackupEnv(t)
	uri, _, tk := b.token("resume-after")
	b.generate(uri, "old", "aes-256")
	rot := &Script{Kind: KindRotate, HSM: uri, Operator: "alice",
		Key:    &KeyPlan{Label: "new", Type: "aes-256", Owner: "o", Purpose: "p", Backup: true},
		Rotate: &RotatePlan{Key: "old", RetireOn: Date{time.Now().AddDate(0, 0, 30)}}}
	stopAt(b, rot, StepOutcome)
	if p := b.l.State().Pending(); p == nil || p.IntentOpen || p.Outcome != "key.generated" || p.Retired {
		t.Fatalf("after a stop at the outcome: pending %+v", p)
	}
	res, err := Resume(b.l, ResumeOptions{Signers: b.signers})
	if err != nil {
		t.Fatal(err)
	}
	if got := lastCeremony(t, b.l); got != "key.generate.intent → key.generated → key.retirement.scheduled → ceremony.closed" {
		t.Fatalf("resumed rotation: %s (%+v)", got, res)
	}
	if err := consistent(t, b.l, tk); err != nil {
		t.Fatal(err)
	}
	// A destroy stopped after key.destroyed only needs closing.
	stopAt(b, &Script{Kind: KindDestroy, HSM: uri, Operator: "alice", Destroy: &DestroyPlan{Key: "new", Reason: "test", Confirm: "new"}}, StepOutcome)
	if _, err := Resume(b.l, ResumeOptions{Signers: b.signers}); err != nil {
		t.Fatal(err)
	}
	if got := lastCeremony(t, b.l); got != "key.destroy.intent → key.destroyed → ceremony.closed" {
		t.Fatalf("resumed destroy: %s", got)
	}
	if err := consistent(t, b.l, tk); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(b.l, ResumeOptions{Signers: b.signers}); err == nil || !strings.Contains(err.Error(), "no interrupted ceremony") {
		t.Fatalf("resume with nothing to resume: %v", err)
	}
}

// TestFaultsSign: a sign ceremony (a detached signature, then a root
// certificate) failed before and after C_Sign, and crashed before and
// after it: resume settles each, the ledger verifies, every ceremony is
// closed, the token holds only its keys, and no key.signed is recorded
// unless its outputs were written with the digests it names.
func TestFaultsSign(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs the ceremony once per fault")
	}
	b := newBackupEnv(t)
	uri, _, tok := b.token("fault-sign")
	for _, typ := range []string{"ec-p384", "ed25519"} {
		if _, out, err := b.run(&Script{Kind: KindGenerate, HSM: uri, Operator: "alice",
			Key: &KeyPlan{Label: "s-" + typ, Type: typ, Owner: "o", Purpose: "p"}}); err != nil {
			t.Fatalf("generate: %v\n%s", err, out)
		}
	}
	file := filepath.Join(b.dir, "meta.json")
	if err := os.WriteFile(file, []byte(`{"v":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, fr := range []faultRun{
		{"sign detached", func(t *testing.T, n int) (*Script, string, []*hsmtest.Token) {
			out := filepath.Join(b.dir, fmt.Sprintf("meta-%d", n))
			return &Script{Kind: KindSign, HSM: uri, Operator: "alice", Sign: &SignPlan{Key: "s-ed25519", Purpose: "p",
				Detached: &DetachedPlan{File: file, Signature: out + ".sig", SSHSig: out + ".sshsig", Namespace: "file"}}}, uri, []*hsmtest.Token{tok}
		}},
		{"sign root certificate", func(t *testing.T, n int) (*Script, string, []*hsmtest.Token) {
			return &Script{Kind: KindSign, HSM: uri, Operator: "alice", Sign: &SignPlan{Key: "s-ec-p384", Purpose: "p",
				RootCertificate: &CertPlan{Sub: &NamePlan{CommonName: "Fault Root", Organization: []string{"Example"}},
					NotBefore: Date{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}, Validity: Duration{Days: 3650},
					KeyUsage: []string{"cert_sign", "crl_sign", "digital_signature"}, BasicConstraints: &BasicConstraintsPlan{CA: true},
					Output: filepath.Join(b.dir, fmt.Sprintf("root-%d.pem", n))}}}, uri, []*hsmtest.Token{tok}
		}},
	} {
		t.Run(fr.name, func(t *testing.T) {
			b.t = t
			faultEveryPoint(t, b, fr)
			// Every signature recorded names outputs that are there, whole.
			for seq := int64(1); seq <= b.l.State().Seq; seq++ {
				rec, err := b.l.Record(seq)
				if err != nil {
					t.Fatal(err)
				}
				if rec.Kind != "key.signed" {
					continue
				}
				for _, o := range rec.Facts["outputs"].([]any) {
					o := o.(map[string]any)
					data, err := os.ReadFile(o["file"].(string))
					if err != nil || media.SHA256(data) != o["sha256"] {
						t.Errorf("record %d names %v (sha256 %v), the file: %v", seq, o["file"], o["sha256"], err)
					}
				}
			}
		})
	}
}
