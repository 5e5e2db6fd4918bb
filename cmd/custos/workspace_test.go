package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"custos/hsm/hsmtest"
	"custos/ledger"
)

// workspace is a ceremony room for tests of the real binary: the custos
// binary built afresh, a SoftHSM token of its own, members' ssh keys, a
// ledger L founded on a roster of them and the token enrolled.
type workspace struct {
	t        *testing.T
	dir, bin string
	tok      *hsmtest.Standalone
	env      []string
}

// newWorkspace makes the room; members maps each name to its role (the
// first custodian is the operator of the enrolment, the first officer
// approves it).
func newWorkspace(t *testing.T, token string, members [][2]string) *workspace {
	t.Helper()
	dir := t.TempDir()
	w := &workspace{t: t, dir: dir, bin: filepath.Join(dir, "custos")}
	if out, err := exec.Command("go", "build", "-o", w.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tok, err := hsmtest.NewStandalone(filepath.Join(dir, "hsm"), token)
	if err != nil {
		t.Fatal(err)
	}
	w.tok = tok
	w.env = []string{"SOFTHSM2_CONF=" + tok.Conf, "CUSTOS_PKCS11_MODULE=" + tok.Module, "NO_COLOR=1", "HOME=" + dir}
	var roster strings.Builder
	roster.WriteString("members:\n")
	var keys []string
	for _, m := range members {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", m[0], "-f", filepath.Join(dir, m[0])).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub, _ := os.ReadFile(filepath.Join(dir, m[0]+".pub"))
		fmt.Fprintf(&roster, "  - {name: %s, roles: [%s], key: %s}\n", m[0], m[1], strings.TrimSpace(string(pub)))
		keys = append(keys, "--key", m[0]+"="+m[0])
	}
	w.write("roster.yaml", roster.String())
	w.must(append([]string{"init", "L", "--roster", "roster.yaml"}, keys...)...)
	w.write("enroll.yaml", fmt.Sprintf("kind: enroll\nhsm: %q\noperator: %s\n", tok.URI, members[0][0]))
	w.must(append([]string{"run", "enroll.yaml", "--ledger", "L"}, keys...)...)
	return w
}

// run runs custos in the room with no terminal (setsid): it never asks.
func (w *workspace) run(env []string, args ...string) (string, error) {
	cmd := exec.Command("setsid", append([]string{w.bin}, args...)...)
	cmd.Dir, cmd.Env = w.dir, append(os.Environ(), append(w.env, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (w *workspace) must(args ...string) string {
	w.t.Helper()
	out, err := w.run(nil, args...)
	if err != nil {
		w.t.Fatalf("custos %v: %v\n%s", args, err, out)
	}
	return out
}

func (w *workspace) write(name, body string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), []byte(body), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// shell is a command line for a tmux pane: custos in the room, then its
// exit status, then a pause so the screen can be read.
func (w *workspace) shell(args string) string {
	return fmt.Sprintf("clear; cd %s && env %s %s %s; echo EXIT=$?; sleep 60", w.dir, strings.Join(w.env, " "), w.bin, args)
}

// lastRecordOf is the newest record of kind in the work tree of ledger led.
func lastRecordOf(t *testing.T, led, kind string) *ledger.Record {
	t.Helper()
	var last *ledger.Record
	filepath.Walk(filepath.Join(led, "records"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if r, err := ledger.DecodeRecord(b); err == nil && r.Kind == kind && (last == nil || r.Seq > last.Seq) {
			last = r
		}
		return nil
	})
	if last == nil {
		t.Fatalf("no %s record in %s", kind, led)
	}
	return last
}

// demoRoom builds the demo (scripts/demo.sh) into a temporary directory
// with the custos binary ($CUSTOS_BIN, else built afresh), after checking
// that the tools the test needs are installed. It returns the directory,
// the binary and the demo workspace.
func demoRoom(t *testing.T, tools ...string) (dir, bin, demo string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (scripts/setup.sh installs it)", tool)
		}
	}
	dir = t.TempDir()
	bin = os.Getenv("CUSTOS_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "custos")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	demo = filepath.Join(dir, "demo")
	cmd := exec.Command("bash", "../../scripts/demo.sh")
	cmd.Env = append(os.Environ(), "CUSTOS_BIN="+bin, "CUSTOS_DEMO_DIR="+demo, "NO_COLOR=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("demo.sh: %v\n%s", err, out)
	}
	return dir, bin, demo
}
