// Package sign makes and checks SSH signatures (the SSHSIG format of
// OpenSSH's PROTOCOL.sshsig) for members of a ledger.
//
// A member's key is either an OpenSSH private key file or a key held on a
// PKCS#11 token; the second arrives here as a crypto.Signer (the hsm package
// provides it), so this package never touches PKCS#11 itself. Every
// signature is verified right after it is made, so a faulty token or a
// mismatched key is caught before the signature is used.
//
// Signatures use SHA-512, as ssh-keygen -Y sign does by default (RSA keys
// sign with rsa-sha2-512, which sshsig.Sign chooses itself), and are
// returned armored ("-----BEGIN SSH SIGNATURE-----"), the form git and
// ssh-keygen -Y verify read.
package sign

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Signer produces armored SSH signatures for one key.
type Signer interface {
	// PublicKey is the key that verifies this signer's signatures.
	PublicKey() ssh.PublicKey
	// Sign returns an armored SSHSIG signature of msg in namespace.
	// The signature has been verified against PublicKey before it is returned.
	Sign(namespace string, msg []byte) ([]byte, error)
}

type sshSigner struct{ s ssh.Signer }

// fromSSH wraps an ssh.Signer.
func fromSSH(s ssh.Signer) Signer { return &sshSigner{s: s} }

// FromCrypto wraps a crypto.Signer (ed25519, ECDSA P-256/P-384 returning
// ASN.1 signatures, or RSA), for example a key on a PKCS#11 token.
func FromCrypto(s crypto.Signer) (Signer, error) {
	ss, err := ssh.NewSignerFromSigner(s)
	if err != nil {
		return nil, fmt.Errorf("unsupported signing key: %w", err)
	}
	return &sshSigner{s: ss}, nil
}

func (s *sshSigner) PublicKey() ssh.PublicKey { return s.s.PublicKey() }

func (s *sshSigner) Sign(namespace string, msg []byte) ([]byte, error) {
	sig, err := sshsig.Sign(bytes.NewReader(msg), s.s, sshsig.HashSHA512, namespace)
	if err != nil {
		return nil, fmt.Errorf("ssh signature: %w", err)
	}
	armored := sshsig.Armor(sig)
	if err := Verify(s.s.PublicKey(), namespace, msg, armored); err != nil {
		return nil, fmt.Errorf("signature made by %s does not verify: %w", Fingerprint(s.s.PublicKey()), err)
	}
	return armored, nil
}

// Verify checks an armored SSHSIG signature of msg in namespace by pub.
// It refuses signatures whose embedded public key differs from pub.
func Verify(pub ssh.PublicKey, namespace string, msg, armored []byte) error {
	sig, err := unarmor(armored)
	if err != nil {
		return fmt.Errorf("malformed ssh signature: %w", err)
	}
	return VerifyParsed(pub, namespace, msg, sig)
}

// VerifyParsed is Verify for a signature already unarmored.
func VerifyParsed(pub ssh.PublicKey, namespace string, msg []byte, sig *sshsig.Signature) error {
	if sig.PublicKey == nil || !SameKey(sig.PublicKey, pub) {
		return errors.New("signature was made by a different key")
	}
	if sig.Namespace != namespace {
		return fmt.Errorf("signature namespace is %q, want %q", sig.Namespace, namespace)
	}
	if k, ok := ed25519Of(pub); ok {
		// sshsig.Verify's steps, without its reflection and fingerprints
		// (the keys were compared above), and with Custos's ed25519 rule
		// (ed25519.go): three per ledger record.
		if err := sig.HashAlgorithm.Available(); err != nil {
			return fmt.Errorf("bad signature: %w", err)
		}
		h := sig.HashAlgorithm.Hash()
		h.Write(msg)
		if err := verifyEd25519(k, signedData(namespace, sig.HashAlgorithm.String(), h.Sum(nil)), sig.Signature); err != nil {
			return fmt.Errorf("bad signature: %w", err)
		}
		return nil
	}
	if err := sshsig.Verify(bytes.NewReader(msg), sig, pub, sig.HashAlgorithm, namespace); err != nil {
		return fmt.Errorf("bad signature: %w", err)
	}
	return nil
}

