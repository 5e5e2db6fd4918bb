package hsm

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"

	"custos/internal/hint"
)

// KeyType is the kind of key Custos manages, as written in the ledger.
type KeyType string

// The key types Custos generates.
const (
	AES256  KeyType = "aes-256"
	RSA3072 KeyType = "rsa-3072"
	RSA4096 KeyType = "rsa-4096"
	ECP256  KeyType = "ec-p256"
	ECP384  KeyType = "ec-p384"
	Ed25519 KeyType = "ed25519"
)

// KeyTypes lists every supported key type.
var KeyTypes = []KeyType{AES256, RSA3072, RSA4096, ECP256, ECP384, Ed25519}

// ParseKeyType checks s is a known key type.
func ParseKeyType(s string) (KeyType, error) {
	for _, k := range KeyTypes {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown key type %q (want one of aes-256, rsa-3072, rsa-4096, ec-p256, ec-p384, ed25519)", s)
}

// Secret reports whether the type is a symmetric (secret) key.
func (k KeyType) Secret() bool { return k == AES256 }

func (k KeyType) rsaBits() int {
	switch k {
	case RSA3072:
		return 3072
	case RSA4096:
		return 4096
	}
	return 0
}

// DER-encoded CKA_EC_PARAMS (named curve OIDs).
var (
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384    = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
)

func mustDER(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err) // constant input: cannot fail
	}
	return b
}

var (
	paramsP256    = mustDER(oidP256)
	paramsP384    = mustDER(oidP384)
	paramsEd25519 = mustDER(oidEd25519)
	// Some modules know Edwards curves only by the PrintableString form.
	paramsEd25519Name = mustDER(asn1.RawValue{Tag: asn1.TagPrintableString, Bytes: []byte("edwards25519")})
)

func (k KeyType) ecParams() []byte {
	switch k {
	case ECP256:
		return paramsP256
	case ECP384:
		return paramsP384
	case Ed25519:
		return paramsEd25519
	}
	return nil
}

// Usage is the set of operations a key may be used for (CKA_SIGN …).
// Every flag is written into the template, true or false.
type Usage struct {
	Sign    bool `json:"sign"`
	Verify  bool `json:"verify"`
	Encrypt bool `json:"encrypt"`
	Decrypt bool `json:"decrypt"`
	Wrap    bool `json:"wrap"`
	Unwrap  bool `json:"unwrap"`
	Derive  bool `json:"derive"`
}

// usageFlags are Usage's flags, the one list of them: each one's PKCS#11
// attribute and its name in a key's facts (the JSON field of Usage and
// of Attributes, which embeds it).
var usageFlags = []struct {
	cka  uint
	name string
	of   func(*Usage) *bool
}{
	{pkcs11.CKA_SIGN, "sign", func(u *Usage) *bool { return &u.Sign }},
	{pkcs11.CKA_VERIFY, "verify", func(u *Usage) *bool { return &u.Verify }},
	{pkcs11.CKA_ENCRYPT, "encrypt", func(u *Usage) *bool { return &u.Encrypt }},
	{pkcs11.CKA_DECRYPT, "decrypt", func(u *Usage) *bool { return &u.Decrypt }},
	{pkcs11.CKA_WRAP, "wrap", func(u *Usage) *bool { return &u.Wrap }},
	{pkcs11.CKA_UNWRAP, "unwrap", func(u *Usage) *bool { return &u.Unwrap }},
	{pkcs11.CKA_DERIVE, "derive", func(u *Usage) *bool { return &u.Derive }},
}

// UsageFromFacts is the usage recorded in a key's facts (its attributes
// as a JSON object); a flag absent or not a boolean is false.
func UsageFromFacts(a map[string]any) Usage {
	var u Usage
	for _, f := range usageFlags {
		*f.of(&u), _ = a[f.name].(bool)
	}
	return u
}

// KEKUsage is Custos's policy for a key-encrypting key: wrap and unwrap,
// plus sign so the token can compute the AES-CMAC check value. It
// deliberately has no encrypt: CKA_ENCRYPT on a KEK would let anyone with a
// session compute raw AES-ECB blocks and forge wrapped keys. Such a key has
// no legacy (ECB) check value. See docs/hsm.md.
var KEKUsage = Usage{Wrap: true, Unwrap: true, Sign: true, Verify: true}

