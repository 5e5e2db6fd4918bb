package ceremony

import "testing"

// The key id the plan shows (and the custodian reads aloud) is the id Run
// records: Run plans again, but keeps the id.
func TestPlanKeyIDIsRecorded(t *testing.T) {
	b := newBackupEnv(t)
	uri, _, _ := b.token("planid")
	e := &Engine{Ledger: b.l, Signers: b.signers, Script: &Script{File: "g.yaml", Kind: KindGenerate, HSM: uri, Operator: "alice",
		Key: &KeyPlan{Label: "planid", Type: "aes-256", Owner: "o", Purpose: "p"}}}
	p, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Run()
	if err != nil {
		t.Fatal(err)
	}
	if res.KeyID != p.KeyID {
		t.Fatalf("the plan showed key id %s, Run recorded %s", p.KeyID, res.KeyID)
	}
}

// A dry run is another process: a fresh engine plans the same script, and
// the id it shows is the one a later run records.
func TestDryRunKeyIDIsRecorded(t *testing.T) {
	b := newBackupEnv(t)
	uri, _, _ := b.token("dryid")
	script := func() *Script {
		return &Script{File: "g.yaml", Kind: KindGenerate, Ceremony: "gen-dryid", HSM: uri, Operator: "alice",
			Key: &KeyPlan{Label: "dryid", Type: "aes-256", Owner: "o", Purpose: "p"}}
	}
	dry, err := (&Engine{Ledger: b.l, Signers: b.signers, Script: script()}).Plan()
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Engine{Ledger: b.l, Signers: b.signers, Script: script()}).Run()
	if err != nil {
		t.Fatal(err)
	}
	if res.KeyID != dry.KeyID || len(res.KeyID) != 32 {
		t.Fatalf("the dry run showed key id %s, the run recorded %s", dry.KeyID, res.KeyID)
	}
	if other := newKeyID(b.l.State().LedgerID, "gen-other", "dryid"); other == res.KeyID {
		t.Fatal("another ceremony derives the same key id")
	}
}
