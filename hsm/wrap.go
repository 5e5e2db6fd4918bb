// Wrapping and unwrapping a key under another on the token (AES key wrap
// with padding, RSA-OAEP), and the checks of what an unwrap made. Import
// is in import.go, the probe of what the token can wrap in canwrap.go.

package hsm

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"math/big"
	"strings"

	"github.com/miekg/pkcs11"

	"custos/internal/hint"
)

// Wrapped is a key wrapped by the token, with what is needed to unwrap it.
type Wrapped struct {
	// Mechanism is the PKCS#11 mechanism used, by name:
	// CKM_AES_KEY_WRAP_KWP, CKM_AES_KEY_WRAP_PAD (both RFC 5649) or
	// CKM_RSA_PKCS_OAEP.
	Mechanism string `json:"mechanism"`
	// OAEPHash is "sha-256" or "sha-1" for CKM_RSA_PKCS_OAEP (MGF1 uses
	// the same hash, no label).
	OAEPHash string  `json:"oaep_hash,omitempty"`
	KeyType  KeyType `json:"key_type"`
	Blob     []byte  `json:"blob"`
	// PublicKey is the SubjectPublicKeyInfo DER of a wrapped key pair's
	// public half (not secret), so the pair can be rebuilt on unwrap.
	PublicKey []byte `json:"public_key,omitempty"`
}

var oaepHashes = []struct {
	name      string
	hash, mgf uint
}{
	{"sha-256", pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	{"sha-1", pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1},
}

func oaepMech(name string) (*pkcs11.Mechanism, error) {
	for _, h := range oaepHashes {
		if h.name == name {
			return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.NewOAEPParams(h.hash, h.mgf, pkcs11.CKZ_DATA_SPECIFIED, nil)), nil
		}
	}
	return nil, fmt.Errorf("oaep hash %q: %w", name, ErrMechanismUnsupported)
}

// aesWrapMech picks RFC 5649 wrapping: KWP (the spec's id) if offered,
// else KEY_WRAP_PAD (SoftHSM 2.6.1's id for the same algorithm).
func (t *Token) aesWrapMech(flag uint) (uint, string, error) {
	switch {
	case t.has(ckmAESKeyWrapKWP, flag):
		return ckmAESKeyWrapKWP, "CKM_AES_KEY_WRAP_KWP", nil
	case t.has(pkcs11.CKM_AES_KEY_WRAP_PAD, flag):
		return pkcs11.CKM_AES_KEY_WRAP_PAD, "CKM_AES_KEY_WRAP_PAD", nil
	}
	return 0, "", hint.With(fmt.Errorf("token %q: %w: neither CKM_AES_KEY_WRAP_KWP nor CKM_AES_KEY_WRAP_PAD", t.info.Label, ErrMechanismUnsupported),
		"this token cannot do RFC 5649 key wrapping; run `custos hsm info`")
}

