package hsm_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/miekg/pkcs11"

	"custos/hsm"
	"custos/hsm/hsmtest"
)

// Token objects, as pkcs11-tool makes them, so scripts/bench-hsm compares
// like with like.
func benchGenerate(b *testing.B, kt hsm.KeyType, u hsm.Usage) {
	tk := hsmtest.NewToken(b, "bench")
	tok := tk.Open(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tok.Generate(hsm.KeySpec{Label: fmt.Sprintf("b%d", i), Type: kt, Usage: u}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenerateAES256(b *testing.B) { benchGenerate(b, hsm.AES256, hsm.KEKUsage) }
func BenchmarkGenerateECP256(b *testing.B) {
	benchGenerate(b, hsm.ECP256, hsm.Usage{Sign: true, Verify: true})
}
func BenchmarkGenerateRSA3072(b *testing.B) {
	benchGenerate(b, hsm.RSA3072, hsm.Usage{Sign: true, Verify: true})
}

// ecSigner is an EC P-256 signing key on a new token, and its signer.
func ecSigner(b *testing.B, token string) (*hsm.Token, *hsm.Key, crypto.Signer) {
	tok := hsmtest.NewToken(b, token).Open(b)
	k, err := tok.Generate(hsm.KeySpec{Label: "signer", Type: hsm.ECP256, Usage: hsm.Usage{Sign: true}})
	if err != nil {
		b.Fatal(err)
	}
	s, err := k.Signer()
	if err != nil {
		b.Fatal(err)
	}
	return tok, k, s
}

func BenchmarkSignECDSAP256(b *testing.B) {
	_, _, s := ecSigner(b, "bench-sign")
	d := sha256.Sum256([]byte("bench"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

// rawSession is a session of a second, raw miekg/pkcs11 context on the
// same module and slot, in this process: the module is initialized and
// the user logged in already (by hsm), which the raw calls accept.
func rawSession(b *testing.B, slot uint) (*pkcs11.Ctx, pkcs11.SessionHandle) {
	p := pkcs11.New(hsmtest.ModulePath())
	if p == nil {
		b.Fatal("pkcs11.New: the module does not load")
	}
	if err := p.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		b.Fatal(err)
	}
	sh, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.CloseSession(sh) })
	return p, sh
}
