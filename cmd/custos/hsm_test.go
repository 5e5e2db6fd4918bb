package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"custos/hsm/hsmtest"
)

// TestHSMInfo runs the real custos binary on a standalone SoftHSM token
// store and checks what it reports against the token it was given.
func TestHSMInfo(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "custos")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	st, err := hsmtest.NewStandalone(filepath.Join(dir, "store"), "info-token")
	if err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+st.Conf)
		cmd.Env = append(cmd.Env, env...)
		var so, se strings.Builder
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		return so.String(), se.String(), err
	}
	out, errOut, err := run(nil, "hsm", "info", "--module", st.Module)
	if err != nil {
		t.Fatalf("hsm info: %v\n%s", err, errOut)
	}
	for _, want := range []string{"token:        info-token", "login required", "user PIN set",
		"yes CKM_AES_KEY_GEN", "yes CKM_AES_CMAC", "yes CKM_AES_KEY_WRAP_PAD", "no  CKM_AES_KEY_WRAP_KWP",
		"yes CKM_RSA_PKCS_OAEP", "yes CKM_ECDSA", "yes CKM_EDDSA", "token: not initialised"} {
		if !strings.Contains(out, want) {
			t.Errorf("hsm info lacks %q:\n%s", want, out)
		}
	}
	// --json, module from the environment.
	out, errOut, err = run([]string{"CUSTOS_PKCS11_MODULE=" + st.Module}, "hsm", "info", "--json")
	if err != nil {
		t.Fatalf("hsm info --json: %v\n%s", err, errOut)
	}
	var info struct {
		Module struct{ Path string } `json:"module"`
		Slots  []struct {
			Token *struct {
				Label         string `json:"label"`
				Serial        string `json:"serial"`
				LoginRequired bool   `json:"login_required"`
			} `json:"token"`
			Mechanisms []struct {
				Name      string `json:"name"`
				Supported bool   `json:"supported"`
			} `json:"mechanisms"`
		} `json:"slots"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	found := false
	for _, s := range info.Slots {
		if s.Token != nil && s.Token.Label == "info-token" && s.Token.LoginRequired && s.Token.Serial != "" && len(s.Mechanisms) > 10 {
			found = true
		}
	}
	if !found {
		t.Errorf("json lacks the token:\n%s", out)
	}
	// Errors: one line, a hint, non-zero exit, no PIN anywhere.
	_, errOut, err = run(nil, "hsm", "info", "--module", "/bin/ls")
	if err == nil || !strings.HasPrefix(errOut, "custos: error: pkcs11 module /bin/ls") || !strings.Contains(errOut, "custos: hint: ") {
		t.Errorf("/bin/ls: %v\n%s", err, errOut)
	}
	_, errOut, err = run([]string{"CUSTOS_PKCS11_MODULE="}, "hsm", "info")
	if err == nil || !strings.Contains(errOut, "no module path given") {
		t.Errorf("no module: %v\n%s", err, errOut)
	}
	_, errOut, err = run([]string{"SOFTHSM2_CONF=" + filepath.Join(dir, "missing.conf")}, "hsm", "info", "--module", st.Module)
	if err == nil || !strings.Contains(errOut, "CKR_GENERAL_ERROR") || !strings.Contains(errOut, "custos: hint: SoftHSM2") {
		t.Errorf("bad conf: %v\n%s", err, errOut)
	}
	pin, _ := os.ReadFile(st.UserPINFile)
	if p := strings.TrimSpace(string(pin)); p == "" || strings.Contains(out+errOut, p) {
		t.Error("pin leaked into output")
	}
}

// TestDamagedStore: SoftHSM empties token.object when killed inside
// C_Login (it rewrites the file in place; the kill points find it), and
// then skips the token without a word. hsm info and resume say the store
// is damaged and where, not merely that no such token exists.
func TestDamagedStore(t *testing.T) {
	w := newWorkspace(t, "cut-token", [][2]string{{"alice", "custodian"}, {"bob", "officer"}})
	w.write("gen.yaml", "kind: generate\nhsm: \""+w.tok.URI+"\"\noperator: alice\nkey:\n  label: kek\n  type: aes-256\n  owner: o\n  purpose: p\n")
	if out, err := w.run([]string{"CUSTOS_TEST_CRASH_AT=before-hsm"}, "run", "gen.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob"); err == nil {
		t.Fatalf("the crash hook did not stop the run:\n%s", out)
	}
	objs, _ := filepath.Glob(filepath.Join(w.tok.Dir, "tokens", "*", "token.object"))
	if len(objs) != 1 {
		t.Fatalf("token.object files: %v", objs)
	}
	if err := os.Truncate(objs[0], 0); err != nil { // what a kill inside C_Login leaves
		t.Fatal(err)
	}
	cut := filepath.Dir(objs[0])
	out, err := w.run(nil, "resume", "--ledger", "L", "--key", "alice=alice")
	if err == nil || !strings.Contains(out, "the token's store is damaged: "+cut+" (token.object is empty)") || !strings.Contains(out, "custos: hint: ") {
		t.Fatalf("resume on a cut store: %v\n%s", err, out)
	}
	out, err = w.run(nil, "hsm", "info")
	if err != nil || !strings.Contains(out, "warning: the token's store is damaged: "+cut+" (token.object is empty)") {
		t.Fatalf("hsm info on a cut store: %v\n%s", err, out)
	}
}
