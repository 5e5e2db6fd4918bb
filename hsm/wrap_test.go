package hsm_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"custos/hsm"
	"custos/hsm/hsmtest"
	"custos/internal/hint"
)

// importTransport puts the same AES transport key on the source token
// (trusted, by the SO) and on the destination token (by the user).
func importTransport(t *testing.T, src *hsmtest.Token, srcTok *hsm.Token, dst *hsm.Token, label string) (*hsm.Key, *hsm.Key, []byte) {
	t.Helper()
	v := make([]byte, 32)
	rand.Read(v)
	// Only the SO may set CKA_TRUSTED; a user import of a trusted key fails.
	if _, err := srcTok.ImportTrustedAES(label+"-by-user", nil, v); err == nil {
		t.Fatal("user created a trusted key")
	} else {
		t.Logf("trusted import as user: %v (hint %q)", err, hint.Of(err))
	}
	if err := srcTok.Logout(); err != nil {
		t.Fatal(err)
	}
	if err := srcTok.LoginSO(src.SOPIN); err != nil {
		t.Fatal(err)
	}
	wk, err := srcTok.ImportTrustedAES(label, nil, v)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatalf("trusted import by SO: %v", err)
	}
	srcTok.Logout()
	if err := srcTok.Login(src.UserPIN); err != nil {
		t.Fatal(err)
	}
	uk, err := dst.ImportAES(hsm.KeySpec{Label: label, Usage: hsm.KEKUsage, Ephemeral: true}, v)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	return wk, uk, v
}

func TestWrapUnwrapAcrossTokens(t *testing.T) {
	a, b := hsmtest.NewToken(t, "wrap-a"), hsmtest.NewToken(t, "wrap-b")
	ta, tb := a.Open(t), b.Open(t)
	wk, uk, _ := importTransport(t, a, ta, tb, "transport")
	wf, _ := wk.Facts()
	uf, _ := uk.Facts()
	if !wf.Attributes.Trusted || wf.Attributes.Private || !wf.Attributes.Sensitive || wf.KCVAESCMAC == "" || wf.KCVAESCMAC != uf.KCVAESCMAC {
		t.Fatalf("transport keys: %+v / %+v", wf, uf)
	}
	for _, kt := range []hsm.KeyType{hsm.AES256, hsm.ECP256, hsm.ECP384, hsm.RSA3072} {
		t.Run(string(kt), func(t *testing.T) {
			u := hsm.Usage{Sign: true, Verify: true}
			if kt.Secret() {
				u = hsm.KEKUsage
			}
			spec := hsm.KeySpec{Label: "backup-" + string(kt), Type: kt, Extractable: true, WrapWithTrusted: true, Usage: u}
			if ok, err := ta.CanWrap(kt, hsm.AES256); err != nil || !ok {
				t.Fatalf("CanWrap(%s) = %v, %v", kt, ok, err)
			}
			k, err := ta.Generate(spec)
			if err != nil {
				hsmtest.SkipIfLacks(t, err)
				t.Fatal(err)
			}
			w, err := ta.Wrap(wk, k)
			if err != nil {
				hsmtest.SkipIfLacks(t, err)
				t.Fatal(err)
			}
			if w.Mechanism != "CKM_AES_KEY_WRAP_KWP" && w.Mechanism != "CKM_AES_KEY_WRAP_PAD" {
				t.Errorf("mechanism %q", w.Mechanism)
			}
			t.Logf("wrapped with %s, %d bytes", w.Mechanism, len(w.Blob))
			spec.ID = k.ID
			r, err := tb.Unwrap(uk, w, spec)
			if err != nil {
				hsmtest.SkipIfLacks(t, err)
				t.Fatal(err)
			}
			of, _ := k.Facts()
			rf, err := r.Facts()
			if err != nil {
				hsmtest.SkipIfLacks(t, err)
				t.Fatal(err)
			}
			if of.KCVAESCMAC != rf.KCVAESCMAC || of.SPKISHA256 != rf.SPKISHA256 || of.SSHFingerprint != rf.SSHFingerprint || rf.ID != of.ID {
				t.Errorf("restored key differs:\n%+v\n%+v", of, rf)
			}
			if !rf.Attributes.Sensitive || rf.Attributes.Local || !rf.Attributes.Extractable || !rf.Attributes.WrapWithTrusted || rf.Attributes.Modifiable {
				t.Errorf("restored attributes %+v", rf.Attributes)
			}
			if !kt.Secret() {
				// The restored private key signs for the original public key.
				s, err := r.Signer()
				if err != nil {
					hsmtest.SkipIfLacks(t, err)
					t.Fatal(err)
				}
				checkSigns(t, s)
			}
			// A wrap-with-trusted key refuses an untrusted wrapping key.
			untrusted, err := ta.Generate(hsm.KeySpec{Label: "untrusted-" + string(kt), Type: hsm.AES256, Usage: hsm.KEKUsage})
			if err != nil {
				hsmtest.SkipIfLacks(t, err)
				t.Fatal(err)
			}
			_, err = ta.Wrap(untrusted, k)
			if !errors.Is(err, hsm.ErrKeyNotWrappable) || !strings.Contains(err.Error(), "trusted") || hint.Of(err) == "" {
				t.Errorf("untrusted wrap: %v", err)
			}
			// Unwrapping again under the same label is refused.
			if _, err := tb.Unwrap(uk, w, spec); !errors.Is(err, hsm.ErrLabelExists) {
				t.Errorf("second unwrap: %v", err)
			}
		})
	}
	// A non-extractable key is not wrappable, even by a trusted key.
	ne, _ := ta.Generate(hsm.KeySpec{Label: "fixed", Type: hsm.ECP256, Usage: hsm.Usage{Sign: true}})
	if _, err := ta.Wrap(wk, ne); !errors.Is(err, hsm.ErrKeyNotWrappable) || !strings.Contains(err.Error(), "not extractable") {
		t.Errorf("non-extractable wrap: %v", err)
	}
}

