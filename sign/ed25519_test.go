package sign

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"

	"filippo.io/edwards25519"
	"github.com/hiddeco/sshsig"
	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"golang.org/x/crypto/ssh"
)

// The tests of the ed25519 rule (ed25519.go). The edge-case keys are
// classified here with filippo.io/edwards25519, a library independent of
// the curve25519-voi the rule uses; openssh_test.go puts the same keys to
// ssh-keygen.

// FuzzEd25519 holds the rule to crypto/ed25519 (through x/crypto/ssh) for
// an honest key: valid signatures, altered ones, and arbitrary bytes,
// including non-canonical encodings of R and s ≥ L.
func FuzzEd25519(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		f.Fatal(err)
	}
	raw := priv.Public().(ed25519.PublicKey)
	msg := []byte("custos")
	good := ed25519.Sign(priv, msg)
	f.Add(msg, good, uint8(0), uint8(0))
	f.Add(msg, good, uint8(63), uint8(0x80)) // s ≥ L
	f.Add(msg, good, uint8(31), uint8(0x80)) // R's sign bit
	f.Add([]byte("other"), good, uint8(0), uint8(0))
	f.Add(msg, make([]byte, 64), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, m, sig []byte, at, flip uint8) {
		if len(sig) > 0 {
			sig = append([]byte(nil), sig...)
			sig[int(at)%len(sig)] ^= flip
		}
		s := &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: sig}
		want := pub.Verify(m, s) == nil
		if got := verifyEd25519(raw, m, s) == nil; got != want {
			t.Fatalf("the rule says %v, crypto/ed25519 %v, for %x over %q", got, want, sig, m)
		}
	})
}

// FuzzEd25519Keys: for any key bytes and signature, the rule accepts only
// where checkEd25519 accepts the key and crypto/ed25519 the signature,
// and for a key checkEd25519 accepts, exactly where crypto/ed25519 does.
// Seeded with the edge-case keys and signatures anyone can make for them.
func FuzzEd25519Keys(f *testing.F) {
	msg := []byte("m")
	for _, v := range ed25519Vectors(f) {
		f.Add(v.key, msg, forIdentity(f))
	}
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	f.Add([]byte(priv.Public().(ed25519.PublicKey)), msg, ed25519.Sign(priv, msg))
	f.Fuzz(func(t *testing.T, key, m, sig []byte) {
		if len(key) != ed25519.PublicKeySize {
			return // ssh-ed25519 keys of another length do not parse
		}
		got := verifyEd25519(key, m, &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: sig}) == nil
		keyOK := checkEd25519(key) == nil
		std := len(sig) == ed25519.SignatureSize && ed25519.Verify(key, m, sig)
		if got && !(keyOK && std) {
			t.Fatalf("accepted %x by key %x: key check %v, crypto/ed25519 %v", sig, key, keyOK, std)
		}
		if keyOK && got != std {
			t.Fatalf("key %x: the rule says %v, crypto/ed25519 %v, for %x", key, got, std, sig)
		}
	})
}

// forIdentity is a signature that verifies any message under the identity
// point, canonical (y = 1) or not (y = p + 1), by the cofactorless
// equation: R = [s]B.
func forIdentity(tb testing.TB) []byte {
	s := make([]byte, 32)
	s[0] = 7
	sc, err := edwards25519.NewScalar().SetCanonicalBytes(s)
	if err != nil {
		tb.Fatal(err)
	}
	return append(new(edwards25519.Point).ScalarBaseMult(sc).Bytes(), s...)
}

// TestEd25519Keys: an honest key is judged as x/crypto/ssh judges it; a
// key checkEd25519 refuses (small order, non-canonical, not a point) is
// not expanded and verifies nothing, not even the signatures
// crypto/ed25519 accepts for it (anyone can make those), and says why.
func TestEd25519Keys(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	msg := []byte("m")
	sig := &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: ed25519.Sign(priv, msg)}
	anyMsg := &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: forIdentity(t)}
	honest := priv.Public().(ed25519.PublicKey)
	if verifyEd25519(honest, msg, sig) != nil || verifyEd25519(honest, msg, anyMsg) == nil {
		t.Fatal("the honest key is misjudged")
	}
	if _, ok := expanded.Load([32]byte(honest)); !ok {
		t.Fatal("the honest key was not expanded")
	}
	stdAccepts := 0
	for _, v := range ed25519Vectors(t) {
		if v.want == nil {
			continue
		}
		for _, sig := range []*ssh.Signature{sig, anyMsg} {
			if ed25519.Verify(v.key, msg, sig.Blob) {
				stdAccepts++
			}
			if err := verifyEd25519(v.key, msg, sig); !errors.Is(err, v.want) {
				t.Fatalf("%s: signature %x: %v, want %v", v.name, sig.Blob, err, v.want)
			}
		}
		if _, ok := expanded.Load([32]byte(v.key)); ok {
			t.Fatalf("%s: the key was expanded", v.name)
		}
	}
	// anyMsg, under the 4 encodings of the identity at least (and under
	// a point of order 2 A when k = H(R, A, m) is even).
	if stdAccepts < 4 {
		t.Fatalf("crypto/ed25519 accepted %d signatures, want at least 4", stdAccepts)
	}
	if err := verifyEd25519(honest, msg, &ssh.Signature{Format: ssh.KeyAlgoRSASHA512, Blob: sig.Blob}); err == nil {
		t.Fatal("an rsa-sha2-512 signature verified under an ed25519 key")
	}
}

