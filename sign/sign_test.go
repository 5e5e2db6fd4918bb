package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hiddeco/sshsig"
)

// keygen makes an OpenSSH key with stock ssh-keygen, so the parser is tested
// on what users really have.
func keygen(t *testing.T, typ, passphrase string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "id_"+typ)
	out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", passphrase, "-C", "member", "-f", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return p
}

// sshVerify runs ssh-keygen -Y verify with an allowed-signers file for pub.
func sshVerify(t *testing.T, pubLine, namespace string, msg, sig []byte) error {
	t.Helper()
	dir := t.TempDir()
	allowed := filepath.Join(dir, "allowed")
	os.WriteFile(allowed, []byte("alice "+pubLine+"\n"), 0o600)
	sigPath := filepath.Join(dir, "msg.sig")
	os.WriteFile(sigPath, sig, 0o600)
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "alice", "-n", namespace, "-s", sigPath)
	cmd.Stdin = strings.NewReader(string(msg))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &exec.ExitError{Stderr: out}
	}
	return nil
}

func TestFileKeySignaturesVerifyWithSSHKeygen(t *testing.T) {
	for _, typ := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(typ, func(t *testing.T) {
			p := keygen(t, typ, "")
			s, err := LoadFile(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("record sha256:0011\n")
			sig, err := s.Sign("git", msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := sshVerify(t, AuthorizedKey(s.PublicKey()), "git", msg, sig); err != nil {
				t.Fatalf("ssh-keygen rejects custos signature: %v", err)
			}
			if err := sshVerify(t, AuthorizedKey(s.PublicKey()), "git", []byte("other"), sig); err == nil {
				t.Fatal("ssh-keygen accepted a signature over another message")
			}
		})
	}
}

func TestSSHKeygenSignaturesVerifyWithCustos(t *testing.T) {
	for _, typ := range []string{"ed25519", "ecdsa"} {
		t.Run(typ, func(t *testing.T) {
			p := keygen(t, typ, "")
			msgPath := filepath.Join(t.TempDir(), "msg")
			msg := []byte("approve sha256:abcd\n")
			os.WriteFile(msgPath, msg, 0o600)
			out, err := exec.Command("ssh-keygen", "-Y", "sign", "-f", p, "-n", "custos-approval", msgPath).CombinedOutput()
			if err != nil {
				t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
			}
			sig, _ := os.ReadFile(msgPath + ".sig")
			pubBytes, _ := os.ReadFile(p + ".pub")
			pub, err := ParsePublicKey(string(pubBytes))
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(pub, "custos-approval", msg, sig); err != nil {
				t.Fatalf("custos rejects ssh-keygen signature: %v", err)
			}
			if err := Verify(pub, "git", msg, sig); err == nil {
				t.Fatal("accepted a signature from another namespace")
			}
			if err := Verify(pub, "custos-approval", append(msg, 'x'), sig); err == nil {
				t.Fatal("accepted a signature over another message")
			}
			other, _ := LoadFile(keygen(t, typ, ""), nil)
			if err := Verify(other.PublicKey(), "custos-approval", msg, sig); err == nil {
				t.Fatal("accepted a signature for another key")
			}
		})
	}
}

func TestEncryptedKeyFile(t *testing.T) {
	p := keygen(t, "ed25519", "correct horse")
	if _, err := LoadFile(p, nil); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("want encrypted-key error, got %v", err)
	}
	var given []byte
	_, err := LoadFile(p, func(string) ([]byte, error) {
		given = []byte("wrong")
		return given, nil
	})
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("want wrong passphrase, got %v", err)
	}
	if strings.Contains(err.Error(), "wrong\"") || string(given) != "\x00\x00\x00\x00\x00" {
		t.Fatalf("passphrase not zeroed after use: %q", given)
	}
	s, err := LoadFile(p, func(string) ([]byte, error) { return []byte("correct horse"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign("git", []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// TestCryptoSigner checks the path a PKCS#11-held key takes (a crypto.Signer
// returning ASN.1 ECDSA); here with a software key, the token-held key is
// checked in the key-reference tests.
func TestCryptoSignerECDSA(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := FromCrypto(k)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello")
	sig, err := s.Sign("git", msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sshVerify(t, AuthorizedKey(s.PublicKey()), "git", msg, sig); err != nil {
		t.Fatalf("ssh-keygen rejects: %v", err)
	}
}

// TestRSASignsSHA512 checks both ways in (a crypto.Signer and a key file)
// give RSA signatures of rsa-sha2-512, never ssh-rsa (SHA-1).
func TestRSASignsSHA512(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	fromCrypto, err := FromCrypto(k)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := LoadFile(keygen(t, "rsa", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Signer{"crypto": fromCrypto, "file": fromFile} {
		msg := []byte("hello " + name)
		armored, err := s.Sign("git", msg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sig, err := sshsig.Unarmor(armored)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sig.Signature.Format != "rsa-sha2-512" {
			t.Errorf("%s: signature format %q, want rsa-sha2-512", name, sig.Signature.Format)
		}
		if err := sshVerify(t, AuthorizedKey(s.PublicKey()), "git", msg, armored); err != nil {
			t.Errorf("%s: ssh-keygen rejects: %v", name, err)
		}
	}
}

func TestNotAKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(p, []byte("not a key"), 0o600)
	if _, err := LoadFile(p, nil); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("want error naming file, got %v", err)
	}
	if _, err := LoadFile(p+".missing", nil); err == nil {
		t.Fatal("missing file accepted")
	}
}

// FuzzUnarmor: whatever the quick path of unarmor accepts, it reads as
// sshsig.Unarmor (encoding/pem) does; and it takes the usual forms.
func FuzzUnarmor(f *testing.F) {
	_, armored := zeroSigner(f)
	f.Add(armored)
	f.Add(rewrap(armored, 70)) // as ssh-keygen writes it
	f.Add(rewrap(armored, 4))
	f.Add(bytes.TrimSuffix(armored, []byte("\n")))
	f.Add(bytes.ReplaceAll(armored, []byte("\n"), []byte("\r\n")))
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\nQQ==\nQQ==\n-----END SSH SIGNATURE-----\n"))
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----"))
	for _, b := range [][]byte{armored, rewrap(armored, 70), rewrap(armored, 4)} {
		if _, ok := quickUnarmor(b); !ok {
			f.Fatalf("the quick path refuses\n%s", b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := quickUnarmor(b)
		want, err := sshsig.Unarmor(b)
		if ok && err != nil {
			t.Fatalf("the quick path reads what sshsig.Unarmor refuses: %v", err)
		}
		if ok && !bytes.Equal(got.Marshal(), want.Marshal()) {
			t.Fatalf("the quick path read %x, sshsig.Unarmor %x", got.Marshal(), want.Marshal())
		}
	})
}

// rewrap re-cuts an armored signature's base64 into lines of n.
func rewrap(armored []byte, n int) []byte {
	lines := strings.Split(strings.TrimSpace(string(armored)), "\n")
	body := strings.Join(lines[1:len(lines)-1], "")
	var b strings.Builder
	b.WriteString(lines[0] + "\n")
	for len(body) > n {
		b.WriteString(body[:n] + "\n")
		body = body[n:]
	}
	b.WriteString(body + "\n" + lines[len(lines)-1] + "\n")
	return []byte(b.String())
}
