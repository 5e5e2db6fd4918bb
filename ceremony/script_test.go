package ceremony

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"custos/internal/hint"
)

func TestExamplesParse(t *testing.T) {
	files, _ := filepath.Glob("../docs/examples/*.yaml")
	if len(files) < 5 {
		t.Fatalf("want the example scripts, found %d", len(files))
	}
	for _, f := range files {
		if _, err := LoadScript(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

const hsmLine = "hsm: \"pkcs11:token=t?pin-source=file:p\"\noperator: alice\n"

// TestScriptValidation: an enroll script's validation and a key's
// environment and classification are read as written; level 3 unquoted
// is the string "3".
func TestScriptValidation(t *testing.T) {
	s, err := ParseScript("e.yaml", []byte("kind: enroll\n"+hsmLine+"validation: {program: fips-140-3, certificate: \"4745\", level: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v := s.Validation; v == nil || *v != (ValidationPlan{Program: "fips-140-3", Certificate: "4745", Level: "3"}) {
		t.Fatalf("validation %+v", s.Validation)
	}
	s, err = ParseScript("g.yaml", []byte("kind: generate\n"+hsmLine+"key: {label: k, type: aes-256, owner: o, purpose: p, environment: production, classification: confidential}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Key.Environment != "production" || s.Key.Classification != "confidential" {
		t.Fatalf("key %+v", s.Key)
	}
}

func TestScriptErrors(t *testing.T) {
	for _, tc := range []struct{ in, err, hint string }{
		{"kind: generate\n" + hsmLine + "key:\n  label: k\n  type: aes-256\n  owner: o\n  purpose: p\n  lable: x\n",
			`g.yaml: key.lable (line 9): unknown field; did you mean "label"?`, ""},
		{"kind: generate\n" + hsmLine + "key:\n  label: k\n  type: aes-128\n  owner: o\n  purpose: p\n",
			`g.yaml: key.type: unknown key type "aes-128"`, "one of: aes-256"},
		{"kind: generate\n" + hsmLine + "key:\n  label: k\n  type: ed25519\n  owner: o\n  purpose: p\n  backup: true\n",
			`g.yaml: key.backup: ed25519 private keys cannot be wrapped`, "ec-p256"},
		{"kind: generate\n" + hsmLine, `g.yaml: key: required field is missing`, ""},
		{"kind: burn\n" + hsmLine, `g.yaml: kind: unknown ceremony kind "burn"`, "enroll, generate"},
		{"kind: destroy\n" + hsmLine + "destroy: {key: k, reason: r}\nkey: {label: k, type: aes-256, owner: o, purpose: p}\n",
			`g.yaml: key: not allowed in a destroy script`, ""},
		{"kind: enroll\nhsm: \"pkcs11:token=t?pin-value=1234\"\noperator: alice\n", `g.yaml: hsm: a PIN must not be written in the script`, "pin-source"},
		{"kind: enroll\nhsm: token=t\noperator: alice\n", `g.yaml: hsm: want a PKCS#11 URI`, ""},
		{"kind: enroll\n" + hsmLine + "witnesses: [alice]\n", `g.yaml: witnesses[0]: "alice" is named twice or is the operator`, ""},
		{"kind: export\n" + hsmLine + "export: {key: k, recipient: r, recipient_key: r.pem, purpose: p, expires: 2001-01-01, output: o}\n",
			`g.yaml: export.expires: the request expired on 2001-01-01`, ""},
		{"kind: generate\n" + hsmLine + "key:\n  label: k\n  type: aes-256\n  owner: o\n  purpose: p\n  rotation: 3w\n",
			`g.yaml: key.rotation (line 9): want a period like 90d`, ""},
		{"kind: enroll\n" + hsmLine + "validation: {program: fips-140-4, certificate: \"4745\"}\n",
			`g.yaml: validation.program: unknown program "fips-140-4"`, "fips-140-3"},
		{"kind: enroll\n" + hsmLine + "validation: {program: fips-140-3, certificate: \"4745\", level: 5}\n",
			`g.yaml: validation.level: "5" is not a FIPS 140 security level`, "1, 2, 3 or 4"},
		{"kind: enroll\n" + hsmLine + "validation: {program: common-criteria, certificate: BSI-DSZ-CC-1234, level: \"3\"}\n",
			`g.yaml: validation.level: "3" is not an evaluation assurance level`, "EAL4+"},
		{"kind: enroll\n" + hsmLine + "validation: {program: fips-140-3}\n",
			`g.yaml: validation.certificate (line 4): required field is missing`, ""},
		{"kind: generate\n" + hsmLine + "key: {label: k, type: aes-256, owner: o, purpose: p}\nvalidation: {program: fips-140-3, certificate: \"1\"}\n",
			`g.yaml: validation: not allowed in a generate script`, "enrolled"},
		{"kind: generate\n" + hsmLine + "key: {label: k, type: aes-256, owner: o, purpose: p, environment: Prod Env}\n",
			`g.yaml: key.environment: "Prod Env" is not one word`, "production"},
	} {
		_, err := ParseScript("g.yaml", []byte(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("input:\n%s\n got: %v\nwant: %s", tc.in, err, tc.err)
			continue
		}
		if tc.hint != "" && !strings.Contains(hint.Of(err), tc.hint) {
			t.Errorf("%s: hint %q lacks %q", tc.err, hint.Of(err), tc.hint)
		}
	}
}

func FuzzParseScript(f *testing.F) {
	for _, p := range []string{"generate-kek", "export-kek", "destroy-root", "enroll-hsm", "sign-detached", "sign-root-certificate", "sign-intermediate-certificate", "sign-crl"} {
		b, err := os.ReadFile("../docs/examples/" + p + ".yaml")
		if err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseScript("f.yaml", []byte(in))
		if err == nil && s.Operator == "" {
			t.Fatal("accepted a script without operator")
		}
	})
}

// TestSignScriptErrors: a sign script names one sub-kind, and each error
// names the path it is at.
func TestSignScriptErrors(t *testing.T) {
	root := "  root_certificate:\n    subject: {common_name: R}\n    not_before: 2026-12-01\n    validity: 20y\n    output: r.pem\n"
	for _, c := range []struct{ body, want string }{
		{"sign: {key: k, purpose: p}\n", "sign: names 0 sub-kinds"},
		{"sign:\n  key: k\n  purpose: p\n  detached: {file: f, signature: s}\n" + root, "sign: names 2 sub-kinds"},
		{"sign:\n  key: k\n  purpose: p\n  detached: {file: f}\n", "sign.detached: names no output"},
		{"sign:\n  key: k\n  purpose: p\n  detached: {file: f, sshsig: s}\n", "sign.detached.namespace: required field is missing"},
		{"sign:\n  key: k\n  purpose: p\n  detached: {file: f, signature: s, rsa_padding: x931}\n", "sign.detached.rsa_padding: unknown padding"},
		{"sign:\n  key: k\n  purpose: p\n" + strings.Replace(root, "validity: 20y", "validity: 20y\n    key_usage: [sign_everything]", 1), "sign.root_certificate.key_usage[0]: unknown key usage"},
		{"sign:\n  key: k\n  purpose: p\n" + strings.Replace(root, "validity: 20y", "validity: 20y\n    policies: [any]", 1), "sign.root_certificate.policies[0]"},
		{"sign:\n  key: k\n  purpose: p\n" + strings.Replace(root, "validity: 20y", "validity: 20y\n    lint_profile: lax", 1), "sign.root_certificate.lint_profile: unknown lint profile"},
		{"sign:\n  key: k\n  purpose: p\n" + strings.Replace(root, "    subject: {common_name: R}\n", "", 1), "sign.root_certificate.subject: required field is missing"},
		{"sign:\n  key: k\n  purpose: p\n  intermediate_certificate:\n    issuer: r.pem\n    not_before: 2026-12-01\n    validity: 5y\n    output: i.pem\n", "sign.intermediate_certificate.csr: required field is missing"},
		{"sign:\n  key: k\n  purpose: p\n  crl: {issuer: r.pem, number: 1, this_update: 2026-12-01, next_update: 2026-11-01, output: c.pem}\n", "sign.crl.next_update: is not after this_update"},
		{"sign:\n  key: k\n  purpose: p\n  crl: {issuer: r.pem, number: 1, this_update: 2026-12-01, next_update: 2027-01-01, output: c.pem, revoked: [{serial: zz, date: 2026-11-01}]}\n", "sign.crl.revoked[0].serial"},
		{"sign:\n  key: k\n  purpose: p\n  crl: {issuer: r.pem, number: 1, this_update: 2026-12-01, next_update: 2027-01-01, output: c.pem, revoked: [{serial: \"01\", date: 2026-11-01, reason: bored}]}\n", "sign.crl.revoked[0].reason: unknown reason"},
		{"sign:\n  key: k\n  purpose: p\n  detached: {file: f, signature: s, extra: 1}\n", "extra"},
	} {
		_, err := ParseScript("s.yaml", []byte("kind: sign\n"+hsmLine+c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.body, err, c.want)
		}
	}
}
