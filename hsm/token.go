package hsm

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/miekg/pkcs11"

	"custos/internal/hint"
)

// Token is one R/W session on a token chosen by label or serial. Its
// methods are safe for concurrent use (they serialise on the session).
type Token struct {
	mod  *Module
	ctx  PKCS11
	slot uint
	info TokenInfo

	mu     sync.Mutex
	sh     pkcs11.SessionHandle
	closed bool
	mechs  map[uint]pkcs11.MechanismInfo

	probeMu sync.Mutex
	probes  map[string]bool   // key family -> wrappable under AES
	attrs   *AttributeSupport // probed once, by Require
}

// OpenToken opens an R/W session on the single token matching sel.
func (m *Module) OpenToken(sel Selector) (*Token, error) {
	ctx, err := m.ctx()
	if err != nil {
		return nil, err
	}
	slot, info, err := m.findSlot(sel)
	if err != nil {
		return nil, err
	}
	sh, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, p11err(fmt.Sprintf("token %q: open session", info.Label), err)
	}
	return &Token{mod: m, ctx: ctx, slot: slot, info: info, sh: sh}, nil
}

// Info returns the token's identity as it was when opened.
func (t *Token) Info() TokenInfo { return t.info }

// Module returns the module the token belongs to.
func (t *Token) Module() *Module { return t.mod }

// Refresh re-reads the token info (PIN counters, flags).
func (t *Token) Refresh() (TokenInfo, error) {
	if err := t.lock(); err != nil {
		return TokenInfo{}, err
	}
	defer t.mu.Unlock()
	ti, err := t.ctx.GetTokenInfo(t.slot)
	if err != nil {
		return TokenInfo{}, p11err(fmt.Sprintf("token %q: token info", t.info.Label), err)
	}
	t.info = tokenInfo(ti)
	return t.info, nil
}

// Close ends the session. Objects on the token stay; session objects go.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if err := t.ctx.CloseSession(t.sh); err != nil {
		return p11err(fmt.Sprintf("token %q: close session", t.info.Label), err)
	}
	return nil
}

// lock takes the session and fails on a closed token.
func (t *Token) lock() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return fmt.Errorf("token %q: %w", t.info.Label, errClosed)
	}
	return nil
}

// Login logs the normal user in. pin is used once and not kept; the caller
// zeroes it. A wrong PIN gives ErrPINIncorrect (saying whether the token
// reports few tries left); a locked PIN gives ErrPINLocked.
func (t *Token) Login(pin []byte) error { return t.login(pkcs11.CKU_USER, "user", pin) }

// LoginSO logs the security officer in (needed to import a trusted
// wrapping key). Only one of user and SO can be logged in at a time.
func (t *Token) LoginSO(pin []byte) error { return t.login(pkcs11.CKU_SO, "so", pin) }

func (t *Token) login(userType uint, who string, pin []byte) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.mu.Unlock()
	op := fmt.Sprintf("token %q: %s login", t.info.Label, who)
	if len(pin) == 0 {
		return fmt.Errorf("%s: %w: empty pin", op, ErrPINIncorrect)
	}
	err := t.ctx.Login(t.sh, userType, pinString(pin))
	if err == nil || rv(err) == ckrUserAlreadyLoggedIn {
		return nil
	}
	e := p11err(op, err)
	if ti, ierr := t.ctx.GetTokenInfo(t.slot); ierr == nil {
		t.info = tokenInfo(ti)
		f := ti.Flags
		low, final, locked := uint(pkcs11.CKF_USER_PIN_COUNT_LOW), uint(pkcs11.CKF_USER_PIN_FINAL_TRY), uint(pkcs11.CKF_USER_PIN_LOCKED)
		if userType == pkcs11.CKU_SO {
			low, final, locked = pkcs11.CKF_SO_PIN_COUNT_LOW, pkcs11.CKF_SO_PIN_FINAL_TRY, pkcs11.CKF_SO_PIN_LOCKED
		}
		switch {
		case f&locked != 0 && !errors.Is(e, ErrPINLocked):
			e = hint.With(fmt.Errorf("%s: %w (the token now reports the pin locked): %w", op, ErrPINLocked, err),
				"the PIN is locked after too many wrong tries: the security officer must reset it")
		case f&final != 0:
			e = hint.With(fmt.Errorf("%w: one try left before the pin locks", e),
				"stop and check the PIN: the next wrong PIN locks the token")
		case f&low != 0:
			e = hint.With(fmt.Errorf("%w: the token reports few tries left", e),
				"check the PIN carefully: few tries remain before the token locks")
		}
	}
	return e
}

// Logout ends the login of whoever is logged in.
func (t *Token) Logout() error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if err := t.ctx.Logout(t.sh); err != nil && rv(err) != ckrUserNotLoggedIn {
		return p11err(fmt.Sprintf("token %q: logout", t.info.Label), err)
	}
	return nil
}

