package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestSyncScripts runs testdata/sync/*.txtar: copies of one ledger at two
// sites, moved by push, sync and bundles, fast-forward only.
func TestSyncScripts(t *testing.T) { testscript.Run(t, scriptParams("testdata/sync")) }

// hookNames are every hook git knows (githooks(5)).
var hookNames = []string{
	"applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit",
	"prepare-commit-msg", "commit-msg", "post-commit", "pre-rebase", "post-checkout", "post-merge",
	"pre-push", "pre-receive", "update", "proc-receive", "post-receive", "post-update",
	"reference-transaction", "push-to-checkout", "pre-auto-gc", "post-rewrite", "sendemail-validate",
	"fsmonitor-watchman", "p4-changelist", "p4-prepare-changelist", "p4-post-changelist",
	"p4-pre-submit", "post-index-change",
}

// execKeys are the config keys with which git runs a command of the
// config's choosing; each names a script that leaves a marker.
var execKeys = []string{
	"core.fsmonitor", "core.alternateRefsCommand", "uploadpack.packObjectsHook", "core.sshCommand",
	"filter.evil.clean", "filter.evil.smudge", "filter.evil.process", "diff.external",
	"diff.evil.textconv", "diff.evil.command", "merge.evil.driver", "core.editor", "sequence.editor",
	"core.pager", "pager.log", "pager.status", "credential.helper", "gpg.program", "gpg.ssh.program",
	"gpg.x509.program", "core.askPass", "core.gitProxy", "remote.origin.uploadpack",
	"remote.origin.receivepack", "gpg.ssh.defaultKeyCommand",
}

// poisonLab is a ledger L (at record 3), bare copies of it at record 1
// and record 3, scripts that each leave a marker in marks, and the
// environment custos runs in.
type poisonLab struct {
	t      *testing.T
	work   string
	marks  string
	evil   string // the scripts, one per hook and key
	env    []string
	base1  string // bare, record 1
	base3  string // bare, record 3
	fork   string // bare, record 3 of a history that forked after record 1
	lHead  string // L's head commit
	custos string
}

func newPoisonLab(t *testing.T) *poisonLab {
	custos, err := exec.LookPath("custos")
	if err != nil {
		t.Fatalf("custos is not on PATH (testscript.Main puts it there): %v", err)
	}
	work := t.TempDir()
	p := &poisonLab{t: t, work: work, marks: filepath.Join(work, "marks"), evil: filepath.Join(work, "evil"), custos: custos}
	p.env = append(os.Environ(), "HOME="+work, "NO_COLOR=1", "GIT_CONFIG_NOSYSTEM=1")
	for _, d := range []string{p.marks, p.evil, filepath.Join(work, "keys")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range append(slices.Clone(hookNames), execKeys...) {
		script := fmt.Sprintf("#!/bin/sh\ntouch \"%s/%s\"\nexit 0\n", p.marks, name)
		if err := os.WriteFile(filepath.Join(p.evil, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var roster strings.Builder
	roster.WriteString("members:\n")
	for _, m := range []string{"alice:custodian", "bob:officer", "carol:officer"} {
		name, role, _ := strings.Cut(m, ":")
		p.run(work, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", filepath.Join(work, "keys", name))
		pub, err := os.ReadFile(filepath.Join(work, "keys", name+".pub"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&roster, "  - name: %s\n    roles: [%s]\n    key: %s\n", name, role, strings.TrimSpace(string(pub)))
	}
	roster.WriteString("policy:\n  approvals:\n    key.generate.intent: {roles: [officer], count: 1}\n")
	p.write("roster.yaml", roster.String())
	for i, period := range []string{"2026-Q1", "2026-Q2", "2026-Q3"} {
		p.write(fmt.Sprintf("q%d.yaml", i+1), "kind: review\noperator: bob\nreview:\n  period: "+period+"\n  findings: roster matches HR records\n")
	}
	p.custosOK("init", "L", "--roster", "roster.yaml", "--key", "alice=keys/alice", "--key", "bob=keys/bob", "--key", "carol=keys/carol")
	p.base1 = filepath.Join(work, "base1.git")
	p.run(work, "git", "clone", "-q", "--bare", "L", p.base1)
	p.run(work, "git", "clone", "-q", p.base1, "F")
	p.custosOK("run", "q1.yaml", "--ledger", "L", "--key", "bob=keys/bob", "--key", "carol=keys/carol")
	p.custosOK("run", "q2.yaml", "--ledger", "F", "--key", "bob=keys/bob", "--key", "carol=keys/carol")
	p.base3 = filepath.Join(work, "base3.git")
	p.run(work, "git", "clone", "-q", "--bare", "L", p.base3)
	p.fork = filepath.Join(work, "fork.git")
	p.run(work, "git", "clone", "-q", "--bare", "F", p.fork)
	p.lHead = strings.TrimSpace(p.run(work, "git", "-C", "L", "rev-parse", "main"))
	p.noMarks("setting up")
	return p
}

func (p *poisonLab) write(name, content string) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.work, name), []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// run runs a trusted tool (stock git on copies not yet poisoned, or as a
// control) and fails the test if it fails.
func (p *poisonLab) run(dir, name string, args ...string) string {
	p.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, p.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// custosRun runs the real custos binary in the lab and returns its exit
// status, stdout and stderr.
func (p *poisonLab) custosRun(env []string, args ...string) (int, string, string) {
	p.t.Helper()
	cmd := exec.Command(p.custos, args...)
	cmd.Dir, cmd.Env = p.work, append(slices.Clone(p.env), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			p.t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	if strings.Contains(stderr.String(), "panic") || strings.Contains(stderr.String(), "goroutine ") {
		p.t.Fatalf("custos %s panicked:\n%s", strings.Join(args, " "), stderr.String())
	}
	return code, stdout.String(), stderr.String()
}

func (p *poisonLab) custosOK(args ...string) string {
	p.t.Helper()
	code, out, errOut := p.custosRun(nil, args...)
	if code != 0 {
		p.t.Fatalf("custos %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// marked lists the markers left, and removes them.
func (p *poisonLab) marked() []string {
	p.t.Helper()
	es, err := os.ReadDir(p.marks)
	if err != nil {
		p.t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
		os.Remove(filepath.Join(p.marks, e.Name()))
	}
	return names
}

func (p *poisonLab) noMarks(what string) {
	p.t.Helper()
	if m := p.marked(); len(m) > 0 {
		p.t.Errorf("%s ran what the copy configures: %v", what, m)
	}
}

// layouts of a shared copy: bare or with a work tree, with or without
// objects/info/alternates (git clone --shared).
var layouts = []struct {
	name        string
	bare, alter bool
}{
	{"bare", true, false}, {"worktree", false, false}, {"bare-alternates", true, true}, {"worktree-alternates", false, true},
}

// ways the poison reaches the copy's config: written in it (hooks in
// hooks/), or in a file it names with include.path (and core.hooksPath
// there), or with includeIf "gitdir:".
var ways = []string{"config", "include", "includeIf"}

// poisonedCopy makes a copy of base in the given layout and fills its
// config with every key that runs a command, and its hooks with every
// hook, each a script that leaves a marker.
func (p *poisonLab) poisonedCopy(name, base string, bare, alter bool, way string, skip ...string) string {
	p.t.Helper()
	dir := filepath.Join(p.work, "copies", name)
	args := []string{"clone", "-q"}
	if bare {
		args = append(args, "--bare")
	}
	if alter {
		args = append(args, "--shared")
	}
	p.run(p.work, "git", append(args, base, dir)...)
	gitDir := dir
	if !bare {
		gitDir = filepath.Join(dir, ".git")
		p.run(dir, "git", "config", "--local", "user.name", "x") // a config stock git writes
	}
	if alter && !pathExists(filepath.Join(gitDir, "objects", "info", "alternates")) {
		p.t.Fatal("git clone --shared made no alternates")
	}
	hooks := filepath.Join(gitDir, "hooks")
	if way != "config" {
		hooks = filepath.Join(p.work, "copies", name+".hooks")
	}
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		p.t.Fatal(err)
	}
	for _, h := range hookNames {
		if err := os.Symlink(filepath.Join(p.evil, h), filepath.Join(hooks, h)); err != nil {
			p.t.Fatal(err)
		}
	}
	var conf strings.Builder
	conf.WriteString("[core]\n\tfsmonitor = " + p.script("core.fsmonitor") + "\n\talternateRefsCommand = " + p.script("core.alternateRefsCommand") +
		"\n\tsshCommand = " + p.script("core.sshCommand") + "\n\teditor = " + p.script("core.editor") + "\n\tpager = " + p.script("core.pager") +
		"\n\taskPass = " + p.script("core.askPass") + "\n\tgitProxy = " + p.script("core.gitProxy") + "\n")
	if way != "config" {
		conf.WriteString("\thooksPath = " + hooks + "\n")
	}
	conf.WriteString("[uploadpack]\n\tpackObjectsHook = " + p.script("uploadpack.packObjectsHook") + "\n")
	conf.WriteString("[receive]\n\tdenyCurrentBranch = updateInstead\n")
	if !slices.Contains(skip, "receive.procReceiveRefs") {
		conf.WriteString("\tprocReceiveRefs = refs/heads\n")
	}
	if !slices.Contains(skip, "filter") {
		conf.WriteString("[filter \"evil\"]\n\tclean = " + p.script("filter.evil.clean") + "\n\tsmudge = " + p.script("filter.evil.smudge") +
			"\n\tprocess = " + p.script("filter.evil.process") + "\n\trequired = true\n")
	}
	conf.WriteString("[diff]\n\texternal = " + p.script("diff.external") + "\n")
	conf.WriteString("[diff \"evil\"]\n\ttextconv = " + p.script("diff.evil.textconv") + "\n\tcommand = " + p.script("diff.evil.command") + "\n")
	conf.WriteString("[merge \"evil\"]\n\tdriver = " + p.script("merge.evil.driver") + "\n")
	conf.WriteString("[sequence]\n\teditor = " + p.script("sequence.editor") + "\n")
	conf.WriteString("[pager]\n\tlog = " + p.script("pager.log") + "\n\tstatus = " + p.script("pager.status") + "\n")
	conf.WriteString("[credential]\n\thelper = !" + p.script("credential.helper") + "\n")
	conf.WriteString("[gpg]\n\tformat = ssh\n\tprogram = " + p.script("gpg.program") + "\n")
	conf.WriteString("[gpg \"ssh\"]\n\tprogram = " + p.script("gpg.ssh.program") + "\n\tdefaultKeyCommand = " + p.script("gpg.ssh.defaultKeyCommand") + "\n\tallowedSignersFile = /dev/null\n")
	conf.WriteString("[gpg \"x509\"]\n\tprogram = " + p.script("gpg.x509.program") + "\n")
	conf.WriteString("[remote \"origin\"]\n\tuploadpack = " + p.script("remote.origin.uploadpack") + "\n\treceivepack = " + p.script("remote.origin.receivepack") + "\n")
	conf.WriteString("[gc]\n\tauto = 1\n\tautoDetach = false\n[commit]\n\tgpgSign = true\n")
	cfg := filepath.Join(gitDir, "config")
	switch way {
	case "config":
		appendFile(p.t, cfg, conf.String())
	case "include":
		inc := filepath.Join(p.work, "copies", name+".inc")
		if err := os.WriteFile(inc, []byte(conf.String()), 0o644); err != nil {
			p.t.Fatal(err)
		}
		appendFile(p.t, cfg, "[include]\n\tpath = "+inc+"\n")
	case "includeIf":
		inc := filepath.Join(p.work, "copies", name+".inc")
		if err := os.WriteFile(inc, []byte(conf.String()), 0o644); err != nil {
			p.t.Fatal(err)
		}
		appendFile(p.t, cfg, "[includeIf \"gitdir:/\"]\n\tpath = "+inc+"\n")
	}
	// every path goes through the filter and the diff and merge drivers
	attrs := "* filter=evil diff=evil merge=evil\n"
	os.MkdirAll(filepath.Join(gitDir, "info"), 0o755)
	appendFile(p.t, filepath.Join(gitDir, "info", "attributes"), attrs)
	if !bare {
		appendFile(p.t, filepath.Join(dir, ".gitattributes"), attrs)
	}
	return dir
}

func (p *poisonLab) script(name string) string { return filepath.Join(p.evil, name) }

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func pathExists(p string) bool { _, err := os.Lstat(p); return err == nil }

// treeOf is every file under dir with its content.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			to, err := os.Readlink(p)
			m[p] = "link " + to
			return err
		}
		b, err := os.ReadFile(p)
		m[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameTree(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, b := range before {
		if a, ok := after[p]; !ok {
			t.Errorf("%s removed %s", what, p)
		} else if a != b {
			t.Errorf("%s changed %s", what, p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s wrote %s", what, p)
		}
	}
}

// TestPoisonedCopyControls proves the poison works: stock git, run in a
// poisoned copy the way custos push once did (git receive-pack with
// hooks switched off), and plain git commands there, run the copy's
// commands. Without this, TestPoisonedCopies could pass by accident.
func TestPoisonedCopyControls(t *testing.T) {
	p := newPoisonLab(t)
	want := func(what string, marks ...string) {
		t.Helper()
		got := p.marked()
		for _, m := range marks {
			if !slices.Contains(got, m) {
				t.Errorf("control %s: %s left no marker (got %v): the poison does not work", what, m, got)
			}
		}
	}
	oldPush := func(copyDir string) {
		cmd := exec.Command("git", "-C", "L", "-c", "core.hooksPath=/dev/null", "push", "--quiet", "--no-verify",
			"--receive-pack=git -c core.hooksPath=/dev/null -c receive.denyCurrentBranch=updateInstead receive-pack", copyDir, "main:main")
		cmd.Dir, cmd.Env = p.work, append(slices.Clone(p.env), "GIT_CONFIG_GLOBAL=/dev/null")
		cmd.CombinedOutput() // it may succeed or not: what it ran is the point
	}
	for _, way := range ways {
		wt := p.poisonedCopy("ctl-wt-"+way, p.base1, false, false, way, "receive.procReceiveRefs")
		oldPush(wt)
		want(way+": the old push into a work tree", "core.fsmonitor")
		alt := p.poisonedCopy("ctl-alt-"+way, p.base1, true, true, way, "receive.procReceiveRefs")
		oldPush(alt)
		want(way+": the old push into a copy with alternates", "core.alternateRefsCommand")
		hooked := p.poisonedCopy("ctl-hooks-"+way, p.base1, true, false, way)
		cmd := exec.Command("git", "-C", "L", "push", "--quiet", hooked, "main:main")
		cmd.Dir, cmd.Env = p.work, p.env
		cmd.CombinedOutput()
		want(way+": a plain push", "pre-receive", "proc-receive")
		wt2 := p.poisonedCopy("ctl-status-"+way, p.base3, false, false, way)
		os.WriteFile(filepath.Join(wt2, "LEDGER.md"), []byte("x\n"), 0o644)
		for _, args := range [][]string{{"status", "--porcelain"}, {"-c", "core.fsmonitor=false", "verify-commit", "HEAD"}} {
			cmd = exec.Command("git", args...)
			cmd.Dir, cmd.Env = wt2, p.env
			cmd.CombinedOutput() // they may fail: what they ran is the point
		}
		wt3 := p.poisonedCopy("ctl-diff-"+way, p.base3, false, false, way, "filter")
		os.WriteFile(filepath.Join(wt3, "LEDGER.md"), []byte("x\n"), 0o644)
		cmd = exec.Command("git", "-c", "core.fsmonitor=false", "diff")
		cmd.Dir, cmd.Env = wt3, p.env
		cmd.CombinedOutput()
		want(way+": git status, diff and verify-commit in a work tree", "core.fsmonitor", "filter.evil.process", "diff.evil.command", "gpg.ssh.program")
	}
}

// TestPoisonedCopies: custos push and custos sync, through the real
// binary, on shared copies whose config and hooks name a command for
// every key with which git runs one, bare and with a work tree, with and
// without alternates, the poison written in the config or in a file it
// includes: nothing runs, and push and sync still do their work.
func TestPoisonedCopies(t *testing.T) {
	p := newPoisonLab(t)
	pushed := regexp.MustCompile(`(?m)^pushed 2 records to \S+: from record 1 sha256:[0-9a-f]{64} to record 3 sha256:[0-9a-f]{64}$`)
	for _, lay := range layouts {
		for _, way := range ways {
			name := lay.name + "-" + way
			t.Run(name, func(t *testing.T) {
				p.t = t
				// push: the copy is at record 1, L at 3
				dst := p.poisonedCopy("push-"+name, p.base1, lay.bare, lay.alter, way)
				p.noMarks("making the copy")
				code, out, errOut := p.custosRun(nil, "push", "L", dst)
				p.noMarks("custos push")
				if code != 0 || !pushed.MatchString(out) {
					t.Fatalf("custos push: exit %d\n%s%s", code, out, errOut)
				}
				v := p.custosOK("verify", dst)
				p.noMarks("custos verify")
				if !strings.Contains(v, "ok: 3 records") || !strings.Contains(v, "(commit "+p.lHead+")") {
					t.Fatalf("the copy after the push:\n%s", v)
				}
				if !lay.bare {
					if _, err := os.Stat(filepath.Join(dst, "records", "00", "00", "000003.json")); err != nil {
						t.Errorf("the work tree was not updated: %v", err)
					}
				}
				code, out, errOut = p.custosRun(nil, "push", "L", dst)
				p.noMarks("a second custos push")
				if code != 0 || !strings.Contains(out, "already up to date") {
					t.Fatalf("second push: exit %d\n%s%s", code, out, errOut)
				}

				// sync: the copy is at record 3, the site at record 1
				src := p.poisonedCopy("sync-"+name, p.base3, lay.bare, lay.alter, way)
				site := filepath.Join(p.work, "sites", name)
				p.run(p.work, "git", "clone", "-q", p.base1, site)
				p.noMarks("making the copy")
				code, out, errOut = p.custosRun(nil, "sync", site, src)
				p.noMarks("custos sync")
				if code != 0 || !strings.Contains(out, "fast-forwarded "+site+" by 2 records") {
					t.Fatalf("custos sync: exit %d\n%s%s", code, out, errOut)
				}
				// a copy that is ahead: push refuses with one clear line, and
				// changes nothing there
				before := treeOf(t, src)
				behind := filepath.Join(p.work, "sites", name+"-behind")
				p.run(p.work, "git", "clone", "-q", p.base1, behind)
				code, _, errOut = p.custosRun(nil, "push", behind, src)
				p.noMarks("a refused custos push")
				if code == 0 || !regexp.MustCompile(`^custos: error: push: the shared copy has records this ledger lacks: \S+ is at record 3 sha256:[0-9a-f]{64}, this ledger at record 1 sha256:[0-9a-f]{64}\ncustos: hint: run custos sync `).MatchString(errOut) {
					t.Fatalf("push to a copy ahead: exit %d\n%s", code, errOut)
				}
				sameTree(t, "a refused push", before, treeOf(t, src))
			})
		}
	}
}

// TestPoisonedFork: a shared copy (poisoned, too) whose main is a fork:
// sync refuses and leaves the ledger exactly as it was, with no ref that
// would block its appends; push refuses and changes nothing there.
func TestPoisonedFork(t *testing.T) {
	p := newPoisonLab(t)
	for _, lay := range layouts {
		t.Run(lay.name, func(t *testing.T) {
			p.t = t
			fork := p.poisonedCopy("fork-"+lay.name, p.fork, lay.bare, lay.alter, "config")
			site := filepath.Join(p.work, "sites", "fork-"+lay.name)
			p.run(p.work, "git", "clone", "-q", "L", site)
			siteBefore, forkBefore := treeOf(t, site), treeOf(t, fork)
			code, _, errOut := p.custosRun(nil, "sync", site, fork)
			p.noMarks("custos sync from a fork")
			if code == 0 || !regexp.MustCompile(`^custos: error: sync: ledger has diverged from its shared copy \S+: this ledger is at record 3 sha256:[0-9a-f]{64}, the shared copy at record 3 sha256:[0-9a-f]{64}, last common record 1 sha256:[0-9a-f]{64}\ncustos: hint: never merge`).MatchString(errOut) {
				t.Fatalf("sync from a fork: exit %d\n%s", code, errOut)
			}
			sameTree(t, "a refused sync", siteBefore, treeOf(t, site))
			code, _, errOut = p.custosRun(nil, "push", site, fork)
			p.noMarks("custos push to a fork")
			if code == 0 || !strings.HasPrefix(errOut, "custos: error: push: the shared copy has records this ledger lacks: ") || strings.Count(errOut, "\n") != 2 {
				t.Fatalf("push to a fork: exit %d\n%s", code, errOut)
			}
			sameTree(t, "a refused push", forkBefore, treeOf(t, fork))
			// nothing blocks the site from appending
			p.custosOK("run", "q3.yaml", "--ledger", site, "--key", "bob=keys/bob", "--key", "carol=keys/carol")
			if v := p.custosOK("verify", site); !strings.Contains(v, "ok: 5 records") {
				t.Fatalf("site after the append:\n%s", v)
			}
		})
	}
}

// TestPoisonedBundle: a bundle carries no config, but the repository
// sync unpacks it into is made by stock git, which would take hooks and
// config from a template directory named in the environment
// (GIT_TEMPLATE_DIR) and check out files through filters: sync makes it
// bare, without templates and without this process's GIT_* variables.
// The bundle is made from a poisoned copy.
func TestPoisonedBundle(t *testing.T) {
	p := newPoisonLab(t)
	src := p.poisonedCopy("bundle-src", p.base3, false, false, "config")
	bundle := filepath.Join(p.work, "ledger.bundle")
	cmd := exec.Command("git", "-c", "core.hooksPath=/dev/null", "bundle", "create", "-q", bundle, "HEAD", "main")
	cmd.Dir, cmd.Env = src, append(slices.Clone(p.env), "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git bundle create: %v\n%s", err, out)
	}
	p.marked() // making the bundle in the poisoned copy is not custos's doing
	// a template directory with every hook and a config with every key
	tmpl := p.poisonedCopy("template", p.base1, true, false, "config")
	tmplEnv := []string{"GIT_TEMPLATE_DIR=" + tmpl, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=core.fsmonitor", "GIT_CONFIG_VALUE_0=" + p.script("core.fsmonitor")}

	// control: a plain clone of the bundle in that environment runs them
	ctl := exec.Command("git", "clone", "-q", bundle, filepath.Join(p.work, "ctl-clone"))
	ctl.Dir, ctl.Env = p.work, append(slices.Clone(p.env), tmplEnv...)
	ctl.CombinedOutput()
	if got := p.marked(); len(got) == 0 {
		t.Fatalf("control: a clone of the bundle with GIT_TEMPLATE_DIR ran no hook (%v): the poison does not work", got)
	}

	site := filepath.Join(p.work, "sites", "bundle")
	p.run(p.work, "git", "clone", "-q", p.base1, site)
	code, out, errOut := p.custosRun(tmplEnv, "sync", site, bundle)
	p.noMarks("custos sync from a bundle")
	if code != 0 || !strings.Contains(out, "fast-forwarded "+site+" by 2 records") {
		t.Fatalf("sync from a bundle: exit %d\n%s%s", code, out, errOut)
	}
	// The readers of a bundle an auditor is given run nothing from it
	// or from that environment either.
	for _, args := range [][]string{{"verify", bundle}, {"inventory", bundle}, {"log", bundle}, {"report", bundle, "-o", filepath.Join(p.work, "bundle-report.md")}} {
		code, out, errOut := p.custosRun(tmplEnv, args...)
		p.noMarks("custos " + args[0] + " of a bundle")
		if code != 0 {
			t.Fatalf("custos %s of a bundle: exit %d\n%s%s", args[0], code, out, errOut)
		}
	}
}
