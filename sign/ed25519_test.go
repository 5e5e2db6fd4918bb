package sign

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"sync"
	"testing"

	"filippo.io/edwards25519"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// The tests of the ed25519 rule (ed25519.go). The edge-case keys are
// classified here with filippo.io/edwards25519, a library independent of
// the curve25519-voi the rule uses; openssh_test.go puts the same keys to
// ssh-keygen.

// FuzzEd25519 holds the rule, the fast path and verifyEd25519 to
// crypto/ed25519 (through x/crypto/ssh) for an honest key: valid
// signatures, altered ones, and arbitrary bytes, including non-canonical
// encodings of R and s ≥ L.
func FuzzEd25519(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		f.Fatal(err)
	}
	raw := priv.Public().(ed25519.PublicKey)
	table, err := newTable(raw)
	if err != nil {
		f.Fatal(err)
	}
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
		if got := verifyRule(raw, m, sig); got != want {
			t.Fatalf("the rule says %v, crypto/ed25519 %v, for %x over %q", got, want, sig, m)
		}
		if got := verifyTable(table, m, sig); got != want {
			t.Fatalf("the fast path says %v, crypto/ed25519 %v, for %x over %q", got, want, sig, m)
		}
		if got := verifyEd25519(raw, m, s) == nil; got != want {
			t.Fatalf("verifyEd25519 says %v, crypto/ed25519 %v, for %x over %q", got, want, sig, m)
		}
	})
}

// FuzzEd25519Keys holds the fast path to the rule, for any key,
// message and signature: where checkEd25519 accepts the key, the fast
// path (verifyTable, on a table of its own), the rule (verifyRule, the
// library's verify with ed25519Options) and crypto/ed25519 give the same
// verdict; where it refuses the key, no table is built and the rule and
// verifyEd25519 accept nothing. verifyEd25519 (the cache, or the rule
// past the bound) gives the rule's verdict always. shapeEd25519 turns
// the inputs into the cases that matter: valid signatures altered, s + L,
// R of small order or in non-canonical encoding (with s from a valid
// signature, or for the nonce 0, where R' is the identity), and keys of
// small order or non-canonical with the signatures anyone can make for
// them. Seeded with the edge-case keys and the published vectors.
func FuzzEd25519Keys(f *testing.F) {
	msg := []byte("m")
	for _, v := range ed25519Vectors(f) {
		f.Add(v.key, msg, forIdentity(f), uint8(0), uint8(0))
	}
	for _, v := range publishedVectors(f) {
		f.Add(v.key, v.msg, v.sig, uint8(0), uint8(0))
	}
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	f.Add([]byte(priv.Public().(ed25519.PublicKey)), msg, ed25519.Sign(priv, msg), uint8(0), uint8(0))
	for op := range uint8(shapes) {
		for at := range uint8(4) {
			f.Add(make([]byte, 32), msg, []byte("nonce"), op, at)
			f.Add(make([]byte, 32), msg, []byte("nonce"), op|8, at*16+2)
		}
	}
	f.Fuzz(func(t *testing.T, key, m, sig []byte, op, at uint8) {
		key, sig = shapeEd25519(t, key, m, sig, op, at)
		if len(key) != ed25519.PublicKeySize {
			return // ssh-ed25519 keys of another length do not parse
		}
		assertPathsAgree(t, key, m, sig)
	})
}

// assertPathsAgree: see FuzzEd25519Keys.
func assertPathsAgree(t *testing.T, key, m, sig []byte) {
	t.Helper()
	rule := verifyRule(key, m, sig)
	got := verifyEd25519(key, m, &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: sig}) == nil
	if got != rule {
		t.Fatalf("key %x, signature %x: verifyEd25519 says %v, the rule %v", key, sig, got, rule)
	}
	table, err := newTable(key)
	if keyErr := checkEd25519(key); keyErr != nil {
		if table != nil || err == nil {
			t.Fatalf("key %x (%v): a table was built", key, keyErr)
		}
		if _, ok := tables.Load([32]byte(key)); ok {
			t.Fatalf("key %x (%v): a table was kept", key, keyErr)
		}
		if rule {
			t.Fatalf("key %x (%v): the rule accepted %x", key, keyErr, sig)
		}
		return
	}
	if err != nil {
		t.Fatalf("key %x: checkEd25519 accepts it, newTable: %v", key, err)
	}
	fast := verifyTable(table, m, sig)
	std := len(sig) == ed25519.SignatureSize && ed25519.Verify(key, m, sig)
	if fast != rule || std != rule {
		t.Fatalf("key %x, signature %x over %x: fast path %v, rule %v, crypto/ed25519 %v", key, sig, m, fast, rule, std)
	}
}

// shapes is the number of shapes shapeEd25519 knows.
const shapes = 8

