package main

import (
	"bufio"
	"encoding/json"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"custos/report/schematest"
)

// TestReportPrinted makes the demo's ledger (scripts/demo.sh: real
// ceremonies on SoftHSM) and a 1 000-record ledger (benchgen), writes the
// HTML report of each with the real binary, prints it to PDF in headless
// Chromium and reads the PDF back with poppler: the columns seq, time,
// kind and actor keep their words whole, no fact is raw JSON, the
// exceptions are on page 1 or 2, every page has the running header and
// its number. Then -o FILE.pdf (and its refusal without a renderer), and
// custos log --json against docs/log-schema.json, git and custos verify.
func TestReportPrinted(t *testing.T) {
	dir, bin, demo := demoRoom(t, "chromium", "pdfinfo", "pdftotext", "pdftoppm", "setsid", "git")
	gen := filepath.Join(dir, "benchgen")
	if out, err := exec.Command("go", "build", "-o", gen, "../../ledger/internal/benchgen").CombinedOutput(); err != nil {
		t.Fatalf("go build benchgen: %v\n%s", err, out)
	}
	bench := filepath.Join(dir, "bench")
	if out, err := exec.Command(gen, "1000", bench).CombinedOutput(); err != nil {
		t.Fatalf("benchgen: %v\n%s", err, out)
	}
	custos := func(env []string, args ...string) (string, string, error) {
		c := exec.Command("setsid", append([]string{bin}, args...)...)
		c.Dir, c.Env = dir, append(os.Environ(), append([]string{"NO_COLOR=1", "HOME=" + dir}, env...)...)
		var o, e strings.Builder
		c.Stdout, c.Stderr = &o, &e
		err := c.Run()
		return o.String(), e.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, errOut, err := custos(nil, args...)
		if err != nil {
			t.Fatalf("custos %v: %v\n%s%s", args, err, out, errOut)
		}
		return out
	}
	reportSchema, err := schematest.Load("../../docs/report-schema.json")
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name     string
		led      string
		maxPages int
	}{
		// The demo's 32 records print on 10 A4 pages since the report
		// lists each carried approval's file digest and the policy's
		// vocabularies; a page more than that is a layout regression.
		{"demo", filepath.Join(demo, "ledger"), 10},
		{"bench", bench, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines := readECSLog(t, must("log", c.led, "--json"))
			js := filepath.Join(dir, c.name+".json")
			must("report", c.led, "-o", js)
			b, _ := os.ReadFile(js)
			if p := reportSchema.Problems(b); len(p) > 0 {
				t.Fatalf("%s: %d schema problems:\n%s", js, len(p), strings.Join(p, "\n"))
			}
			// The report carries custos check's verdicts, the same as the
			// command's: the demo passes them all.
			var rep struct {
				ControlTests *struct {
					Passed   bool              `json:"passed"`
					Controls []json.RawMessage `json:"controls"`
				} `json:"control_tests"`
			}
			if err := json.Unmarshal(b, &rep); err != nil || rep.ControlTests == nil || len(rep.ControlTests.Controls) < 14 {
				t.Fatalf("%s: no control tests in the report (%v)", js, err)
			}
			if _, _, err := custos(nil, "check", c.led); (err == nil) != rep.ControlTests.Passed {
				t.Errorf("%s: the report says the controls passed=%v, custos check says %v", c.name, rep.ControlTests.Passed, err)
			}
			if c.name == "demo" && !rep.ControlTests.Passed {
				t.Errorf("the demo's report says a control fails")
			}
			page := filepath.Join(dir, c.name+".html")
			must("report", c.led, "-o", page)
			src, _ := os.ReadFile(page)
			checkStepsHTML(t, string(src))

			pdf := chromiumPDF(t, page)
			n := pdfPages(t, pdf)
			t.Logf("%s: %d records, %d pages", c.name, len(lines), n)
			if n > c.maxPages {
				t.Errorf("%s: %d pages for %d records, want at most %d", c.name, n, len(lines), c.maxPages)
			}
			text := pdfText(t, pdf, 1, n)
			if strings.Contains(text, `{"`) || strings.Contains(text, `["`) {
				i := strings.Index(text, `{"`)
				t.Errorf("%s: the printed report holds raw JSON: …%s…", c.name, text[max(0, i-80):min(len(text), i+80)])
			}
			// seq, time, kind and actor: every kind and actor of the
			// ledger printed whole on a line (pdftotext keeps a line's
			// words in order; a squeezed column breaks them).
			kinds, actors := map[string]bool{}, map[string]bool{}
			for _, l := range lines {
				kinds[l.Kind], actors[l.Actor] = true, true
			}
			for w := range kinds {
				if !regexp.MustCompile(`(?m)(^|\s)` + regexp.QuoteMeta(w) + `(\s|$)`).MatchString(text) {
					t.Errorf("%s: record kind %s is not printed whole on any line", c.name, w)
				}
			}
			for w := range actors {
				if !regexp.MustCompile(`(?m)^\s*\d+\s+\d{4}-\d\d-\d\d\s+\S+\s+` + regexp.QuoteMeta(w) + `(\s|$)`).MatchString(text) {
					t.Errorf("%s: no step line prints seq, date, kind and actor %s whole, in that order", c.name, w)
				}
			}
			if first := pdfText(t, pdf, 1, 2); !strings.Contains(first, "Exceptions to follow up") || !strings.Contains(first, "Verdict") {
				t.Errorf("%s: the verdict or the exceptions are not on page 1 or 2:\n%s", c.name, first)
			}
			ledgerID := lines[0].Custos.Ledger
			head := lines[len(lines)-1].Custos.Digest
			for _, p := range []int{1, n} {
				pt := pdfText(t, pdf, p, p)
				if !strings.Contains(pt, "ledger "+ledgerID) || !strings.Contains(pt, "head "+head) {
					t.Errorf("%s page %d: no running header with the ledger id and head digest", c.name, p)
				}
				if !strings.Contains(pt, "page "+strconv.Itoa(p)+" of "+strconv.Itoa(n)) {
					t.Errorf("%s page %d: no page number", c.name, p)
				}
			}
			if !strings.Contains(text, "Reviewer sign-off") || !strings.Contains(text, "Signature") {
				t.Errorf("%s: no sign-off block", c.name)
			}
			inked(t, pdf, strings.TrimSuffix(pdf, ".pdf")+"-p1")
			if c.name != "demo" {
				return
			}
			// The lines that misled before.
			for _, want := range []string{
				"1 of 3 shares of kek-2026.bk1 were checked by their holders", // one holder checked, not "shares checked"
				"SoftHSM offers only SHA-1 for OAEP",                          // why oaep_hash sha-1 is acceptable
				"bob (signed a ceremony's closing checkpoint as witness",      // the witness role lists who witnessed
			} {
				if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
					t.Errorf("demo: the printed report lacks %q", want)
				}
			}
			// ("None seen …: no aborted, unclosed or open ceremony" is the
			// empty exceptions list saying so)
			if strings.Contains(strings.ReplaceAll(strings.Join(strings.Fields(text), " "), "no aborted, unclosed or open ceremony", ""), "unclosed") {
				t.Errorf("demo: a ceremony reads unclosed (the share check is one record)")
			}
			for _, cell := range regexp.MustCompile(`(?s)<td class="state-active">(.*?)</td>`).FindAllStringSubmatch(string(src), -1) {
				if strings.Contains(cell[1], "reason:") {
					t.Errorf("demo: an active key shows a destruction reason: %s", cell[1])
				}
			}
		})
	}

	// -o FILE.pdf writes a PDF that says the verify result, or refuses.
	led := filepath.Join(demo, "ledger")
	out := filepath.Join(dir, "x.pdf")
	must("report", led, "-o", out)
	if b, _ := os.ReadFile(out); !strings.HasPrefix(string(b), "%PDF-") {
		t.Fatalf("%s is not a PDF: %.20q", out, b)
	}
	if txt := pdfText(t, out, 1, 1); !strings.Contains(txt, "PASS") || !regexp.MustCompile(`\d+ records verified`).MatchString(txt) {
		t.Errorf("x.pdf page 1 lacks the verify result:\n%s", txt)
	}
	none := filepath.Join(dir, "none.pdf")
	o, e, err := custos([]string{"CUSTOS_CHROMIUM=" + filepath.Join(dir, "no-such-renderer")}, "report", led, "-o", none)
	if err == nil || !strings.HasPrefix(e, "custos: error: ") || !strings.Contains(e, "custos: hint: ") || !strings.Contains(e, "-o FILE.html") {
		t.Errorf("report -o none.pdf without a renderer: err %v\n%s%s", err, o, e)
	}
	if _, err := os.Lstat(none); err == nil {
		t.Errorf("report wrote %s without a renderer", none)
	}

	// log --json: each line valid, its commit and digest those of git
	// and custos verify.
	logSchema, err := schematest.Load("../../docs/log-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	raw := must("log", led, "--json")
	sc := bufio.NewScanner(strings.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if p := logSchema.Problems(sc.Bytes()); len(p) > 0 {
			t.Fatalf("log line: %s\n%s", strings.Join(p, "\n"), sc.Text())
		}
	}
	lines := readECSLog(t, raw)
	commits := strings.Fields(gitOut(t, led, "rev-list", "--reverse", "HEAD"))
	if len(commits) != len(lines) {
		t.Fatalf("%d commits, %d log lines", len(commits), len(lines))
	}
	for i, l := range lines {
		if l.Custos.Commit != commits[i] || l.Custos.Seq != int64(i+1) || l.Event.Sequence != l.Custos.Seq {
			t.Fatalf("log line %d: commit %s seq %d, git has %s", i+1, l.Custos.Commit, l.Custos.Seq, commits[i])
		}
		if l.Custos.Digest != l.Digest || l.Event.ID != l.Digest || l.User.Name != l.Actor || l.Timestamp != l.Time {
			t.Fatalf("log line %d: the ECS fields and the record's disagree: %+v", i+1, l)
		}
		if subject := gitOut(t, led, "log", "-1", "--format=%B", commits[i]); !strings.Contains(subject, l.Custos.Digest) {
			t.Fatalf("log line %d: commit %s's message does not name digest %s", i+1, commits[i], l.Custos.Digest)
		}
	}
	var res struct {
		OK   bool   `json:"ok"`
		Head string `json:"head"`
	}
	if err := json.Unmarshal([]byte(must("verify", led, "--json")), &res); err != nil || !res.OK || res.Head != lines[len(lines)-1].Custos.Digest {
		t.Fatalf("verify --json: %v %+v; the last log line has %s", err, res, lines[len(lines)-1].Custos.Digest)
	}
	mid := lines[len(lines)/2]
	for _, h := range []string{mid.Custos.Digest, mid.Custos.Commit} {
		if o, e, err := custos(nil, "verify", led, "--trusted-head", h); err != nil {
			t.Errorf("verify --trusted-head %s (record %d): %v\n%s%s", h, mid.Seq, err, o, e)
		}
	}
	for _, l := range lines {
		if l.Kind == "key.exported" && (l.Custos.Key == nil || l.Custos.Key.Label == "" || l.Custos.HSM == nil || l.Custos.HSM.Serial == "") {
			t.Errorf("log line %d (key.exported) names no key label or HSM: %+v", l.Seq, l.Custos)
		}
	}
}

