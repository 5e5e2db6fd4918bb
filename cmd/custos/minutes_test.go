package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"custos/hsm/hsmtest"
	"custos/ledger"
)

// TestMinutesOfTheDemo builds the demo ledger (scripts/demo.sh, into a
// temporary directory) with the real binary, then for every ceremony of
// it: the checklist of its script against the ledger as it stood before
// the ceremony, and the minutes filled from the ledger after, in HTML
// and Markdown. Each is printed to PDF with headless Chromium and read
// back with poppler (pdfinfo, pdftotext, pdftoppm): page count and size,
// the values printed equal the ledger's records, and the first page is
// not blank. It ends with a ceremony interrupted twice (an abort and a
// resume), whose exceptions the minutes must show.
func TestMinutesOfTheDemo(t *testing.T) {
	dir, bin, demo := demoRoom(t, "chromium", "pdfinfo", "pdftotext", "pdftoppm", "setsid")
	env := []string{"SOFTHSM2_CONF=" + filepath.Join(demo, "softhsm2.conf"), "NO_COLOR=1", "HOME=" + dir}
	custos := func(args ...string) (string, error) {
		c := exec.Command("setsid", append([]string{bin}, args...)...)
		c.Dir, c.Env = demo, append(os.Environ(), env...) // the demo's paths are relative to it
		out, err := c.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := custos(args...)
		if err != nil {
			t.Fatalf("custos %v: %v\n%s", args, err, out)
		}
		return out
	}
	led := filepath.Join(demo, "ledger")

	// Scripts by their SHA-256: the opening records name them.
	scripts := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(demo, "scripts", "*.yaml"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		s := sha256.Sum256(b)
		scripts[hex.EncodeToString(s[:])] = f
	}
	commits := strings.Fields(gitOut(t, led, "rev-list", "--reverse", "HEAD"))
	recs := readLog(t, must("log", led, "--json"))
	if len(commits) != len(recs) {
		t.Fatalf("%d commits for %d records", len(commits), len(recs))
	}
	byCeremony := map[string][]logLine{}
	var order []string
	for _, r := range recs {
		if byCeremony[r.Ceremony] == nil {
			order = append(order, r.Ceremony)
		}
		byCeremony[r.Ceremony] = append(byCeremony[r.Ceremony], r)
	}

	checked := 0
	var pdfs []string
	for _, id := range order {
		rs := byCeremony[id]
		open := recordFile(t, led, rs[0].Seq)
		sum, _ := open.Facts["script_sha256"].(string)
		script := scripts[sum]
		if rs[0].Kind == "ledger.genesis" || rs[0].Kind == "share.verified" {
			if sum != "" {
				t.Errorf("%s: %s carries script_sha256", id, rs[0].Kind)
			}
			continue
		}
		if script == "" {
			t.Fatalf("ceremony %s: script_sha256 %q names none of the demo's scripts", id, sum)
		}

		// Before: the ledger as it stood before the ceremony's first record.
		before := filepath.Join(dir, "before-"+id)
		if out, err := exec.Command("git", "clone", "-q", led, before).CombinedOutput(); err != nil {
			t.Fatalf("git clone: %v\n%s", err, out)
		}
		gitOut(t, before, "reset", "-q", "--hard", commits[rs[0].Seq-2])
		// What the ceremony wrote is moved aside while its script is
		// planned again: the plan refuses to write over a file.
		restore := aside(t, script)
		dry := []string{"run", script, "--ledger", before, "--dry-run"}
		if m := regexp.MustCompile(`(?m)^  holders: \[(.*)\]$`).FindStringSubmatch(readText(t, script)); m != nil {
			for _, h := range strings.Split(m[1], ",") {
				dry = append(dry, "--card-to", strings.TrimSpace(h)+"=screen")
			}
		}
		plan := must(dry...)
		checklist := filepath.Join(dir, id+"-before.html")
		must("minutes", script, "--ledger", before, "-o", checklist)
		restore()
		html := readText(t, checklist)
		for _, line := range planSteps(plan) {
			if !strings.Contains(html, htmlEscape(line)) {
				t.Errorf("%s: checklist lacks the plan step %q", id, line)
			}
		}
		if !strings.Contains(html, groups4(sum)) {
			t.Errorf("%s: checklist lacks the script's SHA-256 in groups of 4", id)
		}

		// After: filled from the ledger, the script checked against it.
		after := filepath.Join(dir, id+"-after.html")
		out := must("minutes", led, "--ceremony", id, "--script", script, "-o", after)
		if !strings.Contains(out, "matches the SHA-256 recorded by ceremony "+id) {
			t.Errorf("%s: --script: %s", id, out)
		}
		must("minutes", led, "--ceremony", id, "-o", filepath.Join(dir, id+"-after.md"))
		for _, f := range []string{after, filepath.Join(dir, id+"-after.md")} {
			text := readText(t, f)
			for _, r := range rs {
				rec := recordFile(t, led, r.Seq)
				for _, want := range []string{groups4(r.Digest), strings.Replace(strings.Replace(r.Time, "T", " ", 1), "Z", "Z", 1), "record " + strconv.FormatInt(r.Seq, 10)} {
					if !strings.Contains(text, want) {
						t.Errorf("%s: %s lacks %q of record %d", id, filepath.Base(f), want, r.Seq)
					}
				}
				for _, a := range r.Approvers {
					if !strings.Contains(text, a) {
						t.Errorf("%s: %s lacks approver %s", id, filepath.Base(f), a)
					}
				}
				for _, fact := range []string{"kcv_aes_cmac", "spki_sha256", "output_sha256", "blob_sha256", "key_id"} {
					if v, ok := rec.Facts[fact].(string); ok && !strings.Contains(text, groups4(v)) {
						t.Errorf("%s: %s lacks %s %s of record %d", id, filepath.Base(f), fact, v, r.Seq)
					}
				}
				if r.Kind == "ceremony.closed" {
					cp := rec.Facts["checkpoint"].(map[string]any)
					head := cp["head"].(string)
					if !strings.Contains(text, groups4(head)) || !strings.Contains(text, strings.Join(ledger.Words(head), " ")) {
						t.Errorf("%s: %s lacks the checkpoint %s and its words", id, filepath.Base(f), head)
					}
				}
			}
		}
		b, a := printPDF(t, checklist, 1, 4), printPDF(t, after, 1, 5)
		if id == "kek-2026" {
			pdfs = append(pdfs, b, a)
		}
		checked++
	}
	if checked < 11 {
		t.Fatalf("only %d ceremonies checked", checked)
	}
	for _, p := range pdfs[:2] {
		looked(t, p)
	}

	// Letter paper.
	letter := filepath.Join(dir, "letter.html")
	must("minutes", led, "--ceremony", "kek-2026-backup", "--paper", "letter", "-o", letter)
	if info := pdfInfo(t, printPDF(t, letter, 1, 5)); !strings.Contains(info, "612 x 792 pts (letter)") {
		t.Errorf("letter minutes: %s", info)
	}

	// Another script's digest does not match, and nothing is written.
	out, err := custos("minutes", led, "--ceremony", "kek-2026", "--script", filepath.Join(demo, "scripts", "generate-root.yaml"), "-o", filepath.Join(dir, "wrong.html"))
	if err == nil || !strings.Contains(out, "custos: error: minutes: --script: generate-root.yaml has SHA-256") || !strings.Contains(out, "it is not the script that ran") {
		t.Errorf("wrong script: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "wrong.html")); err == nil {
		t.Error("minutes written despite a script that does not match")
	}
	out, err = custos("minutes", led, "--ceremony", "no-such", "-o", filepath.Join(dir, "none.html"))
	if err == nil || !strings.Contains(out, `custos: error: minutes: ledger `+led+` has no ceremony "no-such"`) {
		t.Errorf("unknown ceremony: %v\n%s", err, out)
	}

	// Exceptions: a generate killed before its HSM operation (resume
	// records an abort) and one killed after it (resume records the key).
	module := hsmtest.ModulePath()
	dr := fmt.Sprintf("pkcs11:token=custos-dr?module-path=%s&pin-source=file:%s", module, filepath.Join(demo, "pins", "dr-user"))
	keys := []string{"--key", "alice=" + filepath.Join(demo, "keys", "alice"), "--key", "bob=" + filepath.Join(demo, "keys", "bob")}
	for _, c := range []struct{ id, at, want string }{
		{"crash-before", "before-hsm", "the ceremony was aborted"},
		{"crash-after", "after-hsm", "was written by custos resume"},
	} {
		s := filepath.Join(dir, c.id+".yaml")
		os.WriteFile(s, []byte(fmt.Sprintf("kind: generate\nceremony: %s\nhsm: %q\noperator: alice\nwitnesses: [bob]\nkey:\n  label: %s\n  type: aes-256\n  owner: test\n  purpose: test\n", c.id, dr, c.id)), 0o644)
		env = append(env, "CUSTOS_TEST_CRASH_AT="+c.at)
		if out, err := custos(append([]string{"run", s, "--ledger", led}, keys...)...); err == nil {
			t.Fatalf("%s: not killed\n%s", c.id, out)
		}
		env = env[:len(env)-1]
		must(append([]string{"resume", "--ledger", led, "--hsm", dr}, keys...)...)
		f := filepath.Join(dir, c.id+".md")
		must("minutes", led, "--ceremony", c.id, "-o", f)
		if text := readText(t, f); !strings.Contains(text, c.want) {
			t.Errorf("%s: minutes lack the exception %q:\n%s", c.id, c.want, text)
		}
	}
}

// aside moves the files a backup or export script writes (media,
// share_dir, output) to NAME.aside; the returned func moves them back.
func aside(t *testing.T, script string) func() {
	t.Helper()
	b := readText(t, script)
	var keys []string
	switch {
	case strings.Contains(b, "kind: backup"):
		keys = []string{"media", "share_dir"}
	case strings.Contains(b, "kind: export"):
		keys = []string{"output"}
	case strings.Contains(b, "public_key:"):
		keys = []string{"  pem", "  ssh"} // under key.public_key
	}
	var moved []string
	for _, k := range keys {
		m := regexp.MustCompile(`(?m)^  ` + k + `: (\S+)`).FindStringSubmatch(b)
		if m == nil {
			continue
		}
		if !filepath.IsAbs(m[1]) { // relative to the workspace, the scripts' parent
			m[1] = filepath.Join(filepath.Dir(filepath.Dir(script)), m[1])
		}
		if err := os.Rename(m[1], m[1]+".aside"); err == nil {
			moved = append(moved, m[1])
		}
	}
	return func() {
		for _, p := range moved {
			os.RemoveAll(p)
			if err := os.Rename(p+".aside", p); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// printPDF prints html to a PDF with headless Chromium and checks its
// page count is within [lo, hi].
func printPDF(t *testing.T, html string, lo, hi int) string {
	t.Helper()
	pdf := strings.TrimSuffix(html, ".html") + ".pdf"
	profile := t.TempDir()
	cmd := exec.Command("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--user-data-dir="+profile, "--no-pdf-header-footer", "--print-to-pdf="+pdf, "file://"+html)
	done := make(chan error, 1)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, out)
		}
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatal("chromium did not finish in 90s")
	}
	info := pdfInfo(t, pdf)
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("pdfinfo %s:\n%s", pdf, info)
	}
	if n, _ := strconv.Atoi(m[1]); n < lo || n > hi {
		t.Errorf("%s: %d pages, want %d to %d", filepath.Base(pdf), n, lo, hi)
	}
	size := regexp.MustCompile(`(?m)^Page size:.*$`).FindString(info)
	if want := "(A4)"; !strings.Contains(html, "letter") && !strings.Contains(size, want) {
		t.Errorf("%s: %s, want A4", filepath.Base(pdf), size)
	}
	text, err := exec.Command("pdftotext", "-layout", pdf, "-").Output()
	if err != nil || !strings.Contains(string(text), "Checkpoint") || !strings.Contains(string(text), "Signatures") {
		t.Errorf("%s: pdftotext: %v; the printed minutes lack their checkpoint or signature block", filepath.Base(pdf), err)
	}
	return pdf
}

