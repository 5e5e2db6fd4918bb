package sign

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"filippo.io/edwards25519"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// FuzzFastEd25519 checks that the curve25519-voi path accepts exactly the
// signatures x/crypto/ssh (crypto/ed25519) accepts: valid ones, altered
// ones, and arbitrary bytes, including non-canonical encodings.
func FuzzFastEd25519(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub, err := ssh.NewPublicKey(priv.Public())
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
		if got := fast(pub).Verify(m, s) == nil; got != want {
			t.Fatalf("curve25519-voi says %v, crypto/ed25519 %v, for %x over %q", got, want, sig, m)
		}
	})
}

// TestFastEd25519Keys: an honest key is judged as x/crypto/ssh judges it;
// a key CheckMemberKey refuses (small order, non-canonical, not a point)
// gets no table and verifies nothing, not even the signatures
// crypto/ed25519 accepts for it (anyone can make those).
func TestFastEd25519Keys(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	msg := []byte("m")
	sig := &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: ed25519.Sign(priv, msg)}
	// For the identity point, canonical (y = 1) or not (y = p + 1),
	// R = [s]B verifies any message.
	s := make([]byte, 32)
	s[0] = 7
	sb := new(edwards25519.Point).ScalarBaseMult(must(edwards25519.NewScalar().SetCanonicalBytes(s)))
	forIdentity := &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: append(sb.Bytes(), s...)}
	honest := pubOf(t, priv)
	if fast(honest).Verify(msg, sig) != nil || fast(honest).Verify(msg, forIdentity) == nil {
		t.Fatal("the honest key is misjudged")
	}
	if _, ok := fast(honest).(fastEd25519); !ok {
		t.Fatal("an ed25519 key does not take the fast path")
	}
	stdAccepts := 0
	for _, v := range ed25519Vectors(t) {
		if v.want == nil {
			continue
		}
		pub, err := ssh.NewPublicKey(ed25519.PublicKey(v.key))
		if err != nil {
			t.Fatal(err)
		}
		k := fast(pub)
		if r, ok := k.(refusedKey); !ok || !errors.Is(r.err, v.want) {
			t.Fatalf("%s: fast gives %T, want a refused key (%v)", v.name, k, v.want)
		}
		if _, ok := tables.Load([32]byte(v.key)); ok {
			t.Fatalf("%s: a table was built", v.name)
		}
		for _, sig := range []*ssh.Signature{sig, forIdentity} {
			if pub.Verify(msg, sig) == nil {
				stdAccepts++
			}
			if k.Verify(msg, sig) == nil {
				t.Fatalf("%s: signature %x verified", v.name, sig.Blob)
			}
		}
	}
	// forIdentity, under the 4 encodings of the identity at least (and
	// under a point of order 2 A when k = H(R, A, m) is even).
	if stdAccepts < 4 {
		t.Fatalf("crypto/ed25519 accepted %d signatures, want at least 4", stdAccepts)
	}
}

func pubOf(t *testing.T, priv ed25519.PrivateKey) ssh.PublicKey {
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pub
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

// TestTablesBounded: past maxTables keys, a key is checked the standard
// way (and still judged right), so no ledger can make verify keep a table
// per key it names.
func TestTablesBounded(t *testing.T) {
	t.Cleanup(func() { // leave the other tests an empty cache
		tables.Clear()
		ntables.Store(0)
	})
	msg := []byte("m")
	var last ssh.PublicKey
	var lastSig *ssh.Signature
	for i := range maxTables + 2 {
		seed := make([]byte, 32)
		seed[0], seed[1], seed[2] = byte(i), byte(i>>8), 0xb0
		priv := ed25519.NewKeyFromSeed(seed)
		last, lastSig = pubOf(t, priv), &ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: ed25519.Sign(priv, msg)}
		if err := fast(last).Verify(msg, lastSig); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if n := ntables.Load(); n > maxTables {
		t.Fatalf("%d tables kept, at most %d allowed", n, maxTables)
	}
	if _, ok := fast(last).(fastEd25519); ok {
		t.Fatal("a key past the bound was given a table")
	}
	lastSig.Blob[40] ^= 1
	if fast(last).Verify(msg, lastSig) == nil {
		t.Fatal("an altered signature verified on the standard path")
	}
	// Past the bound, a small-order key is still refused, not handed to
	// the standard path (which would accept R = [s]B for the identity).
	identity := append([]byte{1}, make([]byte, 31)...)
	if _, ok := fast(must(ssh.NewPublicKey(ed25519.PublicKey(identity)))).(refusedKey); !ok {
		t.Fatal("past the bound, the identity key is not refused")
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
