package sign

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/oasisprotocol/curve25519-voi/curve"
	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"golang.org/x/crypto/ssh"
)

// This file is Custos's rule for ed25519, in one place: which keys a
// member may have (CheckMemberKey calls checkEd25519) and which
// signatures of those keys are accepted (VerifyParsed calls
// verifyEd25519). Both are curve25519-voi's, with the options spelled out
// in ed25519Options; ed25519_test.go and openssh_test.go hold them to
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
// accepts (FuzzFastEd25519).
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

// expanded caches each member key's expanded form (curve25519-voi's
// precomputed multiples of -A, about 1.5 KB), built on its first
// signature: verify checks three signatures per record by the same few
// keys, and the expansion saves a third of each check (docs/performance.md
// has the numbers). verify checks each commit by the key its signature
// names, so a hostile ledger could name a new key per commit: past
// maxExpanded keys, a key is checked without the cache, by the same rule.
var (
	expanded  sync.Map // [32]byte → *voied.ExpandedPublicKey
	nexpanded atomic.Int32
)

const maxExpanded = 1024

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
	if x, hit := expanded.Load(a); hit {
		ok = voied.VerifyExpandedWithOptions(x.(*voied.ExpandedPublicKey), data, sig.Blob, ed25519Options)
	} else {
		if err := checkEd25519(pub); err != nil {
			return fmt.Errorf("ssh: signature refused: %w", err)
		}
		if nexpanded.Load() < maxExpanded {
			x, err := voied.NewExpandedPublicKey(voied.PublicKey(pub))
			if err != nil {
				return fmt.Errorf("ssh: signature refused: %w", ErrNotAPoint) // checkEd25519 decoded it: not reached
			}
			if _, loaded := expanded.LoadOrStore(a, x); !loaded {
				nexpanded.Add(1)
			}
			ok = voied.VerifyExpandedWithOptions(x, data, sig.Blob, ed25519Options)
		} else {
			ok = voied.VerifyWithOptions(voied.PublicKey(pub), data, sig.Blob, ed25519Options)
		}
	}
	if !ok {
		return errors.New("ssh: signature did not verify")
	}
	return nil
}
