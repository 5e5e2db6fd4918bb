package tui

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"custos/ceremony"
	"custos/ledger"
	"custos/sign"
)

func TestHomeAndResize(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true}))
	v := h.waitFor("1 records · ✓ verified")
	// Home showed first from the replay, marked, before verify finished.
	marked := -1
	for i, s := range h.shown {
		if strings.Contains(s, "Members") && strings.Contains(s, "verifying…") {
			marked = i
			break
		}
	}
	if marked < 0 {
		t.Errorf("home was never shown marked as verifying before verify finished; screens:\n%s", strings.Join(h.shown, "\n----\n"))
	}
	for _, want := range []string{"alice", "custodian", "bob", "officer", "carol", "Keys", "none yet", "Last ceremonies", "genesis", "r: run a ceremony"} {
		if !strings.Contains(v, want) {
			t.Errorf("home lacks %q:\n%s", want, v)
		}
	}
	fits(t, v, 80, 24)
	for _, size := range [][2]int{{120, 40}, {60, 16}, {80, 24}} {
		h.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		fits(t, h.view(), size[0], size[1])
	}
	// In a text field ? is typed, not help.
	h.key("r")
	h.typ("a?b")
	if h.m.help || h.m.input.Value() != "a?b" {
		t.Errorf("? in the script field: help %v, field %q", h.m.help, h.m.input.Value())
	}
	h.key("esc")
	h.waitFor("Members")
	h.key("?")
	if v := h.view(); !strings.Contains(v, "verify the ledger") || !strings.Contains(v, "quit") {
		t.Errorf("help lacks the keymap:\n%s", v)
	}
	fits(t, h.view(), 80, 24)
	h.key("x")
	if strings.Contains(h.view(), "verify the ledger") && !strings.Contains(h.view(), "Members") {
		t.Error("any key does not leave help")
	}
}

func TestNoColor(t *testing.T) {
	f := newFixture(t)
	for _, noColor := range []bool{true, false} {
		m := New(Options{Ledger: f.ledger, NoColor: noColor})
		h := newHarness(t, m)
		h.waitFor("Members")
		raw := m.View().Content
		colour := strings.Contains(raw, "\x1b[3") || strings.Contains(raw, "\x1b[9") || strings.Contains(raw, "38;5")
		if colour == noColor {
			t.Errorf("NoColor=%v: colour escapes present=%v", noColor, colour)
		}
	}
}

func TestLedgerTimelineRecordVerify(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true}))
	h.waitFor("Members")
	h.key("l")
	v := h.waitFor("ledger.genesis")
	if !strings.Contains(v, "› 1") {
		t.Errorf("cursor not on record 1:\n%s", v)
	}
	h.key("enter")
	v = h.view()
	for _, want := range []string{"Record 1 · ledger.genesis", "digest:", "words (read aloud):", " 1 "} {
		if !strings.Contains(v, want) {
			t.Errorf("record view lacks %q:\n%s", want, v)
		}
	}
	fits(t, v, 80, 24)
	h.key("pgdown")
	h.key("pgdown")
	if v := h.view(); !strings.Contains(v, "Approvals") || !strings.Contains(v, "carol (SSH signature") {
		t.Errorf("record view, scrolled, lacks the approvals:\n%s", v)
	}
	h.key("esc")
	h.key("v")
	h.waitIdle()
	v = h.waitFor("verify: ok")
	if !strings.Contains(v, "✓ verify: ok, 1 records") {
		t.Errorf("verify result:\n%s", v)
	}

	// A commit made behind the ledger's back: verify names it and the
	// timeline marks the failing record.
	git := func(args ...string) {
		out, err := exec.Command("git", append([]string{"-C", f.ledger, "-c", "user.name=x", "-c", "user.email=x@x", "-c", "commit.gpgsign=false"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("checkout", "-q", "-f")
	rec := f.ledger + "/records/00/00/000001.json"
	b := mustRead(t, rec)
	writeFile(t, rec, strings.Replace(b, `"alice"`, `"mallory"`, 1))
	git("commit", "-q", "-am", "edit")
	res := ledger.Verify(f.ledger, ledger.Options{})
	if res.OK || res.Failure == nil {
		t.Fatalf("tampered ledger verified: %+v", res)
	}
	h.key("v")
	v = h.waitFor("FAILED")
	if !strings.Contains(v, "✗ verify FAILED at record") || !strings.Contains(v, res.Failure.Reason[:20]) {
		t.Errorf("failure not shown:\n%s", v)
	}
	fits(t, v, 80, 24)

	// Opened afresh, the ledger whose records no longer replay opens
	// read-only: the failure on Home, the failing record marked in the
	// timeline with its check, and no ceremony.
	h2 := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true}))
	v = h2.waitFor("THIS LEDGER DOES NOT VERIFY")
	if !strings.Contains(v, "open read-only") {
		t.Errorf("home of a ledger that does not replay:\n%s", v)
	}
	h2.key("r")
	if h2.m.inputFor != "" || !strings.Contains(h2.view(), "no ceremony is run on it") {
		t.Errorf("r on a read-only ledger:\n%s", h2.view())
	}
	h2.key("l")
	v = h2.view()
	if !strings.Contains(v, fmt.Sprintf("✗ %-6d", res.Failure.Seq)) || !strings.Contains(v, res.Failure.Check) {
		t.Errorf("timeline of a ledger that does not replay:\n%s", v)
	}
	fits(t, v, 80, 24)
}

