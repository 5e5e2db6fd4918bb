//lint:file-ignore SA1019 DSA keys and raw ECDSA coordinates build the keys these tests must see refused

package sign

import (
	"bytes"
	"crypto/dsa"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestCheckMemberKeyOtherTypes(t *testing.T) {
	rsaKey := func(bits int) ssh.PublicKey {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		return must(ssh.NewPublicKey(&k.PublicKey))
	}
	ecKey := func(c elliptic.Curve) ssh.PublicKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return must(ssh.NewPublicKey(&k.PublicKey))
	}
	edPub := must(ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, 32)).Public()))
	p256 := ecKey(elliptic.P256())
	p256k := p256.(ssh.CryptoPublicKey).CryptoPublicKey().(*ecdsa.PublicKey)
	offCurve := &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}
	dsaKey := must(ssh.NewPublicKey(&dsa.PublicKey{Parameters: dsa.Parameters{P: big.NewInt(23), Q: big.NewInt(11), G: big.NewInt(4)}, Y: big.NewInt(8)}))
	skEC := must(ssh.ParsePublicKey(ssh.Marshal(struct{ Type, Curve, Point, App string }{
		ssh.KeyAlgoSKECDSA256, "nistp256", string(elliptic.Marshal(elliptic.P256(), p256k.X, p256k.Y)), "ssh:"})))
	skEd := must(ssh.ParsePublicKey(ssh.Marshal(struct{ Type, Key, App string }{
		ssh.KeyAlgoSKED25519, string(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)), "ssh:"})))
	caSigner := must(ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))))
	cert := &ssh.Certificate{Key: edPub, CertType: ssh.UserCert, ValidPrincipals: []string{"alice"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, caSigner); err != nil {
		t.Fatal(err)
	}
	r2048 := rsaKey(2048)
	for _, c := range []struct {
		name    string
		pub     ssh.PublicKey
		minBits int
		want    string // "" accepted, else a part of the message
	}{
		{"ed25519", edPub, 0, ""},
		{"rsa-1024", rsaKey(1024), 0, "ssh-rsa key has 1024 bits, fewer than the 3072 required"},
		{"rsa-2048", r2048, 0, "ssh-rsa key has 2048 bits, fewer than the 3072 required"},
		{"rsa-2048, policy minimum 2048", r2048, 2048, ""},
		{"rsa-3072", rsaKey(3072), 0, ""},
		{"ecdsa p-256", p256, 0, ""},
		{"ecdsa p-384", ecKey(elliptic.P384()), 0, ""},
		{"ecdsa p-521", ecKey(elliptic.P521()), 0, ""},
		{"ecdsa p-256 point off the curve", must(ssh.NewPublicKey(offCurve)), 0, "ecdsa-sha2-nistp256 key is not a point of the curve"},
		{"sk-ecdsa", skEC, 0, "sk-ecdsa-sha2-nistp256@openssh.com is a security-key type"},
		{"sk-ed25519", skEd, 0, "sk-ssh-ed25519@openssh.com is a security-key type"},
		{"dsa", dsaKey, 0, "ssh-dss (DSA) keys are not accepted"},
		{"certificate", cert, 0, "ssh-ed25519-cert-v01@openssh.com is a certificate type"},
	} {
		err := CheckMemberKey(c.pub, c.minBits)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// x/crypto/ssh itself refuses an ECDSA point off the curve on the wire.
	bad := ssh.Marshal(struct{ Type, Curve, Point string }{ssh.KeyAlgoECDSA256, "nistp256", "\x04" + strings.Repeat("\x01", 64)})
	if _, err := ssh.ParsePublicKey(bad); err == nil {
		t.Error("an ECDSA point off the curve parsed")
	}
}