// shapeEd25519 makes the key and signature of one fuzz case from the
// inputs: op%shapes picks the shape, at an edge-case encoding or a byte,
// op/shapes a byte to flip there.
func shapeEd25519(t *testing.T, key, m, sig []byte, op, at uint8) ([]byte, []byte) {
	flip := op / shapes
	edges := edgeEncodings(t)
	edge := edges[int(at)%len(edges)]
	seed := make([]byte, 32)
	copy(seed, key)
	priv := ed25519.NewKeyFromSeed(seed)
	honest := []byte(priv.Public().(ed25519.PublicKey))
	switch op % shapes {
	case 0: // as given
		return key, sig
	case 1: // an honest key's valid signature, a byte flipped
		sig = ed25519.Sign(priv, m)
		sig[int(at)%len(sig)] ^= flip
		return honest, sig
	case 2: // a valid signature with L added to s, a byte flipped
		sig = ed25519.Sign(priv, m)
		copy(sig[32:], addL(sig[32:]))
		sig[int(at)%len(sig)] ^= flip
		return honest, sig
	case 3: // a valid signature with its R swapped for a small-order or non-canonical one
		sig = ed25519.Sign(priv, m)
		copy(sig, edge)
		return honest, sig
	case 4: // the nonce 0: R' is the identity; R any encoding of it (or of another small-order point)
		return honest, signWithNonce(t, seed, m, edwards25519.NewScalar(), edge)
	case 5: // a valid signature for a nonce of the fuzzer's choosing, a byte flipped
		r := scalarOf(sig)
		sig = signWithNonce(t, seed, m, r, new(edwards25519.Point).ScalarBaseMult(r).Bytes())
		sig[int(at)%len(sig)] ^= flip
		return honest, sig
	case 6: // a small-order or non-canonical key, R = [s]B (the identity key verifies it for any message)
		s := scalarOf(sig)
		return edge, append(new(edwards25519.Point).ScalarBaseMult(s).Bytes(), s.Bytes()...)
	default: // a small-order or non-canonical key, the signature as given
		return edge, sig
	}
}

// edgeEncodings are the keys of the edge-case set but the honest one: the
// small-order points, encoded canonically or not, the non-canonical
// encodings of other points, and encodings of no point.
func edgeEncodings(t testing.TB) [][]byte {
	var out [][]byte
	for _, v := range ed25519Vectors(t) {
		if v.want != nil {
			out = append(out, v.key)
		}
	}
	return out
}

// scalarOf is a scalar derived from b.
func scalarOf(b []byte) *edwards25519.Scalar {
	h := sha512.Sum512(b)
	return must(edwards25519.NewScalar().SetUniformBytes(h[:]))
}

// signWithNonce is an ed25519 signature of m by the key of seed with the
// nonce r and R encoded as rEnc (normally [r]B's encoding):
// s = r + SHA-512(rEnc || A || m)·a.
func signWithNonce(t testing.TB, seed, m []byte, r *edwards25519.Scalar, rEnc []byte) []byte {
	h := sha512.Sum512(seed)
	a := must(edwards25519.NewScalar().SetBytesWithClamping(h[:32]))
	pub := new(edwards25519.Point).ScalarBaseMult(a).Bytes()
	k := sha512.Sum512(slices.Concat(rEnc, pub, m))
	kh := must(edwards25519.NewScalar().SetUniformBytes(k[:]))
	s := edwards25519.NewScalar().MultiplyAdd(kh, a, r)
	return append(slices.Clone(rEnc), s.Bytes()...)
}

// addL is s + L, little-endian, in 32 bytes (s < L, so s + L < 2^253).
func addL(s []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := slices.Clone(s)
	slices.Reverse(le)
	sum := new(big.Int).Add(new(big.Int).SetBytes(le), l)
	out := sum.FillBytes(make([]byte, 32))
	slices.Reverse(out)
	return out
}

// publishedVector is one case of the published ed25519 test sets.
type publishedVector struct {
	name          string
	key, msg, sig []byte
	want          bool // the rule's verdict, from the set's own labels
}

