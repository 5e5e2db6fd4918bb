package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestLedgerScripts runs testdata/ledger/*.txtar: custos init, verify and
// log on real ledgers with keys made by stock ssh-keygen, checked by stock
// git through scripts/stock-verify.
func TestLedgerScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/ledger"))
}

// cmdMkroster: mkroster FILE NAME:ROLE[,ROLE]… — a roster file whose
// members' keys are $WORK/keys/NAME.pub.
func cmdMkroster(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: mkroster FILE NAME:ROLES...")
	}
	var b strings.Builder
	b.WriteString("members:\n")
	for _, a := range args[1:] {
		name, roles, _ := strings.Cut(a, ":")
		pub, err := os.ReadFile(ts.MkAbs(filepath.Join("keys", name+".pub")))
		ts.Check(err)
		fmt.Fprintf(&b, "  - name: %s\n    roles: [%s]\n    key: %s\n", name, roles, strings.TrimSpace(string(pub)))
	}
	b.WriteString("policy:\n  approvals:\n    key.generate.intent: {roles: [officer], count: 1}\n")
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(b.String()), 0o644))
}
