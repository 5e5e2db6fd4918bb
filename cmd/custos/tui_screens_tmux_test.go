package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"custos/ceremony"
	"custos/hsm/hsmtest"
	"custos/ledger"
	"custos/report"
	"custos/sign"
)

// TestTUIScreensWhole opens, in tmux at 80×24 and at 120×40, the built
// custos on a ledger made by the scripted commands on a real SoftHSM
// token (a generate, its rotation, an export of the successor), runs a
// generate ceremony at the screen, and visits every screen: home, the key
// list and each key's life, the timeline (filtered too), every record,
// verify and verify against the genesis words, help, and a tampered copy
// opened read-only. On every capture no line ends in "…", and the values
// shown equal the ledger's: each record's digest (hex in blocks of four)
// and its 32 words numbered, each fact's hex value, the head after the
// ceremony, key ids, check values and the export's output SHA-256.
func TestTUIScreensWhole(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is required (scripts/setup.sh installs it)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "custos")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tok, err := hsmtest.NewStandalone(filepath.Join(dir, "hsm"), "tui-whole")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SOFTHSM2_CONF=" + tok.Conf, "NO_COLOR=1", "HOME=" + dir}
	t.Setenv("SOFTHSM2_CONF", tok.Conf) // the intent interrupt() records
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
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
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
	rk, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	write("partner.pub.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	write("roster.yaml", fmt.Sprintf(`members:
  - name: alice
    roles: [custodian]
    key: %s
  - name: bob
    roles: [officer]
    key: %s
policy:
  approvals:
    key.generate.intent: {roles: [officer], count: 1}
    key.export.intent: {roles: [officer], count: 1}
`, pub("alice"), pub("bob")))
	keys := []string{"--key", "alice=alice", "--key", "bob=bob"}
	init := custos(append([]string{"init", "L", "--roster", "roster.yaml"}, keys...)...)
	m := regexp.MustCompile(`genesis words:\s+(.+)`).FindStringSubmatch(init)
	if m == nil {
		t.Fatalf("custos init printed no genesis words:\n%s", init)
	}
	genesisWords := m[1]
	write("enroll.yaml", fmt.Sprintf("kind: enroll\nhsm: %q\noperator: alice\n", tok.URI))
	custos(append([]string{"run", "enroll.yaml", "--ledger", "L"}, keys...)...)
	write("gen.yaml", fmt.Sprintf("kind: generate\nceremony: kek-2026\nhsm: %q\noperator: alice\nwitnesses: [bob]\nkey:\n  label: kek-2026\n  type: aes-256\n  owner: payments\n  purpose: wraps the payment data keys\n  rotation: 1y\n", tok.URI))
	custos(append([]string{"run", "gen.yaml", "--ledger", "L"}, keys...)...)
	write("rotate.yaml", fmt.Sprintf("kind: rotate\nceremony: kek-2027-rotation\nhsm: %q\noperator: alice\nwitnesses: [bob]\nrotate:\n  key: kek-2026\n  retire_on: 2027-03-01\nkey:\n  label: kek-2027\n  type: aes-256\n  owner: payments\n  purpose: wraps the payment data keys\n  rotation: 1y\n  exportable: true\n", tok.URI))
	custos(append([]string{"run", "rotate.yaml", "--ledger", "L"}, keys...)...)
	write("export.yaml", fmt.Sprintf("kind: export\nceremony: kek-2027-export\nhsm: %q\noperator: alice\nwitnesses: [bob]\nso_pin_source: \"file:%s\"\nexport:\n  key: kek-2027\n  recipient: partner-bank\n  recipient_key: partner.pub.pem\n  purpose: shared KEK for the settlement link\n  expires: 2027-12-31\n  output: kek-2027.partner.wrapped\n", tok.URI, tok.SOPINFile))
	custos(append([]string{"run", "export.yaml", "--ledger", "L"}, keys...)...)

	pinB, _ := os.ReadFile(tok.UserPINFile)
	pin := strings.TrimSpace(string(pinB))
	uri, _, _ := strings.Cut(tok.URI, "&pin-source")
	ledgerDir := filepath.Join(dir, "L")
	shotsDir := os.Getenv("CUSTOS_SCREENS_DIR")

	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			label := fmt.Sprintf("kek-tui-%d", w)
			write(label+".yaml", fmt.Sprintf("kind: generate\nceremony: %s\nhsm: %q\noperator: alice\nwitnesses: [bob]\nkey:\n  label: %s\n  type: aes-256\n  owner: payments\n  purpose: wraps data keys\n  rotation: 1y\n", label, uri, label))
			shell := fmt.Sprintf("cd %s && env %s TERM=xterm-256color %s tui L; sleep 60", dir, strings.Join(env, " "), bin)
			tm := newTmux(t, fmt.Sprintf("whole-%d", w), w, h, shell, pin)
			whole := func(name, s string) {
				t.Helper()
				for i, l := range strings.Split(s, "\n") {
					if strings.HasSuffix(strings.TrimRight(l, " "), "…") {
						t.Errorf("%s: line %d is cut: %q\n%s", name, i+1, l, s)
					}
				}
				if n := len(strings.Split(strings.TrimRight(s, "\n"), "\n")); n > h {
					t.Errorf("%s: %d lines on a %d-line terminal", name, n, h)
				}
			}
			// all is every page of a scrolling screen, each checked.
			all := func(name string) string {
				t.Helper()
				s := tm.capture()
				whole(name, s)
				out := s
				pages := 0
				for ; strings.Contains(s, "more lines (↓/pgdn)") && pages < 20; pages++ {
					tm.keys("NPage")
					s = tm.capture()
					whole(name, s)
					out += s
				}
				for range pages {
					tm.keys("PPage") // back to the top, where "→ now" stands
				}
				tm.shots[name] = out
				return out
			}

			// a ceremony at the screen
			tm.waitFor("", "Members", "alice", "kek-2027")
			all("home")
			tm.keys("r")
			tm.waitFor("", "Which ceremony?")
			tm.text(label + ".yaml")
			tm.keys("Enter")
			tm.waitFor("", "What will happen")
			all("plan")
			tm.keys("Escape")
			tm.waitFor("", "Abandon the ceremony "+label+"?", "Nothing has been recorded")
			all("confirm-abandon")
			tm.keys("n")
			tm.waitFor("", "What will happen")
			tm.keys("Enter")
			tm.present("")
			all("people")
			tm.keys("c")
			tm.waitFor("", "The engine asks for a secret")
			tm.text(pin)
			tm.waitFor("", strings.Repeat("•", len(pin)))
			all("prompt")
			tm.keys("Enter")
			tm.waitFor("", "What is signed", "→ now alice (operator)")
			sign := all("sign")
			tm.keys("Enter")
			tm.waitFor("", "→ now bob (approver)")
			tm.keys("Enter")
			tm.waitFor("", "Step 1:")
			hsmTicks := 0
			for i := 1; i <= 4; i++ {
				tm.waitFor("", fmt.Sprintf("step %d of 4", i))
				page := all(fmt.Sprintf("step-%d", i))
				// the checklist records nothing: the bar says so
				if !strings.Contains(page, "recorded: [") || !strings.Contains(page, "] 0/4") {
					t.Errorf("step %d: the bar does not show nothing recorded:\n%s", i, page)
				}
				hsmTicks += strings.Count(page, "keeps the HSM connected")
				tm.tickAll()
			}
			if hsmTicks != 1 {
				t.Errorf("the HSM tick is asked on %d step pages, want once", hsmTicks)
			}
			tm.waitFor("", "Ceremony "+label+" is closed", "Recorded, to compare")
			done := all("done")

			l, err := ledger.Open(ledgerDir)
			if err != nil {
				t.Fatal(err)
			}
			head, _ := l.Head()
			shows(t, "done", done, head)
			showsWords(t, "done", done, head)
			var gen *ledger.Record
			for rec, err := range l.Records() {
				if err != nil {
					t.Fatal(err)
				}
				if rec.Ceremony == label && rec.Kind == "key.generated" {
					gen = rec
				}
				if rec.Ceremony == label && rec.Kind == "key.generate.intent" {
					d, _ := rec.SigningDigest()
					shows(t, "sign", sign, d)
					showsWords(t, "sign", sign, d)
				}
			}
			if gen == nil {
				t.Fatal("no key.generated of the ceremony at the screen")
			}
			for _, k := range []string{"key_id", "kcv_aes_cmac"} {
				shows(t, "done", done, fmt.Sprint(gen.Facts[k]))
			}

			// an export at the screen: its output file's SHA-256 on the
			// done screen, as recorded
			exp := fmt.Sprintf("export-%d", w)
			write(exp+".yaml", fmt.Sprintf("kind: export\nceremony: %s\nhsm: %q\noperator: alice\nwitnesses: [bob]\nso_pin_source: \"file:%s\"\nexport:\n  key: kek-2027\n  recipient: partner-bank\n  recipient_key: partner.pub.pem\n  purpose: shared KEK for the settlement link\n  expires: 2027-12-31\n  output: %s.wrapped\n", exp, uri, tok.SOPINFile, exp))
			tm.keys("Enter")
			tm.waitFor("", "Members", label)
			tm.keys("r")
			tm.waitFor("", "Which ceremony?")
			tm.text(exp + ".yaml")
			tm.keys("Enter")
			tm.waitFor("", "What will happen", "partner-bank")
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
			for i := 1; i <= 5; i++ {
				page := tm.waitFor("", fmt.Sprintf("step %d of 5", i))
				if i == 1 && !strings.Contains(space.ReplaceAllString(page, ""), space.ReplaceAllString("compared the SHA-256 of the recipient's key, read aloud, with what partner-bank sent by another channel", "")) {
					t.Errorf("the export's first step asks no comparison of the recipient key's digest:\n%s", page)
				}
				tm.tickAll()
			}
			// the wrap opens its own session on the token: the PIN again
			tm.waitFor("", "The engine asks for a secret", "user PIN of token")
			tm.text(pin)
			tm.keys("Enter")
			tm.waitFor("", "Ceremony "+exp+" is closed", "Recorded, to compare")
			expDone := all("export-done")
			if err := l.Refresh(); err != nil {
				t.Fatal(err)
			}
			for rec, err := range l.Records() {
				if err != nil {
					t.Fatal(err)
				}
				if rec.Ceremony == exp && rec.Kind == "key.export.intent" {
					shows(t, "export done", expDone, fmt.Sprint(rec.Facts["recipient_key_spki_sha256"]))
				}
				if rec.Ceremony == exp && rec.Kind == "key.exported" {
					for _, k := range []string{"output_sha256", "key_id"} {
						if v := fmt.Sprint(rec.Facts[k]); v == "" || v == "<nil>" {
							t.Errorf("key.exported has no %s", k)
						} else {
							shows(t, "export done", expDone, v)
						}
					}
				}
			}
			head, _ = l.Head()
			shows(t, "export done", expDone, head)
			inv, err := report.Build(l, report.Options{})
			if err != nil {
				t.Fatal(err)
			}

			// home, the key list and each key's life
			tm.keys("Enter")
			tm.waitFor("", "Members", exp)
			shows(t, "home", all("home"), head)
			tm.keys("i")
			tm.waitFor("", "Keys")
			list := all("keys")
			for _, k := range inv.Inventory {
				shows(t, "keys", list, k.ID)
			}
			for i, k := range inv.Inventory {
				if i > 0 {
					tm.keys("Down")
				}
				tm.keys("Enter")
				tm.waitFor("", "Key "+k.Label)
				d := all("key-" + k.Label)
				shows(t, "key "+k.Label, d, k.ID)
				if _, v, ok := strings.Cut(k.CheckValue, ":"); ok {
					shows(t, "key "+k.Label, d, v)
				}
				for _, x := range k.Exports {
					shows(t, "key "+k.Label, d, x.OutputSHA256)
				}
				if k.Label == "kek-2027" && strings.Contains(d, "retires") {
					t.Errorf("the successor shows its predecessor's retirement:\n%s", d)
				}
				if k.Label == "kek-2026" && !strings.Contains(d, "retires 2027-03-01") {
					t.Errorf("the rotated key does not show its retirement:\n%s", d)
				}
				tm.keys("Escape")
			}
			tm.keys("/")
			tm.text("2027")
			tm.waitFor("", "filter: 2027")
			filtered := all("keys-filtered")
			if strings.Contains(filtered, label) || !strings.Contains(filtered, "kek-2027") {
				t.Errorf("the key list filtered by 2027:\n%s", filtered)
			}
			tm.keys("Enter", "Escape", "Escape")

			// the timeline, every record, the filter
			tm.keys("l")
			tm.waitFor("", "seq", "ledger.genesis")
			all("ledger")
			tm.keys("h", "l", "g")
			for rec, err := range l.Records() {
				if err != nil {
					t.Fatal(err)
				}
				tm.keys("Enter")
				tm.waitFor("", fmt.Sprintf("Record %d · %s", rec.Seq, rec.Kind))
				name := fmt.Sprintf("record-%d", rec.Seq)
				s := all(name)
				d, _ := rec.Digest()
				shows(t, name, s, d)
				showsWords(t, name, s, d)
				if len(rec.Approvals) > 0 {
					sd, _ := rec.SigningDigest()
					shows(t, name, s, sd)
				}
				shows(t, name, s, rec.Prev)
				for _, v := range hexFacts(rec.Facts) {
					shows(t, name, s, v)
				}
				tm.keys("Escape", "Down")
			}
			tm.keys("/")
			tm.text("export")
			tm.waitFor("", "filter: export", "key.export.intent")
			f := all("ledger-filtered")
			if strings.Contains(f, "key.generate") {
				t.Errorf("the timeline filtered by export shows a generate:\n%s", f)
			}
			tm.keys("Enter", "Escape")
			tm.keys("v")
			tm.waitFor("", "✓ verify: ok")
			all("verify")
			tm.keys("m")
			tm.text(genesisWords)
			tm.keys("Enter")
			tm.waitFor("", "origin: the genesis digest of the minutes matches")
			all("verify-genesis")
			tm.keys("?")
			tm.waitFor("", "Keys", "verify against the minutes")
			all("help")
			tm.keys("Escape", "Escape", "q")

			// an interrupted ceremony: its intent recorded, the process
			// gone; Home says so and u resumes it at the screen
			interrupt(t, ledgerDir, dir, fmt.Sprintf("kind: generate\nceremony: int-%d\nhsm: %q\noperator: alice\nwitnesses: [bob]\nkey:\n  label: int-%d\n  type: aes-256\n  owner: payments\n  purpose: interrupted on purpose\n  rotation: 1y\n", w, tok.URI, w))
			tm.tmux("respawn-pane", "-k", "-t", "ui", fmt.Sprintf("cd %s && env %s CUSTOS_PKCS11_MODULE=%s TERM=xterm-256color %s tui L; sleep 60", dir, strings.Join(env, " "), hsmtest.ModulePath(), bin))
			tm.waitFor("", "INTERRUPTED", fmt.Sprintf("int-%d", w))
			all("interrupted-home")
			tm.keys("u")
			tm.text("alice")
			tm.keys("Enter")
			tm.waitFor("", "The engine asks for a secret")
			tm.text(pin)
			tm.keys("Enter")
			tm.waitFor("", "resumed: recorded")
			all("resumed")
			tm.keys("q")

			// the picker: custos with no arguments offers the ledger opened
			tm.tmux("respawn-pane", "-k", "-t", "ui", fmt.Sprintf("cd %s && env %s TERM=xterm-256color %s; sleep 60", dir, strings.Join(env, " "), bin))
			tm.waitFor("", "Which ledger?", ledgerDir)
			all("picker")
			tm.keys("q")

			// a tampered copy opens read-only
			cp := filepath.Join(dir, fmt.Sprintf("T%d", w))
			if out, err := exec.Command("git", "clone", "-q", ledgerDir, cp).CombinedOutput(); err != nil {
				t.Fatalf("git clone: %v\n%s", err, out)
			}
			rec := filepath.Join(cp, "records", "00", "00", "000004.json")
			b, err := os.ReadFile(rec)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(rec, []byte(strings.Replace(string(b), "kek-2026", "kek-2099", 1)), 0o644)
			if out, err := exec.Command("git", "-C", cp, "-c", "user.name=x", "-c", "user.email=x@x", "-c", "commit.gpgsign=false", "commit", "-q", "-am", "edit").CombinedOutput(); err != nil {
				t.Fatalf("git commit: %v\n%s", err, out)
			}
			tm.tmux("respawn-pane", "-k", "-t", "ui", fmt.Sprintf("cd %s && env %s TERM=xterm-256color %s tui %s; sleep 60", dir, strings.Join(env, " "), bin, cp))
			tm.waitFor("", "THIS LEDGER DOES NOT VERIFY")
			all("tampered-home")
			tm.keys("r")
			tm.waitFor("", "no ceremony is run on it")
			tm.keys("l")
			tm.waitFor("", "✗ ")
			all("tampered-ledger")
			tm.keys("q")

			if shotsDir != "" {
				for name, s := range tm.shots {
					if !(w == 80 && docShots[name] || w == 120 && wideShots[name]) {
						continue
					}
					if err := os.WriteFile(filepath.Join(shotsDir, fmt.Sprintf("whole-%s-%dx%d.txt", name, w, h)), []byte(s), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// docShots are the captures kept in docs/screens (CUSTOS_SCREENS_DIR) at
// 80×24, wideShots those also kept at 120×40.
var (
	docShots = map[string]bool{"keys": true, "keys-filtered": true, "key-kek-2026": true, "key-kek-2027": true,
		"ledger-filtered": true, "record-5": true, "verify-genesis": true, "help": true, "tampered-home": true,
		"tampered-ledger": true, "sign": true, "step-1": true, "confirm-abandon": true, "picker": true, "interrupted-home": true, "resumed": true, "done": true, "export-done": true}
	wideShots = map[string]bool{"home": true, "sign": true, "done": true, "key-kek-2027": true}
)

// interrupt records the intent of script on the ledger in dir, approved
// by bob, and stops there, as a process that died after it.
func interrupt(t *testing.T, ledgerDir, dir, script string) {
	t.Helper()
	l, err := ledger.Open(ledgerDir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ceremony.ParseScript("interrupted.yaml", []byte(script))
	if err != nil {
		t.Fatal(err)
	}
	signers := map[string]sign.Signer{}
	for _, n := range []string{"alice", "bob"} {
		if signers[n], err = sign.LoadFile(filepath.Join(dir, n), nil); err != nil {
			t.Fatal(err)
		}
	}
	e := &ceremony.Engine{Ledger: l, Script: s, Signers: signers}
	defer e.Close()
	rec, err := e.Draft()
	if err != nil {
		t.Fatal(err)
	}
	appr, err := e.Approve(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(rec, signers["alice"], appr); err != nil {
		t.Fatal(err)
	}
}

var space = regexp.MustCompile(`\s+`)

// shows checks the screen holds v whole: compared without spaces and
// line breaks, as hex in blocks of four wraps across lines.
func shows(t *testing.T, name, screen, v string) {
	t.Helper()
	if v == "" {
		return
	}
	if !strings.Contains(space.ReplaceAllString(screen, ""), space.ReplaceAllString(v, "")) {
		t.Errorf("%s does not show %s whole:\n%s", name, v, screen)
	}
}

// showsWords checks the screen numbers every word of the digest.
func showsWords(t *testing.T, name, screen, digest string) {
	t.Helper()
	for i, w := range ledger.Words(digest) {
		if !regexp.MustCompile(fmt.Sprintf(`(^|\s)%d %s(\s|$)`, i+1, regexp.QuoteMeta(w))).MatchString(screen) {
			t.Errorf("%s does not show word %d %q of %s:\n%s", name, i+1, w, digest, screen)
			return
		}
	}
}

// hexFacts are the string facts of a record, nested ones too, that are
// hex digests, check values or ids (8 hex digits or more, maybe after
// "sha256:").
func hexFacts(f map[string]any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			if regexp.MustCompile(`^(sha256:)?[0-9a-f]{8,}$`).MatchString(x) {
				out = append(out, x)
			}
		}
	}
	walk(f)
	return out
}
