package tui

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custos/ceremony"
	"custos/hsm/hsmtest"
	"custos/ledger"
	"custos/sign"
)

// generateSetup: an enrolled token, the ledger open, a generate script
// whose PIN comes from a file, and alice's and bob's keys.
func generateSetup(t *testing.T) (*fixture, *ledger.Ledger, *ceremony.Script, map[string]sign.Signer) {
	t.Helper()
	f := newFixture(t)
	f.enrol(t)
	t.Setenv("CUSTOS_PKCS11_MODULE", hsmtest.ModulePath())
	l, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	pin := filepath.Join(f.dir, "user.pin")
	writeFile(t, pin, string(f.tok.UserPIN))
	s, err := ceremony.ParseScript("gen.yaml", []byte(strings.ReplaceAll(generateScript, "$HSM", f.uri+"&pin-source=file:"+pin)))
	if err != nil {
		t.Fatal(err)
	}
	signers := map[string]sign.Signer{}
	for _, n := range []string{"alice", "bob"} {
		if signers[n], err = sign.LoadFile(f.keys[n], nil); err != nil {
			t.Fatal(err)
		}
	}
	return f, l, s, signers
}

// TestResumeFromHome: an intent without outcome shows on Home; u with the
// operator's key and the PIN in the masked field settles it.
func TestResumeFromHome(t *testing.T) {
	f, l, s, signers := generateSetup(t)
	e := &ceremony.Engine{Ledger: l, Script: s, Signers: signers}
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
	e.Close() // the process "dies" here: the intent has no outcome

	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true}))
	v := h.waitFor("INTERRUPTED")
	if !strings.Contains(v, "u: resume") {
		t.Errorf("home does not offer resume:\n%s", v)
	}
	h.key("u")
	h.typ(f.keys["alice"])
	h.key("enter")
	h.waitFor("The engine asks for a secret")
	h.typ(string(f.tok.UserPIN))
	h.key("enter")
	v = h.waitFor("resumed: recorded ceremony.aborted")
	fits(t, v, 80, 24)
	if l2, err := ledger.Open(f.ledger); err != nil || l2.State().OpenIntent != nil {
		t.Errorf("still interrupted after resume (%v)", err)
	}
	if res := ledger.Verify(f.ledger, ledger.Options{}); !res.OK {
		t.Fatalf("verify: %v", res.Err())
	}
	for i, s := range h.shown {
		if strings.Contains(s, string(f.tok.UserPIN)) {
			t.Fatalf("screen %d shows the PIN", i)
		}
	}
}

// TestRequestForRemoteApprover: o on the people screen writes a request;
// carol signs it elsewhere; her approval is attached and the ceremony
// commits exactly the record she approved.
func TestRequestForRemoteApprover(t *testing.T) {
	f := newFixture(t)
	f.enrol(t)
	gen := f.script(t, "gen.yaml", generateScript)
	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Now: func() time.Time { return time.Now() }}))
	h.waitFor("Members")
	h.key("r")
	h.typ(gen)
	h.key("enter")
	h.waitFor("What will happen")
	h.key("enter")
	h.waitFor("Who is present")
	reqFile := filepath.Join(f.dir, "req.json")
	h.key("o")
	h.typ(reqFile)
	h.key("enter")
	h.waitFor("The engine asks for a secret")
	h.typ(string(f.tok.UserPIN))
	h.key("enter")
	h.waitFor("request written to")

	req, err := ceremony.ReadRequest(reqFile)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := sign.LoadFile(f.keys["carol"], nil)
	if err != nil {
		t.Fatal(err)
	}
	af, err := ceremony.SignRequest(req, "carol", cs)
	if err != nil {
		t.Fatal(err)
	}
	apf := filepath.Join(f.dir, "carol.approval")
	if err := ceremony.WriteApproval(apf, af); err != nil {
		t.Fatal(err)
	}
	h.key("a")
	h.typ(apf)
	h.key("enter")
	h.waitFor("approval of carol attached")
	h.present(f.keys, "alice", "bob")
	h.key("c")
	h.waitFor("What is signed")
	for h.m.screen == scrSign {
		h.key("enter")
	}
	h.tickSteps()
	h.waitFor("Ceremony kek-tui is closed")
	l, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	var intent *ledger.Record
	for r, err := range l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind == "key.generate.intent" {
			intent = r
		}
	}
	if intent == nil || len(intent.Approvals) != 1 || intent.Approvals[0].Member != "carol" {
		t.Fatalf("intent approvals: %+v", intent)
	}
	if d, _ := intent.SigningDigest(); d != req.Digest {
		t.Errorf("committed %s, carol approved %s", d, req.Digest)
	}
}

// TestResumeUnclosedFromHome: a ceremony stopped after its outcome was
// recorded and before ceremony.closed shows on Home as not closed; u
// closes it, and the key stays as recorded.
func TestResumeUnclosedFromHome(t *testing.T) {
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
	if p := l.State().Pending(); p == nil || p.IntentOpen || p.Outcome != "key.generated" {
		t.Fatalf("the stop left %+v, want an unclosed ceremony with its outcome", p)
	}

	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true}))
	v := h.waitFor("was not closed")
	if !strings.Contains(v, "u: resume") {
		t.Errorf("home does not offer resume:\n%s", v)
	}
	h.key("u")
	h.typ(f.keys["alice"])
	h.key("enter")
	v = h.waitFor("resumed")
	fits(t, v, 80, 24)
	l2, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	if p := l2.State().Pending(); p != nil {
		t.Errorf("still unclosed after resume: %+v", p)
	}
	if res := ledger.Verify(f.ledger, ledger.Options{}); !res.OK {
		t.Fatalf("verify: %v", res.Err())
	}
}
