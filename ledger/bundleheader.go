package ledger

// What `git clone X.bundle` checks out is the bundle's HEAD: verify reads
// the bundle's header (its refs) and refuses a bundle whose HEAD is not
// its refs/heads/main, so that the history it checks is the one a clone
// of the bundle shows.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/go-git/go-git/v5/plumbing"

	"custos/ledger/internal/gitobj"
)

// maxBundleHeader bounds a bundle's header: its refs and prerequisites.
const maxBundleHeader = 1 << 20

// bundleRef is one ref a bundle carries.
type bundleRef struct {
	name string
	hash plumbing.Hash
}

// readBundleHeader reads the refs of the bundle at path.
func readBundleHeader(path string) ([]bundleRef, error) {
	fi, err := os.Stat(path) // a bundle may be given through a link
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is a %s, not a regular file", path, gitobj.FileKind(fi.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBundleHeader))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	end := bytes.Index(b, []byte("\n\n"))
	if end < 0 {
		return nil, fmt.Errorf("%s: no end of the bundle header in its first %d bytes", path, maxBundleHeader)
	}
	refs, err := parseBundleHeader(b[:end+1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return refs, nil
}

// parseBundleHeader parses a v2 or v3 bundle header up to its blank line:
// the signature line, v3 capabilities ("@name[=value]"), prerequisites
// ("-<id> [comment]", refused: verify needs the whole history) and refs
// ("<id> <name>").
func parseBundleHeader(b []byte) ([]bundleRef, error) {
	first, rest, ok := bytes.Cut(b, []byte("\n"))
	v3 := string(first) == "# v3 git bundle"
	if !ok || (!v3 && string(first) != "# v2 git bundle") {
		return nil, errors.New("not a git bundle (v2 or v3)")
	}
	var refs []bundleRef
	for n := 2; len(rest) > 0; n++ {
		var line []byte
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, fmt.Errorf("bundle header line %d has no end", n)
		}
		switch {
		case len(line) == 0:
			return nil, fmt.Errorf("bundle header line %d is empty", n)
		case line[0] == '@':
			if !v3 || len(refs) > 0 {
				return nil, fmt.Errorf("bundle header line %d: a capability out of place", n)
			}
			if name, _, _ := bytes.Cut(line[1:], []byte("=")); string(name) == "object-format" && !bytes.Equal(line, []byte("@object-format=sha1")) {
				return nil, fmt.Errorf("bundle header line %d: %.40q: a ledger uses SHA-1 object ids", n, line)
			}
		case line[0] == '-':
			id, _, _ := bytes.Cut(line[1:], []byte(" "))
			return nil, fmt.Errorf("the bundle needs commit %.40s, which it does not carry (an incremental bundle): verify needs the whole history", id)
		default:
			id, name, ok := bytes.Cut(line, []byte(" "))
			h, hok := gitobj.ParseHash(id)
			if !ok || !hok || len(name) == 0 || bytes.ContainsAny(name, " \r\x00") {
				return nil, fmt.Errorf("bundle header line %d is malformed", n)
			}
			if len(refs) >= maxRefs {
				return nil, fmt.Errorf("the bundle carries more than %d refs", maxRefs)
			}
			refs = append(refs, bundleRef{string(name), h})
		}
	}
	return refs, nil
}

// checkBundleRefs finds the history a clone of the bundle shows, its
// refs/heads/main, and refuses a bundle whose refs disagree on it; it
// returns main's commit and what it reports.
func checkBundleRefs(path string, refs []bundleRef) (plumbing.Hash, []string, error) {
	seen := map[string]plumbing.Hash{}
	for _, r := range refs {
		if h, ok := seen[r.name]; ok && h != r.hash {
			return plumbing.ZeroHash, nil, refuse("bundle", "%s lists %s twice, at %s and at %s", path, r.name, h, r.hash)
		}
		seen[r.name] = r.hash
	}
	main, ok := seen[branchRef.String()]
	if !ok {
		return plumbing.ZeroHash, nil, refuse("bundle", "%s carries no %s", path, branchRef)
	}
	var findings []string
	head, ok := seen["HEAD"]
	switch {
	case !ok:
		findings = append(findings, fmt.Sprintf("the bundle %s has no HEAD: git clone checks out no branch (git clone --branch main does)", path))
	case head != main:
		return plumbing.ZeroHash, nil, refuse("bundle", "the HEAD of %s is %s, its %s is %s: git clone checks out the HEAD's history, not the one verify would check", path, head, branchRef, main)
	}
	for _, r := range refs {
		if r.name != "HEAD" && r.name != branchRef.String() && seen[r.name] == r.hash {
			findings = append(findings, fmt.Sprintf("the bundle also carries %s at %s, which was not checked", r.name, r.hash))
			delete(seen, r.name)
		}
	}
	return main, findings, nil
}
