package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"custos/ledger"
	"custos/report"
	"custos/report/schematest"
)

// TestReportScripts runs testdata/report/*.txtar: ledgers made by real
// ceremonies on SoftHSM, then inventory, report, bundle and the auditor's
// guide followed literally, checked against the ledger's own records.
func TestReportScripts(t *testing.T) {
	p := scriptParams("testdata/report")
	setup := p.Setup
	root, _ := filepath.Abs("../..")
	p.Setup = func(env *testscript.Env) error {
		env.Setenv("STOCK_VERIFY", filepath.Join(root, "scripts", "stock-verify"))
		env.Setenv("DOCS", filepath.Join(root, "docs"))
		return setup(env)
	}
	p.Cmds["reportcheck"] = cmdReportCheck
	p.Cmds["schemacheck"] = cmdSchemaCheck
	p.Cmds["shot"] = cmdShot
	p.Cmds["guide"] = cmdGuide
	p.Cmds["genesis"] = cmdGenesis
	testscript.Run(t, p)
}

// logLine is one line of `custos log --json`, read independently of the
// command's own type.
type logLine struct {
	Seq       int64    `json:"seq"`
	Time      string   `json:"time"`
	Ceremony  string   `json:"ceremony"`
	Kind      string   `json:"kind"`
	Actor     string   `json:"actor"`
	Approvers []string `json:"approvers"`
	KeyID     string   `json:"key_id"`
	Digest    string   `json:"digest"`
}

