// The token's capabilities, checked before the first record: a ceremony
// the token cannot run is refused naming the missing mechanism or
// attribute, instead of failing at the HSM after its intent is recorded.

package ceremony

import (
	"fmt"

	"custos/hsm"
)

// capabilityOf is what the ceremony asks of the token: a hsm.Cap* kind
// and the key type, or "" when it needs nothing beyond a session.
func (e *Engine) capabilityOf() (string, hsm.KeyType) {
	s := e.Script
	typeOf := func() hsm.KeyType {
		if e.restoreFrom != nil {
			return e.restoreFrom.KeyType
		}
		if e.target != nil {
			t, _ := e.target.Facts["type"].(string)
			return hsm.KeyType(t)
		}
		return ""
	}
	switch s.Kind {
	case KindGenerate, KindRotate:
		if s.Key == nil {
			return "", ""
		}
		kind := hsm.CapGenerate
		if s.Key.Exportable || s.Key.Backup {
			kind = hsm.CapExtract
		}
		return kind, hsm.KeyType(s.Key.Type)
	case KindExport:
		return hsm.CapExport, typeOf()
	case KindBackup:
		return hsm.CapBackup, typeOf()
	case KindRestore:
		return hsm.CapRestore, typeOf()
	case KindReshare:
		return hsm.CapReshare, ""
	case KindDestroy:
		return hsm.CapDestroy, typeOf()
	}
	return "", ""
}

// checkCapabilities refuses, before the first record, a ceremony the open
// token cannot run (hsm.Token.Require names what it lacks).
func (e *Engine) checkCapabilities() error {
	kind, kt := e.capabilityOf()
	if kind == "" || e.token == nil {
		return nil
	}
	if err := e.token.Require(kind, kt); err != nil {
		return fmt.Errorf("%s: hsm: %w", e.Script.File, err)
	}
	return nil
}
