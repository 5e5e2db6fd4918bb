package hsm_test

import (
	"errors"
	"strings"
	"testing"

	"custos/hsm"
	"custos/hsm/hsmtest"
	"custos/internal/hint"
)

// TestModuleErrorsClear: each module's own refusals read as one clear line
// with the class (errors.Is), the mechanism or attribute named, a hint,
// and no PIN: a wrong PIN, a mechanism the token lacks, a template it
// refuses. (Locking: TestLoginErrors.)
func TestModuleErrorsClear(t *testing.T) {
	tk := hsmtest.NewToken(t, "errs")
	tok := tk.OpenNoLogin(t)
	check := func(what string, err error, sentinel error, names string, hinted bool) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s: no error", what)
		case !errors.Is(err, sentinel):
			t.Errorf("%s: %v, want %v", what, err, sentinel)
		case strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), string(tk.UserPIN)) || strings.Contains(err.Error(), string(tk.SOPIN)):
			t.Errorf("%s: not one line, or a PIN in it: %q", what, err)
		case names != "" && !strings.Contains(err.Error(), names):
			t.Errorf("%s: %v does not name %s", what, err, names)
		case hinted && hint.Of(err) == "":
			t.Errorf("%s: %v has no hint", what, err)
		}
		t.Logf("%s: %v (hint %q)", what, err, hint.Of(err))
	}
	check("wrong pin", tok.Login([]byte("1111")), hsm.ErrPINIncorrect, "", false)

	if err := tok.Login(tk.UserPIN); err != nil {
		t.Fatal(err)
	}
	switch hsmtest.Kind() {
	case hsmtest.OCKName:
		_, err := tok.Generate(hsm.KeySpec{Label: "ec", Type: hsm.ECP256, Usage: hsm.Usage{Sign: true}})
		check("no EC", err, hsm.ErrMechanismUnsupported, "CKM_EC_KEY_PAIR_GEN", true)
		_, err = tok.Generate(hsm.KeySpec{Label: "x", Type: hsm.RSA3072, Extractable: true, WrapWithTrusted: true, Usage: hsm.Usage{Sign: true}})
		check("no CKA_WRAP_WITH_TRUSTED", err, hsm.ErrAttributeUnsupported, "CKA_WRAP_WITH_TRUSTED", true)
		if !errors.Is(err, hsm.ErrTemplateRefused) {
			t.Errorf("template refusal not classed: %v", err)
		}
		// Without it, the non-extractable key is made all the same.
		if _, err := tok.Generate(hsm.KeySpec{Label: "y", Type: hsm.RSA3072, Usage: hsm.Usage{Sign: true}}); err != nil {
			t.Errorf("non-extractable key: %v", err)
		}
	case hsmtest.SoftHSMName:
		kek, err := tok.Generate(hsm.KeySpec{Label: "kek", Type: hsm.AES256, Usage: hsm.KEKUsage})
		if err != nil {
			t.Fatal(err)
		}
		// CKM_DES3_ECB is not among what Custos unwraps with.
		_, err = tok.Unwrap(kek, &hsm.Wrapped{Mechanism: "CKM_DES3_ECB", KeyType: hsm.AES256}, hsm.KeySpec{Label: "z"})
		check("no such mechanism", err, hsm.ErrMechanismUnsupported, "CKM_DES3_ECB", false)
		// A trusted key needs the SO: the user's template is refused.
		_, err = tok.ImportTrustedAES("t", nil, make([]byte, 32))
		if err == nil {
			t.Fatal("user imported a trusted key")
		}
		t.Logf("trusted as user: %v (hint %q)", err, hint.Of(err))
	}
}
