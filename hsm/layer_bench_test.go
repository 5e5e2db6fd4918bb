package hsm_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"custos/hsm"
	"custos/hsm/hsmtest"
)

// layer times viaHSM (an operation through the hsm package) and raw (the
// same PKCS#11 calls made directly with miekg/pkcs11) alternately, one
// of each per iteration and each first in turn, on the same token in
// this process, and reports each one's median and their ratio: the
// machine's load, and the token's growth as keys are made, fall on both
// alike. scripts/bench-hsm-layer prints the ratios.
func layer(b *testing.B, viaHSM, raw func(i int)) {
	hs := make([]time.Duration, 0, b.N)
	rs := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if i%2 == 0 {
			viaHSM(i)
		} else {
			raw(i)
		}
		t1 := time.Now()
		if i%2 == 0 {
			raw(i)
		} else {
			viaHSM(i)
		}
		t2 := time.Now()
		if i%2 == 0 {
			hs, rs = append(hs, t1.Sub(t0)), append(rs, t2.Sub(t1))
		} else {
			rs, hs = append(rs, t1.Sub(t0)), append(hs, t2.Sub(t1))
		}
	}
	med := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2])
	}
	h, r := med(hs), med(rs)
	b.ReportMetric(h, "hsm-ns/op")
	b.ReportMetric(r, "raw-ns/op")
	b.ReportMetric(h/r, "hsm/raw")
}

// BenchmarkLayerSignECDSAP256: hsm's signer (C_SignInit, C_Sign of a
// SHA-256 digest, r‖s to DER) beside the two raw calls, same key.
func BenchmarkLayerSignECDSAP256(b *testing.B) {
	tok, k, s := ecSigner(b, "layer-sign")
	slot, priv := hsm.RawForTest(tok, k)
	p, sh := rawSession(b, slot)
	d := sha256.Sum256([]byte("bench"))
	m := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
	b.ResetTimer()
	layer(b, func(int) {
		if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}, func(int) {
		if err := p.SignInit(sh, m, priv); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Sign(sh, d[:]); err != nil {
			b.Fatal(err)
		}
	})
}

// rawFind is one C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal.
func rawFind(b *testing.B, p *pkcs11.Ctx, sh pkcs11.SessionHandle, a *pkcs11.Attribute) {
	if err := p.FindObjectsInit(sh, []*pkcs11.Attribute{a}); err != nil {
		b.Fatal(err)
	}
	if hs, _, err := p.FindObjects(sh, 64); err != nil || len(hs) != 0 {
		b.Fatalf("find: %v %v", hs, err)
	}
	if err := p.FindObjectsFinal(sh); err != nil {
		b.Fatal(err)
	}
}

// rawRead is one C_GetAttributeValue of types.
func rawRead(b *testing.B, p *pkcs11.Ctx, sh pkcs11.SessionHandle, h pkcs11.ObjectHandle, types ...uint) {
	t := make([]*pkcs11.Attribute, len(types))
	for i, ty := range types {
		t[i] = pkcs11.NewAttribute(ty, nil)
	}
	if _, err := p.GetAttributeValue(sh, h, t); err != nil {
		b.Fatal(err)
	}
}

// benchLayerGenerate: hsm's Generate beside what a careful direct caller
// makes for the same key: a search for the label and one for the id
// (each one template), the generation with the same templates, one read
// of what Custos records of the key (and of the public half of a pair),
// and for an AES key with sign its CMAC check value.
func benchLayerGenerate(b *testing.B, kt hsm.KeyType, u hsm.Usage) {
	tk := hsmtest.NewToken(b, "layer-gen")
	tok := tk.Open(b)
	first, err := tok.Generate(hsm.KeySpec{Label: "first", Type: kt, Usage: u})
	if err != nil {
		b.Fatal(err)
	}
	slot, _ := hsm.RawForTest(tok, first)
	p, sh := rawSession(b, slot)
	flags := hsm.FactFlagsForTest(!kt.Secret())
	b.ResetTimer()
	layer(b, func(i int) {
		if _, err := tok.Generate(hsm.KeySpec{Label: fmt.Sprintf("h%d", i), Type: kt, Usage: u}); err != nil {
			b.Fatal(err)
		}
	}, func(i int) {
		spec, mech, pubT, privT, err := hsm.GenerateTemplatesForTest(hsm.KeySpec{Label: fmt.Sprintf("r%d", i), Type: kt, Usage: u})
		if err != nil {
			b.Fatal(err)
		}
		rawFind(b, p, sh, pkcs11.NewAttribute(pkcs11.CKA_LABEL, spec.Label))
		rawFind(b, p, sh, pkcs11.NewAttribute(pkcs11.CKA_ID, spec.ID))
		m := []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}
		what := append([]uint{pkcs11.CKA_ID, pkcs11.CKA_LABEL, pkcs11.CKA_KEY_TYPE}, flags...)
		if pubT == nil {
			h, err := p.GenerateKey(sh, m, privT)
			if err != nil {
				b.Fatal(err)
			}
			rawRead(b, p, sh, h, append(what, pkcs11.CKA_VALUE_LEN)...)
			if u.Sign {
				if err := p.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_CMAC, nil)}, h); err != nil {
					b.Fatal(err)
				}
				if _, err := p.Sign(sh, make([]byte, 16)); err != nil {
					b.Fatal(err)
				}
			}
			return
		}
		pub, priv, err := p.GenerateKeyPair(sh, m, pubT, privT)
		if err != nil {
			b.Fatal(err)
		}
		rawRead(b, p, sh, priv, append(what, pkcs11.CKA_EC_PARAMS)...)
		rawRead(b, p, sh, pub, pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE, pkcs11.CKA_MODIFIABLE,
			pkcs11.CKA_VERIFY, pkcs11.CKA_ENCRYPT, pkcs11.CKA_WRAP, pkcs11.CKA_EC_POINT)
	})
}

func BenchmarkLayerGenerateAES256(b *testing.B) { benchLayerGenerate(b, hsm.AES256, hsm.KEKUsage) }
func BenchmarkLayerGenerateECP256(b *testing.B) {
	benchLayerGenerate(b, hsm.ECP256, hsm.Usage{Sign: true, Verify: true})
}
