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
	for _, p := range []string{"generate-kek", "export-kek", "destroy-root", "enroll-hsm"} {
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
