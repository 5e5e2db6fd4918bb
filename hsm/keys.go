// The keys Custos manages on a token: their types, usages and specs, the
// Key handle, and the attribute helper. Generating is in generate.go,
// finding in find.go.

package hsm

import (
	"encoding/asn1"
	"encoding/hex"
	"fmt"

	"github.com/miekg/pkcs11"
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
