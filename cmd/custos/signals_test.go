package main

import (
	"os"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestSignalScripts runs testdata/signals/*.txtar: signals sent to the
// real custos process in the middle of a ceremony.
func TestSignalScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/signals"))
}

// cmdWaitFile: waitfile PATH — waits (up to 60s) until PATH exists: a
// custos started in the background has reached a CUSTOS_TEST_PAUSE_AT
// point.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile PATH")
	}
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
	}
	ts.Fatalf("waitfile: %s did not appear within 60s", args[0])
}