// ecsLine is a `custos log --json` line as a SIEM reads it.
type ecsLine struct {
	logLine
	Timestamp string `json:"@timestamp"`
	Event     struct {
		Action   string `json:"action"`
		Sequence int64  `json:"sequence"`
		ID       string `json:"id"`
	} `json:"event"`
	User struct {
		Name string `json:"name"`
	} `json:"user"`
	Custos struct {
		Ledger string `json:"ledger"`
		Seq    int64  `json:"seq"`
		Digest string `json:"record_digest"`
		Commit string `json:"commit"`
		Key    *struct {
			ID    string `json:"id"`
			Label string `json:"label"`
		} `json:"key"`
		HSM *struct {
			Serial string `json:"serial"`
		} `json:"hsm"`
		Facts map[string]any `json:"facts"`
	} `json:"custos"`
}

func readECSLog(t *testing.T, s string) []ecsLine {
	t.Helper()
	var out []ecsLine
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l ecsLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log --json: %v: %s", err, sc.Text())
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		t.Fatal("log --json printed nothing")
	}
	return out
}

// checkStepsHTML checks the steps tables structurally: the stylesheet
// keeps seq, time, kind and actor on one line (white-space: nowrap), each
// such cell holds one word a line, and no facts cell holds JSON.
func checkStepsHTML(t *testing.T, src string) {
	t.Helper()
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(src)
	if style == nil {
		t.Fatal("report has no stylesheet")
	}
	nowrap := false
	for _, rule := range regexp.MustCompile(`(?s)([^{}]+)\{([^{}]*)\}`).FindAllStringSubmatch(style[1], -1) {
		if !strings.Contains(rule[2], "white-space: nowrap") {
			continue
		}
		all := true
		for _, col := range []string{"seq", "time", "kind", "actor"} {
			all = all && strings.Contains(rule[1], "table.steps td."+col)
		}
		nowrap = nowrap || all
	}
	if !nowrap {
		t.Error("no rule keeps table.steps td.seq, td.time, td.kind and td.actor from wrapping")
	}
	steps := regexp.MustCompile(`(?s)<tr id="r(\d+)">(.*?)</tr>`).FindAllStringSubmatch(src, -1)
	if len(steps) == 0 {
		t.Fatal("no step rows")
	}
	cell := regexp.MustCompile(`(?s)<td class="(seq|time|kind|actor|facts)">(.*?)</td>`)
	for _, s := range steps {
		cells := cell.FindAllStringSubmatch(s[2], -1)
		if len(cells) != 5 {
			t.Fatalf("step %s: %d of its 5 classed cells", s[1], len(cells))
		}
		for _, c := range cells {
			text := html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(strings.ReplaceAll(c[2], "<br>", "\n"), ""))
			if c[1] == "facts" {
				if strings.Contains(text, `{"`) || strings.Contains(text, `["`) {
					t.Errorf("step %s: raw JSON in its facts: %.200s", s[1], text)
				}
				continue
			}
			for _, line := range strings.Split(text, "\n") {
				if len(strings.Fields(line)) > 1 {
					t.Errorf("step %s: %s cell line %q has more than one word", s[1], c[1], line)
				}
			}
		}
	}
}

