package hsm

import (
	"fmt"

	"github.com/miekg/pkcs11"
)

// GenerateClearAESForTest makes an AES-256 key that is NOT sensitive and is
// extractable, with encrypt and sign, and returns its value read back with
// CKA_VALUE — test-only, so check values can be recomputed in Go from a
// key the token generated. Custos itself never makes such a key.
func GenerateClearAESForTest(t *Token, label string) (*Key, []byte, error) {
	if err := t.lock(); err != nil {
		return nil, nil, err
	}
	defer t.mu.Unlock()
	spec := KeySpec{Label: label, Type: AES256, Extractable: true, Usage: Usage{Encrypt: true, Sign: true}, Ephemeral: true}
	if err := checkSpec(&spec); err != nil {
		return nil, nil, err
	}
	tmpl := setAttr(secretTemplate(spec, true), pkcs11.CKA_SENSITIVE, false)
	h, err := t.ctx.GenerateKey(t.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, tmpl)
	if err != nil {
		return nil, nil, p11err("test key", err)
	}
	a, err := t.objAttrs(h, pkcs11.CKA_VALUE)
	if err != nil {
		return nil, nil, fmt.Errorf("read test key value: %w", err)
	}
	return &Key{tok: t, ID: spec.ID, Label: label, Type: AES256, priv: h, Class: "secret"}, a[0].Value, nil
}

// RawInitTokenForTest initialises the first free token with label without
// any of InitToken's checks: how another tool could leave two tokens with
// one label.
func RawInitTokenForTest(m *Module, label string, soPIN []byte) error {
	ctx, err := m.ctx()
	if err != nil {
		return err
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return err
	}
	for _, id := range slots {
		if ti, err := ctx.GetTokenInfo(id); err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			return ctx.InitToken(id, string(soPIN), label)
		}
	}
	return fmt.Errorf("no free token")
}

// UnwrapFullTemplateForTest calls C_UnwrapKey once with the whole template
// Custos asks for (CKA_MODIFIABLE=false included) and returns its error:
// how the SoftHSM quirk in docs/hsm.md is measured.
func UnwrapFullTemplateForTest(t *Token, unwrapping *Key, blob []byte, spec KeySpec) error {
	spec.Type = AES256
	if err := checkSpec(&spec); err != nil {
		return err
	}
	m, _, err := t.aesWrapMech(pkcs11.CKF_UNWRAP)
	if err != nil {
		return err
	}
	if err := t.lock(); err != nil {
		return err
	}
	defer t.mu.Unlock()
	_, err = t.ctx.UnwrapKey(t.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(m, nil)}, unwrapping.priv, blob, secretTemplate(spec, false))
	return err
}

// RawForTest is what a raw miekg/pkcs11 caller of the same token needs in
// this process: the token's slot and a key's private (or secret) handle.
// The benchmarks beside the raw calls use it (bench_test.go).
func RawForTest(t *Token, k *Key) (slot uint, priv pkcs11.ObjectHandle) { return t.slot, k.priv }

// GenerateTemplatesForTest is what Generate asks a token for spec: the
// spec as checked (its random id filled in), the mechanism, and the
// templates (pub nil for a secret key). The benchmarks beside raw calls
// make the same generation with them.
func GenerateTemplatesForTest(spec KeySpec) (KeySpec, uint, []*pkcs11.Attribute, []*pkcs11.Attribute, error) {
	if err := checkSpec(&spec); err != nil {
		return spec, 0, nil, nil, err
	}
	mech, _ := genMechanism(spec.Type)
	switch spec.Type {
	case AES256:
		return spec, mech, nil, secretTemplate(spec, true), nil
	case ECP256, ECP384:
		pub, priv := pairTemplates(spec, spec.Type.ecParams())
		return spec, mech, pub, priv, nil
	}
	return spec, 0, nil, nil, fmt.Errorf("no raw twin for %s", spec.Type)
}

// FactFlagsForTest are the boolean attributes a key's facts read of a
// private (or else a secret) key.
func FactFlagsForTest(private bool) []uint {
	var out []uint
	for _, f := range factBools(&Attributes{}, private) {
		out = append(out, f.cka)
	}
	return out
}
