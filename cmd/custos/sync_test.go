package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestSyncScripts runs testdata/sync/*.txtar: copies of one ledger at two
// sites, moved by push, sync and bundles, fast-forward only.
func TestSyncScripts(t *testing.T) { testscript.Run(t, scriptParams("testdata/sync")) }