// Mechanism names a mechanism Custos relies on.
type Mechanism struct {
	Name string `json:"name"`
	Type uint   `json:"type"`
	// Purpose says what Custos uses it for.
	Purpose string `json:"purpose"`
}

// Needed lists the mechanisms Custos uses, in display order.
var Needed = []Mechanism{
	{"CKM_AES_KEY_GEN", pkcs11.CKM_AES_KEY_GEN, "generate AES-256 keys (KEKs)"},
	{"CKM_AES_ECB", pkcs11.CKM_AES_ECB, "AES check value (legacy KCV)"},
	{"CKM_AES_CMAC", pkcs11.CKM_AES_CMAC, "AES check value (CMAC KCV)"},
	{"CKM_AES_KEY_WRAP_KWP", ckmAESKeyWrapKWP, "wrap keys (RFC 5649)"},
	{"CKM_AES_KEY_WRAP_PAD", pkcs11.CKM_AES_KEY_WRAP_PAD, "wrap keys (RFC 5649, older id)"},
	{"CKM_RSA_PKCS_KEY_PAIR_GEN", pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, "generate RSA keys"},
	{"CKM_RSA_PKCS", pkcs11.CKM_RSA_PKCS, "RSA PKCS#1 v1.5 signatures"},
	{"CKM_RSA_PKCS_OAEP", pkcs11.CKM_RSA_PKCS_OAEP, "wrap keys to an RSA recipient"},
	{"CKM_EC_KEY_PAIR_GEN", pkcs11.CKM_EC_KEY_PAIR_GEN, "generate EC P-256/P-384 keys"},
	{"CKM_ECDSA", pkcs11.CKM_ECDSA, "ECDSA signatures"},
	{"CKM_EC_EDWARDS_KEY_PAIR_GEN", ckmECEdwardsKeyPairGen, "generate Ed25519 keys"},
	{"CKM_EDDSA", ckmEdDSA, "Ed25519 signatures"},
	{"CKM_SHA256", pkcs11.CKM_SHA256, "digests"},
}

// MechanismSupport is one needed mechanism and whether the token offers it.
type MechanismSupport struct {
	Mechanism
	Supported bool `json:"supported"`
}

// mechList reads (once) the token's mechanism list.
func (m *Module) mechList(slot uint) (map[uint]pkcs11.MechanismInfo, error) {
	ctx, err := m.ctx()
	if err != nil {
		return nil, err
	}
	list, err := ctx.GetMechanismList(slot)
	if err != nil {
		return nil, p11err("get mechanism list", err)
	}
	out := make(map[uint]pkcs11.MechanismInfo, len(list))
	for _, mech := range list {
		mi, err := ctx.GetMechanismInfo(slot, []*pkcs11.Mechanism{mech})
		if err != nil {
			continue
		}
		out[mech.Mechanism] = mi
	}
	return out, nil
}

// SupportOf reports, for each mechanism Custos needs, whether the token in
// the given slot offers it. The slot comes from Slots (informational use).
func (m *Module) SupportOf(slot uint) ([]MechanismSupport, error) {
	ml, err := m.mechList(slot)
	if err != nil {
		return nil, fmt.Errorf("slot %d: %w", slot, err)
	}
	return support(ml), nil
}

func support(ml map[uint]pkcs11.MechanismInfo) []MechanismSupport {
	out := make([]MechanismSupport, len(Needed))
	for i, n := range Needed {
		_, ok := ml[n.Type]
		out[i] = MechanismSupport{Mechanism: n, Supported: ok}
	}
	return out
}

// Mechanisms reports the needed mechanisms the token offers.
func (t *Token) Mechanisms() ([]MechanismSupport, error) {
	ml, err := t.mechanisms()
	if err != nil {
		return nil, err
	}
	return support(ml), nil
}

// AllMechanisms lists every mechanism type the token offers, sorted.
func (t *Token) AllMechanisms() ([]uint, error) {
	ml, err := t.mechanisms()
	if err != nil {
		return nil, err
	}
	out := make([]uint, 0, len(ml))
	for k := range ml {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func (t *Token) mechanisms() (map[uint]pkcs11.MechanismInfo, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mechs != nil {
		return t.mechs, nil
	}
	ml, err := t.mod.mechList(t.slot)
	if err != nil {
		return nil, fmt.Errorf("token %q: %w", t.info.Label, err)
	}
	t.mechs = ml
	return ml, nil
}

// has reports whether the token offers mech (with all of the given flags).
func (t *Token) has(mech uint, flags uint) bool {
	ml, err := t.mechanisms()
	if err != nil {
		return false
	}
	mi, ok := ml[mech]
	return ok && mi.Flags&flags == flags
}

// need fails with ErrMechanismUnsupported when the token lacks mech.
func (t *Token) need(mech uint, name string, flags uint) error {
	if t.has(mech, flags) {
		return nil
	}
	return hint.With(fmt.Errorf("token %q: %w: %s", t.info.Label, ErrMechanismUnsupported, name),
		"run `custos hsm info` to see which mechanisms this token offers")
}
