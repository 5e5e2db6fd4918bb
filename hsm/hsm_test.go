package hsm_test

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"custos/hsm"
	"custos/hsm/hsmtest"
	"custos/internal/hint"
)

func TestModuleErrors(t *testing.T) {
	_, err := hsm.OpenModule("/nonexistent/libnothing.so")
	if !errors.Is(err, hsm.ErrModule) || !strings.Contains(err.Error(), "/nonexistent/libnothing.so") || hint.Of(err) == "" {
		t.Errorf("missing module: %v (hint %q)", err, hint.Of(err))
	}
	_, err = hsm.OpenModule("/bin/ls")
	if !errors.Is(err, hsm.ErrModule) || !strings.Contains(err.Error(), "not a PKCS#11 library") {
		t.Errorf("/bin/ls: %v", err)
	}
	_, err = hsm.OpenModule("")
	if !errors.Is(err, hsm.ErrModule) {
		t.Errorf("empty path: %v", err)
	}
}

// TestModuleRegistry: two handles share one initialised library; closing
// one leaves the other usable.
func TestModuleRegistry(t *testing.T) {
	m1 := hsmtest.Module(t)
	m2, err := hsm.OpenModule(hsmtest.ModulePath())
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatalf("second open in one process: %v", err)
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m2.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := m1.Slots(); err != nil {
		t.Fatalf("first handle after closing the second: %v", err)
	}
	if _, err := m2.Slots(); !errors.Is(err, hsm.ErrModule) {
		t.Fatalf("closed handle: %v", err)
	}
}

