// Finding keys on the token: objects by template, their attributes, and
// a key by its id or label, with its type read back from the token.

package hsm

import (
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

// findObjects returns every handle matching tmpl. Caller holds t.mu.
func (t *Token) findObjects(sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := t.ctx.FindObjectsInit(sh, tmpl); err != nil {
		return nil, err
	}
	var out []pkcs11.ObjectHandle
	for {
		hs, _, err := t.ctx.FindObjects(sh, 64)
		if err != nil {
			t.ctx.FindObjectsFinal(sh)
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
	}
	return out, t.ctx.FindObjectsFinal(sh)
}

func boolOf(a *pkcs11.Attribute) bool { return len(a.Value) > 0 && a.Value[0] != 0 }

// objAttrs reads the given attributes of one object; caller holds t.mu.
func (t *Token) objAttrs(h pkcs11.ObjectHandle, types ...uint) ([]*pkcs11.Attribute, error) {
	tmpl := make([]*pkcs11.Attribute, len(types))
	for i, ty := range types {
		tmpl[i] = attr(ty, nil)
	}
	a, err := t.ctx.GetAttributeValue(t.sh, h, tmpl)
	if err != nil {
		return nil, p11err(fmt.Sprintf("token %q: read attributes", t.info.Label), err)
	}
	return a, nil
}

// FindKey finds the key (secret key, or key pair) with CKA_ID id, or, when
// id is nil, with label. Exactly one secret or private key must match.
func (t *Token) FindKey(id []byte, label string) (*Key, error) {
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	return t.findKey(id, label)
}

func (t *Token) findKey(id []byte, label string) (*Key, error) {
	what := fmt.Sprintf("label %q", label)
	sel := attr(pkcs11.CKA_LABEL, label)
	if len(id) > 0 {
		what = fmt.Sprintf("id %x", id)
		sel = attr(pkcs11.CKA_ID, id)
	}
	op := fmt.Sprintf("token %q: find key %s", t.info.Label, what)
	find := func(class uint) ([]pkcs11.ObjectHandle, error) {
		hs, err := t.findObjects(t.sh, []*pkcs11.Attribute{sel, attr(pkcs11.CKA_CLASS, class)})
		if err != nil {
			return nil, p11err(op, err)
		}
		return hs, nil
	}
	secret, err := find(pkcs11.CKO_SECRET_KEY)
	if err != nil {
		return nil, err
	}
	priv, err := find(pkcs11.CKO_PRIVATE_KEY)
	if err != nil {
		return nil, err
	}
	pub, err := find(pkcs11.CKO_PUBLIC_KEY)
	if err != nil {
		return nil, err
	}
	k := &Key{tok: t}
	switch {
	case len(secret)+len(priv) > 1 || len(pub) > 1:
		return nil, fmt.Errorf("%s: several keys match: %w", op, ErrMalformed)
	case len(secret) == 1:
		k.priv, k.Class = secret[0], "secret"
	case len(priv) == 1:
		k.priv, k.Class = priv[0], "private"
		if len(pub) == 1 {
			k.pub, k.Class = pub[0], "pair"
		}
	case len(pub) == 1:
		k.pub, k.Class = pub[0], "public"
	default:
		return nil, fmt.Errorf("%s: %w", op, ErrKeyNotFound)
	}
	h := k.priv
	if h == 0 {
		h = k.pub
	}
	a, err := t.objAttrs(h, pkcs11.CKA_ID, pkcs11.CKA_LABEL)
	if err != nil {
		return nil, err
	}
	k.ID, k.Label = a[0].Value, string(a[1].Value)
	kt, err := t.keyType(h)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", op, ErrMalformed, err)
	}
	k.Type = kt
	return k, nil
}

// keyType works out the KeyType of an object; caller holds t.mu.
func (t *Token) keyType(h pkcs11.ObjectHandle) (KeyType, error) {
	a, err := t.objAttrs(h, pkcs11.CKA_KEY_TYPE)
	if err != nil {
		return "", err
	}
	kt := ulongOf(a[0].Value)
	switch kt {
	case pkcs11.CKK_AES:
		v, err := t.objAttrs(h, pkcs11.CKA_VALUE_LEN)
		if err != nil {
			return "", err
		}
		switch n := ulongOf(v[0].Value); n {
		case 32:
			return AES256, nil
		case 0:
			// SoftHSM 2.6.1 does not set CKA_VALUE_LEN on unwrapped keys;
			// Unwrap checked the length from the RFC 5649 blob instead.
			return AES256, nil
		default:
			return "", fmt.Errorf("aes key of %d bytes is not a supported type", n)
		}
	case pkcs11.CKK_RSA:
		m, err := t.objAttrs(h, pkcs11.CKA_MODULUS)
		if err != nil {
			return "", err
		}
		switch n := new(big.Int).SetBytes(m[0].Value).BitLen(); n {
		case 3072:
			return RSA3072, nil
		case 4096:
			return RSA4096, nil
		default:
			return "", fmt.Errorf("rsa key of %d bits is not a supported type", n)
		}
	case pkcs11.CKK_EC, ckkECEdwards:
		p, err := t.objAttrs(h, pkcs11.CKA_EC_PARAMS)
		if err != nil {
			return "", err
		}
		return curveType(p[0].Value)
	}
	return "", fmt.Errorf("key type 0x%x is not supported", kt)
}

// curveType maps CKA_EC_PARAMS (an OID or a curve name) to a KeyType.
func curveType(params []byte) (KeyType, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err == nil && len(rest) == 0 {
		switch {
		case oid.Equal(oidP256):
			return ECP256, nil
		case oid.Equal(oidP384):
			return ECP384, nil
		case oid.Equal(oidEd25519):
			return Ed25519, nil
		}
		return "", fmt.Errorf("curve %s is not supported", oid)
	}
	var name string
	if rest, err := asn1.Unmarshal(params, &name); err == nil && len(rest) == 0 {
		if name == "edwards25519" {
			return Ed25519, nil
		}
		return "", fmt.Errorf("curve %q is not supported", name)
	}
	return "", fmt.Errorf("cannot parse CKA_EC_PARAMS %x", params)
}

// ulongOf decodes a CK_ULONG in host (little-endian) order.
func ulongOf(b []byte) uint {
	var v uint
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint(b[i])
	}
	return v
}
