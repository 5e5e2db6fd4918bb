package sign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"golang.org/x/crypto/ssh"
)

// This file is Custos's rule for ed25519, in one place: which keys a
// member may have (CheckMemberKey calls checkEd25519) and which
// signatures of those keys are accepted (VerifyParsed calls
// verifyEd25519). Both are curve25519-voi's, with the options spelled out
// in ed25519Options: the rule for signatures is verifyRule, the library's
// verify with those options. verifyTable is a measured fast path beside it
// (below: why, and why it accepts exactly what verifyRule accepts);
// ed25519_test.go and openssh_test.go hold them to each other, to
// crypto/ed25519 and to stock ssh-keygen.
//
// Keys: A must decode as a point of the curve, in canonical encoding, and
// not of small order (checkEd25519, and the same three refusals in
// ed25519Options). For a key of small order, signatures of any message
// can be made without a private key; a non-canonical encoding is judged
// differently by different verifiers.
//
// Signatures, for a key accepted: the cofactorless equation of RFC 8032
// as crypto/ed25519 computes it: s < L, and R' = [s]B - [k]A, with
// k = SHA-512(R || A || M), encodes byte for byte to the signature's R.
// For such keys this accepts exactly the signatures crypto/ed25519
// accepts (FuzzEd25519, FuzzEd25519Keys).
//
// Against OpenSSH it is stricter, never looser (TestOpenSSHDisagreements):
// OpenSSH's verifier reads s as any 253-bit number, so it also accepts a
// valid signature with L added to s, which Custos refuses; and OpenSSH
// 9.2 accepts keys of small order, which Custos refuses (later releases
// refuse some of those too). Custos must never accept what stock git and
// ssh-keygen -Y verify refuse: a member could otherwise sign a commit
// that custos verify accepts and stock git refuses, and later disown it.
// For the same reason signatures are checked one by one, not batched:
// batch verification checks the cofactored equation, which accepts
// signatures OpenSSH refuses.

// Reasons CheckMemberKey gives for refusing an ed25519 key; its errors
// wrap them.
var (
	ErrSmallOrder   = errors.New("ed25519 key is a point of small order: anyone could sign as this member")
	ErrNonCanonical = errors.New("ed25519 key is not in canonical encoding: verifiers disagree on what it accepts")
	ErrNotAPoint    = errors.New("ed25519 key is not a point of the curve: it verifies no signature")
)

// ed25519Options is the rule for signatures, as curve25519-voi's
// options. Left false, and so refused: small-order A, non-canonical A,
// non-canonical R. Small-order R is allowed as crypto/ed25519 allows it
// (for a key accepted, R' is then the identity, which only the key's
// holder can reach; R is compared as bytes, not decoded).
var ed25519Options = &voied.Options{Verify: &voied.VerifyOptions{
	CofactorlessVerify: true,
	AllowSmallOrderR:   true,
}}

// checkEd25519 is CheckMemberKey's rule for the raw bytes of an ed25519
// public key.
func checkEd25519(k []byte) error {
	if len(k) != ed25519.PublicKeySize {
		return fmt.Errorf("ed25519 key has %d bytes, want %d", len(k), ed25519.PublicKeySize)
	}
	var c curve.CompressedEdwardsY
	var p curve.EdwardsPoint
	if _, err := c.SetBytes(k); err != nil {
		return ErrNotAPoint
	}
	if _, err := p.SetCompressedY(&c); err != nil {
		return ErrNotAPoint
	}
	if p.IsSmallOrder() {
		return ErrSmallOrder
	}
	if !c.IsCanonicalVartime() {
		return ErrNonCanonical
	}
	return nil
}

// verifyRule is the rule for signatures: curve25519-voi's verify with
// ed25519Options. It is the reference: keys past maxTables are checked by
// it, and the tests hold the fast path below to it.
func verifyRule(pub ed25519.PublicKey, msg, sig []byte) bool {
	return voied.VerifyWithOptions(voied.PublicKey(pub), msg, sig, ed25519Options)
}

