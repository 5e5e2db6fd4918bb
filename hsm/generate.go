// Generating a key on the token: the templates of a secret key and of a
// key pair, the refusal of a label or id already taken, and the check
// of what the token made against what was asked.

package hsm

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"

	"custos/internal/hint"
)

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

// genMechanism is the mechanism that generates a key of type kt, and its name.
func genMechanism(kt KeyType) (uint, string) {
	switch kt {
	case AES256:
		return pkcs11.CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN"
	case RSA3072, RSA4096:
		return pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"
	case ECP256, ECP384:
		return pkcs11.CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"
	case Ed25519:
		return ckmECEdwardsKeyPairGen, "CKM_EC_EDWARDS_KEY_PAIR_GEN"
	}
	return 0, ""
}

// Generate creates a key inside the token as spec says, reads back what
// the token made and checks it (on mismatch the key is destroyed and the
// call fails with ErrMismatch). Label or id already in use are refused
// before anything is generated.
func (t *Token) Generate(spec KeySpec) (*Key, error) {
	if err := checkSpec(&spec); err != nil {
		return nil, err
	}
	mech, mname := genMechanism(spec.Type)
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
	// A token that does not know CKA_WRAP_WITH_TRUSTED (opencryptoki 3.8)
	// refuses the template. Asked false, the attribute is the spec's
	// default, so the key is made without it; asked true, it is refused:
	// without it any wrapping key could take the key out.
	fallback := func(err error, tm []*pkcs11.Attribute) ([]*pkcs11.Attribute, error) {
		if rv(err) != pkcs11.CKR_ATTRIBUTE_TYPE_INVALID {
			return nil, p11err(op, err)
		}
		if spec.WrapWithTrusted {
			return nil, hint.With(fmt.Errorf("%s: %w (%w): CKA_WRAP_WITH_TRUSTED: %w", op, ErrAttributeUnsupported, ErrTemplateRefused, err),
				"this token cannot limit wrapping to trusted keys, so it cannot hold an exportable or backed-up key; generate it on a token that can (custos hsm info)")
		}
		return withoutAttr(tm, pkcs11.CKA_WRAP_WITH_TRUSTED), nil
	}
	if spec.Type.Secret() {
		tm := secretTemplate(spec, true)
		h, err := t.ctx.GenerateKey(t.sh, m, tm)
		if err != nil {
			if tm, err = fallback(err, tm); err != nil {
				return nil, err
			}
			if h, err = t.ctx.GenerateKey(t.sh, m, tm); err != nil {
				return nil, p11err(op, err)
			}
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
			if privT, err = fallback(err, privT); err != nil {
				return nil, err
			}
			if pub, priv, err = t.ctx.GenerateKeyPair(t.sh, m, pubT, privT); err != nil {
				return nil, p11err(op, err)
			}
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

// withoutAttr returns tm without attributes of type typ.
func withoutAttr(tm []*pkcs11.Attribute, typ uint) []*pkcs11.Attribute {
	out := make([]*pkcs11.Attribute, 0, len(tm))
	for _, a := range tm {
		if a.Type != typ {
			out = append(out, a)
		}
	}
	return out
}