func checkSigns(t *testing.T, s crypto.Signer) {
	t.Helper()
	d := sha256.Sum256([]byte("restored"))
	switch pub := s.Public().(type) {
	case *ecdsa.PublicKey:
		sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil || !ecdsa.VerifyASN1(pub, d[:], sig) {
			t.Fatalf("restored ecdsa key does not sign for its public key: %v", err)
		}
	case *rsa.PublicKey:
		sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) != nil {
			t.Fatalf("restored rsa key does not sign for its public key: %v", err)
		}
	default:
		t.Fatalf("public key %T", pub)
	}
}

func TestWrapOAEP(t *testing.T) {
	a, b := hsmtest.NewToken(t, "oaep-a"), hsmtest.NewToken(t, "oaep-b")
	ta, tb := a.Open(t), b.Open(t)
	// The recipient (token b) holds an RSA key pair that can unwrap.
	rk, err := tb.Generate(hsm.KeySpec{Label: "recipient", Type: hsm.RSA3072, Usage: hsm.Usage{Unwrap: true, Wrap: true}})
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	pub, err := rk.PublicKey()
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	// Token a imports the recipient's public key as trusted (SO only).
	ta.Logout()
	if err := ta.LoginSO(a.SOPIN); err != nil {
		t.Fatal(err)
	}
	wk, err := ta.ImportTrustedRSAPublic("recipient", nil, pub.(*rsa.PublicKey))
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	ta.Logout()
	if err := ta.Login(a.UserPIN); err != nil {
		t.Fatal(err)
	}
	wf, _ := wk.Facts()
	if !wf.Attributes.Trusted || !wf.Attributes.Wrap || wf.Attributes.Encrypt || wf.Class != "public" {
		t.Errorf("trusted rsa key facts %+v", wf)
	}
	spec := hsm.KeySpec{Label: "export-me", Type: hsm.AES256, Extractable: true, WrapWithTrusted: true, Usage: hsm.KEKUsage}
	k, err := ta.Generate(spec)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	w, err := ta.Wrap(wk, k)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	if w.Mechanism != "CKM_RSA_PKCS_OAEP" || (w.OAEPHash != "sha-256" && w.OAEPHash != "sha-1") || len(w.Blob) != 384 {
		t.Fatalf("oaep wrap: %s %s %d bytes", w.Mechanism, w.OAEPHash, len(w.Blob))
	}
	t.Logf("oaep hash used: %s", w.OAEPHash)
	// Only the hashes asked for are tried: the one used works alone, an
	// unknown one is refused before the token is asked.
	if w1, err := ta.Wrap(wk, k, w.OAEPHash); err != nil || w1.OAEPHash != w.OAEPHash {
		t.Errorf("wrap with %s alone: %v", w.OAEPHash, err)
	}
	if _, err := ta.Wrap(wk, k, "md5"); !errors.Is(err, hsm.ErrMechanismUnsupported) {
		t.Errorf("wrap with md5: %v, want ErrMechanismUnsupported", err)
	}
	if w.OAEPHash == "sha-1" { // the token refuses SHA-256 (SoftHSM): no fallback when not allowed
		if _, err := ta.Wrap(wk, k, "sha-256"); !errors.Is(err, hsm.ErrMechanismUnsupported) || !strings.Contains(err.Error(), "refused RSA-OAEP with sha-256") {
			t.Errorf("wrap with sha-256 alone on a SHA-1 token: %v", err)
		}
	}
	spec.ID = k.ID
	r, err := tb.Unwrap(rk, w, spec)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	of, _ := k.Facts()
	rf, _ := r.Facts()
	if of.KCVAESCMAC == "" || of.KCVAESCMAC != rf.KCVAESCMAC {
		t.Errorf("kcv after oaep: %s vs %s", of.KCVAESCMAC, rf.KCVAESCMAC)
	}
	// OAEP cannot carry a private key.
	ec, _ := ta.Generate(hsm.KeySpec{Label: "ec", Type: hsm.ECP256, Extractable: true, Usage: hsm.Usage{Sign: true}})
	if _, err := ta.Wrap(wk, ec); !errors.Is(err, hsm.ErrKeyNotWrappable) {
		t.Errorf("oaep of ec key: %v", err)
	}
	if ok, _ := ta.CanWrap(hsm.ECP256, hsm.RSA3072); ok {
		t.Error("CanWrap says OAEP can carry an EC key")
	}
}

