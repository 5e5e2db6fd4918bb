package hsm

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"

	"github.com/miekg/pkcs11"
	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Signer returns a crypto.Signer for the key's private half, which stays
// on the token. EC keys hash in Go and sign with CKM_ECDSA (SoftHSM lacks
// CKM_ECDSA_SHA256) and return ASN.1 DER signatures as crypto.Signer
// requires; Ed25519 signs the whole message with CKM_EDDSA; RSA signs
// PKCS#1 v1.5 with CKM_RSA_PKCS over the DigestInfo, and RSA-PSS (when
// opts is an *rsa.PSSOptions) with CKM_RSA_PKCS_PSS over the digest, MGF1
// with the same hash, the salt as long as the hash unless opts names a
// length.
func (k *Key) Signer() (crypto.Signer, error) {
	if k.priv == 0 || k.Type.Secret() {
		return nil, fmt.Errorf("key %q: %w: no private key to sign with", k.Label, ErrKeyNotFound)
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, err
	}
	var mech uint
	var name string
	switch k.Type {
	case ECP256, ECP384:
		mech, name = pkcs11.CKM_ECDSA, "CKM_ECDSA"
	case Ed25519:
		mech, name = ckmEdDSA, "CKM_EDDSA"
	default:
		mech, name = pkcs11.CKM_RSA_PKCS, "CKM_RSA_PKCS"
	}
	if err := k.tok.need(mech, name, pkcs11.CKF_SIGN); err != nil {
		return nil, fmt.Errorf("signer for key %q: %w", k.Label, err)
	}
	return &signer{k: k, pub: pub, mech: mech}, nil
}

type signer struct {
	k    *Key
	pub  crypto.PublicKey
	mech uint
}

func (s *signer) Public() crypto.PublicKey { return s.pub }

// DigestInfo prefixes for PKCS#1 v1.5 (RFC 8017 section 9.2, note 1).
var digestInfo = map[crypto.Hash][]byte{
	crypto.SHA1:   {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// signOp names a signature in errors; formatted only when one is made,
// not at every signature.
type signOp struct{ token, key string }

func (o signOp) String() string { return fmt.Sprintf("token %q: sign with key %q", o.token, o.key) }

// Sign signs digest (or, for Ed25519, the message) on the token.
func (s *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k := s.k
	op := signOp{k.tok.info.Label, k.Label}
	h := crypto.Hash(0)
	if opts != nil {
		h = opts.HashFunc()
	}
	in := digest
	switch k.Type {
	case Ed25519:
		if h != 0 {
			return nil, fmt.Errorf("%s: %w: Ed25519ph (pre-hashed) is not supported", op, ErrMechanismUnsupported)
		}
		if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
			return nil, fmt.Errorf("%s: %w: Ed25519ctx is not supported", op, ErrMechanismUnsupported)
		}
	case ECP256, ECP384:
		if h != 0 && len(digest) != h.Size() {
			return nil, fmt.Errorf("%s: digest is %d bytes, %v needs %d", op, len(digest), h, h.Size())
		}
	default:
		if o, ok := opts.(*rsa.PSSOptions); ok {
			return s.signPSS(op, digest, o)
		}
		prefix, ok := digestInfo[h]
		if !ok {
			return nil, fmt.Errorf("%s: %w: hash %v for RSA PKCS#1 v1.5", op, ErrMechanismUnsupported, h)
		}
		if len(digest) != h.Size() {
			return nil, fmt.Errorf("%s: digest is %d bytes, %v needs %d", op, len(digest), h, h.Size())
		}
		in = append(append([]byte(nil), prefix...), digest...)
	}
	sig, err := s.sign(op, pkcs11.NewMechanism(s.mech, nil), in)
	if err != nil {
		return nil, err
	}
	if k.Type == ECP256 || k.Type == ECP384 {
		return rawToDER(sig)
	}
	return sig, nil
}

// pssHashes are the hashes RSA-PSS signs with: the PKCS#11 hash and MGF1.
var pssHashes = map[crypto.Hash][2]uint{
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

// signPSS signs digest with CKM_RSA_PKCS_PSS.
func (s *signer) signPSS(op signOp, digest []byte, o *rsa.PSSOptions) ([]byte, error) {
	h := o.HashFunc()
	hm, ok := pssHashes[h]
	if !ok {
		return nil, fmt.Errorf("%s: %w: hash %v for RSA-PSS", op, ErrMechanismUnsupported, h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("%s: digest is %d bytes, %v needs %d", op, len(digest), h, h.Size())
	}
	salt := o.SaltLength
	switch salt {
	case rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto:
		// Auto means "as long as it fits" to Go; the hash length is
		// what every verifier (and X.509's RSASSA-PSS parameters) expects.
		salt = h.Size()
	}
	if salt < 0 {
		return nil, fmt.Errorf("%s: salt length %d", op, salt)
	}
	if err := s.k.tok.need(pkcs11.CKM_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS", pkcs11.CKF_SIGN); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	m := pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(hm[0], hm[1], uint(salt)))
	return s.sign(op, m, digest)
}

// sign runs one C_SignInit, C_Sign on the token's session.
func (s *signer) sign(op signOp, m *pkcs11.Mechanism, in []byte) ([]byte, error) {
	k := s.k
	t := k.tok
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if err := t.ctx.SignInit(t.sh, []*pkcs11.Mechanism{m}, k.priv); err != nil {
		return nil, p11err(op.String(), err)
	}
	sig, err := t.ctx.Sign(t.sh, in)
	if err != nil {
		return nil, p11err(op.String(), err)
	}
	return sig, nil
}

// rawToDER converts PKCS#11's r‖s ECDSA output to an ASN.1 signature,
// built as crypto/ecdsa builds its own (cryptobyte, the integers from
// their bytes): encoding/asn1 over big.Ints took 3 µs and 20 allocations,
// about 2% of a SoftHSM signature.
func rawToDER(sig []byte) ([]byte, error) {
	if len(sig) == 0 || len(sig)%2 != 0 {
		return nil, fmt.Errorf("ecdsa signature from token has odd length %d", len(sig))
	}
	n := len(sig) / 2
	var b cryptobyte.Builder
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addASN1Int(b, sig[:n])
		addASN1Int(b, sig[n:])
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ecdsa signature from token: %w", err)
	}
	return der, nil
}

// addASN1Int adds the unsigned big-endian integer v as a DER INTEGER; a
// zero (never a valid r or s) is refused.
func addASN1Int(b *cryptobyte.Builder, v []byte) {
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) == 0 {
		b.SetError(errors.New("r or s is zero"))
		return
	}
	b.AddASN1(casn1.INTEGER, func(c *cryptobyte.Builder) {
		if v[0]&0x80 != 0 {
			c.AddUint8(0)
		}
		c.AddBytes(v)
	})
}

// CheckPSS fails (ErrMechanismUnsupported) unless the key's token signs
// with CKM_RSA_PKCS_PSS: asked before a ceremony records its intent.
func (k *Key) CheckPSS() error {
	return k.tok.need(pkcs11.CKM_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS", pkcs11.CKF_SIGN)
}
