package sign

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"golang.org/x/crypto/ssh"
)

// Ed25519 checks are the bulk of custos verify's work: three per record,
// by the same few members' keys. curve25519-voi verifies with the same
// equation and the same acceptance rules as crypto/ed25519 (and OpenSSH:
// cofactorless, canonical s) about twice as fast, and faster again with a
// key's tables computed once. Batch verification would be faster still,
// but it checks the cofactored equation, which accepts signatures OpenSSH
// rejects: a member could then make a signature that custos accepts and
// stock git refuses, and later disown it.

var voiStdLib = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// expanded caches each ed25519 key's tables (a handful of members).
var expanded sync.Map // [32]byte → *voi.ExpandedPublicKey

// fast returns pub, or for an ed25519 key the same key verifying through
// curve25519-voi.
func fast(pub ssh.PublicKey) ssh.PublicKey {
	cp, ok := pub.(ssh.CryptoPublicKey)
	if !ok || pub.Type() != ssh.KeyAlgoED25519 {
		return pub
	}
	k, ok := cp.CryptoPublicKey().(ed25519.PublicKey)
	if !ok || len(k) != ed25519.PublicKeySize {
		return pub
	}
	var id [32]byte
	copy(id[:], k)
	if x, ok := expanded.Load(id); ok {
		return fastEd25519{pub, x.(*voi.ExpandedPublicKey)}
	}
	x, err := voi.NewExpandedPublicKey(voi.PublicKey(k))
	if err != nil {
		return pub // let the standard path refuse it
	}
	expanded.Store(id, x)
	return fastEd25519{pub, x}
}

type fastEd25519 struct {
	ssh.PublicKey
	x *voi.ExpandedPublicKey
}

// Verify is x/crypto/ssh's ed25519 Verify with the curve25519-voi check.
func (k fastEd25519) Verify(data []byte, sig *ssh.Signature) error {
	if sig.Format != k.Type() {
		return fmt.Errorf("ssh: signature type %s for key type %s", sig.Format, k.Type())
	}
	if !voi.VerifyExpandedWithOptions(k.x, data, sig.Blob, voiStdLib) {
		return errors.New("ssh: signature did not verify")
	}
	return nil
}