// The fast path, and why it exists. verifyRule computes R' with one
// double-scalar multiplication ([k](-A) + [s]B, 253 doublings shared);
// verifyTable takes both products from fixed-base comb tables
// (curve25519-voi's EdwardsBasepointTable: B's is built in, -A's is
// built once per member key), which skips the doublings. Measured on the
// project's 2-core machine under load, runs alternated (docs/performance.md,
// "ed25519: the rule, and a fast path beside it"): one check
// (BenchmarkVerify) 37.6 µs by the tables against 79.2 µs by the rule
// with the key expanded once (medians of 15; fastest 24.3 against 33.9),
// and custos verify of a 10 000-record ledger 2.25 s of CPU against
// 2.76 s (11 pairs, medians; the rule alone costs 1.22 times the CPU).
// verify checks three signatures per record, by the same few keys, and
// its speed is held to within 10% of what it was with these tables; the
// library's API alone is 21-22% slower.
//
// It must accept exactly what verifyRule accepts, and does for every key
// checkEd25519 accepts (no table is built for any other): s < L is the
// same check; k is the same hash of the same bytes (R as given, A as
// encoded in the key, the message); R' is the same point, computed as
// [k](-A) + [s]B from the tables instead of in one pass; and R' is
// compared with the signature's R as encoded bytes, as the library's
// cofactorless check does, so an R that is non-canonical or not a point
// never matches, and a small-order R matches only where the library
// accepts it too. FuzzEd25519Keys and TestEd25519Vectors hold the two
// (and crypto/ed25519) to the same verdicts.
func verifyTable(t *ed25519Table, msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize || !scalar.ScMinimalVartime(sig[32:]) {
		return false
	}
	var s, k scalar.Scalar
	if _, err := s.SetBytesModOrder(sig[32:]); err != nil {
		return false
	}
	var buf [256]byte // R, A and an SSHSIG's signed data fit: no allocation
	sum := sha512.Sum512(append(append(append(buf[:0], sig[:32]...), t.a[:]...), msg...))
	if _, err := k.SetBytesModOrderWide(sum[:]); err != nil {
		return false
	}
	var r, sb curve.EdwardsPoint
	r.MulBasepoint(t.negA, &k)
	sb.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &s)
	r.Add(&r, &sb)
	var enc curve.CompressedEdwardsY
	enc.SetEdwardsPoint(&r)
	return bytes.Equal(enc[:], sig[:32])
}

// ed25519Table is a member key as verifyTable uses it.
type ed25519Table struct {
	a    [32]byte                     // A as encoded in the key
	negA *curve.EdwardsBasepointTable // multiples of -A
}

// newTable builds k's table. Only for a key checkEd25519 accepts.
func newTable(k ed25519.PublicKey) (*ed25519Table, error) {
	if err := checkEd25519(k); err != nil {
		return nil, err
	}
	var c curve.CompressedEdwardsY
	var p curve.EdwardsPoint
	if _, err := c.SetBytes(k); err != nil {
		return nil, ErrNotAPoint
	}
	if _, err := p.SetCompressedY(&c); err != nil {
		return nil, ErrNotAPoint
	}
	t := &ed25519Table{negA: curve.NewEdwardsBasepointTable(p.Neg(&p))}
	copy(t.a[:], k)
	return t, nil
}

// tables caches each member key's table (about 30 KB), built on its first
// signature. verify checks each commit by the key its signature names, so
// a hostile ledger could name a new key per commit: past maxTables keys,
// a key is checked by verifyRule, without a table.
var (
	tables  sync.Map // [32]byte → *ed25519Table
	ntables atomic.Int32
)

const maxTables = 256

// verifyEd25519 checks sig, an ssh-ed25519 signature of data, by the raw
// key pub, under the rule above. A key checkEd25519 refuses verifies
// nothing, with the reason as the error.
func verifyEd25519(pub ed25519.PublicKey, data []byte, sig *ssh.Signature) error {
	if sig == nil {
		return errors.New("ssh: no signature")
	}
	if sig.Format != ssh.KeyAlgoED25519 {
		return fmt.Errorf("ssh: signature type %s for key type %s", sig.Format, ssh.KeyAlgoED25519)
	}
	var a [32]byte
	copy(a[:], pub)
	var ok bool
	if t, hit := tables.Load(a); hit {
		ok = verifyTable(t.(*ed25519Table), data, sig.Blob)
	} else {
		if err := checkEd25519(pub); err != nil {
			return fmt.Errorf("ssh: signature refused: %w", err)
		}
		if ntables.Load() < maxTables {
			t, err := newTable(pub)
			if err != nil {
				return fmt.Errorf("ssh: signature refused: %w", err) // checkEd25519 accepted it: not reached
			}
			if _, loaded := tables.LoadOrStore(a, t); !loaded {
				ntables.Add(1)
			}
			ok = verifyTable(t, data, sig.Blob)
		} else {
			ok = verifyRule(pub, data, sig.Blob)
		}
	}
	if !ok {
		return errors.New("ssh: signature did not verify")
	}
	return nil
}
