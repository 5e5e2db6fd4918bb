package hsm

import (
	"slices"
	"testing"

	"github.com/miekg/pkcs11"
)

// TestCapabilityRules: the rules on tokens no test module is: one that
// accepts CKA_WRAP_WITH_TRUSTED but lets such a key out under an untrusted
// key, one with short CKA_IDs only, one with KEY_WRAP_PAD for wrapping but
// not for unwrapping, and the KWP → PAD chain.
func TestCapabilityRules(t *testing.T) {
	all := map[uint]uint{
		pkcs11.CKM_AES_KEY_GEN: 0, pkcs11.CKM_AES_CMAC: pkcs11.CKF_SIGN, pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN: 0,
		pkcs11.CKM_RSA_PKCS_OAEP: pkcs11.CKF_WRAP, pkcs11.CKM_AES_KEY_WRAP_PAD: pkcs11.CKF_WRAP | pkcs11.CKF_UNWRAP,
	}
	has := func(ml map[uint]uint) func(uint, uint) bool {
		return func(m, f uint) bool { g, ok := ml[m]; return ok && g&f == f }
	}
	good := AttributeSupport{Probed: true, WrapWithTrusted: true, WrapWithTrustedHonoured: true, HonourChecked: true, Trusted: true, ID16: true}
	c := caps{has: has(all), attrs: good}
	if cp := c.capability(CapBackup, AES256); !cp.OK || !slices.Contains(cp.Uses, "CKM_AES_KEY_WRAP_PAD") {
		t.Errorf("backup via PAD: %+v", cp)
	}
	withKWP := map[uint]uint{ckmAESKeyWrapKWP: pkcs11.CKF_WRAP | pkcs11.CKF_UNWRAP}
	for k, v := range all {
		withKWP[k] = v
	}
	if cp := (caps{has: has(withKWP), attrs: good}).capability(CapBackup, AES256); !slices.Contains(cp.Uses, "CKM_AES_KEY_WRAP_KWP") {
		t.Errorf("KWP not preferred: %+v", cp)
	}
	lax := good
	lax.WrapWithTrustedHonoured = false
	if cp := (caps{has: has(all), attrs: lax}).capability(CapExport, AES256); cp.OK || !slices.Contains(cp.Missing, "CKA_WRAP_WITH_TRUSTED (accepted but not enforced)") {
		t.Errorf("unenforced wrap-with-trusted allowed: %+v", cp)
	}
	short := good
	short.ID16 = false
	if cp := (caps{has: has(all), attrs: short}).capability(CapGenerate, RSA3072); cp.OK || !slices.Contains(cp.Missing, "CKA_ID of 16 bytes") {
		t.Errorf("short ids: %+v", cp)
	}
	wrapOnly := map[uint]uint{}
	for k, v := range all {
		wrapOnly[k] = v
	}
	wrapOnly[pkcs11.CKM_AES_KEY_WRAP_PAD] = pkcs11.CKF_WRAP
	c = caps{has: has(wrapOnly), attrs: good}
	if cp := c.capability(CapBackup, AES256); !cp.OK {
		t.Errorf("backup: %+v", cp)
	}
	if cp := c.capability(CapRestore, AES256); cp.OK {
		t.Errorf("restore without unwrap allowed: %+v", cp)
	}
	if cp := c.capability(CapExport, ECP256); cp.OK || cp.Why == "" {
		t.Errorf("export of a private key: %+v", cp)
	}
}
