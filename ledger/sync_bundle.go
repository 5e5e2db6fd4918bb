package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// unbundleBare makes a bare repository of the bundle at path in a new
// temporary directory, for sync to verify and read, and returns the
// commit of main that the bundle's header names. A bundle is a header and
// a pack: it carries no configuration and no hooks. Stock git unpacks it
// (go-git cannot read bundles) with an environment of its own: no system,
// global or environment configuration (every GIT_* variable of this
// process is dropped), no template directory (so the new repository has
// no hooks), no work tree (so nothing is checked out, and no attribute or
// filter applies). The repository's own config is the one git writes.
func unbundleBare(path string) (dir string, main plumbing.Hash, cleanup func(), err error) {
	refs, err := readBundleHeader(path)
	if err == nil {
		main, _, err = checkBundleRefs(path, refs)
	}
	if err != nil {
		return "", plumbing.ZeroHash, nil, fmt.Errorf("bundle %s: %w", path, err)
	}
	tmp, err := os.MkdirTemp("", "custos-unbundle-")
	if err != nil {
		return "", plumbing.ZeroHash, nil, fmt.Errorf("unbundle: %w", err)
	}
	cleanup = func() { os.RemoveAll(tmp) }
	abs, err := filepath.Abs(path)
	if err == nil {
		dir = filepath.Join(tmp, "ledger.git")
		err = isolatedGit(tmp, "clone", "--quiet", "--bare", "--no-hardlinks", "--template=", "--branch", branchRef.Short(), abs, dir)
	}
	if err != nil {
		cleanup()
		return "", plumbing.ZeroHash, nil, fmt.Errorf("unbundle %s: %w", path, err)
	}
	return dir, main, cleanup, nil
}

// isolatedGit runs stock git in dir with no configuration but that of
// the repository it makes, and without any GIT_* variable of this
// process; its error keeps the first line of git's stderr.
func isolatedGit(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0", "GIT_ATTR_NOSYSTEM=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("git is not installed: %w", err)
		}
		msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		return fmt.Errorf("git %s: %w: %s", args[0], err, msg)
	}
	return nil
}
