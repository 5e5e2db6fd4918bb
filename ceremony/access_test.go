package ceremony

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"custos/hsm"
	"custos/hsm/hsmtest"
	"custos/sign"
)

// tokenSignerURI makes a SoftHSM token holding an EC P-256 member key and
// returns a pkcs11: URI naming it, with the PIN in a 0600 file.
func tokenSignerURI(t *testing.T) string {
	t.Helper()
	tk := hsmtest.NewToken(t, hsmtest.Label("member"))
	tok := tk.Open(t)
	_, err := tok.Generate(hsm.KeySpec{Label: "carol-sign", Type: hsm.ECP256, Usage: hsm.Usage{Sign: true, Verify: true}})
	if err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, append(append([]byte{}, tk.UserPIN...), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pkcs11:token=%s;object=carol-sign?module-path=%s&pin-source=file:%s", tk.Label, hsmtest.ModulePath(), pinFile)
}

// TestTokenSignerVerifiesWithSSHKeygen: a member key held on a PKCS#11
// token signs through hsm (CKM_ECDSA, r‖s → ASN.1) and sign (SSHSIG), and
// stock ssh-keygen -Y verify accepts the signature.
func TestTokenSignerVerifiesWithSSHKeygen(t *testing.T) {
	uri := tokenSignerURI(t)
	s, closeFn, err := OpenSigner(uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if s.PublicKey().Type() != "ecdsa-sha2-nistp256" {
		t.Fatalf("key type %s", s.PublicKey().Type())
	}
	msg := []byte("tree 0123\nauthor carol\n\nrecord 7\n")
	sig, err := s.Sign("git", msg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	allowed := filepath.Join(dir, "allowed_signers")
	os.WriteFile(allowed, []byte("carol "+sign.AuthorizedKey(s.PublicKey())+"\n"), 0o600)
	sigFile := filepath.Join(dir, "sig")
	os.WriteFile(sigFile, sig, 0o600)
	for _, tc := range []struct {
		msg string
		ok  bool
	}{{string(msg), true}, {string(msg) + "x", false}} {
		cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "carol", "-n", "git", "-s", sigFile)
		cmd.Stdin = strings.NewReader(tc.msg)
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.ok {
			t.Fatalf("ssh-keygen -Y verify ok=%v, want %v: %s", err == nil, tc.ok, out)
		}
	}
}

func TestOpenSignerErrors(t *testing.T) {
	uri := tokenSignerURI(t)
	// a PIN no temporary path can contain by chance (one with "1234" in
	// its random name once made this test fail)
	const pin = "pin-zq7x-9wkv"
	for _, tc := range []struct{ ref, want string }{
		{strings.Replace(uri, "object=carol-sign", "object=nobody", 1), "not found"},
		{strings.Replace(uri, ";object=carol-sign", "", 1), "names no key"},
		{"pkcs11:token=x;object=y?pin-value=" + pin, "pin-value"},
		{"pkcs11:object=y", "names no token"},
		{filepath.Join(t.TempDir(), "missing"), "key file"},
	} {
		_, _, err := OpenSigner(tc.ref, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.ref, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), pin) {
			t.Errorf("error repeats the pin: %v", err)
		}
	}
}

func writePIN(tb testing.TB, path string, pin []byte) {
	tb.Helper()
	if err := os.WriteFile(path, append(append([]byte{}, pin...), '\n'), 0o600); err != nil {
		tb.Fatal(err)
	}
}
