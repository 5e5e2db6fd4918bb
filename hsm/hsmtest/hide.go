package hsmtest

import (
	"github.com/miekg/pkcs11"

	"custos/hsm"
)

// HideMechanisms makes tokens opened afterwards report that they lack the
// named mechanisms (names of hsm.Needed, e.g. "CKM_AES_KEY_WRAP_PAD"):
// C_GetMechanismList leaves them out and C_GetMechanismInfo fails with
// CKR_MECHANISM_INVALID, as on a token without them, until the returned
// undo is called. An unknown name panics (a test's mistake).
func HideMechanisms(names ...string) (undo func()) {
	hidden := map[uint]bool{}
	for _, n := range names {
		found := false
		for _, m := range hsm.Needed {
			if m.Name == n {
				hidden[m.Type], found = true, true
			}
		}
		if !found {
			panic("hsmtest: HideMechanisms: unknown mechanism " + n)
		}
	}
	return hsm.WrapForTest(func(ctx hsm.PKCS11) hsm.PKCS11 { return &hideCtx{PKCS11: ctx, hidden: hidden} })
}

type hideCtx struct {
	hsm.PKCS11
	hidden map[uint]bool
}

func (h *hideCtx) GetMechanismList(slot uint) ([]*pkcs11.Mechanism, error) {
	list, err := h.PKCS11.GetMechanismList(slot)
	out := list[:0:0]
	for _, m := range list {
		if !h.hidden[m.Mechanism] {
			out = append(out, m)
		}
	}
	return out, err
}

func (h *hideCtx) GetMechanismInfo(slot uint, m []*pkcs11.Mechanism) (pkcs11.MechanismInfo, error) {
	if len(m) > 0 && h.hidden[m[0].Mechanism] {
		return pkcs11.MechanismInfo{}, pkcs11.Error(pkcs11.CKR_MECHANISM_INVALID)
	}
	return h.PKCS11.GetMechanismInfo(slot, m)
}
