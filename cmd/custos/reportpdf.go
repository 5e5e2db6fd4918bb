// The PDF form of the report: the HTML report printed by headless
// Chromium, where one is installed (docs/auditor-guide.md says why
// Chromium rather than a Go PDF library). Without one, custos refuses
// and says how to get a PDF; it never writes HTML under a .pdf name.

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"custos/internal/hint"
	"custos/internal/media"
	"custos/report"
)

// chromiumNames are the names headless Chromium goes by; CUSTOS_CHROMIUM
// names another binary (or one that is not there, to do without).
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

func findChromium() (string, error) {
	if b := os.Getenv("CUSTOS_CHROMIUM"); b != "" {
		p, err := exec.LookPath(b)
		if err != nil {
			return "", fmt.Errorf("CUSTOS_CHROMIUM=%s: %w", b, err)
		}
		return p, nil
	}
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no PDF renderer: headless Chromium (chromium) is not installed")
}

// writePDF prints the HTML report r to a PDF at out (never over an
// existing file).
func writePDF(out string, r *report.Report) error {
	bin, err := findChromium()
	if err != nil {
		return hint.With(err, "install chromium (scripts/setup.sh does), or write HTML with -o FILE.html and print it from a browser to PDF")
	}
	if err := refuseExisting(out); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "custos-report-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	html, pdf := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.pdf")
	if err := media.WriteWith(html, media.Public, func(w io.Writer) error { return report.Render(w, r, "html") }); err != nil {
		return err
	}
	// The page is custos's own HTML (no script, nothing fetched) in a
	// fresh directory; the browser gets a fresh profile and no network
	// services. The sandbox is off because Chromium cannot start it as
	// root or in most containers.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--no-pdf-header-footer", "--print-to-pdf="+pdf, "file://"+html)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return hint.With(fmt.Errorf("%s could not print the report to PDF: %w", filepath.Base(bin), err),
			"write HTML with -o FILE.html and print it from a browser; Chromium said: "+lastLine(log.String()))
	}
	data, err := os.ReadFile(pdf)
	if err != nil || !bytes.HasPrefix(data, []byte("%PDF-")) {
		return hint.With(fmt.Errorf("%s wrote no PDF", filepath.Base(bin)), "write HTML with -o FILE.html and print it from a browser")
	}
	return media.WriteWith(out, media.Public, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func refuseExisting(out string) error {
	if _, err := os.Lstat(out); err == nil {
		return hint.With(fmt.Errorf("report: %s exists", out), "custos never writes over a file: choose a new name")
	}
	return nil
}

func lastLine(s string) string {
	s = string(bytes.TrimSpace([]byte(s)))
	if i := bytes.LastIndexByte([]byte(s), '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
