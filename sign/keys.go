package sign

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// DefaultRSAMinBits is the smallest RSA member key CheckMemberKey accepts
// when the policy names no minimum.
const DefaultRSAMinBits = 3072

// MinRSAMinBits is the lowest minimum a policy may set for RSA member keys.
const MinRSAMinBits = 2048

// CheckMemberKey is the rule for the keys of members and approvers: a key
// is accepted only if a signature it verifies can have been made by the
// holder of its private key alone, and every verifier (custos, stock git,
// ssh-keygen -Y verify) judges its signatures alike. That is:
//
//   - ssh-ed25519: the 32 bytes decode to a point of the curve, in
//     canonical encoding (y < p, and no sign bit on x = 0: re-encoding the
//     point gives the same bytes), and the point is not of small order
//     (not the identity nor any of the 8 torsion points: for those,
//     signatures of any message can be made without a private key);
//   - ecdsa-sha2-nistp256, -nistp384, -nistp521: a point of the curve;
//   - ssh-rsa: a modulus of at least rsaMinBits bits (DefaultRSAMinBits
//     when rsaMinBits is zero or less);
//   - any other type is refused: security-key types (sk-*), whose
//     signatures carry flags and counters the ledger does not check,
//     DSA, certificates, and types custos does not know.
//
// Errors name the key type and why the key is refused.
func CheckMemberKey(pub ssh.PublicKey, rsaMinBits int) error {
	if rsaMinBits <= 0 {
		rsaMinBits = DefaultRSAMinBits
	}
	typ := pub.Type()
	switch {
	case strings.Contains(typ, "-cert-"):
		return fmt.Errorf("%s is a certificate type: a member key must be a plain key", typ)
	case strings.HasPrefix(typ, "sk-"):
		return fmt.Errorf("%s is a security-key type, not accepted as a member key (use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa)", typ)
	case typ == "ssh-dss": // ssh.InsecureKeyAlgoDSA, deprecated as a name
		return fmt.Errorf("%s (DSA) keys are not accepted as member keys", typ)
	}
	cp, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return fmt.Errorf("%s keys are not accepted as member keys", typ)
	}
	switch k := cp.CryptoPublicKey().(type) {
	case ed25519.PublicKey:
		if typ != ssh.KeyAlgoED25519 {
			break
		}
		return checkEd25519(k)
	case *ecdsa.PublicKey:
		want := map[string]string{ssh.KeyAlgoECDSA256: "P-256", ssh.KeyAlgoECDSA384: "P-384", ssh.KeyAlgoECDSA521: "P-521"}[typ]
		if want == "" || k.Curve == nil || k.Curve.Params().Name != want {
			break
		}
		if _, err := k.ECDH(); err != nil {
			return fmt.Errorf("%s key is not a point of the curve: %w", typ, err)
		}
		return nil
	case *rsa.PublicKey:
		if typ != ssh.KeyAlgoRSA {
			break
		}
		if n := k.N.BitLen(); n < rsaMinBits {
			return fmt.Errorf("%s key has %d bits, fewer than the %d required", typ, n, rsaMinBits)
		}
		return nil
	}
	return fmt.Errorf("%s keys are not accepted as member keys", typ)
}
