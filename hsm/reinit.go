// Re-initialising a single-token module (opencryptoki's software token),
// for throwaway test and demo tokens.

package hsm

import (
	"fmt"

	"github.com/miekg/pkcs11"
)

// ReinitToken re-initialises the token in the module's slot with serial
// (C_InitToken on an initialised token destroys every object on it),
// labels it label, changes its SO PIN from oldSO to newSO and sets the
// user PIN. It is for modules with a fixed number of tokens that InitToken
// cannot extend (opencryptoki's software token has one per machine), and
// only for throwaway tokens: nothing on the token survives. No session of
// this process may be open on the token.
func (m *Module) ReinitToken(serial, label string, oldSO, newSO, userPIN []byte) (TokenInfo, error) {
	ctx, err := m.ctx()
	if err != nil {
		return TokenInfo{}, err
	}
	op := fmt.Sprintf("re-init token serial %q as %q", serial, label)
	if label == "" || len(label) > 32 || len(oldSO) == 0 || len(newSO) == 0 || len(userPIN) == 0 {
		return TokenInfo{}, fmt.Errorf("%s: label must be 1 to 32 bytes and every pin non-empty", op)
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return TokenInfo{}, p11err(op+": list slots", err)
	}
	slot, found := uint(0), false
	for _, id := range slots {
		if ti, err := ctx.GetTokenInfo(id); err == nil && tokenInfo(ti).Serial == serial {
			slot, found = id, true
			break
		}
	}
	if !found {
		return TokenInfo{}, fmt.Errorf("%s: %w", op, ErrTokenNotFound)
	}
	if err := ctx.InitToken(slot, pinString(oldSO), label); err != nil {
		return TokenInfo{}, p11err(op, err)
	}
	sh, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return TokenInfo{}, p11err(op+": open session", err)
	}
	defer ctx.CloseSession(sh)
	if err := ctx.Login(sh, pkcs11.CKU_SO, pinString(oldSO)); err != nil {
		return TokenInfo{}, p11err(op+": so login", err)
	}
	if string(oldSO) != string(newSO) {
		if err := ctx.SetPIN(sh, pinString(oldSO), pinString(newSO)); err != nil {
			ctx.Logout(sh)
			return TokenInfo{}, p11err(op+": change so pin", err)
		}
	}
	if err := ctx.InitPIN(sh, pinString(userPIN)); err != nil {
		ctx.Logout(sh)
		return TokenInfo{}, p11err(op+": set user pin", err)
	}
	ctx.Logout(sh)
	ti, err := ctx.GetTokenInfo(slot)
	if err != nil {
		return TokenInfo{}, p11err(op+": token info", err)
	}
	return tokenInfo(ti), nil
}
