package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
	"golang.org/x/crypto/ssh"
)

// Attributes are the PKCS#11 attributes of a key that matter to an
// auditor. For a key pair, the private half's attributes, with verify,
// encrypt and wrap taken from the public half.
type Attributes struct {
	Token            bool `json:"token"`
	Private          bool `json:"private"`
	Sensitive        bool `json:"sensitive"`
	Extractable      bool `json:"extractable"`
	WrapWithTrusted  bool `json:"wrap_with_trusted"`
	Trusted          bool `json:"trusted"`
	Modifiable       bool `json:"modifiable"`
	Local            bool `json:"local"`
	AlwaysSensitive  bool `json:"always_sensitive"`
	NeverExtractable bool `json:"never_extractable"`
	// Usage's flags, inlined in JSON (sign, verify, … derive).
	Usage
}

func (a Attributes) asMap() map[string]bool {
	m := map[string]bool{
		"token": a.Token, "private": a.Private, "sensitive": a.Sensitive,
		"extractable": a.Extractable, "wrap_with_trusted": a.WrapWithTrusted,
		"trusted": a.Trusted, "modifiable": a.Modifiable, "local": a.Local,
		"always_sensitive": a.AlwaysSensitive, "never_extractable": a.NeverExtractable,
	}
	for _, f := range usageFlags {
		m[f.name] = *f.of(&a.Usage)
	}
	return m
}

// KeyFacts is what the ledger records about a key. Check values are
// computed inside the token; a field is empty when the key's usage does
// not allow it (see docs/hsm.md).
type KeyFacts struct {
	ID         string     `json:"id"`
	Label      string     `json:"label"`
	Type       KeyType    `json:"type"`
	Class      string     `json:"class"`
	Attributes Attributes `json:"attributes"`
	// KCVAESECB: first 3 bytes of AES-ECB(key, 0^16), hex (needs encrypt).
	KCVAESECB string `json:"kcv_aes_ecb,omitempty"`
	// KCVAESCMAC: first 3 bytes of AES-CMAC(key, 0^16), hex (needs sign).
	KCVAESCMAC string `json:"kcv_aes_cmac,omitempty"`
	// SPKISHA256: SHA-256 of the SubjectPublicKeyInfo DER, hex.
	SPKISHA256 string `json:"spki_sha256,omitempty"`
	// SSHFingerprint: "SHA256:…" as ssh-keygen -l prints it.
	SSHFingerprint string `json:"ssh_fingerprint,omitempty"`

	rawID    []byte
	valueLen uint
	pub      crypto.PublicKey
}

// Facts reads the key's attributes and computes its check values.
func (k *Key) Facts() (KeyFacts, error) {
	t := k.tok
	if err := t.lock(); err != nil {
		return KeyFacts{}, err
	}
	defer t.mu.Unlock()
	f, err := t.facts(k)
	if err != nil {
		return KeyFacts{}, fmt.Errorf("token %q: facts of key %q: %w", t.info.Label, k.Label, err)
	}
	return f, nil
}

// PublicKey returns the public key of an asymmetric key as an
// *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
func (k *Key) PublicKey() (crypto.PublicKey, error) {
	if k.Type.Secret() {
		return nil, fmt.Errorf("key %q: a secret key has no public key", k.Label)
	}
	t := k.tok
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	p, err := t.publicKey(k)
	if err != nil {
		return nil, fmt.Errorf("token %q: public key of %q: %w", t.info.Label, k.Label, err)
	}
	return p, nil
}

// A boolFact is a boolean attribute and the field it is read into.
type boolFact struct {
	cka uint
	to  *bool
}

// factBools are the boolean attributes of a key's facts, read into a. A
// private key is not asked CKA_TRUSTED, CKA_VERIFY, CKA_ENCRYPT or
// CKA_WRAP: PKCS#11 defines them for public and secret keys only (SoftHSM
// answers CKR_ATTRIBUTE_TYPE_INVALID), so they read false, as before;
// a pair's verify, encrypt and wrap are its public half's.
func factBools(a *Attributes, private bool) []boolFact {
	f := []boolFact{
		{pkcs11.CKA_TOKEN, &a.Token}, {pkcs11.CKA_PRIVATE, &a.Private},
		{pkcs11.CKA_SENSITIVE, &a.Sensitive}, {pkcs11.CKA_EXTRACTABLE, &a.Extractable},
		{pkcs11.CKA_WRAP_WITH_TRUSTED, &a.WrapWithTrusted}, {pkcs11.CKA_MODIFIABLE, &a.Modifiable},
		{pkcs11.CKA_LOCAL, &a.Local}, {pkcs11.CKA_ALWAYS_SENSITIVE, &a.AlwaysSensitive},
		{pkcs11.CKA_NEVER_EXTRACTABLE, &a.NeverExtractable},
	}
	if !private {
		f = append(f, boolFact{pkcs11.CKA_TRUSTED, &a.Trusted})
	}
	for _, u := range usageFlags {
		if private && (u.cka == pkcs11.CKA_VERIFY || u.cka == pkcs11.CKA_ENCRYPT || u.cka == pkcs11.CKA_WRAP) {
			continue
		}
		f = append(f, boolFact{u.cka, u.of(&a.Usage)})
	}
	return f
}

