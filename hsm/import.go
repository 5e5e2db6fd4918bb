// Keys created on the token from their value: a trusted AES or RSA public
// wrapping key, and an AES key such as a transport key (ImportAES).

package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"

	"custos/internal/hint"
)

// publicObject is the public half of pairTemplates for a key created from
// its material: the generation-only attributes dropped; the caller adds
// the key material.
func publicObject(spec KeySpec) []*pkcs11.Attribute {
	pubT, _ := pairTemplates(spec, spec.Type.ecParams())
	var tmpl []*pkcs11.Attribute
	for _, a := range pubT {
		if a.Type != pkcs11.CKA_MODULUS_BITS && a.Type != pkcs11.CKA_PUBLIC_EXPONENT {
			tmpl = append(tmpl, a)
		}
	}
	return tmpl
}

// createPublic makes the public half of an unwrapped pair; caller holds t.mu.
func (t *Token) createPublic(spec KeySpec, pub crypto.PublicKey) (pkcs11.ObjectHandle, error) {
	tmpl := publicObject(spec)
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if spec.Type != RSA3072 && spec.Type != RSA4096 || p.N.BitLen() != spec.Type.rsaBits() {
			return 0, fmt.Errorf("%w: public key is not %s", ErrMismatch, spec.Type)
		}
		tmpl = append(tmpl, attr(pkcs11.CKA_MODULUS, p.N.Bytes()), attr(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(p.E)).Bytes()))
	case *ecdsa.PublicKey:
		raw, err := p.Bytes()
		if err != nil {
			return 0, err
		}
		if kt := map[int]KeyType{256: ECP256, 384: ECP384}[p.Curve.Params().BitSize]; kt != spec.Type {
			return 0, fmt.Errorf("%w: public key is not %s", ErrMismatch, spec.Type)
		}
		tmpl = append(tmpl, attr(pkcs11.CKA_EC_POINT, mustDER(raw)))
	case ed25519.PublicKey:
		if spec.Type != Ed25519 {
			return 0, fmt.Errorf("%w: public key is not %s", ErrMismatch, spec.Type)
		}
		tmpl = append(tmpl, attr(pkcs11.CKA_EC_POINT, mustDER([]byte(p))))
	default:
		return 0, fmt.Errorf("unsupported public key %T", pub)
	}
	h, err := t.ctx.CreateObject(t.sh, tmpl)
	if err != nil {
		return 0, p11err("create public key object", err)
	}
	return h, nil
}

// ImportTrustedAES creates a trusted AES wrapping key (CKA_TRUSTED=true)
// from value, e.g. a backup wrapping key. Only the security officer may set
// CKA_TRUSTED, and an SO session can create only public objects, so the
// key is CKA_PRIVATE=false (still sensitive and non-extractable: its value
// never leaves the token). Call LoginSO first. Usage is KEKUsage (wrap,
// unwrap, and sign for the CMAC check value).
//
// The key is a session object (CKA_TOKEN=false) when the token allows a
// trusted one (SoftHSM 2.6.1 does; it stays usable after the SO logs out
// and the user logs in on the same session), so it dies with the session
// even if the process is killed; Key.SessionObject tells. Otherwise it is
// a token object and the caller must destroy it on every path.
func (t *Token) ImportTrustedAES(label string, id, value []byte) (*Key, error) {
	if len(value) != 32 {
		return nil, fmt.Errorf("import trusted aes key %q: value must be 32 bytes, not %d", label, len(value))
	}
	spec := KeySpec{Label: label, ID: id, Type: AES256, Usage: KEKUsage}
	if err := checkSpec(&spec); err != nil {
		return nil, err
	}
	tmpl := func(session bool) []*pkcs11.Attribute {
		s := spec
		s.Ephemeral = session
		tm := secretTemplate(s, false)
		tm = setAttr(tm, pkcs11.CKA_PRIVATE, false)
		return append(tm, attr(pkcs11.CKA_TRUSTED, true), attr(pkcs11.CKA_VALUE, value))
	}
	return t.importTrusted(spec, tmpl, "secret")
}

