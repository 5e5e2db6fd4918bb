package main

import (
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestCeremonyScripts runs testdata/ceremony/*.txtar: whole ceremonies
// through the real custos command line on real SoftHSM tokens, checked
// afterwards with custos verify, stock git (scripts/stock-verify) and
// pkcs11-tool.
func TestCeremonyScripts(t *testing.T) {
	p := scriptParams("testdata/ceremony")
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		root, _ := filepath.Abs("../..")
		env.Setenv("STOCK_VERIFY", filepath.Join(root, "scripts", "stock-verify"))
		env.Setenv("EXAMPLES", filepath.Join(root, "docs", "examples"))
		return setup(env)
	}
	testscript.Run(t, p)
}
