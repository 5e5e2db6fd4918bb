package ledger

// Git bundles carry a ledger across an air gap on removable media. go-git
// cannot write or read bundles, so this file shells out to stock git
// (`git bundle create`, `git bundle verify`, `git clone`): the one place
// the ledger package runs an external program. A bundle is only a
// transport: whatever comes out of it is verified like any clone.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"custos/internal/media"
)

// IsBundle reports whether path is a regular file that starts like a git
// bundle ("# v2 git bundle" or "# v3 git bundle").
func IsBundle(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	return line == "# v2 git bundle\n" || line == "# v3 git bundle\n"
}

// stockGitCmd is stock git with no system or user configuration, so a
// workstation's settings (hooks, signing, aliases) cannot change a bundle,
// a fetch or a push.
func stockGitCmd(args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
	return cmd
}

// stockGit runs stockGitCmd; its error keeps the first line of git's stderr.
func stockGit(args ...string) ([]byte, error) {
	cmd := stockGitCmd(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("git is not installed: %w", err)
		}
		return nil, fmt.Errorf("git %s: %w: %s", args[0], err, msg)
	}
	return out, nil
}

// WriteBundle writes the ledger in dir (its main branch and HEAD, every
// record) as a git bundle at out. It opens the ledger first, so a damaged
// ledger is refused, and it writes atomically and never over an existing
// file. It returns the head record digest and commit the bundle carries.
func WriteBundle(dir, out string) (head, commit string, err error) {
	l, err := Open(dir)
	if err != nil {
		return "", "", fmt.Errorf("bundle: %w", err)
	}
	head, commit = l.Head()
	if _, err := os.Lstat(out); err == nil {
		return "", "", fmt.Errorf("bundle: %s: %w", out, os.ErrExist)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return "", "", fmt.Errorf("bundle: %w", err)
	}
	// git writes into a private temporary directory and checks the bundle
	// there; it is then copied onto the medium through the shared writer
	// (an incomplete name, synced, renamed never over a file: no hard
	// links, so FAT and exFAT media work) and read back from it.
	tmpDir, err := os.MkdirTemp("", "custos-bundle-")
	if err != nil {
		return "", "", fmt.Errorf("bundle: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	name := filepath.Join(tmpDir, "ledger.bundle")
	if _, err := stockGit("-C", dir, "bundle", "create", "--quiet", name, "HEAD", "main"); err != nil {
		return "", "", fmt.Errorf("bundle: ledger %s: %w", dir, err)
	}
	if _, err := stockGit("-C", dir, "bundle", "verify", "--quiet", name); err != nil {
		return "", "", fmt.Errorf("bundle: check of the new bundle: %w", err)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return "", "", fmt.Errorf("bundle: %w", err)
	}
	if err := media.Write(abs, data, media.Public); err != nil {
		return "", "", fmt.Errorf("bundle: %w", err)
	}
	if _, err := media.Check(abs, media.SHA256(data)); err != nil {
		return "", "", fmt.Errorf("bundle: %w", err)
	}
	return head, commit, nil
}

// Unbundle unpacks the bundle at path into a new temporary directory, as
// a bare repository made by stock git with no configuration, template or
// GIT_* variable of this process (unbundleBare: a bundle from elsewhere,
// or an environment prepared for it, runs nothing), and returns its
// directory and a function that removes it.
func Unbundle(path string) (dir string, cleanup func(), err error) {
	if !IsBundle(path) {
		return "", nil, fmt.Errorf("unbundle: %s is not a git bundle", path)
	}
	dir, _, cleanup, err = unbundleBare(path)
	return dir, cleanup, err
}

// VerifyPath verifies a ledger given as a directory or as a git bundle
// file (cloned to a temporary directory first, then verified like any
// clone).
func VerifyPath(path string, opts Options) Result {
	if !IsBundle(path) {
		return Verify(path, opts)
	}
	// The history checked is the one git clone checks out: the bundle's
	// HEAD, which must be its main branch.
	refs, err := readBundleHeader(path)
	var main plumbing.Hash
	var findings []string
	if err == nil {
		main, findings, err = checkBundleRefs(path, refs)
	}
	if err != nil {
		var r *refusal
		if !errors.As(err, &r) {
			r = &refusal{"bundle", err.Error()}
		}
		return Result{Failure: &Failure{Check: r.check, Reason: r.reason}}
	}
	dir, cleanup, err := Unbundle(path)
	if err != nil {
		return Result{Failure: &Failure{Check: "bundle", Reason: err.Error()}}
	}
	defer cleanup()
	res := Verify(dir, opts)
	if res.HeadCommit != "" && res.HeadCommit != main.String() {
		res.OK = false
		res.Failure = &Failure{Check: "bundle", Reason: fmt.Sprintf("the clone of %s is at %s, its header says %s", path, res.HeadCommit, main)}
	}
	res.Checked = fmt.Sprintf("%s at %s, the HEAD of %s", branchRef, main, filepath.Base(path))
	// the clone's own layout (its origin refs) is not the bundle's
	res.Findings = findings
	return res
}
