package main

import (
	"fmt"
	"strings"
	"testing"

	"custos/ledger"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestCeremonyScripts runs testdata/ceremony/*.txtar: whole ceremonies
// through the real custos command line on real SoftHSM tokens, checked
// afterwards with custos verify, stock git (scripts/stock-verify) and
// pkcs11-tool.
func TestCeremonyScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/ceremony"))
}

// cmdAgree: agree LEDGER NAME LABEL — the ledger and the token agree: every
// key the ledger holds active is on the token (by label and id), no key the
// ledger holds destroyed or aborted is, and the token holds no key the
// ledger does not know. The token is read by pkcs11-tool, independently.
func cmdAgree(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: agree LEDGER NAME LABEL")
	}
	l, err := ledger.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	out, err := listObjects(ts, args[1], args[2])
	if err != nil {
		ts.Fatalf("pkcs11-tool: %v\n%s", err, out)
	}
	onToken := map[string]bool{} // "label/id" of private and secret key objects
	var label string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "Private Key Object") || strings.HasPrefix(line, "Secret Key Object") {
			label = "?"
			continue
		}
		if label == "" {
			continue
		}
		if v, ok := strings.CutPrefix(line, "label:"); ok {
			label = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "ID:"); ok {
			onToken[label+"/"+strings.TrimSpace(v)] = true
			label = ""
		}
	}
	known := map[string]bool{}
	for id, k := range l.State().Keys {
		key := k.Label + "/" + id
		known[key] = true
		switch k.State {
		case ledger.KeyActive:
			if !onToken[key] {
				ts.Fatalf("ledger holds key %s active, the token does not have it", key)
			}
		default:
			if onToken[key] {
				ts.Fatalf("ledger holds key %s %s, the token still has it", key, k.State)
			}
		}
	}
	for k := range onToken {
		if !known[k] {
			ts.Fatalf("the token holds key %s the ledger does not know", k)
		}
	}
	fmt.Fprintf(ts.Stdout(), "ledger and token agree: %d keys on the token\n", len(onToken))
}
