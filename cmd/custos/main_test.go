package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"custos/hsm/hsmtest"
)

// TestMain lets testscript run the real custos command line in-process as
// the "custos" program of each script. It is the only TestMain of this
// package: other test files add scripts under testdata/, not their own main.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"custos": func() { os.Exit(run(os.Args[1:])) },
	})
}

// TestScripts runs every testdata/script/*.txtar against the real binary,
// with real SoftHSM tokens, real git and real ssh-keygen.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script"))
}

func scriptParams(dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: false,
		Setup: func(env *testscript.Env) error {
			root, _ := filepath.Abs("../..")
			env.Setenv("STOCK_VERIFY", filepath.Join(root, "scripts", "stock-verify"))
			env.Setenv("EXAMPLES", filepath.Join(root, "docs", "examples"))
			env.Setenv("SOFTHSM_MODULE", softhsmModule())
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("NO_COLOR", "1")
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mktoken":    cmdMktoken,
			"sshkey":     cmdSSHKey,
			"nosecret":   cmdNoSecret,
			"subst":      cmdSubst,
			"p11list":    cmdP11List,
			"agree":      cmdAgree,
			"mkroster":   cmdMkroster,
			"noshare":    cmdNoShare,
			"rsapub":     cmdRSAPub,
			"setsummary": cmdSetSummary,
			"genesis":    cmdGenesis,
			"waitfile":   cmdWaitFile,
			"mountfat":   cmdMountFAT,
			"mountexfat": cmdMountExFAT,
			"fill":       cmdFill,
		},
	}
}

// softhsmModule finds the SoftHSM2 module; tests fail (not skip) without it.
func softhsmModule() string {
	if p := hsmtest.ModulePath(); p != "" {
		return p
	}
	return hsmtest.Candidates[0]
}

// cmdMktoken: mktoken NAME LABEL — a hermetic SoftHSM token store in
// $WORK/NAME with its own softhsm2.conf, a token LABEL, and random PINs in
// $WORK/NAME/user.pin and so.pin (mode 0600). Sets SOFTHSM2_CONF (the last
// token store made is the one custos sees) and $NAME_URI, a PKCS#11 URI of
// the token with module-path and pin-source.
func cmdMktoken(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mktoken NAME LABEL")
	}
	name, label := args[0], args[1]
	dir := ts.MkAbs(name)
	conf, err := hsmtest.WriteConf(dir)
	ts.Check(err)
	user, so := string(hsmtest.RandomPIN()), string(hsmtest.RandomPIN())
	ts.Check(os.WriteFile(filepath.Join(dir, "user.pin"), []byte(user+"\n"), 0o600))
	ts.Check(os.WriteFile(filepath.Join(dir, "so.pin"), []byte(so+"\n"), 0o600))
	// PINs on argv are acceptable here only: a test tool initialising a
	// throwaway token. custos itself never takes a PIN from argv.
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", so, "--pin", user)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		ts.Fatalf("softhsm2-util: %v\n%s", err, out)
	}
	ts.Setenv("SOFTHSM2_CONF", conf)
	ts.Setenv(strings.ToUpper(name)+"_URI", fmt.Sprintf("pkcs11:token=%s?module-path=%s&pin-source=file:%s",
		label, softhsmModule(), filepath.Join(dir, "user.pin")))
	ts.Setenv(strings.ToUpper(name)+"_CONF", conf)
}

// cmdSSHKey: sshkey NAME [ed25519|ecdsa] — an unencrypted member key made by
// stock ssh-keygen at $WORK/keys/NAME (and NAME.pub).
func cmdSSHKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: sshkey NAME [type]")
	}
	typ := "ed25519"
	if len(args) > 1 {
		typ = args[1]
	}
	dir := ts.MkAbs("keys")
	ts.Check(os.MkdirAll(dir, 0o700))
	p := filepath.Join(dir, args[0])
	out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-C", args[0], "-f", p).CombinedOutput()
	if err != nil {
		ts.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(p + ".pub")
	ts.Check(err)
	ts.Setenv(strings.ToUpper(args[0])+"_PUB", strings.TrimSpace(string(pub)))
}

// cmdSubst: subst IN OUT — copies IN to OUT expanding $VARS of the script's
// environment (keys, token URIs), so fixtures can name what the test made.
func cmdSubst(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: subst IN OUT")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(os.Expand(ts.ReadFile(args[0]), ts.Getenv)), 0o644))
}