// FuzzVerifyParsedAgrees: the ed25519 path of VerifyParsed judges every
// signature as sshsig.Verify does, for any message and namespace.
func FuzzVerifyParsedAgrees(f *testing.F) {
	s, armored := zeroSigner(f)
	f.Add([]byte("custos"), "git", uint16(0), uint8(0))
	f.Add([]byte("custos"), "custos-approval", uint16(0), uint8(0))
	f.Add([]byte("custos!"), "git", uint16(0), uint8(0))
	f.Add([]byte("custos"), "git", uint16(300), uint8(1))
	f.Fuzz(func(t *testing.T, msg []byte, ns string, at uint16, flip uint8) {
		sig, err := sshsig.Unarmor(armored)
		if err != nil {
			t.Fatal(err)
		}
		blob := append([]byte(nil), sig.Signature.Blob...)
		blob[int(at)%len(blob)] ^= flip
		sig.Signature = &ssh.Signature{Format: sig.Signature.Format, Blob: blob}
		got := VerifyParsed(s.PublicKey(), ns, msg, sig) == nil
		want := sig.Namespace == ns && sshsig.Verify(bytes.NewReader(msg), sig, s.PublicKey(), sig.HashAlgorithm, ns) == nil
		if got != want {
			t.Fatalf("VerifyParsed %v, sshsig.Verify %v (ns %q, msg %q)", got, want, ns, msg)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestExpandedBounded: past maxExpanded keys, a key is checked without
// the cache (and still judged right), so no ledger can make verify keep
// an expanded key per key it names.
func TestExpandedBounded(t *testing.T) {
	t.Cleanup(func() { // leave the other tests an empty cache
		expanded.Clear()
		nexpanded.Store(0)
	})
	msg := []byte("m")
	var last ed25519.PublicKey
	var lastSig *ssh.Signature
	for i := range maxExpanded + 2 {
		seed := make([]byte, 32)
		seed[0], seed[1], seed[2] = byte(i), byte(i>>8), 0xb0
		priv := ed25519.NewKeyFromSeed(seed)
		last, lastSig = priv.Public().(ed25519.PublicKey), &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: ed25519.Sign(priv, msg)}
		if err := verifyEd25519(last, msg, lastSig); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if n := nexpanded.Load(); n > maxExpanded {
		t.Fatalf("%d keys kept expanded, at most %d allowed", n, maxExpanded)
	}
	if _, ok := expanded.Load([32]byte(last)); ok {
		t.Fatal("a key past the bound was kept expanded")
	}
	lastSig.Blob[40] ^= 1
	if verifyEd25519(last, msg, lastSig) == nil {
		t.Fatal("an altered signature verified past the bound")
	}
	// Past the bound, a small-order key is still refused (the library's
	// own verify with the same options refuses it too).
	identity := append([]byte{1}, make([]byte, 31)...)
	if err := verifyEd25519(identity, msg, &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: forIdentity(t)}); !errors.Is(err, ErrSmallOrder) {
		t.Fatalf("past the bound, the identity key: %v", err)
	}
	if voied.VerifyWithOptions(voied.PublicKey(identity), msg, forIdentity(t), ed25519Options) {
		t.Fatal("curve25519-voi's verify with ed25519Options accepts the identity key")
	}
}

// zeroSigner is a signer with the all-zero seed and its signature of
// "custos" in namespace git.
func zeroSigner(tb testing.TB) (Signer, []byte) {
	s, err := FromCrypto(ed25519.NewKeyFromSeed(make([]byte, 32)))
	if err != nil {
		tb.Fatal(err)
	}
	armored, err := s.Sign("git", []byte("custos"))
	if err != nil {
		tb.Fatal(err)
	}
	return s, armored
}

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
