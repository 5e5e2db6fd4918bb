package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rootScript is a sign script for a root certificate of key.
func (w *workspace) rootScript(name, key, template string) string {
	return fmt.Sprintf("kind: sign\nceremony: %s\nhsm: %q\noperator: alice\nsign:\n  key: %s\n  purpose: the PKI's root\n  root_certificate:\n%s    output: %s.pem\n",
		name, w.tok.URI, key, template, name)
}

const rootTemplate = `    subject: {common_name: Example Root CA %s, organization: [Example], country: [NL]}
    not_before: 2026-12-01
    validity: 20y
    key_usage: [cert_sign, crl_sign, digital_signature]
    basic_constraints: {ca: true}
%s`

// TestSignX509: each key type makes a self-signed root certificate from
// the script's template (serial from the HSM's RNG), signs an
// intermediate CA's certificate from its CSR (made by stock openssl) and
// a CRL revoking a serial; stock openssl verify checks the chain root →
// intermediate and openssl crl -verify the CRL; the ledger records the
// TBS digests, the serial and the outputs' digests.
func TestSignX509(t *testing.T) {
	w := signRoom(t)
	for _, c := range []struct{ name, key, extra string }{
		{"ec", "root-ec", ""},
		{"rsa", "root-rsa", ""},
		{"rsa-pss", "root-rsa", "    rsa_padding: pss\n"},
		{"ed", "sign-ed", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			w.t = t
			root := "ca-" + c.name
			w.write(root+".yaml", w.rootScript(root, c.key, fmt.Sprintf(rootTemplate, c.name, "    policies: [2.5.29.32.0]\n"+c.extra)))
			w.must("run", root+".yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
			w.mustSh(fmt.Sprintf("openssl verify -x509_strict -CAfile %s.pem %s.pem", root, root))
			text := w.mustSh("openssl x509 -noout -text -in " + root + ".pem")
			for _, want := range []string{"CA:TRUE", "Certificate Sign, CRL Sign", "X509v3 Any Policy", "Not Before: Dec  1 00:00:00 2026 GMT"} {
				if !strings.Contains(text, want) {
					t.Errorf("root certificate lacks %q:\n%s", want, text)
				}
			}
			// The certificate's key is the HSM key's, as openssl reads both.
			if a, b := w.mustSh("openssl x509 -noout -pubkey -in "+root+".pem"), w.mustSh("cat "+c.key+".pem"); a != b {
				t.Errorf("the root certificate's key is not the HSM key:\n%s\n%s", a, b)
			}
			rec := lastRecordOf(t, filepath.Join(w.dir, "L"), "key.signed")
			serial := strings.ToLower(strings.TrimPrefix(w.mustSh("openssl x509 -noout -serial -in "+root+".pem"), "serial="))
			if rec.Facts["serial"] != serial || len(serial) != 32 {
				t.Errorf("serial: recorded %v, certificate %s", rec.Facts["serial"], serial)
			}

			// An intermediate CA's CSR, made outside custos.
			inter := "inter-" + c.name
			w.mustSh(fmt.Sprintf("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key -subj '/CN=Example Issuing CA %s/O=Example' -out %s.csr 2>/dev/null", inter, c.name, inter))
			w.write(inter+".yaml", fmt.Sprintf("kind: sign\nceremony: %s\nhsm: %q\noperator: alice\nsign:\n  key: %s\n  purpose: issuing CA\n  intermediate_certificate:\n    csr: %s.csr\n    issuer: %s.pem\n    not_before: 2026-12-01\n    validity: 5y\n    key_usage: [cert_sign, crl_sign, digital_signature]\n    basic_constraints: {ca: true, path_len: 0}\n    policies: [2.23.140.1.2.1]\n%s    output: %s.pem\n",
				inter, w.tok.URI, c.key, inter, root, c.extra, inter))
			dry := w.must("run", inter+".yaml", "--ledger", "L", "--key", "alice=alice", "--dry-run")
			spki := w.mustSh("openssl req -in " + inter + ".csr -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1")
			if !strings.Contains(dry, "the CSR's public key: SPKI sha256 "+spki) {
				t.Errorf("the plan does not show the CSR's key fingerprint %s:\n%s", spki, dry)
			}
			w.must("run", inter+".yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
			w.mustSh(fmt.Sprintf("openssl verify -x509_strict -CAfile %s.pem %s.pem", root, inter))
			if out, err := w.sh(fmt.Sprintf("openssl verify -CAfile %s.pem %s.pem", inter, inter)); err == nil {
				t.Errorf("the intermediate verifies without its root: %s", out)
			}

			// A CRL revoking one serial.
			crl := "crl-" + c.name
			w.write(crl+".yaml", fmt.Sprintf("kind: sign\nceremony: %s\nhsm: %q\noperator: alice\nsign:\n  key: %s\n  purpose: quarterly CRL\n  crl:\n    issuer: %s.pem\n    number: 7\n    this_update: 2026-12-01\n    next_update: 2027-03-01\n    revoked:\n      - {serial: \"3a:9f:01\", date: 2026-11-30, reason: key_compromise}\n%s    output: %s.pem\n",
				crl, w.tok.URI, c.key, root, c.extra, crl))
			w.must("run", crl+".yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
			out := w.mustSh(fmt.Sprintf("openssl crl -verify -in %s.pem -CAfile %s.pem -noout -text 2>&1", crl, root))
			for _, want := range []string{"verify OK", "X509v3 CRL Number: \n                7", "Serial Number: 3A9F01", "Key Compromise"} {
				if !strings.Contains(out, want) {
					t.Errorf("openssl crl: no %q:\n%s", want, out)
				}
			}
			if out, err := w.sh(fmt.Sprintf("openssl crl -verify -in %s.pem -CAfile %s.pem -noout 2>&1 | grep -q 'verify OK'", crl, inter)); err == nil {
				t.Errorf("the CRL verifies under another CA: %s", out)
			}
			rec = lastRecordOf(t, filepath.Join(w.dir, "L"), "key.signed")
			if rec.Facts["sign_kind"] != "crl" {
				t.Errorf("last key.signed: %v", rec.Facts["sign_kind"])
			}
		})
	}
	w.t = t
	if out := w.must("verify", "L"); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify: %s", out)
	}
}

// TestSignLintRefusal: a template zlint finds an error in is refused
// before any record and before the HSM signs, the lint named.
func TestSignLintRefusal(t *testing.T) {
	w := signRoom(t)
	led := filepath.Join(w.dir, "L")
	head := func() string { return w.mustSh("git -C " + led + " rev-parse HEAD") }
	for _, c := range []struct{ name, template, lint string }{
		// keyCertSign without basicConstraints cA (RFC 5280, the default profile)
		{"no-bc", "    subject: {common_name: Bad Root, organization: [Example], country: [NL]}\n    not_before: 2026-12-01\n    validity: 10y\n    key_usage: [cert_sign, crl_sign]\n", "e_ext_key_usage_cert_sign_without_ca"},
		// a CA without key usage, under the Web PKI's rules
		{"no-ku", "    subject: {common_name: Bad Root, organization: [Example], country: [NL]}\n    not_before: 2026-12-01\n    validity: 10y\n    basic_constraints: {ca: true}\n    lint_profile: webpki\n", "e_ca_key_usage_missing"},
	} {
		before := head()
		w.write(c.name+".yaml", w.rootScript(c.name, "root-ec", c.template))
		out, err := w.run(nil, "run", c.name+".yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
		if err == nil || !strings.Contains(out, "zlint finds errors") || !strings.Contains(out, c.lint) {
			t.Errorf("%s: not refused by a lint: %v\n%s", c.name, err, out)
		}
		t.Logf("%s: %s", c.name, out)
		if head() != before {
			t.Errorf("%s: the refused template recorded something", c.name)
		}
		if _, err := os.Stat(filepath.Join(w.dir, c.name+".pem")); err == nil {
			t.Errorf("%s: a certificate was written", c.name)
		}
	}

	// A CSR whose self-signature does not verify: one bit of its
	// signature flipped.
	w.mustSh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout bad.key -subj '/CN=Bad CA' -outform DER -out good.der 2>/dev/null")
	der, err := os.ReadFile(filepath.Join(w.dir, "good.der"))
	if err != nil {
		t.Fatal(err)
	}
	der[len(der)-1] ^= 1
	if err := os.WriteFile(filepath.Join(w.dir, "bad.der"), der, 0o644); err != nil {
		t.Fatal(err)
	}
	w.mustSh("openssl req -inform DER -in bad.der -out bad.csr")
	w.write("bad-csr.yaml", fmt.Sprintf("kind: sign\nceremony: bad-csr\nhsm: %q\noperator: alice\nsign:\n  key: root-ec\n  purpose: p\n  intermediate_certificate:\n    csr: bad.csr\n    issuer: root-ec.pem\n    not_before: 2026-12-01\n    validity: 5y\n    key_usage: [cert_sign]\n    basic_constraints: {ca: true}\n    output: bad.pem\n", w.tok.URI))
	before := head()
	out, err := w.run(nil, "run", "bad-csr.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
	if err == nil || !strings.Contains(out, "bad-csr.yaml: sign.intermediate_certificate.csr: its self-signature does not verify") {
		t.Errorf("a CSR with a bad self-signature was not refused: %v\n%s", err, out)
	}
	if head() != before {
		t.Error("the refused CSR recorded something")
	}
}
