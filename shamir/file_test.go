package shamir

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age/armor"
	"golang.org/x/crypto/ssh"

	"custos/internal/hint"
)

// sshKey makes a key with stock ssh-keygen and returns the private key path
// and the public key line.
func sshKey(t *testing.T, typ, passphrase string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "id_"+typ)
	args := []string{"-q", "-t", typ, "-N", passphrase, "-C", "holder@test", "-f", p}
	if typ == "rsa" {
		args = append(args, "-b", "2048")
	}
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return p, strings.TrimSpace(string(pub))
}

func dearmor(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(armor.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEncryptToSSH(t *testing.T) {
	share := split(t, randomSecret(t, 32), 2, 3, testMeta)[0]
	plain, err := share.Text()
	if err != nil {
		t.Fatal(err)
	}
	key, pub := sshKey(t, "ed25519", "")
	ct, err := EncryptToSSH(pub, plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ct, []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")) {
		t.Fatalf("not armored: %.40q", ct)
	}
	assertNoValue(t, string(ct), share)

	// The age header names the holder's key the way age does: the first
	// four bytes of SHA-256 over the wire-format public key.
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	fp := sha256.Sum256(pk.Marshal())
	bin := dearmor(t, ct)
	wantStanza := "age-encryption.org/v1\n-> ssh-ed25519 " + base64.RawStdEncoding.EncodeToString(fp[:4]) + " "
	if !bytes.HasPrefix(bin, []byte(wantStanza)) {
		t.Fatalf("header %.80q, want prefix %q", bin, wantStanza)
	}

	for name, in := range map[string][]byte{"armored": ct, "binary": bin} {
		got, err := DecryptWithSSHKey(key, nil, in)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%s: decrypt: %v", name, err)
		}
		if s, err := ParseText(got); err != nil || !s.Equal(share) {
			t.Fatalf("%s: decrypted share: %v", name, err)
		}
	}

	// Another holder's key.
	otherKey, _ := sshKey(t, "ed25519", "")
	_, err = DecryptWithSSHKey(otherKey, nil, ct)
	if err == nil || !strings.Contains(err.Error(), "not encrypted to this key") || hint.Of(err) == "" {
		t.Fatalf("other key: %v", err)
	}

	// Damaged ciphertext.
	bad := bytes.Clone(bin)
	bad[len(bad)-3] ^= 1
	if _, err := DecryptWithSSHKey(key, nil, bad); err == nil {
		t.Fatal("damaged file decrypted")
	}
	if _, err := DecryptWithSSHKey(filepath.Join(t.TempDir(), "none"), nil, ct); err == nil {
		t.Fatal("missing key file accepted")
	}
}

func TestEncryptToSSHProtectedAndRSA(t *testing.T) {
	plain := []byte("custos-share-1:test\n")
	key, pub := sshKey(t, "ed25519", "correct horse")
	ct, err := EncryptToSSH(pub, plain)
	if err != nil {
		t.Fatal(err)
	}
	asked := 0
	var given []byte
	pass := func(p string) func() ([]byte, error) {
		return func() ([]byte, error) {
			asked++
			given = []byte(p)
			return given, nil
		}
	}
	got, err := DecryptWithSSHKey(key, pass("correct horse"), ct)
	if err != nil || !bytes.Equal(got, plain) || asked != 1 {
		t.Fatalf("decrypt with passphrase: %v (asked %d)", err, asked)
	}
	if !bytes.Equal(given, make([]byte, len(given))) {
		t.Error("the passphrase given was not wiped")
	}
	_, err = DecryptWithSSHKey(key, pass("wrong horse"), ct)
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase for the key") || strings.Contains(err.Error(), "horse") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := DecryptWithSSHKey(key, nil, ct); err == nil || hint.Of(err) == "" {
		t.Fatalf("no passphrase func: %v", err)
	}
	if _, err := DecryptWithSSHKey(key, func() ([]byte, error) { return nil, errors.New("cancelled") }, ct); err == nil {
		t.Fatal("cancelled prompt decrypted")
	}

	rkey, rpub := sshKey(t, "rsa", "")
	ct, err = EncryptToSSH(rpub, plain)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecryptWithSSHKey(rkey, nil, ct); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("rsa: %v", err)
	}
}

