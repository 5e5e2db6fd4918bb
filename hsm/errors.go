package hsm

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"

	"custos/internal/hint"
)

// Sentinel errors. Every error returned by this package that falls in one
// of these classes wraps the sentinel, so callers test with errors.Is.
var (
	// ErrModule: the PKCS#11 module cannot be loaded or initialised.
	ErrModule = errors.New("pkcs11 module unusable")
	// ErrTokenNotFound: no token, or more than one, matches the selector.
	ErrTokenNotFound = errors.New("token not found")
	// ErrPINIncorrect: the token rejected the PIN.
	ErrPINIncorrect = errors.New("pin incorrect")
	// ErrPINLocked: too many wrong PINs; the token refuses logins.
	ErrPINLocked = errors.New("pin locked")
	// ErrLabelExists: an object with this label is already on the token.
	ErrLabelExists = errors.New("label already exists")
	// ErrIDExists: an object with this CKA_ID is already on the token.
	ErrIDExists = errors.New("id already exists")
	// ErrKeyNotFound: no key object matches.
	ErrKeyNotFound = errors.New("key not found")
	// ErrMalformed: objects match but do not read as a key Custos makes
	// (a type or size it never generates, missing attributes): typically
	// what a generation cut short leaves, its attributes half-written.
	ErrMalformed = errors.New("not a whole key")
	// ErrMechanismUnsupported: the token does not offer a mechanism (or
	// mechanism parameter) that the operation needs.
	ErrMechanismUnsupported = errors.New("mechanism unsupported")
	// ErrKeyNotWrappable: the token will not wrap this key (its type, its
	// CKA_EXTRACTABLE, or CKA_WRAP_WITH_TRUSTED with an untrusted wrapping key).
	ErrKeyNotWrappable = errors.New("key not wrappable")
	// ErrNotLoggedIn: the operation needs a login first.
	ErrNotLoggedIn = errors.New("not logged in")
	// ErrTemplateRefused: the token refused an object template (an
	// attribute it does not know, or a combination it will not make).
	ErrTemplateRefused = errors.New("template refused by the token")
	// ErrMismatch: what the token produced differs from what was asked.
	ErrMismatch = errors.New("token result differs from request")
)

// Additional PKCS#11 constants that miekg/pkcs11 v1.1.2 does not define
// (PKCS#11 v3.0 values).
const (
	ckkECEdwards            = 0x00000040
	ckmECEdwardsKeyPairGen  = 0x00001055
	ckmEdDSA                = 0x00001057
	ckmAESKeyWrapKWP        = 0x0000210B
	ckrCurveNotSupported    = 0x00000140
	ckrMechanismParamInval  = 0x00000071
	ckrPinIncorrect         = pkcs11.CKR_PIN_INCORRECT
	ckrPinLocked            = pkcs11.CKR_PIN_LOCKED
	ckrKeyNotWrappable      = pkcs11.CKR_KEY_NOT_WRAPPABLE
	ckrKeyUnextractable     = pkcs11.CKR_KEY_UNEXTRACTABLE
	ckrMechanismInvalid     = pkcs11.CKR_MECHANISM_INVALID
	ckrUserAlreadyLoggedIn  = pkcs11.CKR_USER_ALREADY_LOGGED_IN
	ckrUserNotLoggedIn      = pkcs11.CKR_USER_NOT_LOGGED_IN
	ckrGeneralError         = pkcs11.CKR_GENERAL_ERROR
	ckrWrappingKeyTypeIncon = pkcs11.CKR_WRAPPING_KEY_TYPE_INCONSISTENT
)

// rv extracts the PKCS#11 return value from err, or 0.
func rv(err error) uint {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return uint(e)
	}
	return 0
}

// p11err wraps a PKCS#11 error with what was being done, and joins the
// matching sentinel so errors.Is works. op must never contain secrets.
func p11err(op string, err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	h := ""
	switch rv(err) {
	case ckrPinIncorrect:
		sentinel = ErrPINIncorrect
	case ckrPinLocked:
		sentinel = ErrPINLocked
		h = "the PIN is locked after too many wrong tries: the security officer must reset it (C_InitPIN)"
	case ckrMechanismInvalid, ckrMechanismParamInval, ckrCurveNotSupported:
		sentinel = ErrMechanismUnsupported
		h = "run `custos hsm info` to see which mechanisms this token offers"
	case ckrKeyNotWrappable, ckrKeyUnextractable:
		sentinel = ErrKeyNotWrappable
	case ckrUserNotLoggedIn:
		sentinel = ErrNotLoggedIn
	case pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID, pkcs11.CKR_TEMPLATE_INCONSISTENT, pkcs11.CKR_TEMPLATE_INCOMPLETE, pkcs11.CKR_ATTRIBUTE_READ_ONLY:
		sentinel = ErrTemplateRefused
		h = "this token does not accept an attribute Custos sets; run `custos hsm info` to see what it can do (docs/hsm.md lists known differences)"
	case pkcs11.CKR_PIN_LEN_RANGE:
		sentinel = ErrPINIncorrect
		h = "the token accepts PINs of another length only; check the PIN"
	case pkcs11.CKR_TOKEN_WRITE_PROTECTED:
		h = "the token is write-protected: it cannot take new keys"
	}
	var out error
	if sentinel != nil {
		out = fmt.Errorf("%s: %w: %w", op, sentinel, err)
	} else {
		out = fmt.Errorf("%s: %w", op, err)
	}
	if h != "" {
		out = hint.With(out, h)
	}
	return out
}
