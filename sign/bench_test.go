package sign

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
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
	// The two ways sign/ed25519.go can check a raw signature: the fast
	// path (tables for B and -A) and the rule it is held to, with the
	// key expanded once (what the cache held before the fast path) and
	// without (past maxTables).
	table, err := newTable(pub)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			if !verifyTable(table, msg, raw) {
				b.Fatal("refused")
			}
		}
	})
	x, err := voied.NewExpandedPublicKey(voied.PublicKey(pub))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("rule-expanded", func(b *testing.B) {
		for b.Loop() {
			if !voied.VerifyExpandedWithOptions(x, msg, raw, ed25519Options) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("rule", func(b *testing.B) {
		for b.Loop() {
			if !verifyRule(pub, msg, raw) {
				b.Fatal("refused")
			}
		}
	})
}

// BenchmarkNewTable is the one-time cost of a member key's table.
func BenchmarkNewTable(b *testing.B) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	for b.Loop() {
		if _, err := newTable(pub); err != nil {
			b.Fatal(err)
		}
	}
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
