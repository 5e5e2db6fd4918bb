package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"custos/hsm/hsmtest"
)

// TestOpenCryptokiScripts runs testdata/opencryptoki/*.txtar: ceremonies
// through the real custos command line on opencryptoki's software token,
// the second PKCS#11 implementation, beside SoftHSM tokens. It fails (never
// skips) when opencryptoki is missing: scripts/setup.sh installs it.
func TestOpenCryptokiScripts(t *testing.T) {
	if hsmtest.OCKModulePath() == "" {
		t.Fatalf("opencryptoki is not installed (no library in %v): run scripts/setup.sh", hsmtest.OCKCandidates)
	}
	// The token is machine-wide: give it up for other test processes
	// once every script here is done with it.
	t.Cleanup(hsmtest.ReleaseOCK)
	p := scriptParams("testdata/opencryptoki")
	p.Cmds["mkocktoken"] = cmdMkOCKToken
	testscript.Run(t, p)
}

// ockScripts: one script at a time holds the one opencryptoki token.
var ockScripts sync.Mutex

// cmdMkOCKToken: mkocktoken NAME LABEL — re-initialise opencryptoki's one
// software token as LABEL with a random user PIN in $WORK/NAME/user.pin
// (SO PIN: opencryptoki's default, in so.pin; see hsmtest), held by this
// script until it ends. Sets $NAME_URI (module-path and pin-source) and
// $NAME_MODULE.
func cmdMkOCKToken(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkocktoken NAME LABEL")
	}
	ockScripts.Lock()
	ts.Defer(ockScripts.Unlock)
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o700))
	st, err := hsmtest.NewOCKStandalone(dir, args[1])
	if err != nil {
		ts.Fatalf("%v", err)
	}
	name := strings.ToUpper(args[0])
	ts.Setenv(name+"_URI", st.URI)
	ts.Setenv(name+"_MODULE", st.Module)
	fmt.Fprintf(ts.Stdout(), "opencryptoki token %s in %s\n", args[1], filepath.Base(dir))
}