// Wrap wraps target under wrapping, both on this token: an AES wrapping
// key uses RFC 5649 (KWP preferred, KEY_WRAP_PAD otherwise), an RSA public
// key uses OAEP with the first of oaep ("sha-256", "sha-1"; both in that
// order when none is named) the token takes. The mechanism and hash used
// are reported in the result.
func (t *Token) Wrap(wrapping, target *Key, oaep ...string) (*Wrapped, error) {
	if wrapping.tok != t || target.tok != t {
		return nil, fmt.Errorf("wrap %q under %q: both keys must be on token %q in this session", target.Label, wrapping.Label, t.info.Label)
	}
	op := fmt.Sprintf("token %q: wrap key %q under %q", t.info.Label, target.Label, wrapping.Label)
	wh := wrapping.pub
	if wrapping.Type.Secret() {
		wh = wrapping.priv
	}
	th := target.priv
	if wh == 0 || th == 0 {
		return nil, fmt.Errorf("%s: %w: wrapping key or target has no usable object", op, ErrKeyNotFound)
	}
	w := &Wrapped{KeyType: target.Type}
	var mechs []*pkcs11.Mechanism
	var names []string
	switch {
	case wrapping.Type.Secret():
		m, name, err := t.aesWrapMech(pkcs11.CKF_WRAP)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		mechs, names = []*pkcs11.Mechanism{pkcs11.NewMechanism(m, nil)}, []string{name}
	case wrapping.Type == RSA3072 || wrapping.Type == RSA4096:
		if !target.Type.Secret() {
			return nil, fmt.Errorf("%s: %w: RSA-OAEP can carry only a secret key, not a %s private key", op, ErrKeyNotWrappable, target.Type)
		}
		if err := t.need(pkcs11.CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP", pkcs11.CKF_WRAP); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if len(oaep) == 0 {
			for _, h := range oaepHashes {
				oaep = append(oaep, h.name)
			}
		}
		for _, h := range oaep {
			m, err := oaepMech(h)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			mechs, names = append(mechs, m), append(names, h)
		}
	default:
		return nil, fmt.Errorf("%s: %w: a %s key cannot wrap", op, ErrMechanismUnsupported, wrapping.Type)
	}
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	var blob []byte
	var err error
	for i, m := range mechs {
		blob, err = t.ctx.WrapKey(t.sh, []*pkcs11.Mechanism{m}, wh, th)
		if err == nil {
			if m.Mechanism == pkcs11.CKM_RSA_PKCS_OAEP {
				w.Mechanism, w.OAEPHash = "CKM_RSA_PKCS_OAEP", names[i]
			} else {
				w.Mechanism = names[i]
			}
			break
		}
		// Only a refused OAEP hash is worth another try.
		if c := rv(err); c != pkcs11.CKR_ARGUMENTS_BAD && c != ckrMechanismParamInval {
			break
		}
	}
	if err != nil {
		if c := rv(err); len(mechs) > 0 && mechs[0].Mechanism == pkcs11.CKM_RSA_PKCS_OAEP && (c == pkcs11.CKR_ARGUMENTS_BAD || c == ckrMechanismParamInval) {
			return nil, hint.With(fmt.Errorf("%s: %w: the token refused RSA-OAEP with %s: %w", op, ErrMechanismUnsupported, strings.Join(names, ", else "), err),
				"this token offers another OAEP hash (SoftHSM: SHA-1 only); the policy's export_oaep names those allowed")
		}
		return nil, t.explainWrapError(op, err, wh, th, target)
	}
	w.Blob = blob
	if !target.Type.Secret() {
		if pub, perr := t.publicKey(target); perr == nil {
			if der, derr := x509.MarshalPKIXPublicKey(pub); derr == nil {
				w.PublicKey = der
			}
		}
	}
	return w, nil
}

// explainWrapError turns a refusal into an error that says why. Caller holds t.mu.
func (t *Token) explainWrapError(op string, err error, wh, th pkcs11.ObjectHandle, target *Key) error {
	c := rv(err)
	if c != ckrKeyNotWrappable && c != ckrKeyUnextractable && c != pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED {
		return p11err(op, err)
	}
	why := fmt.Sprintf("the token does not wrap %s keys", target.Type)
	h := ""
	switch {
	case !t.boolAttr(th, pkcs11.CKA_EXTRACTABLE):
		why = "the key is not extractable (CKA_EXTRACTABLE=false, fixed at generation)"
	case t.boolAttr(th, pkcs11.CKA_WRAP_WITH_TRUSTED) && !t.boolAttr(wh, pkcs11.CKA_TRUSTED):
		why = "the key may be wrapped only by a trusted key (CKA_WRAP_WITH_TRUSTED) and the wrapping key is not trusted"
		h = "import the wrapping key as trusted, which needs the security officer's login"
	case c == pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED:
		return p11err(op+": the wrapping key lacks CKA_WRAP", err)
	default:
		h = "plan backups only for key types this token can wrap (see hsm.Token.CanWrap)"
	}
	e := fmt.Errorf("%s: %w: %s: %w", op, ErrKeyNotWrappable, why, err)
	if h != "" {
		e = hint.With(e, h)
	}
	return e
}

