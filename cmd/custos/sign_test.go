package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"custos/ledger"
	"custos/report/schematest"
)

// signRoom is a workspace with an EC P-384, an RSA-3072 and an Ed25519
// key on its token, each with its public key written out (PEM and
// OpenSSH), for the sign ceremonies.
func signRoom(t *testing.T) *workspace {
	t.Helper()
	w := newWorkspace(t, "sign-token", [][2]string{{"alice", "custodian"}, {"bob", "officer"}})
	for _, k := range [][2]string{{"root-ec", "ec-p384"}, {"root-rsa", "rsa-3072"}, {"sign-ed", "ed25519"}} {
		w.write("gen-"+k[0]+".yaml", fmt.Sprintf("kind: generate\nceremony: gen-%s\nhsm: %q\noperator: alice\nkey:\n  label: %s\n  type: %s\n  owner: pki\n  purpose: signs\n  public_key:\n    pem: %s.pem\n    ssh: %s.ssh.pub\n",
			k[0], w.tok.URI, k[0], k[1], k[0], k[0]))
		w.must("run", "gen-"+k[0]+".yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
	}
	return w
}

func (w *workspace) sh(cmd string) (string, error) {
	c := exec.Command("sh", "-c", cmd)
	c.Dir = w.dir
	out, err := c.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (w *workspace) mustSh(cmd string) string {
	w.t.Helper()
	out, err := w.sh(cmd)
	if err != nil {
		w.t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return out
}

// detachedScript is a sign script for a detached signature of file.
func (w *workspace) detachedScript(name, key, file, extra string) string {
	return fmt.Sprintf("kind: sign\nceremony: %s\nhsm: %q\noperator: alice\nsign:\n  key: %s\n  purpose: release metadata\n  detached:\n    file: %s\n    signature: %s.sig\n    sshsig: %s.sshsig\n    namespace: file\n%s",
		name, w.tok.URI, key, file, name, name, extra)
}

// TestSignDetached: each key type signs a file inside the HSM; stock
// openssl (dgst -verify) checks the raw signature against the public key
// written at generation, and stock ssh-keygen -Y verify the SSH
// signature; the ledger records the digests of the input and of every
// output, and verify passes. Changing one byte of the file fails both
// checkers.
func TestSignDetached(t *testing.T) {
	w := signRoom(t)
	w.write("release.json", `{"version":"1.4.0","sha256":"00"}`+"\n")
	for _, c := range []struct {
		name, key, extra, dgst string
	}{
		{"sig-ec", "root-ec", "", "-sha256"},
		{"sig-rsa", "root-rsa", "", "-sha256"},
		{"sig-rsa-pss", "root-rsa", "    rsa_padding: pss\n", "-sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32"},
		{"sig-ed", "sign-ed", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			w.t = t
			w.write(c.name+".yaml", w.detachedScript(c.name, c.key, "release.json", c.extra))
			out := w.must("run", c.name+".yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
			if !strings.Contains(out, "recorded key.signed") {
				t.Fatalf("run did not record key.signed:\n%s", out)
			}
			// OpenSSL 3.0's dgst cannot verify Ed25519 (one-shot only):
			// pkeyutl -rawin is its way.
			verify := func(file string) string {
				if c.key == "sign-ed" {
					return fmt.Sprintf("openssl pkeyutl -verify -pubin -inkey %s.pem -rawin -in %s -sigfile %s.sig", c.key, file, c.name)
				}
				return fmt.Sprintf("openssl dgst %s -verify %s.pem -signature %s.sig %s", c.dgst, c.key, c.name, file)
			}
			w.mustSh(verify("release.json"))
			w.mustSh(fmt.Sprintf("printf 'release@example.org %%s\\n' \"$(cat %s.ssh.pub)\" > %s.allowed", c.key, c.name))
			w.mustSh(fmt.Sprintf("ssh-keygen -Y verify -f %s.allowed -I release@example.org -n file -s %s.sshsig < release.json", c.name, c.name))
			// The checkers can fail: one byte changed.
			w.mustSh("sed 's/1.4.0/1.4.1/' release.json > tampered.json")
			if out, err := w.sh(verify("tampered.json")); err == nil {
				t.Errorf("openssl verifies the signature over another file: %s", out)
			}
			if out, err := w.sh(fmt.Sprintf("ssh-keygen -Y verify -f %s.allowed -I release@example.org -n file -s %s.sshsig < tampered.json", c.name, c.name)); err == nil {
				t.Errorf("ssh-keygen verifies the signature over another file: %s", out)
			}
			if out, err := w.sh(fmt.Sprintf("ssh-keygen -Y verify -f %s.allowed -I release@example.org -n other -s %s.sshsig < release.json", c.name, c.name)); err == nil {
				t.Errorf("ssh-keygen verifies the signature in another namespace: %s", out)
			}
			intent := lastRecordOf(t, filepath.Join(w.dir, "L"), "key.sign.intent")
			rec := lastRecordOf(t, filepath.Join(w.dir, "L"), "key.signed")
			fileSum := strings.Fields(w.mustSh("sha256sum release.json"))[0]
			if intent.Facts["tbs_sha256"] != fileSum || rec.Facts["tbs_sha256"] != fileSum {
				t.Errorf("tbs_sha256 intent %v outcome %v, the file's %s", intent.Facts["tbs_sha256"], rec.Facts["tbs_sha256"], fileSum)
			}
			outs, _ := rec.Facts["outputs"].([]any)
			if len(outs) != 2 {
				t.Fatalf("outputs = %v", rec.Facts["outputs"])
			}
			for _, o := range outs {
				o := o.(map[string]any)
				if sum := strings.Fields(w.mustSh("sha256sum " + o["file"].(string)))[0]; sum != o["sha256"] {
					t.Errorf("%v: sha256 %s, recorded %v", o["file"], sum, o["sha256"])
				}
			}
			if sum := strings.Fields(w.mustSh("sha256sum " + c.name + ".sig"))[0]; sum != rec.Facts["signature_sha256"] {
				t.Errorf("signature_sha256 %v, the file's %s", rec.Facts["signature_sha256"], sum)
			}
			// The minutes print the TBS digest, as read aloud.
			w.must("minutes", "L", "--ceremony", c.name, "-o", c.name+".minutes.md")
			md, _ := os.ReadFile(filepath.Join(w.dir, c.name+".minutes.md"))
			if !strings.Contains(string(md), "TBS SHA-256") || !strings.Contains(string(md), groupsOf4(fileSum)) {
				t.Errorf("the minutes do not show the TBS digest %s:\n%s", groupsOf4(fileSum), md)
			}
		})
	}
	w.t = t

	if out := w.must("verify", "L"); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify: %s", out)
	}
}

// TestSignRefusals: a sign ceremony needs the export's quorum (without it
// nothing is recorded and nothing is signed); an approval carried in a
// file is bound to the exact bytes to sign, so one byte changed in the
// file refuses it; an output file already there is refused before any
// record; a sign killed after the HSM signed is settled by resume as
// aborted, naming the output files to destroy.
func TestSignRefusals(t *testing.T) {
	w := signRoom(t)
	led := filepath.Join(w.dir, "L")
	count := func() int {
		n := 0
		filepath.Walk(filepath.Join(led, "records"), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	w.write("meta.json", `{"targets":{"app":"1"}}`+"\n")
	w.write("s1.yaml", w.detachedScript("s1", "root-ec", "meta.json", ""))

	before := count()
	out, err := w.run(nil, "run", "s1.yaml", "--ledger", "L", "--key", "alice=alice")
	if err == nil || !strings.Contains(out, "approv") {
		t.Fatalf("a sign without the quorum ran: %v\n%s", err, out)
	}
	if count() != before {
		t.Fatal("the refused sign recorded something")
	}
	if _, err := os.Stat(filepath.Join(w.dir, "s1.sig")); err == nil {
		t.Fatal("the refused sign wrote a signature")
	}

	// bob approves from elsewhere; the file then changes by one byte.
	w.must("run", "s1.yaml", "--ledger", "L", "--key", "alice=alice", "--request-out", "s1.req")
	w.must("approve", "s1.req", "--ledger", "L", "--key", "bob=bob", "-o", "bob.sig", "--yes")
	w.write("meta.json", `{"targets":{"app":"2"}}`+"\n")
	out, err = w.run(nil, "run", "s1.yaml", "--ledger", "L", "--key", "alice=alice", "--request", "s1.req", "--approval", "bob.sig")
	if err == nil || !strings.Contains(out, "no longer matches") {
		t.Fatalf("an approval for other bytes was accepted: %v\n%s", err, out)
	}
	if count() != before {
		t.Fatal("the refused sign recorded something")
	}
	w.write("meta.json", `{"targets":{"app":"1"}}`+"\n")
	w.must("run", "s1.yaml", "--ledger", "L", "--key", "alice=alice", "--request", "s1.req", "--approval", "bob.sig")
	w.mustSh("openssl dgst -sha256 -verify root-ec.pem -signature s1.sig meta.json")
	signed := lastRecordOf(t, led, "key.signed")
	intent := lastRecordOf(t, led, "key.sign.intent")
	if len(intent.Approvals) != 1 || intent.Approvals[0].Member != "bob" {
		t.Errorf("intent approvals: %+v", intent.Approvals)
	}

	// An output already there: refused before any record.
	w.write("s2.sig", "already here\n")
	w.write("s2.yaml", w.detachedScript("s2", "root-ec", "meta.json", ""))
	before = count()
	out, err = w.run(nil, "run", "s2.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob")
	if err == nil || !strings.Contains(out, "s2.sig already exists") {
		t.Fatalf("an existing output was not refused: %v\n%s", err, out)
	}
	if count() != before {
		t.Fatal("the refused sign recorded something")
	}

	// Killed once the HSM signed and the files were written.
	w.write("s3.yaml", w.detachedScript("s3", "sign-ed", "meta.json", ""))
	if out, err := w.run([]string{"CUSTOS_TEST_CRASH_AT=after-hsm"}, "run", "s3.yaml", "--ledger", "L", "--key", "alice=alice", "--key", "bob=bob"); err == nil {
		t.Fatalf("the crash hook did not stop the run:\n%s", out)
	}
	w.must("resume", "--ledger", "L", "--key", "alice=alice", "--pin-source", "file:"+w.tok.UserPINFile)
	ab := lastRecordOf(t, led, "ceremony.aborted")
	reason, _ := ab.Facts["reason"].(string)
	if ab.Ceremony != "s3" || !strings.Contains(reason, "s3.sig exists and must be destroyed") || !strings.Contains(reason, "s3.sshsig exists and must be destroyed") {
		t.Errorf("resume: %s %q", ab.Ceremony, reason)
	}
	if last := lastRecordOf(t, led, "key.signed"); last.Seq != signed.Seq {
		t.Errorf("the killed sign was recorded as signed (record %d)", last.Seq)
	}
	// A root certificate approved from elsewhere: the request carries the
	// serial drawn from the HSM, so the run rebuilds the approved TBS; one
	// byte changed in the template is another TBS, and refused.
	w.write("r1.yaml", w.rootScript("r1", "root-ec", fmt.Sprintf(rootTemplate, "carried", "")))
	w.must("run", "r1.yaml", "--ledger", "L", "--key", "alice=alice", "--request-out", "r1.req")
	w.must("approve", "r1.req", "--ledger", "L", "--key", "bob=bob", "-o", "r1-bob.sig", "--yes")
	w.write("r1.yaml", w.rootScript("r1", "root-ec", strings.Replace(fmt.Sprintf(rootTemplate, "carried", ""), "validity: 20y", "validity: 21y", 1)))
	before = count()
	out, err = w.run(nil, "run", "r1.yaml", "--ledger", "L", "--key", "alice=alice", "--request", "r1.req", "--approval", "r1-bob.sig")
	if err == nil || !strings.Contains(out, "no longer matches") {
		t.Fatalf("an approval for another template was accepted: %v\n%s", err, out)
	}
	if count() != before {
		t.Fatal("the refused sign recorded something")
	}
	w.write("r1.yaml", w.rootScript("r1", "root-ec", fmt.Sprintf(rootTemplate, "carried", "")))
	w.must("run", "r1.yaml", "--ledger", "L", "--key", "alice=alice", "--request", "r1.req", "--approval", "r1-bob.sig")
	w.mustSh("openssl verify -CAfile r1.pem r1.pem")
	req := lastRecordOf(t, led, "key.sign.intent")
	sum, _ := req.Facts["summary"].(map[string]any)
	if serial := strings.ToLower(strings.TrimPrefix(w.mustSh("openssl x509 -noout -serial -in r1.pem"), "serial=")); sum["serial"] != serial {
		t.Errorf("the certificate's serial %s is not the approved %v", serial, sum["serial"])
	}

	// The report's key usage and custos check list every signature made.
	w.must("report", "L", "-o", "report.md")
	w.must("report", "L", "-o", "report.json")
	w.must("report", "L", "-o", "report.html")
	page, _ := os.ReadFile(filepath.Join(w.dir, "report.html"))
	md, _ := os.ReadFile(filepath.Join(w.dir, "report.md"))
	var made []*ledger.Record
	filepath.Walk(filepath.Join(led, "records"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if r, err := ledger.DecodeRecord(b); err == nil && r.Kind == "key.signed" {
			made = append(made, r)
		}
		return nil
	})
	if len(made) != 2 {
		t.Fatalf("%d key.signed records, want 2", len(made))
	}
	// (other controls fail on this bare ledger: no owners, no rotation)
	chk, _ := w.run(nil, "check", "L")
	js, _ := os.ReadFile(filepath.Join(w.dir, "report.json"))
	sch, err := schematest.Load("../../docs/report-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if probs := sch.Problems(js); len(probs) > 0 {
		t.Fatalf("the report breaks its schema:\n%s", strings.Join(probs, "\n"))
	}
	for _, r := range made {
		if !strings.Contains(string(md), fmt.Sprintf("(record %d): %s for ", r.Seq, r.Facts["sign_kind"])) || !strings.Contains(string(md), r.Facts["tbs_sha256"].(string)) {
			t.Errorf("the report does not list signature record %d:\n%s", r.Seq, md)
		}
		if !strings.Contains(string(page), fmt.Sprintf("signed a <b>%s</b>", r.Facts["sign_kind"])) || !strings.Contains(string(page), r.Facts["tbs_sha256"].(string)) {
			t.Errorf("the HTML report does not list signature record %d", r.Seq)
		}
		if !strings.Contains(chk, fmt.Sprintf("record %d key.signed", r.Seq)) || !strings.Contains(chk, "TBS sha256 "+r.Facts["tbs_sha256"].(string)) {
			t.Errorf("custos check does not list signature record %d:\n%s", r.Seq, chk)
		}
	}
	if !regexp.MustCompile(`(?m)^KM-15\s+PASS\s+2\s+0\s`).MatchString(chk) {
		t.Errorf("custos check: KM-15 does not pass over the 2 signatures:\n%s", chk)
	}
	if out := w.must("verify", "L"); !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify: %s", out)
	}
}