func pdfInfo(t *testing.T, pdf string) string {
	t.Helper()
	out, err := exec.Command("pdfinfo", pdf).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, out)
	}
	return string(out)
}

// looked renders the first page of pdf to an image (pdftoppm) and checks
// it is a page with text and rules on it, not blank. With
// CUSTOS_UPDATE_DOCS=1 it keeps the picture in docs/.
func looked(t *testing.T, pdf string) {
	t.Helper()
	base := strings.TrimSuffix(pdf, ".pdf")
	inked(t, pdf, base)
	if os.Getenv("CUSTOS_UPDATE_DOCS") == "1" {
		b, _ := os.ReadFile(base + ".png")
		name := "minutes-after.png"
		if strings.Contains(base, "-before") {
			name = "minutes-before.png"
		}
		os.WriteFile(filepath.Join("..", "..", "docs", name), b, 0o644)
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func readLog(t *testing.T, s string) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log --json: %v: %s", err, sc.Text())
		}
		out = append(out, l)
	}
	return out
}

// recordFile reads record seq from the ledger's records/ directory, as
// an auditor would, not through custos.
func recordFile(t *testing.T, led string, seq int64) *ledger.Record {
	t.Helper()
	var found string
	filepath.Walk(filepath.Join(led, "records"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.TrimLeft(strings.TrimSuffix(filepath.Base(p), ".json"), "0") == strconv.FormatInt(seq, 10) {
			found = p
		}
		return nil
	})
	b, err := os.ReadFile(found)
	if err != nil {
		t.Fatalf("record %d: %v", seq, err)
	}
	r, err := ledger.DecodeRecord(b)
	if err != nil {
		t.Fatalf("record %d: %v", seq, err)
	}
	return r
}

func readText(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// planSteps are the numbered steps of a plan custos run printed, with a
// generated key's id (drawn anew at each plan) left out.
func planSteps(plan string) []string {
	var out []string
	re := regexp.MustCompile(`^  \d+\. (.*)$`)
	for _, l := range strings.Split(plan, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			out = append(out, regexp.MustCompile(`[0-9a-f]{32}`).Split(m[1], -1)...)
		}
	}
	return out
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// groups4 is a digest or hex value in groups of 4, as the minutes print it.
func groups4(s string) string {
	h := strings.TrimPrefix(s, "sha256:")
	var g []string
	for len(h) > 4 {
		g = append(g, h[:4])
		h = h[4:]
	}
	return strings.Join(append(g, h), " ")
}