// Unwrap unwraps w with unwrapping (an AES key, or an RSA private key)
// into this token as a key described by spec (label, id, usage,
// extractable, wrap-with-trusted); like generated keys it is sensitive and
// every security attribute is explicit. For a key pair the public half is
// recreated from w.PublicKey and checked against the private half.
func (t *Token) Unwrap(unwrapping *Key, w *Wrapped, spec KeySpec) (*Key, error) {
	spec.Type = w.KeyType
	if err := checkSpec(&spec); err != nil {
		return nil, err
	}
	if unwrapping.tok != t || unwrapping.priv == 0 {
		return nil, fmt.Errorf("unwrap %q: the unwrapping key %q must be a secret or private key on token %q", spec.Label, unwrapping.Label, t.info.Label)
	}
	op := fmt.Sprintf("token %q: unwrap %s key %q with %q", t.info.Label, spec.Type, spec.Label, unwrapping.Label)
	var mech *pkcs11.Mechanism
	switch w.Mechanism {
	case "CKM_AES_KEY_WRAP_KWP", "CKM_AES_KEY_WRAP_PAD":
		// Both names are RFC 5649; use whichever this token offers.
		m, _, err := t.aesWrapMech(pkcs11.CKF_UNWRAP)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		mech = pkcs11.NewMechanism(m, nil)
	case "CKM_RSA_PKCS_OAEP":
		m, err := oaepMech(w.OAEPHash)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		mech = m
	default:
		return nil, fmt.Errorf("%s: %w: wrapping mechanism %q", op, ErrMechanismUnsupported, w.Mechanism)
	}
	// RFC 5649 wraps a 32-byte key into exactly 40 bytes; checked here
	// because some modules (SoftHSM 2.6.1) leave CKA_VALUE_LEN unset on
	// unwrapped keys.
	if spec.Type == AES256 && w.Mechanism != "CKM_RSA_PKCS_OAEP" && len(w.Blob) != 40 {
		return nil, fmt.Errorf("%s: %w: a wrapped aes-256 key is 40 bytes, this blob %d", op, ErrMismatch, len(w.Blob))
	}
	var pub crypto.PublicKey
	if !spec.Type.Secret() {
		if len(w.PublicKey) == 0 {
			return nil, fmt.Errorf("%s: the wrapped key pair carries no public key", op)
		}
		p, err := x509.ParsePKIXPublicKey(w.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("%s: public key: %w", op, err)
		}
		pub = p
	}
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if err := t.refuseExisting(spec.Label, spec.ID); err != nil {
		return nil, err
	}
	var tmpl []*pkcs11.Attribute
	if spec.Type.Secret() {
		tmpl = secretTemplate(spec, false)
	} else {
		_, tmpl = pairTemplates(spec, spec.Type.ecParams())
	}
	h, err := t.unwrapFixed(mech, unwrapping.priv, w.Blob, tmpl)
	if err != nil {
		t.removeNamed(spec.ID, spec.Label)
		return nil, p11err(op, err)
	}
	k := &Key{tok: t, ID: spec.ID, Label: spec.Label, Type: spec.Type, priv: h, Class: "secret"}
	if !spec.Type.Secret() {
		k.Class = "pair"
		ph, err := t.createPublic(spec, pub)
		if err != nil {
			// The token may have made the object and still failed.
			t.removeNamed(spec.ID, spec.Label)
			return nil, fmt.Errorf("%s: recreate public key: %w", op, err)
		}
		k.pub = ph
	}
	if err := t.checkUnwrapped(k, spec, pub); err != nil {
		t.removeNamed(spec.ID, spec.Label)
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return k, nil
}

// unwrapFixed unwraps blob into a key made as tmpl says and returns its
// handle. SoftHSM 2.6.1 refuses CKA_MODIFIABLE in any unwrap template with
// CKR_ATTRIBUTE_READ_ONLY, and keeps the half-made object of the failed
// call on the token: unlabelled, not sensitive, modifiable (measured; see
// docs/hsm.md). So the key is first unwrapped as a session object
// (CKA_TOKEN=false) without CKA_MODIFIABLE, a template the token accepts,
// then copied into the token object tmpl asks for (C_CopyObject may set
// CKA_TOKEN and lower CKA_MODIFIABLE), and the session copy destroyed: no
// modifiable copy ever reaches the token, and if the process dies the
// session copy dies with the session. A token that cannot copy gets the
// full template in one C_UnwrapKey. Whatever a failed call leaves in this
// session is destroyed (every object that was not there before).
// Caller holds t.mu.
func (t *Token) unwrapFixed(mech *pkcs11.Mechanism, key pkcs11.ObjectHandle, blob []byte, tmpl []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	before, err := t.findObjects(t.sh, nil)
	if err != nil {
		return 0, err
	}
	had := map[pkcs11.ObjectHandle]bool{}
	for _, h := range before {
		had[h] = true
	}
	keep := pkcs11.ObjectHandle(0)
	// sweep destroys every object made since before, but keep.
	sweep := func() {
		hs, err := t.findObjects(t.sh, nil)
		if err != nil {
			return
		}
		for _, h := range hs {
			if !had[h] && h != keep {
				t.ctx.DestroyObject(t.sh, h)
			}
		}
	}
	token := true
	var loose []*pkcs11.Attribute
	for _, a := range tmpl {
		switch a.Type {
		case pkcs11.CKA_MODIFIABLE:
		case pkcs11.CKA_TOKEN:
			token = boolOf(a)
			loose = append(loose, attr(pkcs11.CKA_TOKEN, false))
		default:
			loose = append(loose, a)
		}
	}
	m := []*pkcs11.Mechanism{mech}
	sh, err := t.ctx.UnwrapKey(t.sh, m, key, blob, loose)
	if err != nil {
		sweep()
		return 0, err
	}
	h, err := t.ctx.CopyObject(t.sh, sh, []*pkcs11.Attribute{attr(pkcs11.CKA_TOKEN, token), attr(pkcs11.CKA_MODIFIABLE, false)})
	if err != nil {
		sweep()
		if c := rv(err); c != pkcs11.CKR_FUNCTION_NOT_SUPPORTED && c != pkcs11.CKR_ATTRIBUTE_READ_ONLY && c != pkcs11.CKR_TEMPLATE_INCONSISTENT {
			return 0, err
		}
		// No copy on this token: the full template, once.
		h, err = t.ctx.UnwrapKey(t.sh, m, key, blob, tmpl)
		if err != nil {
			sweep()
			return 0, err
		}
		return h, nil
	}
	if err := t.ctx.DestroyObject(t.sh, sh); err != nil {
		// The session copy dies with the session in any case; the
		// token copy is what the caller asked for.
		keep = h
		sweep()
	}
	return h, nil
}

// checkUnwrapped compares the unwrapped key with spec; caller holds t.mu.
func (t *Token) checkUnwrapped(k *Key, spec KeySpec, pub crypto.PublicKey) error {
	f, err := t.facts(k)
	if err != nil {
		return err
	}
	if f.Type != spec.Type {
		return fmt.Errorf("%w: unwrapped a %s key, expected %s", ErrMismatch, f.Type, spec.Type)
	}
	a := f.Attributes
	if a.Token == spec.Ephemeral || !a.Private || !a.Sensitive || a.Modifiable ||
		a.Extractable != spec.Extractable || a.WrapWithTrusted != spec.WrapWithTrusted {
		return fmt.Errorf("%w: unwrapped key attributes %+v", ErrMismatch, a)
	}
	if spec.Type == RSA3072 || spec.Type == RSA4096 {
		// The private half carries the modulus: it must be the public key's.
		m, err := t.objAttrs(k.priv, pkcs11.CKA_MODULUS)
		if err != nil {
			return err
		}
		rp, ok := pub.(*rsa.PublicKey)
		if !ok || new(big.Int).SetBytes(m[0].Value).Cmp(rp.N) != 0 {
			return fmt.Errorf("%w: unwrapped private key does not match the recorded public key", ErrMismatch)
		}
	}
	return nil
}
