package hsmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Modules is the table of PKCS#11 implementations the tests run on:
// SoftHSM2, the reference, and opencryptoki's software token.
var Modules = []string{SoftHSMName, OCKName}

// Counts is what one module's run of a test binary gave.
type Counts struct {
	Module                  string
	Passed, Skipped, Failed int
	// Skips are the skipped tests with their reasons.
	Skips []string
}

func (c Counts) String() string {
	return fmt.Sprintf("%s: %d passed, %d skipped, %d failed", c.Module, c.Passed, c.Skipped, c.Failed)
}

var resultLine = regexp.MustCompile(`^(\s*)--- (PASS|SKIP|FAIL): (\S+)`)

// RunOnModules runs this test binary's tests (all but the calling test,
// fuzz seeds and benchmarks) once per module of Modules, each in a child
// process with $CUSTOS_TEST_HSM set, since a process loads a module once
// and opencryptoki's token is machine-wide. It logs each module's counts
// and skips with their reasons, and fails on any failure or a missing
// module (never skipping: scripts/setup.sh installs both). In a child it
// does nothing.
func RunOnModules(t *testing.T) []Counts {
	t.Helper()
	if os.Getenv("CUSTOS_TEST_HSM") != "" {
		t.Skip("a per-module child run")
	}
	if OCKModulePath() == "" {
		t.Fatalf("hsmtest: opencryptoki is not installed (no library in %v): run scripts/setup.sh", OCKCandidates)
	}
	var all []Counts
	for _, mod := range Modules {
		cmd := exec.Command(os.Args[0], "-test.v", "-test.count=1", "-test.run", ".",
			"-test.skip", "^"+t.Name()+"$|^Fuzz|^Example")
		cmd.Env = append(os.Environ(), "CUSTOS_TEST_HSM="+mod)
		out, err := cmd.CombinedOutput()
		c := count(mod, out)
		all = append(all, c)
		t.Log(c.String())
		fmt.Fprintln(os.Stderr, "hsm modules:", c.String())
		// go test shows nothing of a passing package: make test prints
		// the counts from this file.
		if f := os.Getenv("CUSTOS_MODULE_COUNTS"); f != "" {
			if fh, err := os.OpenFile(f, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
				fmt.Fprintln(fh, "hsm package on "+c.String())
				fh.Close()
			}
		}
		for _, s := range c.Skips {
			t.Logf("  %s skipped: %s", mod, s)
		}
		if err != nil || c.Failed > 0 || c.Passed == 0 {
			t.Errorf("%s: the tests failed (%v):\n%s", mod, err, tail(out, 60))
		}
	}
	return all
}

// count reads `go test -v` output: top-level tests only.
func count(mod string, out []byte) Counts {
	c := Counts{Module: mod}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var last string
	for sc.Scan() {
		line := sc.Text()
		m := resultLine.FindStringSubmatch(line)
		if m == nil {
			if strings.HasPrefix(line, "    ") {
				last = strings.TrimSpace(line)
			}
			continue
		}
		if m[1] != "" {
			continue // a subtest
		}
		switch m[2] {
		case "PASS":
			c.Passed++
		case "SKIP":
			c.Skipped++
			c.Skips = append(c.Skips, m[3]+": "+last)
		case "FAIL":
			c.Failed++
		}
		last = ""
	}
	return c
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
