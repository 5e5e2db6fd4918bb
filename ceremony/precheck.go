package ceremony

import (
	"fmt"

	"custos/hsm"
	"custos/internal/hint"
	"custos/ledger"
)

// checkExportable refuses, at the plan, an export the HSM could never do:
// RSA-OAEP carries only a secret key, so an asymmetric private key cannot
// be exported (only backed up). Found at the HSM, it would cost an intent
// and a ceremony.aborted.
func (e *Engine) checkExportable(ks *ledger.KeyState) error {
	t, _ := ks.Facts["type"].(string)
	kt, err := hsm.ParseKeyType(t)
	if err != nil || kt.Secret() {
		return nil
	}
	return hint.With(fmt.Errorf("%s: export.key: key %q (%s) is a %s private key: an export wraps under the recipient's RSA key (RSA-OAEP), which carries only a secret key",
		e.Script.File, ks.Label, ks.ID, kt), "a private key leaves the HSM only in a backup (kind: backup)")
}
