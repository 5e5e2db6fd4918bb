package ledger

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// kindTable renders the state machine (kinds) as the Markdown table of
// docs/ledger-format.md.
func kindTable() string {
	var b strings.Builder
	b.WriteString("| kind | written by | place in its ceremony | key (`facts.key_id`) must be → after | facts (required **bold**) | must equal the intent's |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	need := map[keyNeed]string{keyNone: "—", keyNew: "new → `generating`", keyGenerating: "`generating`", keyActive: "`active`",
		keyRestorable: "`active` or `destroyed`, with a backup not destroyed", keyLive: "made, not destroyed", keyMade: "made (destroyed or not)"}
	settles := map[string]string{}
	for k, s := range kinds {
		if s.settledBy != "" {
			settles[s.settledBy] = k
		}
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		s := kinds[k]
		roles := strings.Join(s.roles, ", ")
		if roles == "" {
			roles = "as its ceremony's opening"
		}
		var place string
		switch {
		case k == "ledger.genesis":
			place = "record 1, alone"
		case s.intent:
			place = "opens a ceremony and an intent, settled only by `" + s.settledBy + "` or `ceremony.aborted`"
		case s.opens:
			place = "opens a ceremony"
		case settles[k] != "":
			place = "settles `" + settles[k] + "`"
		case k == "ceremony.aborted":
			place = "settles any open intent"
		case k == "ceremony.closed":
			place = "last of its ceremony, once no intent is open"
		case k == "key.retirement.scheduled":
			place = "after the `key.generated` of a rotation, once"
		}
		after := need[s.key]
		if s.set != "" && s.key != keyNew {
			after += " → `" + s.set + "`"
		}
		var fs []string
		for _, f := range slices.Sorted(maps.Keys(s.facts)) {
			if s.facts[f].req {
				fs = append(fs, "**"+f+"**")
			} else {
				fs = append(fs, f)
			}
		}
		bind := "—"
		if len(s.bind) > 0 {
			bind = strings.Join(s.bind, ", ")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", k, roles, place, after, strings.Join(fs, ", "), bind)
	}
	return b.String()
}

const tableBegin, tableEnd = "<!-- kinds table: begin -->\n", "<!-- kinds table: end -->\n"

// TestKindTableDocumented: docs/ledger-format.md prints exactly the table
// the writer and verify run (CUSTOS_UPDATE_DOCS=1 rewrites it).
func TestKindTableDocumented(t *testing.T) {
	path := "../docs/ledger-format.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no kinds table markers", path)
	}
	want := kindTable()
	if got := doc[i+len(tableBegin) : j]; got != want {
		if os.Getenv("CUSTOS_UPDATE_DOCS") == "1" {
			os.WriteFile(path, []byte(doc[:i+len(tableBegin)]+want+doc[j:]), 0o644)
			return
		}
		t.Fatalf("%s: the kinds table differs from ledger/kinds.go; run CUSTOS_UPDATE_DOCS=1 go test -run TestKindTableDocumented ./ledger/", path)
	}
}

// TestFactsTypes: every record of a ledger holding every kind decodes into
// its kind's facts type, and what the type reads is what the record says.
func TestFactsTypes(t *testing.T) {
	f := attackBase(t)
	f.add(t, "backup.destroyed", "bkd-k1", "alice", map[string]any{"key_id": "k1", "backup_id": "k1.bk1", "media_destroyed": "shredded",
		"attested": []any{attestation(f, "k1.bk1", 1, "alice"), attestation(f, "k1.bk1", 2, "bob")}})
	seen := map[string]bool{}
	for rec, err := range f.l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		seen[rec.Kind] = true
		var got any
		var err2 error
		switch rec.Kind {
		case "hsm.enrolled":
			got, err2 = FactsAs[EnrolledFacts](rec)
		case "key.generate.intent":
			got, err2 = FactsAs[GenerateIntentFacts](rec)
		case "key.generated":
			got, err2 = FactsAs[KeyFacts](rec)
		case "backup.split":
			got, err2 = FactsAs[BackupSplitFacts](rec)
		case "backup.destroyed":
			got, err2 = FactsAs[BackupDestroyedFacts](rec)
		case "key.destroy.intent":
			got, err2 = FactsAs[DestroyIntentFacts](rec)
		case "ceremony.closed":
			got, err2 = FactsAs[ClosedFacts](rec)
		default:
			continue
		}
		if err2 != nil {
			t.Fatalf("record %d: %v", rec.Seq, err2)
		}
		// The typed value reads the same key, HSM and label as the map.
		v := reflect.ValueOf(got)
		for _, field := range []struct{ name, fact string }{{"KeyID", "key_id"}, {"Label", "label"}, {"BackupID", "backup_id"}} {
			if fv := v.FieldByName(field.name); fv.IsValid() && fv.String() != factString(rec.Facts, field.fact) {
				t.Errorf("record %d (%s): %s = %q, facts.%s = %q", rec.Seq, rec.Kind, field.name, fv.String(), field.fact, factString(rec.Facts, field.fact))
			}
		}
		if fv := v.FieldByName("HSM"); fv.IsValid() && fv.Kind() == reflect.Struct && fv.FieldByName("Serial").String() != hsmSerial(rec.Facts) {
			t.Errorf("record %d (%s): HSM.Serial %q, facts %q", rec.Seq, rec.Kind, fv.FieldByName("Serial").String(), hsmSerial(rec.Facts))
		}
	}
	for _, k := range []string{"hsm.enrolled", "key.generate.intent", "key.generated", "backup.split", "backup.destroyed", "key.destroy.intent", "ceremony.closed"} {
		if !seen[k] {
			t.Errorf("the ledger has no %s", k)
		}
	}
}
