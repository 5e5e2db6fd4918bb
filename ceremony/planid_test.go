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