// readBools reads boolean attributes of one object in one
// C_GetAttributeValue (a call per attribute was most of what the hsm
// layer added to a generation: docs/performance.md). A token that refuses
// the batch (an attribute it does not know, such as CKA_WRAP_WITH_TRUSTED
// on opencryptoki 3.8) is asked one attribute at a time, and what it
// refuses reads false, as boolAttr reads it.
func (t *Token) readBools(h pkcs11.ObjectHandle, fs []boolFact) {
	tmpl := make([]*pkcs11.Attribute, len(fs))
	for i, f := range fs {
		tmpl[i] = attr(f.cka, nil)
	}
	if a, err := t.ctx.GetAttributeValue(t.sh, h, tmpl); err == nil && len(a) == len(fs) {
		for i, f := range fs {
			*f.to = boolOf(a[i])
		}
		return
	}
	for _, f := range fs {
		*f.to = t.boolAttr(h, f.cka)
	}
}

// boolAttr reads one boolean attribute; absent or invalid reads as false.
func (t *Token) boolAttr(h pkcs11.ObjectHandle, typ uint) bool {
	v := t.attrValue(h, typ)
	return len(v) > 0 && v[0] != 0
}

// facts: caller holds t.mu.
func (t *Token) facts(k *Key) (KeyFacts, error) {
	main := k.priv
	if main == 0 {
		main = k.pub
	}
	f := KeyFacts{Label: k.Label, Type: k.Type, Class: k.Class, rawID: k.ID, ID: hex.EncodeToString(k.ID)}
	a, err := t.objAttrs(main, pkcs11.CKA_ID, pkcs11.CKA_LABEL)
	if err != nil {
		return f, err
	}
	f.rawID, f.ID, f.Label = a[0].Value, hex.EncodeToString(a[0].Value), string(a[1].Value)
	if f.Type, err = t.keyType(main); err != nil {
		return f, err
	}
	private := k.priv != 0 && !k.Type.Secret()
	t.readBools(main, factBools(&f.Attributes, private))
	if k.priv != 0 && k.pub != 0 {
		// Verify, encrypt and wrap live on the public half of a pair.
		a := &f.Attributes
		t.readBools(k.pub, []boolFact{{pkcs11.CKA_VERIFY, &a.Verify}, {pkcs11.CKA_ENCRYPT, &a.Encrypt}, {pkcs11.CKA_WRAP, &a.Wrap}})
	}
	if f.Type.Secret() {
		if v, err := t.objAttrs(main, pkcs11.CKA_VALUE_LEN); err == nil {
			f.valueLen = ulongOf(v[0].Value)
		}
		if f.Attributes.Encrypt {
			if f.KCVAESECB, err = t.kcvECB(main); err != nil {
				return f, err
			}
		}
		if f.Attributes.Sign {
			// A token without CKM_AES_CMAC gives no CMAC check value;
			// ceremonies that record one refuse such a token first
			// (Token.Require).
			if f.KCVAESCMAC, err = t.kcvCMAC(main); err != nil && !errors.Is(err, ErrMechanismUnsupported) {
				return f, err
			}
		}
		return f, nil
	}
	pub, err := t.publicKey(k)
	if err != nil {
		if k.pub == 0 && (k.Type == ECP256 || k.Type == ECP384 || k.Type == Ed25519) {
			return f, nil // a lone EC private key does not carry its point
		}
		return f, err
	}
	f.pub = pub
	if f.SPKISHA256, f.SSHFingerprint, err = Fingerprints(pub); err != nil {
		return f, err
	}
	return f, nil
}

// Fingerprints returns the SHA-256 of the SubjectPublicKeyInfo DER (hex)
// and the OpenSSH SHA256 fingerprint of pub.
func Fingerprints(pub crypto.PublicKey) (spki, sshFP string, err error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", "", fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(der)
	spki = hex.EncodeToString(sum[:])
	if sp, err := ssh.NewPublicKey(pub); err == nil {
		sshFP = ssh.FingerprintSHA256(sp)
	}
	return spki, sshFP, nil
}

