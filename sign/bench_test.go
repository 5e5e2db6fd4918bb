package sign

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// BenchmarkVerify is the cost of checking one ed25519 SSH signature, the
// unit of custos verify's work (three per record).
func BenchmarkVerify(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := FromCrypto(priv)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 900)
	sig, err := s.Sign("git", msg)
	if err != nil {
		b.Fatal(err)
	}
	parsed, err := Parse(sig)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("armored", func(b *testing.B) {
		for b.Loop() {
			if err := Verify(s.PublicKey(), "git", msg, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parsed", func(b *testing.B) {
		for b.Loop() {
			if err := VerifyParsed(s.PublicKey(), "git", msg, parsed); err != nil {
				b.Fatal(err)
			}
		}
	})
	pub := priv.Public().(ed25519.PublicKey)
	raw := ed25519.Sign(priv, msg)
	b.Run("ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(pub, msg, raw)
		}
	})
}

// BenchmarkParse is the cost of unarmoring one signature.
func BenchmarkParse(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := FromCrypto(priv)
	if err != nil {
		b.Fatal(err)
	}
	sig, err := s.Sign("git", make([]byte, 900))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Parse(sig); err != nil {
			b.Fatal(err)
		}
	}
}