// cmdReportCheck: reportcheck REPORT.json LOG.jsonl LEDGER — every record
// of the log is a step of a ceremony of the report with the same kind,
// actor, approvers, time and digest; every key of LEDGER/keys/ is in the
// inventory with its label, type, state and history; creation, export and
// destruction name the records and approvers the log shows; HSM serials
// and check values equal the facts in LEDGER/records/.
func cmdReportCheck(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: reportcheck REPORT.json LOG.jsonl LEDGER")
	}
	var r report.Report
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &r))
	logs := map[int64]logLine{}
	sc := bufio.NewScanner(strings.NewReader(ts.ReadFile(args[1])))
	for sc.Scan() {
		var l logLine
		ts.Check(json.Unmarshal(sc.Bytes(), &l))
		logs[l.Seq] = l
	}
	if len(logs) == 0 {
		ts.Fatalf("%s is empty", args[1])
	}
	dir := ts.MkAbs(args[2])
	rawRecord := func(seq int64) map[string]any {
		name := fmt.Sprintf("%06d.json", seq) // records/12/34/123456.json (docs/ledger-format.md)
		b, err := os.ReadFile(filepath.Join(dir, "records", name[0:2], name[2:4], name))
		ts.Check(err)
		var m map[string]any
		ts.Check(json.Unmarshal(b, &m))
		return m["facts"].(map[string]any)
	}
	// ceremonies: every record exactly once
	steps := 0
	for _, c := range r.Ceremonies {
		for _, s := range c.Steps {
			steps++
			l, ok := logs[s.Seq]
			if !ok {
				ts.Fatalf("report step %d is not in the log", s.Seq)
			}
			if l.Ceremony != c.ID || l.Kind != s.Kind || l.Actor != s.Actor || l.Time != s.Time || l.Digest != s.Digest ||
				!slices.Equal(l.Approvers, s.ApprovedBy) || l.KeyID != s.KeyID {
				ts.Fatalf("record %d: report %s/%s/%s/%v, log %s/%s/%s/%v", s.Seq, c.ID, s.Kind, s.Actor, s.ApprovedBy, l.Ceremony, l.Kind, l.Actor, l.Approvers)
			}
			facts := rawRecord(s.Seq)
			if h, ok := facts["hsm"].(map[string]any); ok {
				if !slices.ContainsFunc(c.HSMs, func(x report.HSMRef) bool { return x.Serial == h["serial"] && x.Model == h["model"] }) {
					ts.Fatalf("ceremony %s does not name HSM %v of record %d", c.ID, h["serial"], s.Seq)
				}
			}
		}
	}
	if steps != len(logs) {
		ts.Fatalf("report has %d steps, log %d records", steps, len(logs))
	}
	// roster history and access reviews: every genesis, roster change and
	// review of the log, in order
	var rosters, reviews []int64
	for seq := int64(1); seq <= int64(len(logs)); seq++ {
		switch logs[seq].Kind {
		case "ledger.genesis", "roster.changed":
			rosters = append(rosters, seq)
		case "review.signed":
			reviews = append(reviews, seq)
		}
	}
	var gotRosters, gotReviews []int64
	for _, v := range r.Roster {
		gotRosters = append(gotRosters, v.Seq)
		if l := logs[v.Seq]; v.By != l.Actor || !slices.Equal(v.ApprovedBy, l.Approvers) {
			ts.Fatalf("roster version %d: by %s approved %v, log %s %v", v.Seq, v.By, v.ApprovedBy, l.Actor, l.Approvers)
		}
	}
	for _, v := range r.Reviews {
		gotReviews = append(gotReviews, v.Seq)
	}
	if !slices.Equal(rosters, gotRosters) || !slices.Equal(reviews, gotReviews) {
		ts.Fatalf("roster versions %v (log %v), reviews %v (log %v)", gotRosters, rosters, gotReviews, reviews)
	}
	// inventory: every key file of the ledger
	files, _ := filepath.Glob(filepath.Join(dir, "keys", "*", "*", "*.json"))
	if len(files) != len(r.Inventory) {
		ts.Fatalf("inventory has %d keys, ledger %d key files", len(r.Inventory), len(files))
	}
	for _, fn := range files {
		var ks ledger.KeyState
		b, _ := os.ReadFile(fn)
		ts.Check(json.Unmarshal(b, &ks))
		i := slices.IndexFunc(r.Inventory, func(k report.Key) bool { return k.ID == ks.ID })
		if i < 0 {
			ts.Fatalf("key %s (%s) is not in the inventory", ks.ID, ks.Label)
		}
		k := r.Inventory[i]
		if k.Label != ks.Label || k.Type != ks.Type || k.State != ks.State || k.Requested.Seq != ks.CreatedSeq || len(k.History) != len(ks.History) {
			ts.Fatalf("key %s: report %s %s %s %d, ledger %s %s %s %d", ks.ID, k.Label, k.Type, k.State, k.Requested.Seq, ks.Label, ks.Type, ks.State, ks.CreatedSeq)
		}
		exports := 0
		for j, h := range ks.History {
			if k.History[j].Seq != h.Seq || k.History[j].Kind != h.Kind {
				ts.Fatalf("key %s history[%d]: report %+v, ledger %+v", ks.ID, j, k.History[j], h)
			}
			l := logs[h.Seq]
			switch h.Kind {
			case "key.generate.intent":
				if k.Created == nil || !slices.Equal(k.Created.ApprovedBy, l.Approvers) {
					ts.Fatalf("key %s created approvals %v, intent %d approvers %v", ks.ID, k.Created, h.Seq, l.Approvers)
				}
			case "key.generated":
				facts := rawRecord(h.Seq)
				name, val, _ := strings.Cut(k.CheckValue, ":")
				if k.Created.Seq != h.Seq || k.Created.By != l.Actor || fmt.Sprint(facts[name]) != val {
					ts.Fatalf("key %s created %+v check %s, record %d actor %s facts %v", ks.ID, k.Created, k.CheckValue, h.Seq, l.Actor, facts[name])
				}
				if hs := facts["hsm"].(map[string]any); k.HSM.Serial != hs["serial"] || k.HSM.Model != hs["model"] {
					ts.Fatalf("key %s HSM %+v, record %d %v", ks.ID, k.HSM, h.Seq, hs)
				}
			case "key.exported":
				if k.Exports[exports].Seq != h.Seq || k.Exports[exports].By != l.Actor {
					ts.Fatalf("key %s export %d: %+v, record %d", ks.ID, exports, k.Exports[exports], h.Seq)
				}
				exports++
			case "key.destroyed":
				if k.Destroyed == nil || k.Destroyed.Seq != h.Seq || k.Destroyed.By != l.Actor || k.Destroyed.Time != l.Time {
					ts.Fatalf("key %s destroyed %+v, record %d", ks.ID, k.Destroyed, h.Seq)
				}
				if intent := logs[k.Destroyed.IntentSeq]; intent.Kind != "key.destroy.intent" || !slices.Equal(intent.Approvers, k.Destroyed.ApprovedBy) {
					ts.Fatalf("key %s destruction approvals %v, intent %+v", ks.ID, k.Destroyed.ApprovedBy, intent)
				}
			case "key.retirement.scheduled":
				if k.Retirement == nil || k.Retirement.Seq != h.Seq || k.Retirement.RetireOn != fmt.Sprint(rawRecord(h.Seq)["retire_on"]) {
					ts.Fatalf("key %s retirement %+v, record %d", ks.ID, k.Retirement, h.Seq)
				}
			case "key.compromised":
				if k.Compromised == nil || k.Compromised.Seq != h.Seq {
					ts.Fatalf("key %s compromise %+v, record %d", ks.ID, k.Compromised, h.Seq)
				}
			case "key.export.intent":
				// checked through the export that follows
			}
		}
		if exports != len(k.Exports) {
			ts.Fatalf("key %s: %d exports in the report, %d in the ledger", ks.ID, len(k.Exports), exports)
		}
	}
}