// TestGenerateAndDestroy drives whole ceremonies in-process with a real
// token: the wrong PIN first (message, retry, no record), then the right
// one; destroy asks for the label in full. No screen ever shows a PIN.
func TestGenerateAndDestroy(t *testing.T) {
	f := newFixture(t)
	f.enrol(t)
	gen := f.script(t, "gen.yaml", generateScript)
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Now: func() time.Time { return time.Now().AddDate(0, 11, 20) }}))
	h.waitFor("Members")
	h.key("r")
	h.waitFor("Which ceremony?")
	h.typ(gen)
	h.key("enter")
	v := h.waitFor("What will happen")
	for _, want := range []string{"ceremony kek-tui (generate)", "operator:  alice", "approvals: 1 by officer", "1. record the intent"} {
		if !strings.Contains(v, want) {
			t.Errorf("plan lacks %q:\n%s", want, v)
		}
	}
	h.key("enter")
	h.waitFor("Who is present")
	h.key("c")
	if v := h.view(); !strings.Contains(v, "still needed: alice (operator), bob (witness)") {
		t.Errorf("continue without people:\n%s", v)
	}
	h.key("enter")
	h.typ(f.keys["alice"])
	h.key("enter")
	h.waitFor("alice is present")
	h.key("down")
	h.key("enter")
	h.typ(f.keys["carol"]) // the wrong key for bob
	h.key("enter")
	h.waitFor("is not bob's")
	h.key("t")
	for range len(f.keys["carol"]) {
		h.key("backspace")
	}
	h.typ(f.keys["bob"])
	h.key("enter")
	v = h.waitFor("Everyone needed is present")
	fits(t, v, 80, 24)

	before := f.seq(t)
	h.key("c")
	v = h.waitFor("The engine asks for a secret")
	if !strings.Contains(v, `user PIN of token "`+f.tok.Label+`"`) {
		t.Errorf("prompt does not say what it asks:\n%s", v)
	}
	wrong := "0000999900009999"
	h.typ(wrong)
	if v := h.view(); !strings.Contains(v, strings.Repeat("•", len(wrong))) {
		t.Errorf("masked field:\n%s", v)
	}
	h.key("enter")
	v = h.waitFor("nothing was recorded")
	if !strings.Contains(v, "error:") || !strings.Contains(v, "t: try again") {
		t.Errorf("error view:\n%s", v)
	}
	fits(t, v, 80, 24)
	if got := f.seq(t); got != before {
		t.Fatalf("wrong PIN recorded something: seq %d → %d", before, got)
	}
	h.key("t")
	h.waitFor("The engine asks for a secret")
	h.typ(string(f.tok.UserPIN))
	h.key("enter")
	v = h.waitFor("What is signed")
	if !strings.Contains(v, "→ now alice (operator)") || !strings.Contains(v, "words (read aloud):") {
		t.Errorf("sign screen:\n%s", v)
	}
	h.key("enter")
	h.waitFor("→ now bob (approver)")
	h.key("enter")
	h.waitFor("Step 1:")
	h.key("enter")
	if v := h.view(); !strings.Contains(v, "must first confirm") {
		t.Errorf("unticked step went on:\n%s", v)
	}
	for step := 0; step < 4; step++ {
		h.waitFor("Step " + string(rune('1'+step)))
		for range h.m.run.checks[step] {
			h.key("space")
		}
		h.key("enter")
	}
	v = h.waitFor("Ceremony kek-tui is closed")
	for _, want := range []string{"recorded key.generate.intent", "generated aes-256 key", "recorded key.generated", "closed ceremony kek-tui"} {
		if !strings.Contains(v, want) {
			t.Errorf("done screen lacks %q:\n%s", want, v)
		}
	}
	// The bar and the marker follow the engine's steps, in order.
	var reached []ceremony.StepKind
	for _, st := range h.m.run.steps {
		reached = append(reached, st.Kind)
	}
	if want := []ceremony.StepKind{ceremony.StepIntent, ceremony.StepHSMStarted, ceremony.StepHSMDone, ceremony.StepOutcome, ceremony.StepClosed}; !slices.Equal(reached, want) {
		t.Errorf("engine steps %v, want %v", reached, want)
	}
	if !strings.Contains(v, "4/4") {
		t.Errorf("done screen bar not full:\n%s", v)
	}
	sawHSM := false
	for _, s := range h.shown {
		if strings.Contains(s, "running step 2 of 4") && strings.Contains(s, "→ now: alice (operator): the HSM works") {
			sawHSM = true
		}
	}
	if !sawHSM {
		t.Errorf("no running screen showed the HSM step with the operator to act")
	}
	h.key("enter")
	v = h.waitFor("key.generate")
	if !strings.Contains(v, "rotation due") {
		t.Errorf("rotation in 11 months and 20 days not shown as due:\n%s", v)
	}

	// destroy: the label typed in full, a wrong one refused
	des := f.script(t, "destroy.yaml", destroyScript)
	h.key("r")
	h.typ(des)
	h.key("enter")
	h.waitFor("cannot be undone")
	h.key("enter")
	h.typ("kek-tu")
	h.key("enter")
	h.waitFor("is not the label of the key to destroy")
	h.typ("kek-tui")
	h.key("enter")
	h.waitFor("Who is present")
	h.present(f.keys, "alice", "bob")
	h.key("c")
	h.waitFor("The engine asks for a secret")
	h.typ(string(f.tok.UserPIN))
	h.key("enter")
	h.waitFor("What is signed")
	h.key("enter")
	h.key("enter")
	h.tickSteps()
	v = h.waitFor("Ceremony kek-tui-destroy is closed")
	if !strings.Contains(v, "destroyed key \"kek-tui\"") {
		t.Errorf("done:\n%s", v)
	}

	res := ledger.Verify(f.ledger, ledger.Options{})
	if !res.OK {
		t.Fatalf("verify: %v", res.Err())
	}
	l, _ := ledger.Open(f.ledger)
	var kinds []string
	for r, err := range l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, r.Kind)
	}
	want := []string{"ledger.genesis", "hsm.enrolled", "ceremony.closed", "key.generate.intent", "key.generated", "ceremony.closed", "key.destroy.intent", "key.destroyed", "ceremony.closed"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	for i, s := range h.shown {
		if strings.Contains(s, string(f.tok.UserPIN)) || strings.Contains(s, wrong) {
			t.Fatalf("screen %d shows a PIN:\n%s", i, s)
		}
	}
}

