package hsm_test

import (
	"errors"
	"strings"
	"testing"

	"custos/hsm"
	"custos/hsm/hsmtest"
	"custos/internal/hint"
)

// TestCapabilities: what Require and CapabilitiesOf say each module can
// do is what it does. SoftHSM2 runs every ceremony for an AES key;
// opencryptoki 3.8's software token lacks CKM_AES_CMAC, AES key wrap and
// CKA_WRAP_WITH_TRUSTED, and each refusal names what is missing.
func TestCapabilities(t *testing.T) {
	tk := hsmtest.NewToken(t, "caps")
	tok := tk.Open(t)
	type want struct {
		kind    string
		kt      hsm.KeyType
		missing string // "" when it must run
	}
	var table []want
	switch hsmtest.Kind() {
	case hsmtest.SoftHSMName:
		for _, k := range []string{hsm.CapGenerate, hsm.CapExtract, hsm.CapExport, hsm.CapBackup, hsm.CapRestore} {
			table = append(table, want{k, hsm.AES256, ""})
		}
		table = append(table, want{hsm.CapGenerate, hsm.Ed25519, ""}, want{hsm.CapReshare, "", ""},
			want{hsm.CapExport, hsm.RSA3072, "-"})
	case hsmtest.OCKName:
		table = []want{
			{hsm.CapGenerate, hsm.RSA3072, ""},
			{hsm.CapGenerate, hsm.RSA4096, ""},
			{hsm.CapDestroy, "", ""},
			{hsm.CapGenerate, hsm.AES256, "CKM_AES_CMAC"},
			{hsm.CapGenerate, hsm.ECP256, "CKM_EC_KEY_PAIR_GEN"},
			{hsm.CapGenerate, hsm.Ed25519, "CKM_EC_EDWARDS_KEY_PAIR_GEN"},
			{hsm.CapExtract, hsm.RSA3072, "CKA_WRAP_WITH_TRUSTED"},
			{hsm.CapBackup, hsm.RSA3072, "CKM_AES_KEY_WRAP_KWP or CKM_AES_KEY_WRAP_PAD"},
			{hsm.CapRestore, hsm.AES256, "CKM_AES_KEY_WRAP_KWP or CKM_AES_KEY_WRAP_PAD"},
			{hsm.CapReshare, "", "CKM_AES_CMAC"},
		}
	default:
		t.Fatalf("no expectations for module %s", hsmtest.Kind())
	}
	for _, w := range table {
		err := tok.Require(w.kind, w.kt)
		switch {
		case w.missing == "" && err != nil:
			t.Errorf("%s %s: %v", w.kind, w.kt, err)
		case w.missing == "-" && err == nil:
			t.Errorf("%s %s: allowed", w.kind, w.kt)
		case w.missing != "" && w.missing != "-":
			if err == nil || !strings.Contains(err.Error(), w.missing) || hint.Of(err) == "" ||
				!(errors.Is(err, hsm.ErrMechanismUnsupported) || errors.Is(err, hsm.ErrAttributeUnsupported)) {
				t.Errorf("%s %s: %v (hint %q), want it to name %s", w.kind, w.kt, err, hint.Of(err), w.missing)
			}
		}
	}
	// The module-level report (no login) agrees with Require.
	slots, err := tk.Module.Slots()
	if err != nil {
		t.Fatal(err)
	}
	var slot uint
	for _, s := range slots {
		if s.Token != nil && s.Token.Label == tk.Label {
			slot = s.ID
		}
	}
	cs, attrs, err := tk.Module.CapabilitiesOf(slot)
	if err != nil || !attrs.Probed {
		t.Fatalf("capabilities: %v (attributes %+v)", err, attrs)
	}
	t.Logf("attributes: %+v", attrs)
	for _, c := range cs {
		if (tok.Require(c.Ceremony, c.KeyType) == nil) != c.OK {
			t.Errorf("CapabilitiesOf says %+v, Require disagrees", c)
		}
	}
	if !attrs.ID16 {
		t.Errorf("%s refuses a 16-byte CKA_ID? %+v", hsmtest.Kind(), attrs)
	}
	if hsmtest.Kind() == hsmtest.SoftHSMName && !(attrs.Trusted && attrs.WrapWithTrusted && attrs.HonourChecked && attrs.WrapWithTrustedHonoured) {
		t.Errorf("softhsm attributes %+v", attrs)
	}
}