func TestEd25519NotWrappable(t *testing.T) {
	a, b := hsmtest.NewToken(t, "ed-a"), hsmtest.NewToken(t, "ed-b")
	ta, tb := a.Open(t), b.Open(t)
	ok, err := ta.CanWrap(hsm.Ed25519, hsm.AES256)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	wk, _, _ := importTransport(t, a, ta, tb, "transport")
	k, err := ta.Generate(hsm.KeySpec{Label: "ed", Type: hsm.Ed25519, Extractable: true, WrapWithTrusted: true, Usage: hsm.Usage{Sign: true}})
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	_, werr := ta.Wrap(wk, k)
	// The probe must agree with what the token really does.
	if ok != (werr == nil) {
		t.Fatalf("CanWrap said %v but Wrap gave %v", ok, werr)
	}
	if !ok && (!errors.Is(werr, hsm.ErrKeyNotWrappable) || hint.Of(werr) == "") {
		t.Fatalf("ed25519 wrap: %v", werr)
	}
	t.Logf("ed25519 wrappable: %v (%v)", ok, werr)
}

func TestUnsupportedMechanism(t *testing.T) {
	tk := hsmtest.NewToken(t, "mech")
	tok := tk.Open(t)
	k, err := tok.Generate(hsm.KeySpec{Label: "kek", Type: hsm.AES256, Usage: hsm.KEKUsage})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tok.Unwrap(k, &hsm.Wrapped{Mechanism: "CKM_AES_KEY_WRAP_KWP", OAEPHash: "", KeyType: hsm.AES256, Blob: []byte{1}}, hsm.KeySpec{Label: "x", Usage: hsm.KEKUsage})
	if err == nil {
		t.Fatal("garbage blob unwrapped")
	}
	_, err = tok.Unwrap(k, &hsm.Wrapped{Mechanism: "CKM_RSA_PKCS_OAEP", OAEPHash: "md5", KeyType: hsm.AES256}, hsm.KeySpec{Label: "y"})
	if !errors.Is(err, hsm.ErrMechanismUnsupported) {
		t.Errorf("oaep md5: %v", err)
	}
	_, err = tok.Unwrap(k, &hsm.Wrapped{Mechanism: "CKM_DES3_ECB", KeyType: hsm.AES256}, hsm.KeySpec{Label: "z"})
	if !errors.Is(err, hsm.ErrMechanismUnsupported) {
		t.Errorf("des3: %v", err)
	}
	// An EC key cannot wrap anything.
	ec, err := tok.Generate(hsm.KeySpec{Label: "ec", Type: hsm.ECP256, Usage: hsm.Usage{Sign: true}})
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	if _, err := tok.Wrap(ec, k); !errors.Is(err, hsm.ErrMechanismUnsupported) {
		t.Errorf("ec wrapping: %v", err)
	}
	// OAEP with SHA-256 is refused by SoftHSM 2.6.1 inside the token: the
	// raw mechanism error maps to ErrMechanismUnsupported or the fallback
	// works; either way Wrap reports the hash it used (TestWrapOAEP).
	ms, err := tok.Mechanisms()
	if err != nil || len(ms) != len(hsm.Needed) {
		t.Fatalf("mechanisms: %v", err)
	}
}

