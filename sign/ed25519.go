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
	"golang.org/x/crypto/ssh"
)

// Ed25519 checks are the bulk of custos verify's work: three per record,
// by the same few members' keys. A check computes R' = [s]B - [k]A and
// accepts when R' encodes to the signature's R, as crypto/ed25519 does
// (cofactorless, s < L; OpenSSH also takes s < 2^253, so s + L), for the
// keys CheckMemberKey accepts only: no table is built for any other key,
// and its signatures are all refused (TestOpenSSHDisagreements).
// Both products are taken from tables (curve25519-voi's fixed-base
// combs): B's is built in, -A's is built once per member key. That skips
// the 253 doublings of a double-scalar multiplication; the result is the
// same point, so the same signatures are accepted. Batch verification
// would be faster still, but it checks the cofactored equation, which
// accepts signatures OpenSSH rejects: a member could then make a
// signature that custos accepts and stock git refuses, and later disown
// it.

// tables caches each ed25519 key's table (a handful of members). A table
// is about 40 KB, and verify checks each commit by the key its signature
// names, so a hostile ledger could name a new key per commit: past
// maxTables, keys are checked the standard way.
var (
	tables  sync.Map // [32]byte → *curve.EdwardsBasepointTable
	ntables atomic.Int32
)

const maxTables = 256

// fast returns pub, or for an ed25519 key the same key verifying through
// its table. An ed25519 key that CheckMemberKey refuses (small order,
// non-canonical, not a point) comes back as a key that verifies nothing:
// no table is built for it, and the standard path, which would accept
// signatures anyone can make for it, is not taken either.
func fast(pub ssh.PublicKey) ssh.PublicKey {
	k, ok := ed25519Of(pub)
	if !ok {
		return pub
	}
	var a [32]byte
	copy(a[:], k)
	if t, ok := tables.Load(a); ok {
		return fastEd25519{pub, a, t.(*curve.EdwardsBasepointTable)}
	}
	if err := checkEd25519(k); err != nil {
		return refusedKey{pub, err}
	}
	if ntables.Load() >= maxTables {
		return pub
	}
	var c curve.CompressedEdwardsY
	var p curve.EdwardsPoint
	if _, err := c.SetBytes(k); err != nil {
		return refusedKey{pub, ErrNotAPoint} // checkEd25519 decoded it: not reached
	}
	if _, err := p.SetCompressedY(&c); err != nil {
		return refusedKey{pub, ErrNotAPoint} // checkEd25519 decoded it: not reached
	}
	t := curve.NewEdwardsBasepointTable(p.Neg(&p))
	if _, loaded := tables.LoadOrStore(a, t); !loaded {
		ntables.Add(1)
	}
	return fastEd25519{pub, a, t}
}

// refusedKey is an ed25519 key no signature of which is accepted.
type refusedKey struct {
	ssh.PublicKey
	err error
}

func (k refusedKey) Verify([]byte, *ssh.Signature) error {
	return fmt.Errorf("ssh: signature refused: %w", k.err)
}

type fastEd25519 struct {
	ssh.PublicKey
	a    [32]byte                     // A as encoded in the key
	negA *curve.EdwardsBasepointTable // multiples of -A
}

// Verify is x/crypto/ssh's ed25519 Verify, computed from the tables.
func (k fastEd25519) Verify(data []byte, sig *ssh.Signature) error {
	if sig.Format != k.Type() {
		return fmt.Errorf("ssh: signature type %s for key type %s", sig.Format, k.Type())
	}
	if !k.check(data, sig.Blob) {
		return errors.New("ssh: signature did not verify")
	}
	return nil
}

func (k fastEd25519) check(msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize || !scalar.ScMinimalVartime(sig[32:]) {
		return false
	}
	var s, h scalar.Scalar
	if _, err := s.SetBytesModOrder(sig[32:]); err != nil {
		return false
	}
	var buf [256]byte // R, A and an SSHSIG's signed data fit: no allocation
	sum := sha512.Sum512(append(append(append(buf[:0], sig[:32]...), k.a[:]...), msg...))
	if _, err := h.SetBytesModOrderWide(sum[:]); err != nil {
		return false
	}
	var r, sb curve.EdwardsPoint
	r.MulBasepoint(k.negA, &h)
	sb.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &s)
	r.Add(&r, &sb)
	var enc curve.CompressedEdwardsY
	enc.SetEdwardsPoint(&r)
	return bytes.Equal(enc[:], sig[:32])
}