// cmdRSAPub: rsapub NAME — an RSA-3072 recipient key pair: NAME.pem
// (PKCS#8 private key, mode 0600) and NAME.pub.pem (PUBLIC KEY).
func cmdRSAPub(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: rsapub NAME")
	}
	k, err := rsa.GenerateKey(rand.Reader, 3072)
	ts.Check(err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]+".pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]+".pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644))
}

// cmdNoSecret: nosecret PATH|stdout|stderr… — fails if any of the PINs of
// the token stores in $WORK, or a line of a private key file, occurs in the
// named files or directories (recursively), or in the previous command's
// stdout or stderr. Git objects are compressed: check them through
// `exec git log -p` followed by `nosecret stdout`.
func cmdNoSecret(ts *testscript.TestScript, neg bool, args []string) {
	var secrets []string
	pins, _ := filepath.Glob(ts.MkAbs("*/*.pin"))
	for _, p := range pins {
		b, _ := os.ReadFile(p)
		if s := strings.TrimSpace(string(b)); s != "" {
			secrets = append(secrets, s)
		}
	}
	keys, _ := filepath.Glob(ts.MkAbs("keys/*"))
	for _, k := range keys {
		if strings.HasSuffix(k, ".pub") {
			continue
		}
		b, _ := os.ReadFile(k)
		pub, _ := os.ReadFile(k + ".pub")
		for _, line := range strings.Split(string(b), "\n") {
			if len(line) > 40 && !strings.HasPrefix(line, "-----") && !sharesPublic(line, string(pub)) {
				secrets = append(secrets, line)
			}
		}
	}
	found := ""
	for _, a := range args {
		if a == "stdout" || a == "stderr" {
			// the output of the previous command
			out := ts.ReadFile(a)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					found = a
				}
			}
			continue
		}
		filepath.Walk(ts.MkAbs(a), func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, s := range secrets {
				if strings.Contains(string(b), s) {
					found = p
				}
			}
			return nil
		})
	}
	if found != "" && !neg {
		ts.Fatalf("a secret occurs in %s", found)
	}
	if found == "" && neg {
		ts.Fatalf("no secret found")
	}
}

// cmdP11List: p11list NAME LABEL — pkcs11-tool --list-objects on token LABEL
// of the token store $WORK/NAME, logged in with its user PIN: the
// independent view of what is on the token. Its output is the command's
// stdout.
func cmdP11List(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: p11list NAME LABEL")
	}
	out, err := listObjects(ts, args[0], args[1])
	ts.Stdout().Write(out)
	if (err != nil) != neg {
		ts.Fatalf("pkcs11-tool: %v", err)
	}
}

// listObjects runs pkcs11-tool --list-objects on token label of the token
// store $WORK/name, logged in with its user PIN.
func listObjects(ts *testscript.TestScript, name, label string) ([]byte, error) {
	dir := ts.MkAbs(name)
	pin, err := os.ReadFile(filepath.Join(dir, "user.pin"))
	ts.Check(err)
	// The PIN on pkcs11-tool's argv is a test-only concession of the tool.
	cmd := exec.Command("pkcs11-tool", "--module", softhsmModule(), "--token-label", label, "--login", "--pin", strings.TrimSpace(string(pin)), "--list-objects")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+filepath.Join(dir, "softhsm2.conf"))
	return cmd.CombinedOutput()
}

// sharesPublic reports whether a line of a private key file carries part of
// the public key (an OpenSSH private key file embeds it: for ECDSA the
// base64 can line up with the public key's), which is no secret.
func sharesPublic(line, pub string) bool {
	for i := 0; i+16 <= len(line); i += 4 {
		if strings.Contains(pub, line[i:i+16]) {
			return true
		}
	}
	return false
}

// cmdSetSummary: setsummary REQUEST OUT TEXT — writes REQUEST with its
// summary (which no signature covers) set to TEXT, a Go string literal's
// body ("\x1b[2K" is an escape character): a request doctored by its
// sender.
func cmdSetSummary(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: setsummary REQUEST OUT TEXT")
	}
	var req map[string]json.RawMessage
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &req))
	text, err := strconv.Unquote(`"` + args[2] + `"`)
	ts.Check(err)
	req["summary"], err = json.Marshal(text)
	ts.Check(err)
	b, err := json.Marshal(req)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o644))
}
