package hsm_test

import (
	"testing"

	"custos/hsm/hsmtest"
)

// TestModules runs every test of this package on each PKCS#11
// implementation of hsmtest.Modules (SoftHSM2 and opencryptoki's software
// token), each in its own process, and prints the counts per module.
func TestModules(t *testing.T) {
	hsmtest.RunOnModules(t)
}
