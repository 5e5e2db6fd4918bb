package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPublicKeyOut: a generate ceremony writes the new key pair's public
// key as PEM SPKI and as an OpenSSH line, and records each file's SHA-256.
// Stock openssl and ssh-keygen, reading the files, find the fingerprints
// the HSM's key has in the ledger; custos words prints the file digest the
// ledger holds. Killed after the key was made, the resumed ceremony keeps
// the files written and records the same. A file already there is refused
// before anything is recorded; a secret key has no public key.
func TestPublicKeyOut(t *testing.T) {
	w := newWorkspace(t, "pub-token", [][2]string{{"alice", "custodian"}, {"bob", "officer"}})
	gen := func(name, typ, pem, ssh string) string {
		return fmt.Sprintf("kind: generate\nceremony: gen-%s\nhsm: %q\noperator: alice\nkey:\n  label: %s\n  type: %s\n  owner: pki\n  purpose: signs\n  public_key:\n    pem: %s\n    ssh: %s\n",
			name, w.tok.URI, name, typ, pem, ssh)
	}
	keys := []string{"--ledger", "L", "--key", "alice=alice", "--key", "bob=bob"}
	sh := func(cmd string) string {
		out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, c := range []struct {
		name, typ string
		crash     bool
	}{{"root-ec", "ec-p384", false}, {"sign-ed", "ed25519", false}, {"root-rsa", "rsa-3072", true}} {
		pem, ssh := filepath.Join(w.dir, c.name+".pem"), filepath.Join(w.dir, c.name+".ssh.pub")
		w.write(c.name+".yaml", gen(c.name, c.typ, pem, ssh))
		if c.crash {
			// killed once the HSM made the key and the files were written,
			// before the outcome was recorded
			if out, err := w.run([]string{"CUSTOS_TEST_CRASH_AT=after-hsm"}, append([]string{"run", c.name + ".yaml"}, keys...)...); err == nil {
				t.Fatalf("%s: the crash hook did not stop the run:\n%s", c.name, out)
			}
			w.must("resume", "--ledger", "L", "--key", "alice=alice", "--pin-source", "file:"+w.tok.UserPINFile)
		} else {
			out := w.must(append([]string{"run", c.name + ".yaml"}, keys...)...)
			if !strings.Contains(out, "wrote the public key (pem) to "+pem+" and read it back") {
				t.Errorf("%s: run does not say it wrote the PEM file:\n%s", c.name, out)
			}
		}
		rec := lastRecordOf(t, filepath.Join(w.dir, "L"), "key.generated")
		files, _ := rec.Facts["public_key_files"].([]any)
		if len(files) != 2 {
			t.Fatalf("%s: public_key_files = %v", c.name, rec.Facts["public_key_files"])
		}
		spki := sh("openssl pkey -pubin -in " + pem + " -outform DER | sha256sum | cut -d' ' -f1")
		if spki != rec.Facts["spki_sha256"] {
			t.Errorf("%s: openssl's SPKI SHA-256 %s, the ledger's %v", c.name, spki, rec.Facts["spki_sha256"])
		}
		fp := strings.Fields(sh("ssh-keygen -l -E sha256 -f " + ssh))[1]
		if fp != rec.Facts["ssh_fingerprint"] {
			t.Errorf("%s: ssh-keygen's fingerprint %s, the ledger's %v", c.name, fp, rec.Facts["ssh_fingerprint"])
		}
		for _, f := range files {
			f := f.(map[string]any)
			sum := sh("sha256sum " + f["file"].(string) + " | cut -d' ' -f1")
			if sum != f["sha256"] {
				t.Errorf("%s: %v has sha256 %s, the ledger says %v", c.name, f["file"], sum, f["sha256"])
			}
			if words := w.must("words", f["file"].(string)); !strings.Contains(words, groupsOf4(sum)) {
				t.Errorf("custos words %v:\n%s", f["file"], words)
			}
		}
	}
	if out := w.must("verify", "L"); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify: %s", out)
	}

	// Refused before any record.
	before := w.must("log", "L")
	taken := filepath.Join(w.dir, "root-ec.pem")
	w.write("again.yaml", gen("again", "ec-p256", taken, filepath.Join(w.dir, "again.ssh.pub")))
	if out, err := w.run(nil, append([]string{"run", "again.yaml"}, keys...)...); err == nil || !strings.Contains(out, "key.public_key.pem: "+taken+" already exists") {
		t.Errorf("a public key file over another: %v\n%s", err, out)
	}
	w.write("aes.yaml", gen("aes", "aes-256", filepath.Join(w.dir, "aes.pem"), filepath.Join(w.dir, "aes.ssh")))
	if out, err := w.run(nil, append([]string{"run", "aes.yaml"}, keys...)...); err == nil || !strings.Contains(out, "a aes-256 key is secret: it has no public key") {
		t.Errorf("a public key for a secret key: %v\n%s", err, out)
	}
	if after := w.must("log", "L"); after != before {
		t.Errorf("refused scripts recorded something:\n%s", after)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "aes.pem")); err == nil {
		t.Error("a refused script wrote a file")
	}
}