var zeroBlock = make([]byte, 16)

// kcvECB computes AES-ECB(key, 0^16)[:3] inside the token; caller holds t.mu.
func (t *Token) kcvECB(h pkcs11.ObjectHandle) (string, error) {
	return t.kcv(h, pkcs11.CKM_AES_ECB, "CKM_AES_ECB", t.ctx.EncryptInit, t.ctx.Encrypt)
}

// kcvCMAC computes AES-CMAC(key, 0^16)[:3] inside the token; caller holds t.mu.
func (t *Token) kcvCMAC(h pkcs11.ObjectHandle) (string, error) {
	return t.kcv(h, pkcs11.CKM_AES_CMAC, "CKM_AES_CMAC", t.ctx.SignInit, t.ctx.Sign)
}

// kcv runs mech (through init and run: encrypt or sign) over 0^16 with
// key h and returns the first 3 bytes in hex; caller holds t.mu.
func (t *Token) kcv(h pkcs11.ObjectHandle, mech uint, name string,
	init func(pkcs11.SessionHandle, []*pkcs11.Mechanism, pkcs11.ObjectHandle) error,
	run func(pkcs11.SessionHandle, []byte) ([]byte, error)) (string, error) {
	op := "check value (" + name + ")"
	if err := init(t.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, h); err != nil {
		return "", p11err(op, err)
	}
	out, err := run(t.sh, zeroBlock)
	if err != nil {
		return "", p11err(op, err)
	}
	if len(out) < 3 {
		return "", fmt.Errorf("%s: %w: %d bytes", op, ErrMismatch, len(out))
	}
	return hex.EncodeToString(out[:3]), nil
}

// publicKey builds the Go public key from the token; caller holds t.mu.
func (t *Token) publicKey(k *Key) (crypto.PublicKey, error) {
	h := k.pub
	if h == 0 {
		h = k.priv
	}
	switch k.Type {
	case RSA3072, RSA4096:
		a, err := t.objAttrs(h, pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT)
		if err != nil {
			return nil, err
		}
		e := new(big.Int).SetBytes(a[1].Value)
		if !e.IsInt64() || e.Int64() > 1<<31-1 || e.Int64() < 3 {
			return nil, fmt.Errorf("rsa public exponent out of range")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(a[0].Value), E: int(e.Int64())}, nil
	case ECP256, ECP384, Ed25519:
		if k.pub == 0 {
			return nil, fmt.Errorf("%w: no public key object for %s key %q", ErrKeyNotFound, k.Type, k.Label)
		}
		a, err := t.objAttrs(h, pkcs11.CKA_EC_POINT)
		if err != nil {
			return nil, err
		}
		return ParseECPoint(k.Type, a[0].Value)
	}
	return nil, fmt.Errorf("key type %s has no public key", k.Type)
}

// ParseECPoint turns a CKA_EC_POINT value into a public key of type kt.
// Modules differ: some return the raw point, others the point wrapped in a
// DER OCTET STRING (as PKCS#11 says); both are accepted, decided by length
// so a raw point is never misread as a wrapper.
func ParseECPoint(kt KeyType, v []byte) (crypto.PublicKey, error) {
	var size int
	switch kt {
	case ECP256:
		size = 65
	case ECP384:
		size = 97
	case Ed25519:
		size = ed25519.PublicKeySize
	default:
		return nil, fmt.Errorf("ec point: key type %s has no ec point", kt)
	}
	raw := v
	if len(v) != size {
		var inner []byte
		rest, err := asn1.Unmarshal(v, &inner)
		if err != nil || len(rest) != 0 || len(inner) != size {
			return nil, fmt.Errorf("ec point for %s: %d bytes, neither a raw point (%d) nor a DER octet string holding one", kt, len(v), size)
		}
		raw = inner
	}
	switch kt {
	case Ed25519:
		return ed25519.PublicKey(append([]byte(nil), raw...)), nil
	case ECP256:
		return parseUncompressed(elliptic.P256(), raw)
	default:
		return parseUncompressed(elliptic.P384(), raw)
	}
}

func parseUncompressed(c elliptic.Curve, raw []byte) (crypto.PublicKey, error) {
	p, err := ecdsa.ParseUncompressedPublicKey(c, raw)
	if err != nil {
		return nil, fmt.Errorf("ec point for %s: %w", c.Params().Name, err)
	}
	return p, nil
}