// KeySpec says what key to generate (or unwrap) and with which attributes.
type KeySpec struct {
	Label string
	// ID is CKA_ID; 16 random bytes are chosen when empty.
	ID   []byte
	Type KeyType
	// Extractable allows the key to leave the token wrapped (CKA_EXTRACTABLE).
	Extractable bool
	// WrapWithTrusted lets only a CKA_TRUSTED key wrap it.
	WrapWithTrusted bool
	Usage           Usage
	// Ephemeral makes a session object (CKA_TOKEN=false) that disappears
	// when the session closes, e.g. a transport key imported for a restore.
	Ephemeral bool
}

// Key is a key object (or key pair) on a token.
type Key struct {
	tok   *Token
	ID    []byte
	Label string
	Type  KeyType
	// priv is the secret key or private key handle; pub the public key
	// handle (0 if none or not on the token).
	priv, pub pkcs11.ObjectHandle
	// Class is "secret", "private", "public" or "pair".
	Class string
	// session: a session object (CKA_TOKEN=false), gone when the
	// session closes.
	session bool
}

// SessionObject reports whether the key is a session object, which the
// token forgets when the session ends (or the process dies).
func (k *Key) SessionObject() bool { return k.session }

// IDHex is the key id in lower-case hex.
func (k *Key) IDHex() string { return hex.EncodeToString(k.ID) }

// Token returns the token holding the key.
func (k *Key) Token() *Token { return k.tok }

func attr(t uint, v any) *pkcs11.Attribute { return pkcs11.NewAttribute(t, v) }

// secretHalf is the security attributes every secret or private key
// object gets, each set explicitly: on the token unless ephemeral, private,
// sensitive, extractable only as the spec says (and then only under a
// trusted key when it says so), never modifiable.
func secretHalf(spec KeySpec) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		attr(pkcs11.CKA_TOKEN, !spec.Ephemeral),
		attr(pkcs11.CKA_PRIVATE, true),
		attr(pkcs11.CKA_SENSITIVE, true),
		attr(pkcs11.CKA_EXTRACTABLE, spec.Extractable),
		attr(pkcs11.CKA_WRAP_WITH_TRUSTED, spec.WrapWithTrusted),
		attr(pkcs11.CKA_MODIFIABLE, false),
	}
}

// secretObject is the template of a secret or private key object: class,
// key type, the security attributes of secretHalf, the usage flags named
// (each true or false as spec.Usage says), label and id.
func secretObject(spec KeySpec, class, keyType uint, usage ...uint) []*pkcs11.Attribute {
	u := spec.Usage
	flag := map[uint]bool{}
	for _, f := range usageFlags {
		flag[f.cka] = *f.of(&u)
	}
	t := append([]*pkcs11.Attribute{
		attr(pkcs11.CKA_CLASS, class),
		attr(pkcs11.CKA_KEY_TYPE, keyType),
	}, secretHalf(spec)...)
	for _, ty := range usage {
		t = append(t, attr(ty, flag[ty]))
	}
	return append(t, attr(pkcs11.CKA_LABEL, spec.Label), attr(pkcs11.CKA_ID, spec.ID))
}

// secretTemplate is the full template for an AES key; nothing left to defaults.
func secretTemplate(spec KeySpec, withLen bool) []*pkcs11.Attribute {
	var all []uint
	for _, f := range usageFlags {
		all = append(all, f.cka)
	}
	t := secretObject(spec, pkcs11.CKO_SECRET_KEY, pkcs11.CKK_AES, all...)
	if withLen {
		t = append(t, attr(pkcs11.CKA_VALUE_LEN, 32))
	}
	return t
}