// publishedVectors are the 12 cases of "Taming the many EdDSAs"
// (Chalkias, Garillot, Nikolaenko; ed25519-speccheck's cases.json) and
// the 768 of C2SP's ed25519vectors, as curve25519-voi ships them
// (testdata/*.json.gz), each with the verdict the rule must give:
// cofactorless, small-order and non-canonical A refused, non-canonical R
// refused, small-order R allowed, s < L.
func publishedVectors(t testing.TB) []publishedVector {
	var spec []struct {
		Message   string `json:"message"`
		PublicKey string `json:"pub_key"`
		Signature string `json:"signature"`
	}
	readGz(t, "testdata/speccheck_cases.json.gz", &spec)
	// The rule accepts only 2 (mixed-order A, small-order R) and 3
	// (mixed-order A and R): 0, 1 have a small-order A; 4, 5 hold only
	// cofactored; 6, 7 have s ≥ L; 8, 9 a non-canonical R; 10, 11 a
	// non-canonical small-order A.
	specWant := []bool{false, false, true, true, false, false, false, false, false, false, false, false}
	if len(spec) != len(specWant) {
		t.Fatalf("%d speccheck cases, want %d", len(spec), len(specWant))
	}
	var out []publishedVector
	for i, c := range spec {
		out = append(out, publishedVector{fmt.Sprintf("speccheck %d", i), mustHex(c.PublicKey), mustHex(c.Message), mustHex(c.Signature), specWant[i]})
	}
	var c2sp []struct {
		A, R, S, M string
		Flags      []string
	}
	readGz(t, "testdata/ed25519vectors.json.gz", &c2sp)
	if len(c2sp) != 768 {
		t.Fatalf("%d C2SP vectors, want 768", len(c2sp))
	}
	for i, c := range c2sp {
		want := true
		for _, flag := range c.Flags {
			switch flag {
			case "LowOrderR", "LowOrderComponentR", "LowOrderComponentA":
				// allowed: small-order R; torsion components (for a
				// key of mixed order only its holder can sign)
			case "LowOrderA", "LowOrderResidue", "NonCanonicalA", "NonCanonicalR":
				want = false
			default:
				t.Fatalf("C2SP vector %d: unknown flag %q", i, flag)
			}
		}
		out = append(out, publishedVector{fmt.Sprintf("C2SP %d %v", i, c.Flags), mustHex(c.A), []byte(c.M), slices.Concat(mustHex(c.R), mustHex(c.S)), want})
	}
	return out
}

func readGz(t testing.TB, name string, v any) {
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(z).Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestEd25519Vectors: the published vectors and the edge-case keys,
// through the rule, the fast path and verifyEd25519, each with the
// verdict it must have, and the paths agreeing with each other and with
// crypto/ed25519 for the keys the rule accepts.
func TestEd25519Vectors(t *testing.T) {
	accepted := 0
	for _, v := range publishedVectors(t) {
		if got := verifyRule(v.key, v.msg, v.sig); got != v.want {
			t.Errorf("%s: the rule says %v, want %v", v.name, got, v.want)
		}
		if got := verifyEd25519(v.key, v.msg, &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: v.sig}) == nil; got != v.want {
			t.Errorf("%s: verifyEd25519 says %v, want %v", v.name, got, v.want)
		}
		if table, err := newTable(v.key); err == nil {
			if got := verifyTable(table, v.msg, v.sig); got != v.want {
				t.Errorf("%s: the fast path says %v, want %v", v.name, got, v.want)
			}
		}
		assertPathsAgree(t, v.key, v.msg, v.sig)
		if v.want {
			accepted++
		}
	}
	if accepted < 80 { // 88: speccheck 2 and 3, and 86 of C2SP
		t.Fatalf("only %d published vectors accepted", accepted)
	}
	msg := []byte("m")
	for _, v := range ed25519Vectors(t) {
		assertPathsAgree(t, v.key, msg, forIdentity(t))
	}
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
// key checkEd25519 refuses (small order, non-canonical, not a point) gets
// no table and verifies nothing, not even the signatures
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
	if _, ok := tables.Load([32]byte(honest)); !ok {
		t.Fatal("the honest key has no table")
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
		if _, ok := tables.Load([32]byte(v.key)); ok {
			t.Fatalf("%s: the key has a table", v.name)
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

// TestTablesBounded: past maxTables keys, a key is checked by the rule,
// without a table (and still judged right), so no ledger can make verify
// keep a table per key it names.
func TestTablesBounded(t *testing.T) {
	t.Cleanup(func() { // leave the other tests an empty cache
		tables.Clear()
		ntables.Store(0)
	})
	msg := []byte("m")
	var last ed25519.PublicKey
	var lastSig *ssh.Signature
	for i := range maxTables + 2 {
		seed := make([]byte, 32)
		seed[0], seed[1], seed[2] = byte(i), byte(i>>8), 0xb0
		priv := ed25519.NewKeyFromSeed(seed)
		last, lastSig = priv.Public().(ed25519.PublicKey), &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: ed25519.Sign(priv, msg)}
		if err := verifyEd25519(last, msg, lastSig); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if n := ntables.Load(); n > maxTables {
		t.Fatalf("%d tables kept, at most %d allowed", n, maxTables)
	}
	if _, ok := tables.Load([32]byte(last)); ok {
		t.Fatal("a key past the bound has a table")
	}
	lastSig.Blob[40] ^= 1
	if verifyEd25519(last, msg, lastSig) == nil {
		t.Fatal("an altered signature verified past the bound")
	}
	// Past the bound, the published vectors are judged as before.
	for _, v := range publishedVectors(t) {
		if got := verifyEd25519(v.key, v.msg, &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: v.sig}) == nil; got != v.want {
			t.Errorf("past the bound, %s: %v, want %v", v.name, got, v.want)
		}
	}
	// Past the bound, a small-order key is still refused (the library's
	// own verify with the same options refuses it too).
	identity := append([]byte{1}, make([]byte, 31)...)
	if err := verifyEd25519(identity, msg, &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: forIdentity(t)}); !errors.Is(err, ErrSmallOrder) {
		t.Fatalf("past the bound, the identity key: %v", err)
	}
	if verifyRule(identity, msg, forIdentity(t)) {
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