// TestMaskedWipes: the secret field hands over a copy and zeroes its own
// buffer; cancelling zeroes it too and tells the engine.
func TestMaskedWipes(t *testing.T) {
	reply := make(chan secretReply, 1)
	f := &masked{what: "PIN", reply: reply}
	for _, r := range "s3cret-pass" {
		f.key(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	f.key(tea.KeyPressMsg{Code: tea.KeyBackspace})
	if f.dots() != strings.Repeat("•", 10) {
		t.Fatalf("dots %q", f.dots())
	}
	buf := f.buf[:cap(f.buf)]
	if !f.key(tea.KeyPressMsg{Code: tea.KeyEnter}) {
		t.Fatal("enter did not answer")
	}
	got := <-reply
	if string(got.secret) != "s3cret-pas" || got.err != nil {
		t.Fatalf("got %q %v", got.secret, got.err)
	}
	for _, b := range buf {
		if b != 0 {
			t.Fatalf("buffer not wiped: %q", buf)
		}
	}
	f = &masked{what: "PIN", reply: reply}
	f.key(tea.KeyPressMsg{Code: 'x', Text: "x"})
	f.key(tea.KeyPressMsg{Code: tea.KeyEscape})
	if got := <-reply; got.err == nil || got.secret != nil {
		t.Fatalf("cancel: %+v", got)
	}
}

// TestAppendSecretLeavesNoCopy: when the buffer grows, the array it
// leaves behind is zeroed.
func TestAppendSecretLeavesNoCopy(t *testing.T) {
	buf := appendSecret(nil, []byte("abc"))
	old := buf[:cap(buf)]
	buf = appendSecret(buf, make([]byte, cap(buf)))
	if string(buf[:3]) != "abc" {
		t.Fatalf("grown buffer starts %q", buf[:3])
	}
	for _, b := range old {
		if b != 0 {
			t.Fatalf("abandoned array not wiped: %q", old)
		}
	}
}

func TestPickerWithoutLedger(t *testing.T) {
	f := newFixture(t)
	var opened string
	h := newHarness(t, New(Options{NoColor: true, Recent: []string{"/nonexistent/ledger", f.ledger}, Opened: func(d string) { opened = d }}))
	v := h.view()
	if !strings.Contains(v, "Which ledger?") || !strings.Contains(v, "custos init LEDGER --roster") {
		t.Errorf("picker:\n%s", v)
	}
	fits(t, v, 80, 24)
	h.key("enter")
	v = h.waitFor("error:")
	if !strings.Contains(v, "Which ledger?") {
		t.Errorf("a missing ledger leaves the picker:\n%s", v)
	}
	h.key("down")
	h.key("enter")
	h.waitFor("Members")
	if opened != f.ledger {
		t.Errorf("opened %q", opened)
	}
}

// TestHomeShowsRetirementAndCompromise: a rotated key shows its retirement
// date instead of a rotation date; a key reported compromised says so.
func TestHomeShowsRetirementAndCompromise(t *testing.T) {
	f := newFixture(t)
	signers := map[string]sign.Signer{}
	for n, p := range f.keys {
		s, err := sign.LoadFile(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		signers[n] = s
	}
	l, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	add := func(kind, cer string, facts map[string]any, approvers ...string) {
		t.Helper()
		rec := l.Draft(kind, cer, "alice", facts, now)
		var apps []ledger.Approval
		for _, a := range approvers {
			ap, err := ledger.Approve(rec, a, signers[a])
			if err != nil {
				t.Fatal(err)
			}
			apps = append(apps, ap)
		}
		if _, err := l.Append(rec, signers["alice"], apps); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	// The records an engine writes: each ceremony closed with its
	// checkpoint, every key on an enrolled HSM, the retirement inside the
	// rotation that made the successor.
	closeCer := func(cer string) {
		t.Helper()
		facts, err := l.CloseFacts(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		add("ceremony.closed", cer, facts)
	}
	hsmF := func() map[string]any {
		return map[string]any{"manufacturer": "SoftHSM project", "model": "SoftHSM v2", "serial": "a1b2c3d4e5f60718", "label": "tui-home", "firmware": "2.6"}
	}
	add("hsm.enrolled", "enrol", map[string]any{"hsm": hsmF()})
	closeCer("enrol")
	generate := func(cer, id, label string, more map[string]any) {
		t.Helper()
		intent := map[string]any{"key_id": id, "label": label, "type": "aes-256", "rotation_days": 365, "hsm": hsmF()}
		for k, v := range more {
			intent[k] = v
		}
		add("key.generate.intent", cer, intent, "bob")
		add("key.generated", cer, map[string]any{"key_id": id, "label": label, "type": "aes-256", "class": "secret", "kcv_aes_cmac": "0a1b2c", "hsm": hsmF()})
	}
	for _, k := range []struct{ id, label string }{{"0a0a", "old-kek"}, {"0b0b", "leaky-kek"}} {
		generate("gen-"+k.label, k.id, k.label, nil)
		closeCer("gen-" + k.label)
	}
	generate("rot", "0c0c", "new-kek", map[string]any{"rotates": "0a0a", "rotates_label": "old-kek", "retire_on": "2027-03-01"})
	add("key.retirement.scheduled", "rot", map[string]any{"key_id": "0a0a", "label": "old-kek", "retire_on": "2027-03-01", "successor": "0c0c"})
	closeCer("rot")
	add("key.compromised", "cmp", map[string]any{"key_id": "0b0b", "label": "leaky-kek", "reason": "test", "reported_by": "bob"})
	closeCer("cmp")
	if res := ledger.Verify(f.ledger, ledger.Options{}); !res.OK {
		t.Fatalf("verify: %v", res.Err())
	}
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true}))
	v := h.waitFor("✓ verified")
	for _, want := range []string{"old-kek", "retires 2027-03-01", "leaky-kek", "COMPROMISED"} {
		if !strings.Contains(v, want) {
			t.Errorf("home lacks %q:\n%s", want, v)
		}
	}
	line := func(label string) string { return strings.Split(v[strings.Index(v, label):], "\n")[0] }
	if strings.Contains(line("old-kek"), "rotate by") {
		t.Errorf("a rotated key still shows a rotation date:\n%s", v)
	}
	// The successor's intent carries retire_on (its predecessor's): its
	// own line shows its own rotation date, as custos inventory does.
	if l := line("new-kek"); strings.Contains(l, "retires") || !strings.Contains(l, "rotate by") {
		t.Errorf("the successor shows its predecessor's retirement: %q", l)
	}
	// Each key's life: the compromise, the rotation both ways.
	h.key("i")
	h.waitFor("Keys")
	h.key("down")
	h.key("enter")
	v = h.waitFor("Key leaky-kek")
	if !strings.Contains(v, "COMPROMISED: record") {
		t.Errorf("the compromised key's life:\n%s", v)
	}
	h.key("esc")
	h.key("down")
	h.key("enter")
	v = h.waitFor("Key new-kek")
	if !strings.Contains(v, "rotates:   0a0a (old-kek)") || strings.Contains(v, "retires") {
		t.Errorf("the successor's life:\n%s", v)
	}
	h.key("esc")
	h.key("up")
	h.key("up")
	h.key("enter")
	v = h.waitFor("Key old-kek")
	if !strings.Contains(v, "rotated by: 0c0c (new-kek)") || !strings.Contains(v, "retires:   2027-03-01") {
		t.Errorf("the rotated key's life:\n%s", v)
	}
	fits(t, v, 80, 24)
}

// TestHomeShowsFailure: a ledger whose records read but that does not
// verify (its commit re-made without a signature) opens on a home screen
// that shows the failure, not its members, keys and ceremonies, and runs
// no ceremony; the timeline marks the failing record.
func TestHomeShowsFailure(t *testing.T) {
	f := newFixture(t)
	out, err := exec.Command("git", "-C", f.ledger, "-c", "user.name=alice", "-c", "user.email=alice@custos.ledger",
		"-c", "commit.gpgsign=false", "commit", "-q", "--amend", "--no-edit").CombinedOutput()
	if err != nil {
		t.Fatalf("git commit --amend: %v\n%s", err, out)
	}
	res := ledger.Verify(f.ledger, ledger.Options{})
	if res.OK {
		t.Fatal("tampered ledger verified")
	}
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true}))
	v := h.waitFor("THIS LEDGER DOES NOT VERIFY")
	for _, want := range []string{"record 1 (commit " + res.Failure.Commit[:12] + "): " + res.Failure.Check, "l: timeline"} {
		if !strings.Contains(v, want) {
			t.Errorf("home lacks %q:\n%s", want, v)
		}
	}
	for _, clean := range []string{"Members", "Keys", "Last ceremonies", "r: run"} {
		if strings.Contains(v, clean) {
			t.Errorf("home of a failing ledger shows %q:\n%s", clean, v)
		}
	}
	fits(t, v, 80, 24)
	h.key("r")
	if v := h.view(); !strings.Contains(v, "read-only: this ledger does not verify; no ceremony is run on it") || h.m.inputFor != "" {
		t.Errorf("r on a failing ledger:\n%s", v)
	}
	h.key("l")
	v = h.waitFor("ledger.genesis")
	if !strings.Contains(v, "✗ verify FAILED at record 1") || !strings.Contains(v, "✗ 1 ") {
		t.Errorf("timeline of a failing ledger:\n%s", v)
	}
}