// pairTemplates are the full public and private templates for a key pair.
func pairTemplates(spec KeySpec, ecParams []byte) (pub, priv []*pkcs11.Attribute) {
	u := spec.Usage
	var kt uint
	switch spec.Type {
	case RSA3072, RSA4096:
		kt = pkcs11.CKK_RSA
	case ECP256, ECP384:
		kt = pkcs11.CKK_EC
	case Ed25519:
		kt = ckkECEdwards
	}
	pub = []*pkcs11.Attribute{
		attr(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		attr(pkcs11.CKA_KEY_TYPE, kt),
		attr(pkcs11.CKA_TOKEN, !spec.Ephemeral),
		attr(pkcs11.CKA_PRIVATE, false),
		attr(pkcs11.CKA_MODIFIABLE, false),
		attr(pkcs11.CKA_VERIFY, u.Verify),
		attr(pkcs11.CKA_ENCRYPT, u.Encrypt),
		attr(pkcs11.CKA_WRAP, u.Wrap),
		attr(pkcs11.CKA_DERIVE, false),
		attr(pkcs11.CKA_LABEL, spec.Label),
		attr(pkcs11.CKA_ID, spec.ID),
	}
	priv = secretObject(spec, pkcs11.CKO_PRIVATE_KEY, kt,
		pkcs11.CKA_SIGN, pkcs11.CKA_DECRYPT, pkcs11.CKA_UNWRAP, pkcs11.CKA_DERIVE)
	switch spec.Type {
	case RSA3072, RSA4096:
		pub = append(pub,
			attr(pkcs11.CKA_MODULUS_BITS, spec.Type.rsaBits()),
			attr(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
	default:
		pub = append(pub, attr(pkcs11.CKA_EC_PARAMS, ecParams))
	}
	return pub, priv
}

// checkSpec validates spec and fills a random ID.
func checkSpec(spec *KeySpec) error {
	if _, err := ParseKeyType(string(spec.Type)); err != nil {
		return err
	}
	if spec.Label == "" {
		return fmt.Errorf("key spec: empty label")
	}
	if len(spec.ID) == 0 {
		spec.ID = make([]byte, 16)
		if _, err := rand.Read(spec.ID); err != nil {
			return fmt.Errorf("key spec %q: random id: %w", spec.Label, err)
		}
	}
	if spec.WrapWithTrusted && !spec.Extractable {
		return fmt.Errorf("key spec %q: wrap-with-trusted needs extractable (otherwise the key can never be wrapped)", spec.Label)
	}
	return nil
}

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

// refuseExisting fails with ErrLabelExists / ErrIDExists. Caller holds t.mu.
func (t *Token) refuseExisting(label string, id []byte) error {
	hs, err := t.findObjects(t.sh, []*pkcs11.Attribute{attr(pkcs11.CKA_LABEL, label)})
	if err != nil {
		return p11err(fmt.Sprintf("token %q: search label %q", t.info.Label, label), err)
	}
	if len(hs) > 0 {
		return hint.With(fmt.Errorf("token %q: key label %q: %w", t.info.Label, label, ErrLabelExists),
			"choose another label, or destroy the old key in a destroy ceremony first")
	}
	hs, err = t.findObjects(t.sh, []*pkcs11.Attribute{attr(pkcs11.CKA_ID, id)})
	if err != nil {
		return p11err(fmt.Sprintf("token %q: search id %x", t.info.Label, id), err)
	}
	if len(hs) > 0 {
		return fmt.Errorf("token %q: key id %x: %w", t.info.Label, id, ErrIDExists)
	}
	return nil
}

// Generate creates a key inside the token as spec says, reads back what
// the token made and checks it (on mismatch the key is destroyed and the
// call fails with ErrMismatch). Label or id already in use are refused
// before anything is generated.
func (t *Token) Generate(spec KeySpec) (*Key, error) {
	if err := checkSpec(&spec); err != nil {
		return nil, err
	}
	var mech uint
	var mname string
	switch spec.Type {
	case AES256:
		mech, mname = pkcs11.CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN"
	case RSA3072, RSA4096:
		mech, mname = pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"
	case ECP256, ECP384:
		mech, mname = pkcs11.CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"
	case Ed25519:
		mech, mname = ckmECEdwardsKeyPairGen, "CKM_EC_EDWARDS_KEY_PAIR_GEN"
	}
	if err := t.need(mech, mname, 0); err != nil {
		return nil, fmt.Errorf("generate %s %q: %w", spec.Type, spec.Label, err)
	}
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	op := fmt.Sprintf("token %q: generate %s key %q", t.info.Label, spec.Type, spec.Label)
	if err := t.refuseExisting(spec.Label, spec.ID); err != nil {
		return nil, err
	}
	k := &Key{tok: t, ID: spec.ID, Label: spec.Label, Type: spec.Type}
	m := []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}
	if spec.Type.Secret() {
		h, err := t.ctx.GenerateKey(t.sh, m, secretTemplate(spec, true))
		if err != nil {
			return nil, p11err(op, err)
		}
		k.priv, k.Class = h, "secret"
	} else {
		pubT, privT := pairTemplates(spec, spec.Type.ecParams())
		pub, priv, err := t.ctx.GenerateKeyPair(t.sh, m, pubT, privT)
		if err != nil && spec.Type == Ed25519 && (rv(err) == ckrCurveNotSupported || rv(err) == pkcs11.CKR_ATTRIBUTE_VALUE_INVALID || rv(err) == pkcs11.CKR_TEMPLATE_INCONSISTENT) {
			pubT, privT = pairTemplates(spec, paramsEd25519Name)
			pub, priv, err = t.ctx.GenerateKeyPair(t.sh, m, pubT, privT)
		}
		if err != nil {
			return nil, p11err(op, err)
		}
		k.priv, k.pub, k.Class = priv, pub, "pair"
	}
	if err := t.checkGenerated(k, spec); err != nil {
		t.destroyHandles(k)
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return k, nil
}

// removeNamed destroys, in this session, every object with CKA_ID id or
// CKA_LABEL label: what a failed create, unwrap or import may have left
// after refuseExisting found neither. Best effort; caller holds t.mu.
func (t *Token) removeNamed(id []byte, label string) {
	var sel [][]*pkcs11.Attribute
	if len(id) > 0 {
		sel = append(sel, []*pkcs11.Attribute{attr(pkcs11.CKA_ID, id)})
	}
	if label != "" {
		sel = append(sel, []*pkcs11.Attribute{attr(pkcs11.CKA_LABEL, label)})
	}
	for _, tmpl := range sel {
		hs, err := t.findObjects(t.sh, tmpl)
		if err != nil {
			continue
		}
		for _, h := range hs {
			t.ctx.DestroyObject(t.sh, h)
		}
	}
}

// destroyHandles removes a key's objects; caller holds t.mu.
func (t *Token) destroyHandles(k *Key) {
	if k.priv != 0 {
		t.ctx.DestroyObject(t.sh, k.priv)
	}
	if k.pub != 0 {
		t.ctx.DestroyObject(t.sh, k.pub)
	}
}

// checkGenerated reads the new key back and compares it with spec.
// Caller holds t.mu.
func (t *Token) checkGenerated(k *Key, spec KeySpec) error {
	f, err := t.facts(k)
	if err != nil {
		return err
	}
	want := map[string]bool{
		"token": !spec.Ephemeral, "private": true, "sensitive": true, "modifiable": false,
		"extractable": spec.Extractable, "wrap_with_trusted": spec.WrapWithTrusted,
		"sign": spec.Usage.Sign, "decrypt": spec.Usage.Decrypt,
		"unwrap": spec.Usage.Unwrap, "derive": spec.Usage.Derive,
	}
	if spec.Type.Secret() {
		want["encrypt"], want["verify"], want["wrap"] = spec.Usage.Encrypt, spec.Usage.Verify, spec.Usage.Wrap
	}
	got := f.Attributes.asMap()
	for name, w := range want {
		if got[name] != w {
			return fmt.Errorf("%w: attribute %s is %v, asked %v", ErrMismatch, name, got[name], w)
		}
	}
	if f.Type != spec.Type {
		return fmt.Errorf("%w: key type %s, asked %s", ErrMismatch, f.Type, spec.Type)
	}
	if !bytes.Equal(f.rawID, spec.ID) || f.Label != spec.Label {
		return fmt.Errorf("%w: id/label differ", ErrMismatch)
	}
	if spec.Type.Secret() {
		if f.valueLen != 32 {
			return fmt.Errorf("%w: value length %d, asked 32", ErrMismatch, f.valueLen)
		}
		return nil
	}
	// The public half must match too.
	pf, err := t.objAttrs(k.pub, pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE, pkcs11.CKA_MODIFIABLE, pkcs11.CKA_VERIFY, pkcs11.CKA_ENCRYPT, pkcs11.CKA_WRAP)
	if err != nil {
		return fmt.Errorf("read public key attributes: %w", err)
	}
	pw := []bool{!spec.Ephemeral, false, false, spec.Usage.Verify, spec.Usage.Encrypt, spec.Usage.Wrap}
	for i, a := range pf {
		if boolOf(a) != pw[i] {
			return fmt.Errorf("%w: public key attribute 0x%x is %v, asked %v", ErrMismatch, a.Type, boolOf(a), pw[i])
		}
	}
	switch spec.Type {
	case RSA3072, RSA4096:
		a, err := t.objAttrs(k.pub, pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT)
		if err != nil {
			return fmt.Errorf("read rsa public key: %w", err)
		}
		if n := new(big.Int).SetBytes(a[0].Value).BitLen(); n != spec.Type.rsaBits() {
			return fmt.Errorf("%w: modulus has %d bits, asked %d", ErrMismatch, n, spec.Type.rsaBits())
		}
		if e := new(big.Int).SetBytes(a[1].Value); e.Int64() != 65537 {
			return fmt.Errorf("%w: public exponent %s, asked 65537", ErrMismatch, e)
		}
	default:
		// EC and Ed25519: the facts above already parsed CKA_EC_PARAMS
		// into the type and the point into a public key of that curve.
		if f.SPKISHA256 == "" {
			return fmt.Errorf("%w: no public key", ErrMismatch)
		}
	}
	return nil
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
		return nil, fmt.Errorf("%s: several keys match", op)
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
		return nil, fmt.Errorf("%s: %w", op, err)
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