var objLine = regexp.MustCompile(`(?m)^(Secret Key|Private Key|Public Key) Object`)

// TestPkcs11ToolSeesKey: stock pkcs11-tool, an independent reader, lists
// a generated key with its label, id and attributes; after destroy it
// lists nothing with that id, and DestroyProof says so.
func TestPkcs11ToolSeesKey(t *testing.T) {
	tk := hsmtest.NewToken(t, "p11tool")
	tok := tk.Open(t)
	list := func() string {
		t.Helper()
		cmd := exec.Command("pkcs11-tool", "--module", hsmtest.ModulePath(), "--token-label", tk.Label,
			"--login", "--pin", string(tk.UserPIN), "--list-objects") // test token PIN on argv: test only
		cmd.Env = os.Environ() // carries SOFTHSM2_CONF of the test store
		out, err := cmd.CombinedOutput()
		if err != nil {
			hsmtest.SkipIfLacks(t, err)
			t.Fatalf("pkcs11-tool: %v\n%s", err, out)
		}
		return string(out)
	}
	for _, kt := range []hsm.KeyType{hsm.AES256, hsm.ECP256} {
		spec := hsm.KeySpec{Label: "seen-" + string(kt), Type: kt, Usage: hsm.Usage{Sign: true}}
		if kt.Secret() {
			spec.Usage = hsm.KEKUsage
		}
		k, err := tok.Generate(spec)
		if err != nil {
			hsmtest.SkipIfLacks(t, err)
			t.Fatal(err)
		}
		out := list()
		kind := "Private Key"
		if kt.Secret() {
			kind = "Secret Key"
		}
		block := objectBlock(out, kind, k.Label)
		if block == "" || !strings.Contains(block, "ID:         "+k.IDHex()) {
			t.Fatalf("pkcs11-tool does not list %q with id %s:\n%s", k.Label, k.IDHex(), out)
		}
		f, _ := k.Facts()
		for _, want := range []string{"sensitive", "never extractable", "local"} {
			if !strings.Contains(block, want) {
				t.Errorf("%s: pkcs11-tool does not say %q:\n%s", kt, want, block)
			}
		}
		if strings.Contains(block, "Access:     sensitive, always sensitive, never extractable, local") != (f.Attributes.Sensitive && f.Attributes.AlwaysSensitive && f.Attributes.NeverExtractable && f.Attributes.Local) {
			t.Errorf("%s: facts %+v disagree with pkcs11-tool:\n%s", kt, f.Attributes, block)
		}
		// pkcs11-tool prints no "sign" for secret keys; the rest must match.
		if kt.Secret() && (!strings.Contains(block, "Usage:      verify, wrap, unwrap") || strings.Contains(block, "encrypt")) {
			t.Errorf("usage line:\n%s", block)
		}
		proof, err := tok.Destroy(k)
		if err != nil {
			hsmtest.SkipIfLacks(t, err)
			t.Fatal(err)
		}
		wantObjs := 1
		if !kt.Secret() {
			wantObjs = 2
		}
		if proof.ObjectsDestroyed != wantObjs || proof.FoundByID != 0 || proof.FoundByLabel != 0 || !proof.FreshSession || !proof.HandlesInvalid || !proof.SearchedByID || !proof.SearchedByLabel {
			t.Errorf("proof %+v", proof)
		}
		if out := list(); strings.Contains(out, k.Label) || strings.Contains(out, k.IDHex()) {
			t.Errorf("pkcs11-tool still lists %q after destroy:\n%s", k.Label, out)
		}
		if _, err := tok.FindKey(k.ID, ""); !errors.Is(err, hsm.ErrKeyNotFound) {
			t.Errorf("find after destroy: %v", err)
		}
		if _, err := tok.FindKey(nil, k.Label); !errors.Is(err, hsm.ErrKeyNotFound) {
			t.Errorf("find by label after destroy: %v", err)
		}
	}
}

