package controls

import (
	"os"
	"strings"
	"testing"

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