func chromiumPDF(t *testing.T, page string) string {
	t.Helper()
	pdf := strings.TrimSuffix(page, ".html") + ".pdf"
	cmd := exec.Command("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(), "--no-pdf-header-footer", "--print-to-pdf="+pdf, "file://"+page)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, out)
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("chromium did not finish in 3 minutes")
	}
	return pdf
}

func pdfPages(t *testing.T, pdf string) int {
	t.Helper()
	info := pdfInfo(t, pdf)
	if !strings.Contains(regexp.MustCompile(`(?m)^Page size:.*$`).FindString(info), "(A4)") {
		t.Errorf("%s is not A4:\n%s", pdf, info)
	}
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("pdfinfo %s:\n%s", pdf, info)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func pdfText(t *testing.T, pdf string, first, last int) string {
	t.Helper()
	out, err := exec.Command("pdftotext", "-layout", "-f", strconv.Itoa(first), "-l", strconv.Itoa(last), pdf, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext %s: %v", pdf, err)
	}
	return string(out)
}

// inked renders page 1 (pdftoppm) to base+".png" and checks it is not
// blank: text and rules on it. It returns the picture's path.
func inked(t *testing.T, pdf, base string) string {
	t.Helper()
	if out, err := exec.Command("pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", pdf, base).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	f, err := os.Open(base + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	colours, ink := inkOf(img)
	t.Logf("%s page 1: %dx%d, %d colours, %.1f%% ink", filepath.Base(pdf), img.Bounds().Dx(), img.Bounds().Dy(), colours, ink*100)
	if ink < 0.02 || colours < 20 {
		t.Errorf("%s: page 1 looks blank: %d colours, %.2f%% ink", filepath.Base(pdf), colours, ink*100)
	}
	return base + ".png"
}
