package ceremony

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pemSeeds are a good CSR, a good certificate and near misses of both.
func pemSeeds(t testing.TB) [][]byte {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Issuing CA"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Root"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0), IsCA: true, BasicConstraintsValid: true}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(csr)
	bad[len(bad)-5] ^= 1 // the self-signature
	return [][]byte{
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: bad}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert[:len(cert)/2]}),
		[]byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"),
		{},
	}
}

func TestReadSignInputs(t *testing.T) {
	dir := t.TempDir()
	seeds := pemSeeds(t)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, _, err := readCSR(write("csr.pem", seeds[0])); err != nil {
		t.Errorf("a good CSR: %v", err)
	}
	if _, _, err := readCert(write("cert.pem", seeds[1])); err != nil {
		t.Errorf("a good certificate: %v", err)
	}
	if _, _, err := readCSR(write("bad.pem", seeds[2])); err == nil || !strings.Contains(err.Error(), "self-signature does not verify") {
		t.Errorf("a CSR with a bad self-signature: %v", err)
	}
	if _, _, err := readCSR(write("cert-as-csr.pem", seeds[1])); err == nil || !strings.Contains(err.Error(), "holds no PEM CERTIFICATE REQUEST") {
		t.Errorf("a certificate given as a CSR: %v", err)
	}
	big := append(bytes.Clone(seeds[1]), make([]byte, maxPEMFile)...)
	if _, _, err := readCert(write("big.pem", big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a file past the bound: %v", err)
	}
}

// FuzzReadSignInputs: a CSR or certificate file from outside is read as
// one, or refused with one line that does not quote it; an accepted CSR's
// self-signature verifies, and an accepted certificate is the PEM's DER.
func FuzzReadSignInputs(f *testing.F) {
	for _, s := range pemSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "in.pem")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		oneLine := func(err error) {
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("a refusal of more than one line: %q", msg)
			}
		}
		if _, csr, err := readCSR(p); err != nil {
			oneLine(err)
		} else if csr.CheckSignature() != nil {
			t.Fatal("a CSR accepted whose self-signature does not verify")
		}
		if _, c, err := readCert(p); err != nil {
			oneLine(err)
		} else if b, _ := pem.Decode(data); b == nil || !bytes.Equal(b.Bytes, c.Raw) {
			t.Fatal("a certificate accepted that is not the file's first PEM block")
		}
	})
}