// objectBlock returns pkcs11-tool's lines for the kind of object labelled label.
func objectBlock(out, kind, label string) string {
	idx := objLine.FindAllStringIndex(out, -1)
	for i, m := range idx {
		end := len(out)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		b := out[m[0]:end]
		if strings.HasPrefix(b, kind) && strings.Contains(b, "label:      "+label+"\n") {
			return b
		}
	}
	return ""
}

func TestFindKey(t *testing.T) {
	tk := hsmtest.NewToken(t, "find")
	tok := tk.Open(t)
	k, err := tok.Generate(hsm.KeySpec{Label: "findme", Type: hsm.ECP384, Usage: hsm.Usage{Sign: true}})
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	if _, err := tok.Generate(hsm.KeySpec{Label: "other", ID: k.ID, Type: hsm.AES256, Usage: hsm.KEKUsage}); !errors.Is(err, hsm.ErrIDExists) {
		t.Errorf("same id: %v", err)
	}
	for _, f := range []func() (*hsm.Key, error){
		func() (*hsm.Key, error) { return tok.FindKey(k.ID, "") },
		func() (*hsm.Key, error) { return tok.FindKey(nil, "findme") },
	} {
		got, err := f()
		if err != nil {
			hsmtest.SkipIfLacks(t, err)
			t.Fatal(err)
		}
		if !bytes.Equal(got.ID, k.ID) || got.Label != "findme" || got.Type != hsm.ECP384 || got.Class != "pair" {
			t.Errorf("found %+v", got)
		}
		s, err := got.Signer()
		if err != nil {
			hsmtest.SkipIfLacks(t, err)
			t.Fatal(err)
		}
		checkSigns(t, s)
	}
	// A fresh session (another Token on the same token) sees it too.
	tok2 := tk.Open(t)
	if _, err := tok2.FindKey(k.ID, ""); err != nil {
		t.Errorf("second session: %v", err)
	}
}