// importTrusted imports a trusted key as a session object, or as a token
// object when the token refuses a trusted session object.
func (t *Token) importTrusted(spec KeySpec, tmpl func(session bool) []*pkcs11.Attribute, class string) (*Key, error) {
	k, err := t.importKey(spec, tmpl(true), class, true)
	if err == nil {
		k.session = true
		return k, nil
	}
	switch rv(err) {
	case pkcs11.CKR_TEMPLATE_INCONSISTENT, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID:
		return t.importKey(spec, tmpl(false), class, true)
	}
	return nil, err
}

// ImportAES creates an AES key from value as spec says (sensitive, all
// attributes explicit), e.g. a transport key on the restoring token. The
// user must be logged in.
func (t *Token) ImportAES(spec KeySpec, value []byte) (*Key, error) {
	spec.Type = AES256
	if len(value) != 32 {
		return nil, fmt.Errorf("import aes key %q: value must be 32 bytes, not %d", spec.Label, len(value))
	}
	if err := checkSpec(&spec); err != nil {
		return nil, err
	}
	tmpl := append(secretTemplate(spec, false), attr(pkcs11.CKA_VALUE, value))
	return t.importKey(spec, tmpl, "secret", false)
}

// ImportTrustedRSAPublic creates a trusted RSA public wrapping key (for
// exports to a recipient). Like ImportTrustedAES it needs LoginSO and is a
// session object where the token allows it.
func (t *Token) ImportTrustedRSAPublic(label string, id []byte, pub *rsa.PublicKey) (*Key, error) {
	kt := map[int]KeyType{3072: RSA3072, 4096: RSA4096}[pub.N.BitLen()]
	if kt == "" {
		return nil, fmt.Errorf("import trusted rsa key %q: %d-bit modulus (want 3072 or 4096)", label, pub.N.BitLen())
	}
	spec := KeySpec{Label: label, ID: id, Type: kt, Usage: Usage{Wrap: true}}
	if err := checkSpec(&spec); err != nil {
		return nil, err
	}
	tmpl := func(session bool) []*pkcs11.Attribute {
		s := spec
		s.Ephemeral = session
		return append(publicObject(s), attr(pkcs11.CKA_TRUSTED, true),
			attr(pkcs11.CKA_MODULUS, pub.N.Bytes()), attr(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(pub.E)).Bytes()))
	}
	return t.importTrusted(spec, tmpl, "public")
}

func findAttr(tmpl []*pkcs11.Attribute, typ uint) *pkcs11.Attribute {
	for _, a := range tmpl {
		if a.Type == typ {
			return a
		}
	}
	return attr(typ, false)
}

func setAttr(tmpl []*pkcs11.Attribute, typ uint, v any) []*pkcs11.Attribute {
	for i, a := range tmpl {
		if a.Type == typ {
			tmpl[i] = attr(typ, v)
		}
	}
	return tmpl
}

func (t *Token) importKey(spec KeySpec, tmpl []*pkcs11.Attribute, class string, trusted bool) (*Key, error) {
	op := fmt.Sprintf("token %q: import %s key %q", t.info.Label, spec.Type, spec.Label)
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if err := t.refuseExisting(spec.Label, spec.ID); err != nil {
		return nil, err
	}
	h, err := t.ctx.CreateObject(t.sh, tmpl)
	if err != nil {
		// The token may have made the object and still failed.
		t.removeNamed(spec.ID, spec.Label)
		e := p11err(op, err)
		if trusted && (rv(err) == pkcs11.CKR_ATTRIBUTE_READ_ONLY || rv(err) == ckrUserNotLoggedIn || rv(err) == pkcs11.CKR_SESSION_READ_ONLY) {
			e = hint.With(e, "a trusted key can be created only while the security officer is logged in (LoginSO)")
		}
		return nil, e
	}
	k := &Key{tok: t, ID: spec.ID, Label: spec.Label, Type: spec.Type, Class: class, session: !boolOf(findAttr(tmpl, pkcs11.CKA_TOKEN))}
	if class == "public" {
		k.pub = h
	} else {
		k.priv = h
	}
	if trusted && !t.boolAttr(h, pkcs11.CKA_TRUSTED) {
		t.destroyHandles(k)
		return nil, fmt.Errorf("%s: %w: CKA_TRUSTED did not stick", op, ErrMismatch)
	}
	return k, nil
}
