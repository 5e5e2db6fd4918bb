package hsm

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"custos/internal/hint"
)

// TestErrorMapping: PKCS#11 return values map to the sentinels, keep the
// original code, and carry hints where a fix is likely. (SoftHSM2 never
// returns CKR_PIN_LOCKED, so the mapping is checked here.)
func TestErrorMapping(t *testing.T) {
	for _, c := range []struct {
		rv       uint
		sentinel error
		hinted   bool
	}{
		{pkcs11.CKR_PIN_INCORRECT, ErrPINIncorrect, false},
		{pkcs11.CKR_PIN_LOCKED, ErrPINLocked, true},
		{pkcs11.CKR_MECHANISM_INVALID, ErrMechanismUnsupported, true},
		{pkcs11.CKR_MECHANISM_PARAM_INVALID, ErrMechanismUnsupported, true},
		{pkcs11.CKR_KEY_NOT_WRAPPABLE, ErrKeyNotWrappable, false},
		{pkcs11.CKR_KEY_UNEXTRACTABLE, ErrKeyNotWrappable, false},
		{pkcs11.CKR_USER_NOT_LOGGED_IN, ErrNotLoggedIn, false},
		{pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, ErrTemplateRefused, true},
		{pkcs11.CKR_TEMPLATE_INCONSISTENT, ErrTemplateRefused, true},
		{pkcs11.CKR_PIN_LEN_RANGE, ErrPINIncorrect, true},
	} {
		err := p11err("token \"t\": op", fmt.Errorf("ctx: %w", pkcs11.Error(c.rv)))
		if !errors.Is(err, c.sentinel) || rv(err) != c.rv || !strings.HasPrefix(err.Error(), "token \"t\": op: ") {
			t.Errorf("0x%x: %v", c.rv, err)
		}
		if (hint.Of(err) != "") != c.hinted {
			t.Errorf("0x%x: hint %q", c.rv, hint.Of(err))
		}
	}
	if p11err("x", nil) != nil {
		t.Error("nil error wrapped")
	}
	if err := p11err("x", pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)); !strings.Contains(err.Error(), "CKR_DEVICE_ERROR") {
		t.Error(err)
	}
}
