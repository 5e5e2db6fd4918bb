package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBundle writes a ledger as a git bundle, checks it with stock git,
// and verifies what comes out of it: the same head, records and result.
func TestBundle(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	out := filepath.Join(t.TempDir(), "ledger.bundle")
	head, commit, err := WriteBundle(f.dir, out)
	if err != nil {
		t.Fatal(err)
	}
	if h, c := f.l.Head(); head != h || commit != c {
		t.Fatalf("bundle head %s %s, ledger %s %s", head, commit, h, c)
	}
	if !IsBundle(out) || IsBundle(f.dir) || IsBundle(filepath.Join(f.dir, "roster.json")) {
		t.Fatal("IsBundle is wrong")
	}
	// stock git agrees it is a complete bundle with main and HEAD
	refs := gitCmd(t, f.dir, "bundle", "list-heads", out)
	if !strings.Contains(refs, commit+" refs/heads/main") || !strings.Contains(refs, commit+" HEAD") {
		t.Fatalf("bundle heads:\n%s", refs)
	}
	gitCmd(t, f.dir, "bundle", "verify", "--quiet", out)

	res := VerifyPath(out, Options{Genesis: f.l.State().Genesis, TrustedHead: head})
	if !res.OK || !res.OriginChecked || !res.TrustedHeadChecked || res.Head != head || res.Records != f.l.State().Seq {
		t.Fatalf("verify of the bundle: %+v %v", res, res.Err())
	}
	dir, cleanup, err := Unbundle(out)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := l.Head(); h != head {
		t.Fatalf("unbundled head %s, want %s", h, head)
	}
	cleanup()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cleanup left %s", dir)
	}

	// never over an existing file, and nothing left behind
	before, _ := os.ReadFile(out)
	if _, _, err := WriteBundle(f.dir, out); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second bundle: %v", err)
	}
	after, _ := os.ReadFile(out)
	if string(before) != string(after) {
		t.Fatal("existing bundle changed")
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

// TestBundleRefused: damaged bundles and non-ledgers fail with errors that
// say what and where.
func TestBundleRefused(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "l.bundle")
	if _, _, err := WriteBundle(f.dir, out); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)

	cut := filepath.Join(tmp, "cut.bundle")
	os.WriteFile(cut, data[:len(data)-100], 0o644)
	if res := VerifyPath(cut, Options{}); res.OK || res.Failure == nil || res.Failure.Check != "bundle" {
		t.Fatalf("truncated bundle: %+v", res)
	}
	// a flipped byte in the pack: git refuses it or verify does
	flip := filepath.Join(tmp, "flip.bundle")
	bad := append([]byte{}, data...)
	bad[len(bad)-30] ^= 0xff
	os.WriteFile(flip, bad, 0o644)
	if res := VerifyPath(flip, Options{}); res.OK {
		t.Fatal("a damaged bundle verified")
	}
	if _, _, err := Unbundle(filepath.Join(f.dir, "roster.json")); err == nil || !strings.Contains(err.Error(), "not a git bundle") {
		t.Fatalf("unbundle of a json file: %v", err)
	}
	empty := t.TempDir()
	if _, _, err := WriteBundle(empty, filepath.Join(tmp, "e.bundle")); err == nil || !strings.HasPrefix(err.Error(), "bundle: ") {
		t.Fatalf("bundle of an empty directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "e.bundle")); err == nil {
		t.Fatal("bundle of a non-ledger was written")
	}
	// a bundle of a tampered ledger carries the tampering: verify names it
	gitCmd(t, f.dir, "-c", "user.name=mallory", "-c", "user.email=m@example.org", "commit", "-q", "--allow-empty", "-m", "extra")
	tb := filepath.Join(tmp, "tampered.bundle")
	if _, err := stockGit("-C", f.dir, "bundle", "create", "--quiet", tb, "HEAD", "main"); err != nil {
		t.Fatal(err)
	}
	if res := VerifyPath(tb, Options{}); res.OK {
		t.Fatal("a bundle with an unsigned extra commit verified")
	}
}
