//lint:file-ignore SA1019 DSA keys and raw ECDSA coordinates build the keys these tests must see refused

package sign

import (
	"bytes"
	"crypto/dsa"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/ssh"
)

// edVector is an ed25519 public key of the edge-case set and the reason
// CheckMemberKey must give for it (nil: accepted).
type edVector struct {
	name string
	key  []byte
	want error
}

// yEncoding is the 32-byte little-endian encoding of y (which may be p or
// more: a non-canonical encoding) with x's sign bit set when sign is true.
func yEncoding(y *big.Int, sign bool) []byte {
	b := y.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	if sign {
		b[31] |= 0x80
	}
	return b
}

// fieldP is the prime 2^255 - 19.
var fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// smallOrderPoints are the 8 points of small order, canonically encoded:
// the multiples of a point of order 8 (the one in the "Taming the many
// EdDSAs" vectors), the identity first.
func smallOrderPoints(t testing.TB) [][]byte {
	t.Helper()
	gen, err := new(edwards25519.Point).SetBytes(mustHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	q := edwards25519.NewIdentityPoint()
	for range 8 {
		out = append(out, q.Bytes())
		q = new(edwards25519.Point).Add(q, gen)
	}
	if q.Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("the generator is not of order 8")
	}
	for i, a := range out {
		for _, b := range out[:i] {
			if bytes.Equal(a, b) {
				t.Fatal("the generator is of order less than 8")
			}
		}
	}
	// The well-known ones: identity (y = 1), order 2 (y = -1), order 4
	// (y = 0), and another of order 8 (in libsodium's blocklist).
	if !slices.ContainsFunc(out, func(b []byte) bool {
		return bytes.Equal(b, mustHex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"))
	}) {
		t.Fatal("26e8958f…fc05 is not among the small-order points")
	}
	for _, want := range []*big.Int{big.NewInt(1), new(big.Int).Sub(fieldP, big.NewInt(1)), big.NewInt(0)} {
		found := false
		for _, b := range out {
			found = found || bytes.Equal(b, yEncoding(want, false))
		}
		if !found {
			t.Fatalf("y = %v is not among the small-order points", want)
		}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	vectorsOnce sync.Once
	vectors     []edVector
)

// ed25519Vectors is the edge-case set: the 8 small-order points, the 6
// non-canonical encodings of small-order points (x = 0 with the sign bit
// set; y = p and y = p + 1 with either sign), every other non-canonical
// encoding (y = p + 2 … p + 18, where it is a point), encodings that are
// not points, and an honest key.
func ed25519Vectors(t testing.TB) []edVector {
	vectorsOnce.Do(func() {
		v := []edVector{{"honest key", ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey), nil}}
		for i, k := range smallOrderPoints(t) {
			order := 8 / gcd(i, 8)
			name := fmt.Sprintf("[%d]T, order %d (%x…%x)", i, order, k[:2], k[31:])
			if i == 0 {
				name = "identity (01 00…00)"
			}
			v = append(v, edVector{name, k, ErrSmallOrder})
		}
		one, minusOne := big.NewInt(1), new(big.Int).Sub(fieldP, big.NewInt(1))
		v = append(v,
			edVector{"identity, x = 0 with sign bit", yEncoding(one, true), ErrSmallOrder},
			edVector{"order 2, x = 0 with sign bit", yEncoding(minusOne, true), ErrSmallOrder},
			edVector{"y = p (order 4)", yEncoding(fieldP, false), ErrSmallOrder},
			edVector{"y = p with sign bit (order 4)", yEncoding(fieldP, true), ErrSmallOrder},
			edVector{"y = p + 1 (identity)", yEncoding(new(big.Int).Add(fieldP, one), false), ErrSmallOrder},
			edVector{"y = p + 1 with sign bit (identity)", yEncoding(new(big.Int).Add(fieldP, one), true), ErrSmallOrder},
		)
		nonCanonical, notPoint := 0, 0
		for d := int64(2); d <= 18; d++ {
			for _, sign := range []bool{false, true} {
				k := yEncoding(new(big.Int).Add(fieldP, big.NewInt(d)), sign)
				name := fmt.Sprintf("y = p + %d, sign %v", d, sign)
				if _, err := new(edwards25519.Point).SetBytes(k); err != nil {
					v = append(v, edVector{name + " (not a point)", k, ErrNotAPoint})
					notPoint++
				} else {
					v = append(v, edVector{name + " (non-canonical)", k, ErrNonCanonical})
					nonCanonical++
				}
			}
		}
		if nonCanonical == 0 || notPoint == 0 {
			t.Fatalf("%d non-canonical points and %d non-points among y = p + 2 … p + 18", nonCanonical, notPoint)
		}
		// A canonical y that is not on the curve.
		for y := int64(2); ; y++ {
			k := yEncoding(big.NewInt(y), false)
			if _, err := new(edwards25519.Point).SetBytes(k); err != nil {
				v = append(v, edVector{fmt.Sprintf("y = %d (not a point)", y), k, ErrNotAPoint})
				break
			}
		}
		vectors = v
	})
	return vectors
}

func TestCheckMemberKeyEd25519(t *testing.T) {
	vs := ed25519Vectors(t)
	if len(vs) < 1+8+6+2 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, v := range vs {
		pub, err := ssh.NewPublicKey(ed25519.PublicKey(v.key))
		if err != nil {
			t.Fatal(err)
		}
		err = CheckMemberKey(pub, 0)
		if !errors.Is(err, v.want) || (v.want == nil) != (err == nil) {
			t.Errorf("%s (%x): %v, want %v", v.name, v.key, err, v.want)
		}
		// The key as a roster line reads back as the same key.
		back, err := ParsePublicKey(AuthorizedKey(pub))
		if err != nil || !bytes.Equal(back.Marshal(), pub.Marshal()) {
			t.Errorf("%s: does not round-trip as an authorized key: %v", v.name, err)
		}
	}
	pub, _ := ssh.NewPublicKey(ed25519.PublicKey(vs[1].key))
	if err := CheckMemberKey(pub, 0); err == nil || err.Error() != "ed25519 key is a point of small order: anyone could sign as this member" {
		t.Errorf("identity: %v", err)
	}
}

func TestCheckMemberKeyOtherTypes(t *testing.T) {
	rsaKey := func(bits int) ssh.PublicKey {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		return must(ssh.NewPublicKey(&k.PublicKey))
	}
	ecKey := func(c elliptic.Curve) ssh.PublicKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return must(ssh.NewPublicKey(&k.PublicKey))
	}
	edPub := must(ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, 32)).Public()))
	p256 := ecKey(elliptic.P256())
	p256k := p256.(ssh.CryptoPublicKey).CryptoPublicKey().(*ecdsa.PublicKey)
	offCurve := &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}
	dsaKey := must(ssh.NewPublicKey(&dsa.PublicKey{Parameters: dsa.Parameters{P: big.NewInt(23), Q: big.NewInt(11), G: big.NewInt(4)}, Y: big.NewInt(8)}))
	skEC := must(ssh.ParsePublicKey(ssh.Marshal(struct{ Type, Curve, Point, App string }{
		ssh.KeyAlgoSKECDSA256, "nistp256", string(elliptic.Marshal(elliptic.P256(), p256k.X, p256k.Y)), "ssh:"})))
	skEd := must(ssh.ParsePublicKey(ssh.Marshal(struct{ Type, Key, App string }{
		ssh.KeyAlgoSKED25519, string(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)), "ssh:"})))
	caSigner := must(ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))))
	cert := &ssh.Certificate{Key: edPub, CertType: ssh.UserCert, ValidPrincipals: []string{"alice"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, caSigner); err != nil {
		t.Fatal(err)
	}
	r2048 := rsaKey(2048)
	for _, c := range []struct {
		name    string
		pub     ssh.PublicKey
		minBits int
		want    string // "" accepted, else a part of the message
	}{
		{"ed25519", edPub, 0, ""},
		{"rsa-1024", rsaKey(1024), 0, "ssh-rsa key has 1024 bits, fewer than the 3072 required"},
		{"rsa-2048", r2048, 0, "ssh-rsa key has 2048 bits, fewer than the 3072 required"},
		{"rsa-2048, policy minimum 2048", r2048, 2048, ""},
		{"rsa-3072", rsaKey(3072), 0, ""},
		{"ecdsa p-256", p256, 0, ""},
		{"ecdsa p-384", ecKey(elliptic.P384()), 0, ""},
		{"ecdsa p-521", ecKey(elliptic.P521()), 0, ""},
		{"ecdsa p-256 point off the curve", must(ssh.NewPublicKey(offCurve)), 0, "ecdsa-sha2-nistp256 key is not a point of the curve"},
		{"sk-ecdsa", skEC, 0, "sk-ecdsa-sha2-nistp256@openssh.com is a security-key type"},
		{"sk-ed25519", skEd, 0, "sk-ssh-ed25519@openssh.com is a security-key type"},
		{"dsa", dsaKey, 0, "ssh-dss (DSA) keys are not accepted"},
		{"certificate", cert, 0, "ssh-ed25519-cert-v01@openssh.com is a certificate type"},
	} {
		err := CheckMemberKey(c.pub, c.minBits)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// x/crypto/ssh itself refuses an ECDSA point off the curve on the wire.
	bad := ssh.Marshal(struct{ Type, Curve, Point string }{ssh.KeyAlgoECDSA256, "nistp256", "\x04" + strings.Repeat("\x01", 64)})
	if _, err := ssh.ParsePublicKey(bad); err == nil {
		t.Error("an ECDSA point off the curve parsed")
	}
}