// unarmor is sshsig.Unarmor, quicker for the form OpenSSH and this
// package write (three signatures per ledger record).
func unarmor(b []byte) (*sshsig.Signature, error) {
	if sig, ok := quickUnarmor(b); ok {
		return sig, nil
	}
	return sshsig.Unarmor(b)
}

// quickUnarmor reads the BEGIN line, lines of base64 and the END line
// without encoding/pem; false for anything else or anything it cannot
// decode. FuzzUnarmor holds it to sshsig.Unarmor.
func quickUnarmor(b []byte) (*sshsig.Signature, bool) {
	const begin, end = "-----BEGIN SSH SIGNATURE-----\n", "-----END SSH SIGNATURE-----"
	body, ok := bytes.CutPrefix(b, []byte(begin))
	if ok {
		body, ok = bytes.CutSuffix(bytes.TrimSuffix(body, []byte("\n")), []byte(end))
	}
	if !ok {
		return nil, false
	}
	var buf [512]byte
	raw := buf[:0]
	for line := range bytes.Lines(body) {
		l, nl := bytes.CutSuffix(line, []byte("\n"))
		if !nl || len(l) == 0 {
			return nil, false
		}
		raw = append(raw, l...)
	}
	blob := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
	n, err := base64.StdEncoding.Strict().Decode(blob, raw)
	if err != nil {
		return nil, false
	}
	sig, err := sshsig.ParseSignature(blob[:n])
	return sig, err == nil
}

// SameKey reports whether a and b are the same public key (their wire
// forms are equal). Two ed25519 keys are compared without marshalling:
// verify compares keys for every signature of a ledger.
func SameKey(a, b ssh.PublicKey) bool {
	if x, ok := ed25519Of(a); ok {
		y, ok := ed25519Of(b)
		return ok && bytes.Equal(x, y)
	}
	return bytes.Equal(a.Marshal(), b.Marshal())
}

// ed25519Of is the raw key of an ed25519 SSH key.
func ed25519Of(k ssh.PublicKey) (ed25519.PublicKey, bool) {
	cp, ok := k.(ssh.CryptoPublicKey)
	if !ok || k.Type() != ssh.KeyAlgoED25519 {
		return nil, false
	}
	raw, ok := cp.CryptoPublicKey().(ed25519.PublicKey)
	return raw, ok && len(raw) == ed25519.PublicKeySize
}

// signedData is what an SSHSIG signature signs (PROTOCOL.sshsig): the
// preamble, then the namespace, an empty reserved string, the hash
// algorithm and the message's hash, each as an SSH string.
func signedData(namespace, hashAlg string, digest []byte) []byte {
	b := make([]byte, 0, 6+16+len(namespace)+len(hashAlg)+len(digest))
	b = append(b, "SSHSIG"...)
	for _, f := range [][]byte{[]byte(namespace), nil, []byte(hashAlg), digest} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// Parse unarmors a signature carrying a public key, for a verifier that
// looks up the signer first and checks the signature later (VerifyParsed).
func Parse(armored []byte) (*sshsig.Signature, error) {
	sig, err := unarmor(armored)
	if err != nil {
		return nil, fmt.Errorf("malformed ssh signature: %w", err)
	}
	if sig.PublicKey == nil {
		return nil, errors.New("ssh signature carries no public key")
	}
	return sig, nil
}

// Fingerprint is the OpenSSH SHA256 fingerprint ("SHA256:…") of pub.
func Fingerprint(pub ssh.PublicKey) string { return ssh.FingerprintSHA256(pub) }

// AuthorizedKey is pub in the one-line authorized_keys form, without a
// trailing newline.
func AuthorizedKey(pub ssh.PublicKey) string {
	return string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(pub)))
}

// ParsePublicKey reads a public key in authorized_keys form ("ssh-ed25519 AAAA… comment").
func ParsePublicKey(line string) (ssh.PublicKey, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf("not an ssh public key: %w", err)
	}
	return pub, nil
}
