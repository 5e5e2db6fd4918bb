package tui

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custos/ceremony"
	"custos/ledger"

	tea "charm.land/bubbletea/v2"
)

// TestFormIssuedCertificateAndCRL: a root key (EC P-384 on SoftHSM, its
// root certificate made by a script) issues from the form an issuing CA's
// certificate from a CSR, then a CRL, then a second CRL: openssl verifies
// the issued certificate against the root and each CRL's signature; the
// certificate has the CSR's subject and an issuing CA's profile, the CRL
// the serial revoked, and the form offers the second CRL the next number.
func TestFormIssuedCertificateAndCRL(t *testing.T) {
	f, l, _, signers := generateSetup(t)
	pin := filepath.Join(f.dir, "user.pin")
	hsmURI := f.uri + "&pin-source=file:" + pin
	ws := t.TempDir()
	root := filepath.Join(ws, "root-i.crt.pem")
	for _, s := range []*ceremony.Script{
		{File: "gen.yaml", Kind: ceremony.KindGenerate, HSM: hsmURI, Operator: "alice",
			Key: &ceremony.KeyPlan{Label: "root-i", Type: "ec-p384", Owner: "o", Purpose: "p"}},
		{File: "root.yaml", Kind: ceremony.KindSign, HSM: hsmURI, Operator: "alice", Sign: &ceremony.SignPlan{Key: "root-i", Purpose: "the root",
			RootCertificate: &ceremony.CertPlan{Sub: &ceremony.NamePlan{CommonName: "Example Root I"}, NotBefore: ceremony.Date{Time: time.Now().UTC().Truncate(24 * time.Hour)},
				Validity: ceremony.Duration{Days: 3650}, KeyUsage: []string{"cert_sign", "crl_sign", "digital_signature"},
				BasicConstraints: &ceremony.BasicConstraintsPlan{CA: true}, Output: root}}},
	} {
		if _, err := (&ceremony.Engine{Ledger: l, Script: s, Signers: signers}).Run(); err != nil {
			t.Fatalf("%s: %v", s.File, err)
		}
	}
	// The issuing CA's operator's CSR.
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "Example Issuing CA", Organization: []string{"Example"}}}, k)
	if err != nil {
		t.Fatal(err)
	}
	csr := filepath.Join(ws, "issuing.csr.pem")
	writeFile(t, csr, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})))

	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true, Workspace: ws, Now: time.Now}))
	signWhat := func(choice string) {
		h.newCeremony("sign —")
		h.at("key")
		h.key("enter")
		h.at("signwhat")
		h.pick(choice)
	}
	names := func() string {
		for _, k := range []string{"operator", "witnesses", "token", "pin", "ceremony"} {
			h.at(k)
			h.key("enter")
		}
		id := h.m.form.v.ceremony
		for _, k := range []string{"notes", "file"} {
			h.at(k)
			h.key("enter")
		}
		h.waitFor("The script the form wrote")
		h.key("enter")
		h.waitFor("What will happen")
		h.key("enter")
		h.runToClose(f.keys, string(f.tok.UserPIN), id, "alice", "bob")
		h.key("enter") // home
		return id
	}

	// The issuing CA's certificate.
	signWhat("an issuing CA's certificate")
	h.at("purpose")
	h.typ("the issuing CA for TLS")
	h.key("enter")
	h.at("certcsr")
	h.typ(filepath.Join(ws, "nothing.csr.pem"))
	h.key("enter")
	h.waitFor("no such file")
	h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	h.typ(csr)
	h.key("enter")
	fits(t, h.at("certissuer"), 80, 24)
	if got := h.m.form.v.certIssuer; got != root {
		t.Errorf("issuer offered %q, want the root's certificate %q", got, root)
	}
	h.key("enter")
	h.at("certnotbefore")
	h.key("enter")
	h.at("certvalidity")
	h.key("enter")
	h.at("certoutput")
	issued := h.m.form.v.certOutput
	h.key("enter")
	names()
	if o, err := exec.Command("openssl", "verify", "-CAfile", root, issued).CombinedOutput(); err != nil {
		t.Errorf("openssl verify of the issued certificate against the root: %v\n%s", err, o)
	}
	txt, err := exec.Command("openssl", "x509", "-in", issued, "-noout", "-subject", "-issuer", "-ext", "basicConstraints").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, txt)
	}
	for _, want := range []string{"CN = Example Issuing CA", "issuer=CN = Example Root I", "CA:TRUE, pathlen:0"} {
		if !strings.Contains(string(txt), want) {
			t.Errorf("the issued certificate lacks %q:\n%s", want, txt)
		}
	}

	// A CRL revoking one serial, then a second one: the number grows.
	for i, want := range []string{"1", "2"} {
		signWhat("a CRL")
		h.at("purpose")
		h.typ("the root's CRL")
		h.key("enter")
		h.at("certissuer")
		h.key("enter")
		h.at("crlnumber")
		if got := h.m.form.v.crlNumber; got != want {
			t.Errorf("CRL %d: number offered %q, want %q", i+1, got, want)
		}
		h.key("enter")
		h.at("crlthis")
		h.key("enter")
		h.at("crlnext")
		h.key("enter")
		h.at("crlrevoked")
		h.typ("3a:9f:01:c4 2026-11-30 lost")
		h.key("enter")
		h.waitFor("unknown reason")
		h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
		h.typ("3a:9f:01:c4 2026-11-30 key_compromise")
		h.key("enter")
		h.at("certoutput")
		crl := h.m.form.v.certOutput
		h.key("enter")
		names()
		o, err := exec.Command("openssl", "crl", "-in", crl, "-noout", "-verify", "-CAfile", root, "-text").CombinedOutput()
		if err != nil || !strings.Contains(string(o), "verify OK") || !strings.Contains(string(o), "3A9F01C4") ||
			!strings.Contains(string(o), "Key Compromise") || !strings.Contains(string(o), "X509v3 CRL Number: \n                "+want) {
			t.Errorf("openssl crl -verify of CRL %s: %v\n%s", want, err, o)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "nothing.csr.pem")); err == nil {
		t.Error("a file was made where a missing CSR was named")
	}
	if res := ledger.Verify(f.ledger, ledger.Options{}); !res.OK {
		t.Fatalf("verify: %v", res.Err())
	}
}