func TestEncryptToSSHRefuses(t *testing.T) {
	_, epub := sshKey(t, "ecdsa", "")
	_, err := EncryptToSSH(epub, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "ecdsa-sha2-nistp256 cannot receive an age file") || hint.Of(err) == "" {
		t.Fatalf("ecdsa: %v", err)
	}
	for _, bad := range []string{"", "ssh-ed25519", "ssh-ed25519 AAAAnotbase64!!", "not a key at all"} {
		if _, err := EncryptToSSH(bad, []byte("x")); err == nil {
			t.Errorf("EncryptToSSH(%q) accepted", bad)
		}
	}
	// An ecdsa private key cannot decrypt.
	ekey, _ := sshKey(t, "ecdsa", "")
	_, pub := sshKey(t, "ed25519", "")
	ct, _ := EncryptToSSH(pub, []byte("x"))
	if _, err := DecryptWithSSHKey(ekey, nil, ct); err == nil || hint.Of(err) == "" {
		t.Fatalf("ecdsa identity: %v", err)
	}
}

// One round trip at age's real scrypt work factor (about a second): the
// cost is the point.
func TestEncryptToPassphrase(t *testing.T) {
	plain := []byte("custos-share-1:test\n")
	ct, err := EncryptToPassphrase([]byte("Tr0ub4dor&3"), plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(dearmor(t, ct), []byte("\n-> scrypt ")) {
		t.Fatal("no scrypt stanza")
	}
	got, err := DecryptWithPassphrase([]byte("Tr0ub4dor&3"), ct)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("decrypt: %v", err)
	}
	_, err = DecryptWithPassphrase([]byte("tr0ub4dor&3"), ct)
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase") || strings.Contains(err.Error(), "ub4") || hint.Of(err) == "" {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := EncryptToPassphrase(nil, plain); err == nil {
		t.Fatal("empty passphrase accepted")
	}
	if _, err := DecryptWithPassphrase(nil, ct); err == nil {
		t.Fatal("empty passphrase accepted")
	}
	// A file encrypted to an ssh key does not open with a passphrase.
	_, pub := sshKey(t, "ed25519", "")
	sct, _ := EncryptToSSH(pub, plain)
	if _, err := DecryptWithPassphrase([]byte("Tr0ub4dor&3"), sct); err == nil {
		t.Fatal("ssh file opened with a passphrase")
	}
	if _, err := DecryptWithPassphrase([]byte("x"), bytes.Repeat([]byte("a"), maxCiphertext+1)); err == nil {
		t.Fatal("huge input accepted")
	}
}

func TestCheckPassphrase(t *testing.T) {
	for _, c := range []struct {
		pass string
		want string // "" when accepted
	}{
		{"short", "5 characters, at least 12"},
		{"password1234", "too easy to guess"},
		{"qwertyuiopasdf", "too easy to guess"},
		{"dave12345678", "too easy to guess"},
		{"kek.bk1kek.bk1", "too easy to guess"},
		{"lantern ostrich velvet quarry", ""},
		{"Tuesday's fog ate 3 violins", ""},
	} {
		err := CheckPassphrase([]byte(c.pass), []string{"dave", "kek.bk1"})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.pass, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: err = %v, want %q", c.pass, err, c.want)
		case err != nil && strings.Contains(err.Error(), c.pass):
			t.Errorf("%q: the error names the passphrase: %v", c.pass, err)
		}
	}
}

func TestAgeStanzas(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	toKey, err := EncryptToSSH(string(ssh.MarshalAuthorizedKey(sp)), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	toPass, err := EncryptToPassphrase([]byte("lantern ostrich velvet quarry"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if !IsPassphraseFile(toPass) || IsPassphraseFile(toKey) || IsPassphraseFile([]byte("custos-share-1:…")) {
		t.Fatal("IsPassphraseFile tells the files apart wrongly")
	}
	if st, err := AgeStanzas(toKey); err != nil || len(st) != 1 || st[0] != "ssh-ed25519" {
		t.Fatalf("stanzas of a file to an ssh key: %v, %v", st, err)
	}
	back, err := DecryptWithPassphrase([]byte("lantern ostrich velvet quarry"), toPass)
	if err != nil || string(back) != "x" {
		t.Fatalf("decrypt: %q, %v", back, err)
	}
}
