package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStockPath: scripts/stock-verify runs the guide's stock block
// verbatim, and both refuse commits made with stock git and ssh-keygen
// whose signer is not exactly their author (names with spaces), a commit
// hidden behind a replacement object, and run nothing the clone's own
// configuration names.
func TestStockPath(t *testing.T) {
	root, _ := filepath.Abs("../..")
	guide, err := os.ReadFile(filepath.Join(root, "docs", "auditor-guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	block, ok := guideBlock(guide, "stock")
	if !ok {
		t.Fatal("docs/auditor-guide.md has no block marked e2e:stock")
	}
	script, err := os.ReadFile(filepath.Join(root, "scripts", "stock-verify"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\n# --- docs/auditor-guide.md e2e:stock, verbatim ---\n(.*)# --- end of the block ---\n`).FindSubmatch(script)
	if m == nil || string(m[1]) != block {
		t.Fatalf("scripts/stock-verify does not hold the guide's e2e:stock block verbatim")
	}

	tmp := t.TempDir()
	env := append(os.Environ(), "HOME="+tmp, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	run := func(dir string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	keys := map[string]string{}
	var signers strings.Builder
	for _, k := range []struct{ file, principal string }{{"bob", "bob"}, {"alice", "alice"}, {"carol", `"carol dean"`}} {
		p := filepath.Join(tmp, k.file)
		run(tmp, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", k.file, "-f", p)
		pub, err := os.ReadFile(p + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		keys[k.file] = p
		signers.WriteString(k.principal + ` namespaces="git" ` + string(pub))
	}
	trusted := filepath.Join(tmp, "allowed_signers.outside")
	if err := os.WriteFile(trusted, []byte(signers.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// commit adds records/N (one record per commit, as a ledger has) as
	// author, signed with key (none: unsigned); it returns the commit id.
	commit := func(dir, author, key string) string {
		t.Helper()
		n := len(must(os.ReadDir(filepath.Join(dir, "records")))) + 1
		if err := os.WriteFile(filepath.Join(dir, "records", strings.Repeat("0", 5)+string(rune('0'+n))+".json"), []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		run(dir, "git", "add", "-A")
		args := []string{"-c", "user.name=" + author, "-c", "user.email=someone@custos.ledger", "-c", "gpg.format=ssh"}
		if key == "" {
			args = append(args, "-c", "commit.gpgsign=false")
		} else {
			args = append(args, "-c", "commit.gpgsign=true", "-c", "user.signingkey="+keys[key])
		}
		run(dir, "git", append(args, "commit", "-q", "-m", "record")...)
		return run(dir, "git", "rev-parse", "HEAD")
	}
	type signed struct{ author, key string }
	cases := []struct {
		name    string
		commits []signed
		after   func(t *testing.T, dir string) // tampers with the repository
		bad     string                         // the BAD line, "" when it passes
	}{
		{name: "names with a space", commits: []signed{{"bob", "bob"}, {"carol dean", "carol"}}},
		{name: "signer bob, author bob alice", commits: []signed{{"bob", "bob"}, {"bob alice", "bob"}},
			bad: `G signer "bob" author "bob alice"`},
		{name: "signer alice, author bob alice", commits: []signed{{"bob", "bob"}, {"bob alice", "alice"}},
			bad: `G signer "alice" author "bob alice"`},
		{name: "signer carol dean, author carol", commits: []signed{{"bob", "bob"}, {"carol", "carol"}},
			bad: `G signer "carol dean" author "carol"`},
		{name: "signer bob, author carol dean", commits: []signed{{"bob", "bob"}, {"carol dean", "bob"}},
			bad: `G signer "bob" author "carol dean"`},
		{name: "unsigned", commits: []signed{{"bob", "bob"}, {"bob", ""}}, bad: `N signer "" author "bob"`},
		{name: "unsigned commit behind a replacement", commits: []signed{{"bob", "bob"}, {"bob", ""}},
			after: func(t *testing.T, dir string) {
				// the same tree and parent, signed, put in place of the
				// unsigned head with git replace: plain git log shows G
				head := run(dir, "git", "rev-parse", "HEAD")
				run(dir, "git", "-c", "user.name=bob", "-c", "user.email=someone@custos.ledger", "-c", "gpg.format=ssh",
					"-c", "user.signingkey="+keys["bob"], "commit", "-q", "--amend", "-S", "--no-edit")
				good := run(dir, "git", "rev-parse", "HEAD")
				run(dir, "git", "reset", "-q", "--hard", head)
				run(dir, "git", "replace", head, good)
				if got := run(dir, "git", "-c", "gpg.ssh.allowedSignersFile="+trusted, "log", "-1", "--format=%G?"); got != "G" {
					t.Fatalf("the replacement does not hide the unsigned commit (%s): the case tests nothing", got)
				}
			},
			bad: `N signer "" author "bob"`},
		{name: "the clone's configuration runs nothing", commits: []signed{{"bob", "bob"}, {"carol dean", "carol"}},
			after: func(t *testing.T, dir string) {
				fake := filepath.Join(dir, "..", "fake-verifier")
				os.WriteFile(fake, []byte("#!/bin/sh\ntouch \"$(dirname \"$0\")/ran\"\nexec ssh-keygen \"$@\"\n"), 0o755)
				monitor := filepath.Join(dir, "..", "fake-monitor")
				os.WriteFile(monitor, []byte("#!/bin/sh\ntouch \"$(dirname \"$0\")/ran\"\nexit 1\n"), 0o755)
				run(dir, "git", "config", "gpg.ssh.program", fake)
				run(dir, "git", "config", "core.fsmonitor", monitor)
				run(dir, "git", "-c", "gpg.ssh.allowedSignersFile="+trusted, "log", "-1", "--format=%G?")
				if _, err := os.Stat(filepath.Join(dir, "..", "ran")); err != nil {
					t.Fatalf("plain git log did not run the clone's gpg.ssh.program: the case tests nothing")
				}
				os.Remove(filepath.Join(dir, "..", "ran"))
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// the guide's block, in a directory holding ./ledger
			work := t.TempDir()
			dir := filepath.Join(work, "ledger")
			os.MkdirAll(filepath.Join(dir, "records"), 0o755)
			run(work, "git", "init", "-q", "-b", "main", "ledger")
			os.WriteFile(filepath.Join(dir, "allowed_signers"), []byte(signers.String()), 0o644)
			var ids []string
			for _, s := range c.commits {
				ids = append(ids, commit(dir, s.author, s.key))
			}
			if c.after != nil {
				c.after(t, dir)
			}
			verdicts := map[string]string{}
			for _, how := range []string{"guide", "script"} {
				var cmd *exec.Cmd
				if how == "guide" {
					cmd = exec.Command("bash", "-c", "set -euo pipefail\n"+block)
					cmd.Dir, cmd.Env = work, env
				} else {
					cmd = exec.Command(filepath.Join(root, "scripts", "stock-verify"), dir)
					cmd.Dir, cmd.Env = t.TempDir(), append(env, "ALLOWED_SIGNERS="+trusted)
				}
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				out := stdout.String()
				if c.bad == "" {
					if err != nil || !strings.Contains(out, "all 2 commits have a good signature by their author") || strings.Contains(out, "BAD") {
						t.Errorf("%s: %v\n%s%s", how, err, out, stderr.String())
					}
				} else {
					want := "BAD: " + ids[1] + " " + c.bad + "\n"
					if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "1 of 2 commits FAILED") {
						t.Errorf("%s: %v, want a failure with %q:\n%s%s", how, err, want, out, stderr.String())
					}
				}
				verdicts[how] = out
				if _, err := os.Stat(filepath.Join(work, "ran")); err == nil {
					t.Errorf("%s ran a program named by the clone's configuration", how)
				}
			}
			if verdicts["guide"] != verdicts["script"] {
				t.Errorf("the guide says\n%s\nthe script\n%s", verdicts["guide"], verdicts["script"])
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
