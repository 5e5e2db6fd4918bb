package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"custos/shamir"
)

// TestBackupScripts runs testdata/backup/*.txtar: backup, restore into
// another token, bad shares, share checks and a backup killed half-way,
// through the real custos command line on real SoftHSM tokens.
func TestBackupScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/backup"))
}

// cmdNoShare: noshare PATH… — fails if any share made in $WORK/shares
// occurs in the named files or directories (and, for a ledger, in its whole
// git history): the text form and its value of every age file (opened with
// the holder's key in $WORK/keys), and every word line of every card
// (each holder's, in $WORK/cards/HOLDER/).
func cmdNoShare(ts *testscript.TestScript, neg bool, args []string) {
	var secrets []string
	ages, _ := filepath.Glob(filepath.Join(ts.MkAbs("shares"), "*"))
	cards, _ := filepath.Glob(filepath.Join(ts.MkAbs("cards"), "*", "*.card"))
	for _, p := range append(ages, cards...) {
		data, err := os.ReadFile(p)
		ts.Check(err)
		switch {
		case strings.HasSuffix(p, ".age"):
			name := filepath.Base(p)
			holder := strings.TrimSuffix(name[strings.LastIndex(name, "-")+1:], ".age")
			plain, err := shamir.DecryptWithSSHKey(ts.MkAbs("keys/"+holder), nil, data)
			if err != nil {
				// a damaged copy made by the test itself
				continue
			}
			text := strings.TrimSpace(string(plain))
			secrets = append(secrets, text, strings.Split(text, ":")[5])
		case strings.HasSuffix(p, ".card"):
			for _, ln := range strings.Split(string(data), "\n") {
				if f := strings.Fields(ln); len(f) > 2 && !strings.HasPrefix(ln, "#") {
					secrets = append(secrets, strings.Join(f[1:], " "))
				}
			}
		}
	}
	if len(secrets) == 0 {
		ts.Fatalf("noshare: no shares found in $WORK/shares")
	}
	var hay []byte
	for _, a := range args {
		dir := ts.MkAbs(a)
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			out, err := exec.Command("git", "-C", dir, "log", "-p", "--all").CombinedOutput()
			ts.Check(err)
			hay = append(hay, out...)
		}
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				b, _ := os.ReadFile(p)
				hay = append(hay, b...)
			}
			return nil
		})
	}
	// Card lines are matched with white space collapsed, as printed
	// spacing varies; text shares hold no white space.
	flat := strings.Join(strings.Fields(string(hay)), " ")
	found := false
	for _, s := range secrets {
		if strings.Contains(flat, s) {
			found = true
		}
	}
	if found != neg {
		if neg {
			ts.Fatalf("noshare: no share found")
		}
		ts.Fatalf("noshare: a share occurs in %s", strings.Join(args, ", "))
	}
}
