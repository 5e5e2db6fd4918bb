package ledger

import (
	"fmt"
	"maps"
	"os"
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