// TestSoftHSMConfMissing runs this test binary again with a bad
// SOFTHSM2_CONF, because a module initialises only once per process.
func TestSoftHSMConfMissing(t *testing.T) {
	hsmtest.OnlySoftHSM(t, "it tests SoftHSM2's configuration file")
	if os.Getenv("CUSTOS_HSM_CHILD") == "conf" {
		_, err := hsm.OpenModule(hsmtest.ModulePath())
		os.Stdout.WriteString("ERR=" + errString(err) + "\nHINT=" + hint.Of(err) + "\nIS=" + boolS(errors.Is(err, hsm.ErrModule)) + "\n")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSoftHSMConfMissing$")
	cmd.Env = append(os.Environ(), "CUSTOS_HSM_CHILD=conf", "SOFTHSM2_CONF=/nonexistent/softhsm2.conf")
	out, err := cmd.CombinedOutput()
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatalf("child: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "CKR_GENERAL_ERROR") || !strings.Contains(s, "IS=true") || !strings.Contains(s, "SOFTHSM2_CONF=/nonexistent/softhsm2.conf") {
		t.Errorf("bad SOFTHSM2_CONF gives:\n%s", s)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func boolS(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestTokenSelection(t *testing.T) {
	hsmtest.OnlySoftHSM(t, "it makes more tokens than one in free slots")
	tk := hsmtest.NewToken(t, "sel")
	m := tk.Module
	tok, err := m.OpenToken(hsm.Selector{Serial: tk.Serial})
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatalf("by serial: %v", err)
	}
	tok.Close()
	info := tok.Info()
	if info.Label != tk.Label || info.Manufacturer != "SoftHSM project" || !info.Initialized || !info.LoginRequired || info.Serial != tk.Serial {
		t.Errorf("info %+v", info)
	}
	_, err = m.OpenToken(hsm.Selector{Label: "no-such-token"})
	if !errors.Is(err, hsm.ErrTokenNotFound) || !strings.Contains(err.Error(), `"no-such-token"`) || !strings.Contains(hint.Of(err), tk.Label) {
		t.Errorf("not found: %v (hint %q)", err, hint.Of(err))
	}
	_, err = m.OpenToken(hsm.Selector{Label: tk.Label, Serial: "0000"})
	if !errors.Is(err, hsm.ErrTokenNotFound) {
		t.Errorf("label ok, serial wrong: %v", err)
	}
	if _, err := m.InitToken(tk.Label, []byte("1234"), []byte("5678")); !errors.Is(err, hsm.ErrLabelExists) {
		t.Errorf("init twice: %v", err)
	}
	// Two tokens already share a label (made by another tool): a third
	// init with it is refused too, and selecting by it alone is ambiguous.
	dup := hsmtest.Label("dup")
	for range 2 {
		if err := hsm.RawInitTokenForTest(m, dup, []byte("1234")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.InitToken(dup, []byte("1234"), []byte("5678")); !errors.Is(err, hsm.ErrLabelExists) {
		t.Errorf("init over two tokens with the label: %v", err)
	}
	if _, err := m.OpenToken(hsm.Selector{Label: dup}); !errors.Is(err, hsm.ErrTokenNotFound) || !strings.Contains(err.Error(), "2 tokens") {
		t.Errorf("open by a shared label: %v", err)
	}
}

func TestLoginErrors(t *testing.T) {
	tk := hsmtest.NewToken(t, "pin")
	tok := tk.OpenNoLogin(t)
	wrong := []byte("wrong-pin-0000")
	err := tok.Login(wrong)
	if !errors.Is(err, hsm.ErrPINIncorrect) || strings.Contains(err.Error(), string(wrong)) || strings.Contains(err.Error(), string(tk.UserPIN)) {
		t.Fatalf("wrong pin: %v", err)
	}
	t.Logf("wrong pin: %v (hint %q)", err, hint.Of(err))
	if err := tok.Login(tk.UserPIN); err != nil {
		t.Fatalf("right pin after one wrong: %v", err)
	}
	if err := tok.Logout(); err != nil {
		t.Fatal(err)
	}
	if err := tok.LoginSO(tk.SOPIN); err != nil {
		t.Fatalf("so login: %v", err)
	}
	tok.Logout()
	if err := tok.Login(nil); !errors.Is(err, hsm.ErrPINIncorrect) {
		t.Errorf("empty pin: %v", err)
	}
	// Repeated wrong PINs on a throwaway token: a token that counts tries
	// locks (ErrPINLocked); SoftHSM2 2.6.1 never locks a user PIN, it only
	// raises CKF_USER_PIN_COUNT_LOW, which must show in the error.
	lk, ltok := tk, tok
	if hsmtest.Kind() == hsmtest.SoftHSMName {
		lk = hsmtest.NewToken(t, "lock")
		ltok = lk.OpenNoLogin(t)
	} // else one token per machine: lock this one
	var last error
	for i := 0; i < 12; i++ {
		last = ltok.Login(wrong)
		if errors.Is(last, hsm.ErrPINLocked) {
			break
		}
		if !errors.Is(last, hsm.ErrPINIncorrect) {
			t.Fatalf("try %d: %v", i, last)
		}
	}
	info, _ := ltok.Refresh()
	switch {
	case errors.Is(last, hsm.ErrPINLocked):
		t.Logf("token locks (%s): %v (hint %q)", hsmtest.Kind(), last, hint.Of(last))
		if hint.Of(last) == "" || !info.UserPINLocked {
			t.Errorf("locked: %v, info %+v", last, info)
		}
		if err := ltok.Login(lk.UserPIN); !errors.Is(err, hsm.ErrPINLocked) {
			t.Fatalf("right pin on locked token: %v", err)
		}
	default:
		t.Logf("token does not lock (SoftHSM2): %v", last)
		if !info.UserPINCountLow || !strings.Contains(last.Error(), "few tries left") || hint.Of(last) == "" {
			t.Errorf("count-low not reported: %v, info %+v", last, info)
		}
		if err := ltok.Login(lk.UserPIN); err != nil {
			t.Fatalf("right pin: %v", err)
		}
	}
}

// cmac computes AES-CMAC (RFC 4493) in Go, independently of the token.
func cmac(key, msg []byte) []byte {
	b, _ := aes.NewCipher(key)
	l := make([]byte, 16)
	b.Encrypt(l, l)
	dbl := func(in []byte) []byte {
		out := make([]byte, 16)
		carry := byte(0)
		for i := 15; i >= 0; i-- {
			out[i] = in[i]<<1 | carry
			carry = in[i] >> 7
		}
		if in[0]&0x80 != 0 {
			out[15] ^= 0x87
		}
		return out
	}
	k1 := dbl(l)
	k2 := dbl(k1)
	n := (len(msg) + 15) / 16
	last := make([]byte, 16)
	if n > 0 && len(msg)%16 == 0 {
		copy(last, msg[(n-1)*16:])
		for i := range last {
			last[i] ^= k1[i]
		}
	} else {
		if n == 0 {
			n = 1
		}
		rest := msg[(n-1)*16:]
		copy(last, rest)
		last[len(rest)] = 0x80
		for i := range last {
			last[i] ^= k2[i]
		}
	}
	x := make([]byte, 16)
	for i := 0; i < n-1; i++ {
		for j := 0; j < 16; j++ {
			x[j] ^= msg[i*16+j]
		}
		b.Encrypt(x, x)
	}
	for j := range x {
		x[j] ^= last[j]
	}
	b.Encrypt(x, x)
	return x
}

func TestCMACVector(t *testing.T) {
	// RFC 4493 example 2.
	k, _ := hex.DecodeString("2b7e151628aed2a6abf7158809cf4f3c")
	m, _ := hex.DecodeString("6bc1bee22e409f96e93d7e117393172a")
	if got := hex.EncodeToString(cmac(k, m)); got != "070a16b46b4d4144f79bdd9dd04a287c" {
		t.Fatalf("cmac = %s", got)
	}
}

func kcvs(value []byte) (ecb, cm string) {
	b, _ := aes.NewCipher(value)
	out := make([]byte, 16)
	b.Encrypt(out, make([]byte, 16))
	return hex.EncodeToString(out[:3]), hex.EncodeToString(cmac(value, make([]byte, 16))[:3])
}

// TestCheckValues: the token's KCVs equal Go's, for a token-generated key
// whose value is readable (test-only) and for an imported known value.
func TestCheckValues(t *testing.T) {
	tk := hsmtest.NewToken(t, "kcv")
	tok := tk.Open(t)
	hsmtest.NeedMechanism(t, tok, "CKM_AES_CMAC")
	k, value, err := hsm.GenerateClearAESForTest(tok, "clear")
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	f, err := k.Facts()
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	ecb, cm := kcvs(value)
	if f.KCVAESECB != ecb || f.KCVAESCMAC != cm {
		t.Errorf("hsm kcv ecb %s cmac %s, go %s %s", f.KCVAESECB, f.KCVAESCMAC, ecb, cm)
	}
	v := make([]byte, 32)
	rand.Read(v)
	ik, err := tok.ImportAES(hsm.KeySpec{Label: "imported", Usage: hsm.Usage{Encrypt: true, Sign: true}}, v)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	f, err = ik.Facts()
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	ecb, cm = kcvs(v)
	if f.KCVAESECB != ecb || f.KCVAESCMAC != cm || !f.Attributes.Sensitive || f.Attributes.Local {
		t.Errorf("imported: %+v, go %s %s", f, ecb, cm)
	}
	// A KEK (policy: no encrypt) has only the CMAC check value.
	kek, err := tok.Generate(hsm.KeySpec{Label: "kek", Type: hsm.AES256, Usage: hsm.KEKUsage})
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	f, _ = kek.Facts()
	if f.KCVAESECB != "" || len(f.KCVAESCMAC) != 6 || f.Attributes.Encrypt {
		t.Errorf("kek facts %+v", f)
	}
}

func TestSigners(t *testing.T) {
	tk := hsmtest.NewToken(t, "sig")
	tok := tk.Open(t)
	msg := []byte("custos signs this")
	for _, kt := range []hsm.KeyType{hsm.ECP256, hsm.ECP384, hsm.Ed25519, hsm.RSA3072} {
		t.Run(string(kt), func(t *testing.T) {
			k, err := tok.Generate(hsm.KeySpec{Label: "s-" + string(kt), Type: kt, Usage: hsm.Usage{Sign: true, Verify: true}})
			if err != nil {
				hsmtest.SkipIfLacks(t, err)
				t.Fatal(err)
			}
			s, err := k.Signer()
			if err != nil {
				hsmtest.SkipIfLacks(t, err)
				t.Fatal(err)
			}
			switch pub := s.Public().(type) {
			case *ecdsa.PublicKey:
				for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
					hh := h.New()
					hh.Write(msg)
					d := hh.Sum(nil)
					sig, err := s.Sign(rand.Reader, d, h)
					if err != nil {
						hsmtest.SkipIfLacks(t, err)
						t.Fatal(err)
					}
					if !ecdsa.VerifyASN1(pub, d, sig) {
						t.Fatalf("ecdsa signature with %v does not verify", h)
					}
					d[0] ^= 1
					if ecdsa.VerifyASN1(pub, d, sig) {
						t.Fatal("signature verifies a different digest")
					}
				}
				if _, err := s.Sign(rand.Reader, []byte{1, 2, 3}, crypto.SHA256); err == nil {
					t.Error("short digest accepted")
				}
			case ed25519.PublicKey:
				sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
				if err != nil {
					hsmtest.SkipIfLacks(t, err)
					t.Fatal(err)
				}
				if !ed25519.Verify(pub, msg, sig) {
					t.Fatal("ed25519 signature does not verify")
				}
				if _, err := s.Sign(rand.Reader, msg, crypto.SHA512); !errors.Is(err, hsm.ErrMechanismUnsupported) {
					t.Errorf("ed25519ph: %v", err)
				}
			case *rsa.PublicKey:
				d := sha512.Sum512(msg)
				sig, err := s.Sign(rand.Reader, d[:], crypto.SHA512)
				if err != nil {
					hsmtest.SkipIfLacks(t, err)
					t.Fatal(err)
				}
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA512, d[:], sig); err != nil {
					t.Fatal(err)
				}
				d2 := sha256.Sum256(msg)
				sig, err = s.Sign(rand.Reader, d2[:], crypto.SHA256)
				if err != nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, d2[:], sig) != nil {
					t.Fatalf("rsa sha256: %v", err)
				}
				for _, o := range []*rsa.PSSOptions{{Hash: crypto.SHA256}, {Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}} {
					sig, err = s.Sign(rand.Reader, d2[:], o)
					if err != nil {
						hsmtest.SkipIfLacks(t, err)
						t.Fatalf("pss: %v", err)
					}
					if err := rsa.VerifyPSS(pub, crypto.SHA256, d2[:], sig, &rsa.PSSOptions{SaltLength: 32}); err != nil {
						t.Fatalf("pss signature: %v", err)
					}
					if rsa.VerifyPKCS1v15(pub, crypto.SHA256, d2[:], sig) == nil {
						t.Fatal("a pss signature verifies as PKCS#1 v1.5")
					}
				}
				sig, err = s.Sign(rand.Reader, d[:], &rsa.PSSOptions{Hash: crypto.SHA512})
				if err != nil || rsa.VerifyPSS(pub, crypto.SHA512, d[:], sig, &rsa.PSSOptions{SaltLength: 64}) != nil {
					t.Fatalf("pss sha512: %v", err)
				}
				if _, err := s.Sign(rand.Reader, d2[:], &rsa.PSSOptions{Hash: crypto.SHA512}); err == nil {
					t.Error("pss: a digest of the wrong length was signed")
				}
			default:
				t.Fatalf("public key %T", pub)
			}
			// The signer's public key is the one the facts fingerprint.
			f, _ := k.Facts()
			spki, fp, _ := hsm.Fingerprints(s.Public())
			if f.SPKISHA256 != spki || f.SSHFingerprint != fp {
				t.Errorf("fingerprints differ: %+v vs %s %s", f, spki, fp)
			}
		})
	}
	aesKey, _ := tok.Generate(hsm.KeySpec{Label: "s-aes", Type: hsm.AES256, Usage: hsm.KEKUsage})
	if _, err := aesKey.Signer(); err == nil {
		t.Error("signer of an aes key")
	}
}

func TestECPointForms(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(ecdsaP256(), rand.Reader)
	raw, _ := p256.PublicKey.Bytes()
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, c := range []struct {
		kt  hsm.KeyType
		raw []byte
	}{{hsm.ECP256, raw}, {hsm.Ed25519, edPub}} {
		der := append([]byte{0x04, byte(len(c.raw))}, c.raw...)
		for _, form := range [][]byte{c.raw, der} {
			pub, err := hsm.ParseECPoint(c.kt, form)
			if err != nil {
				hsmtest.SkipIfLacks(t, err)
				t.Fatalf("%s %d bytes: %v", c.kt, len(form), err)
			}
			switch p := pub.(type) {
			case *ecdsa.PublicKey:
				if !p.Equal(&p256.PublicKey) {
					t.Errorf("p256 point differs")
				}
			case ed25519.PublicKey:
				if !p.Equal(edPub) {
					t.Errorf("ed25519 point differs")
				}
			}
		}
		if _, err := hsm.ParseECPoint(c.kt, c.raw[1:]); err == nil {
			t.Errorf("%s: truncated point accepted", c.kt)
		}
		if _, err := hsm.ParseECPoint(c.kt, append(der, 0)); err == nil {
			t.Errorf("%s: trailing byte accepted", c.kt)
		}
	}
	p384, _ := ecdsa.GenerateKey(ecdsaP384(), rand.Reader)
	raw, _ = p384.PublicKey.Bytes()
	if pub, err := hsm.ParseECPoint(hsm.ECP384, append([]byte{0x04, 0x61}, raw...)); err != nil || !pub.(*ecdsa.PublicKey).Equal(&p384.PublicKey) {
		t.Errorf("p384 der: %v", err)
	}
	bad := append([]byte(nil), raw...)
	bad[len(bad)-1] ^= 1
	if _, err := hsm.ParseECPoint(hsm.ECP384, bad); err == nil {
		t.Error("point off the curve accepted")
	}
}

func FuzzParseECPoint(f *testing.F) {
	f.Add([]byte{0x04, 0x20, 1, 2, 3})
	f.Add(make([]byte, 65))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, kt := range hsm.KeyTypes {
			hsm.ParseECPoint(kt, b)
		}
	})
}

// TestRandom: the token's RNG gives the bytes asked, different each time.
func TestRandom(t *testing.T) {
	tok := hsmtest.NewToken(t, "rng").Open(t)
	a, err := tok.Random(20)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tok.Random(20)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 20 || bytes.Equal(a, b) {
		t.Fatalf("random: %x then %x", a, b)
	}
	if _, err := tok.Random(0); err == nil {
		t.Error("0 bytes asked and no error")
	}
}
