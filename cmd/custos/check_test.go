package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"custos/controls"
	"custos/report/schematest"
)

// TestCheckScripts runs testdata/check/*.txtar: ledgers made by real
// ceremonies on SoftHSM, each breaking one control, and custos check on
// them through the real command line.
func TestCheckScripts(t *testing.T) {
	p := scriptParams("testdata/check")
	setup := p.Setup
	root, _ := filepath.Abs("../..")
	p.Setup = func(env *testscript.Env) error {
		env.Setenv("DOCS", filepath.Join(root, "docs"))
		return setup(env)
	}
	p.Cmds["checkschema"] = cmdCheckSchema
	p.Cmds["guide"] = cmdGuide
	p.Cmds["genesis"] = cmdGenesis
	testscript.Run(t, p)
}

// cmdCheckSchema: checkschema FILE — FILE (custos check --json) is valid
// against docs/check-schema.json.
func cmdCheckSchema(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: checkschema FILE")
	}
	s, err := schematest.Load("../../docs/check-schema.json")
	ts.Check(err)
	probs := s.Problems([]byte(ts.ReadFile(args[0])))
	if neg != (len(probs) == 0) {
		return
	}
	if neg {
		ts.Fatalf("%s is valid against docs/check-schema.json", args[0])
	}
	ts.Fatalf("%s breaks docs/check-schema.json:\n%s", args[0], strings.Join(probs, "\n"))
}

// TestCheckOfTheDemo builds the demo ledger (scripts/demo.sh into a
// temporary directory) and finds that it passes every control, in the
// table and in JSON valid against the schema.
func TestCheckOfTheDemo(t *testing.T) {
	_, bin, demo := demoRoom(t)
	led := filepath.Join(demo, "ledger")
	out, err := exec.Command(bin, "check", led).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "all controls pass: 13 pass, 0 fail, 2 not applicable") {
		t.Fatalf("check of the demo: %v\n%s", err, out)
	}
	js, err := exec.Command(bin, "check", led, "--json").Output()
	if err != nil {
		t.Fatalf("check --json: %v\n%s", err, js)
	}
	s, err := schematest.Load("../../docs/check-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if probs := s.Problems(js); len(probs) > 0 {
		t.Fatalf("check --json breaks the schema:\n%s", strings.Join(probs, "\n"))
	}
	var r controls.Result
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Passed || !r.Verified || len(r.Controls) != len(controls.Catalogue) {
		t.Fatalf("demo result: passed %v verified %v, %d controls", r.Passed, r.Verified, len(r.Controls))
	}
	for _, c := range r.Controls {
		want := controls.Pass
		if c.ID == "KM-14" || c.ID == "KM-15" { // nobody leaves the demo's roster; nothing is signed
			want = controls.NotApplicable
		}
		if c.Status != want {
			t.Errorf("%s %s: %s, want %s: %+v", c.ID, c.Title, c.Status, want, c.Exceptions)
		}
	}
}
