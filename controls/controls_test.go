package controls

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"custos/ledger"
)

// An owner is free text; it names a member by name, by e-mail address, or
// by a member's name in trailing parentheses, and nothing else.
func TestOwnerMember(t *testing.T) {
	r := &ledger.Roster{Members: []ledger.Member{{Name: "carol", Email: "carol@example.org"}, {Name: "bob"}}}
	for owner, want := range map[string]bool{
		"carol": true, "Carol@Example.org": true, "payments (carol)": true, " pki ( bob ) ": true,
		"payments": false, "": false, "carolyn": false, "(carol) payments": false, "payments (dave)": false,
		"bob@custos.ledger": false,
	} {
		if got := ownerMember(r, owner); got != want {
			t.Errorf("owner %q: %v, want %v", owner, got, want)
		}
	}
}

// Every control of the catalogue has a test, a statement and both
// mappings, and ids are unique: the table of docs/controls.md is the same
// list.
func TestCatalogue(t *testing.T) {
	r := New(Options{}).Finish(true)
	if len(r.Controls) != len(Catalogue) {
		t.Fatalf("%d controls evaluated, %d in the catalogue", len(r.Controls), len(Catalogue))
	}
	seen := map[string]bool{}
	for _, c := range r.Controls {
		if seen[c.ID] || c.Statement == "" || len(c.SOC2) == 0 || len(c.ISO27001) == 0 || c.Exceptions == nil {
			t.Errorf("control %+v", c)
		}
		seen[c.ID] = true
		if c.Status != NotApplicable {
			t.Errorf("%s on no records: %s", c.ID, c.Status)
		}
	}
}

// docs/controls.md has a row for each control with the same statement's
// mapping: SOC 2 and ISO 27001 references as the catalogue gives them.
func TestControlsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/controls.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 5 && strings.HasPrefix(strings.TrimSpace(cells[1]), "KM-") {
			rows[strings.TrimSpace(cells[1])] = cells
		}
	}
	if len(rows) != len(Catalogue) {
		t.Errorf("docs/controls.md has %d control rows, the catalogue %d", len(rows), len(Catalogue))
	}
	for _, d := range Catalogue {
		cells, ok := rows[d.ID]
		if !ok {
			t.Errorf("docs/controls.md has no row for %s", d.ID)
			continue
		}
		if got := strings.TrimSpace(cells[3]); got != strings.Join(d.SOC2, ", ") {
			t.Errorf("%s: SOC 2 %q in the doc, %q in the catalogue", d.ID, got, strings.Join(d.SOC2, ", "))
		}
		if got := strings.TrimSpace(cells[4]); got != strings.Join(d.ISO27001, ", ") {
			t.Errorf("%s: ISO 27001 %q in the doc, %q in the catalogue", d.ID, got, strings.Join(d.ISO27001, ", "))
		}
	}
}

// KM-15 lists every signature made in the period and fails one its
// operator alone approved (a policy may waive the quorum; the control
// still reports it).
func TestSignaturesControl(t *testing.T) {
	c := New(Options{})
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	seq := int64(0)
	add := func(kind, cer string, facts map[string]any, approvers ...string) {
		seq++
		rec := &ledger.Record{Seq: seq, Kind: kind, Ceremony: cer, Actor: "alice", Time: t0.Add(time.Duration(seq) * time.Minute), Facts: facts}
		for _, a := range approvers {
			rec.Approvals = append(rec.Approvals, ledger.Approval{Member: a})
		}
		if err := c.Add(rec, fmt.Sprintf("sha256:%064d", seq)); err != nil {
			t.Fatal(err)
		}
	}
	add("key.generate.intent", "g", map[string]any{"key_id": "k1", "label": "root", "type": "ec-p384"}, "bob")
	add("key.generated", "g", map[string]any{"key_id": "k1"})
	tbs := strings.Repeat("ab", 32)
	outs := []any{map[string]any{"file": "root.pem", "sha256": tbs}}
	add("key.sign.intent", "s1", map[string]any{"key_id": "k1", "sign_kind": "root-certificate", "purpose": "root", "tbs_sha256": tbs}, "bob")
	add("key.signed", "s1", map[string]any{"key_id": "k1", "tbs_sha256": tbs, "serial": "40aa", "outputs": outs})
	add("key.sign.intent", "s2", map[string]any{"key_id": "k1", "sign_kind": "crl", "purpose": "crl", "tbs_sha256": tbs})
	add("key.signed", "s2", map[string]any{"key_id": "k1", "tbs_sha256": tbs, "outputs": outs})
	// An intent never signed is no signature.
	add("key.sign.intent", "s3", map[string]any{"key_id": "k1", "sign_kind": "detached", "tbs_sha256": tbs}, "bob")
	r := c.Finish(true)
	var km *Control
	for i := range r.Controls {
		if r.Controls[i].ID == "KM-15" {
			km = &r.Controls[i]
		}
	}
	if km == nil || km.Status != Fail || km.Tested != 2 || len(km.Exceptions) != 1 || len(km.Items) != 2 {
		t.Fatalf("KM-15: %+v", km)
	}
	if !strings.Contains(km.Exceptions[0].Message, "crl signature") || km.Exceptions[0].Records[1].Seq != 6 {
		t.Errorf("exception: %+v", km.Exceptions[0])
	}
	if !strings.Contains(km.Items[0].Message, "serial 40aa") || !strings.Contains(km.Items[1].Message, "0 approver(s)") {
		t.Errorf("items: %+v", km.Items)
	}
}