// cmdSchemaCheck: schemacheck FILE — FILE validates against
// docs/report-schema.json.
func cmdSchemaCheck(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: schemacheck FILE")
	}
	s, err := schematest.Load(filepath.Join(ts.Getenv("DOCS"), "report-schema.json"))
	ts.Check(err)
	errs := s.Problems([]byte(ts.ReadFile(args[0])))
	if (len(errs) > 0) != neg {
		ts.Fatalf("schema: %d problems:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// cmdShot: shot HTML PNG — renders HTML in headless Chromium (Debian
// chromium, no network, a fresh profile) and checks the screenshot is a
// 1280x2000 PNG that is not blank: many colours and enough ink. With
// CUSTOS_UPDATE_DOCS=1 it also copies the picture to docs/report.png.
func cmdShot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: shot HTML PNG")
	}
	bin := ""
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		ts.Fatalf("chromium is not installed: run scripts/setup.sh (apt-get install chromium)")
	}
	profile, err := os.MkdirTemp("", "custos-chromium-")
	ts.Check(err)
	defer os.RemoveAll(profile)
	out := ts.MkAbs(args[1])
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--screenshot="+out, "--window-size=1280,2000",
		"file://"+ts.MkAbs(args[0]))
	done := make(chan error, 1)
	var outb strings.Builder
	cmd.Stdout, cmd.Stderr = &outb, &outb
	ts.Check(cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		ts.Fatalf("chromium did not finish in 90s")
	}
	if err != nil {
		ts.Fatalf("chromium: %v\n%s", err, outb.String())
	}
	f, err := os.Open(out)
	ts.Check(err)
	defer f.Close()
	img, err := png.Decode(f)
	ts.Check(err)
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2000 {
		ts.Fatalf("screenshot is %dx%d, want 1280x2000", b.Dx(), b.Dy())
	}
	colours, ink := inkOf(img)
	ts.Logf("screenshot: %d colours, %.1f%% ink", colours, ink*100)
	if colours < 50 || ink < 0.02 {
		ts.Fatalf("screenshot looks blank: %d colours, %.2f%% non-white pixels", colours, ink*100)
	}
	if os.Getenv("CUSTOS_UPDATE_DOCS") == "1" {
		data, err := os.ReadFile(out)
		ts.Check(err)
		ts.Check(os.WriteFile(filepath.Join(ts.Getenv("DOCS"), "report.png"), data, 0o644))
	}
}

// inkOf counts distinct colours and the share of pixels that are not
// (nearly) white.
func inkOf(img image.Image) (int, float64) {
	b := img.Bounds()
	seen := map[uint32]bool{}
	inked := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				inked++
			}
		}
	}
	return len(seen), float64(inked) / float64(b.Dx()*b.Dy())
}

// cmdGuide: guide NAME OUT — writes the shell block that follows the
// marker "<!-- e2e:NAME -->" in docs/auditor-guide.md to OUT, so the test
// runs the guide's commands exactly as printed.
func cmdGuide(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: guide NAME OUT")
	}
	data, err := os.ReadFile(filepath.Join(ts.Getenv("DOCS"), "auditor-guide.md"))
	ts.Check(err)
	block, ok := guideBlock(data, args[0])
	if !ok {
		ts.Fatalf("docs/auditor-guide.md has no block marked e2e:%s", args[0])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte("set -euo pipefail\n"+block), 0o644))
}

// guideBlock is the shell block of the auditor guide marked e2e:name.
func guideBlock(guide []byte, name string) (string, bool) {
	re := regexp.MustCompile("(?s)<!-- e2e:" + regexp.QuoteMeta(name) + " -->\\s*```(?:sh|bash)\n(.*?)```")
	m := re.FindSubmatch(guide)
	if m == nil {
		return "", false
	}
	return string(m[1]), true
}

// cmdGenesis: genesis LEDGER — sets $GENESIS to the ledger's genesis
// digest and $HEAD to its head digest: what the signed minutes carry;
// and $HEAD_COMMIT to the head's commit id (as stock git prints it).
func cmdGenesis(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: genesis LEDGER")
	}
	l, err := ledger.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Setenv("GENESIS", l.State().Genesis)
	ts.Setenv("HEAD", l.State().Head)
	out, err := exec.Command("git", "-C", ts.MkAbs(args[0]), "rev-parse", "HEAD").Output()
	ts.Check(err)
	ts.Setenv("HEAD_COMMIT", strings.TrimSpace(string(out)))
}
