package ledger

// What git shows is what verify checked. Verify does not open a copy of
// a ledger through go-git, which ignores much of what stock git honours;
// it reads the repository's layout, refs and object stores itself, the
// way git does, and refuses a copy in which git would show another
// history than the one verify checks (docs/ledger-format.md, "What
// verify checks"). Every file is read bounded (gitfiles.go).

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"custos/ledger/internal/gitobj"
)

// gitRepo is a repository as stock git reads it.
type gitRepo struct {
	dir       string
	gitDir    string // HEAD and a linked worktree's own refs
	commonDir string // objects, refs, packed-refs
	objects   []string
	refs      map[string]gitRef // every ref but HEAD, by name
	head      gitRef            // HEAD
	main      plumbing.Hash     // refs/heads/main
	findings  []string          // reported, not refused
}

// gitRef is a ref: a commit id, or the name of another ref.
type gitRef struct {
	hash   plumbing.Hash
	target string // a symbolic ref's target
}

// refusal is a copy verify refuses: the check and why.
type refusal struct{ check, reason string }

func (r *refusal) Error() string { return r.check + ": " + r.reason }

func refuse(check, format string, args ...any) error {
	return &refusal{check, fmt.Sprintf(format, args...)}
}

// openGitRepo reads the layout and refs of the repository at dir: a work
// tree with a .git directory, a .git file (git clone --separate-git-dir,
// git worktree add), or a bare repository.
func openGitRepo(dir string) (*gitRepo, error) {
	r := &gitRepo{dir: dir, refs: map[string]gitRef{}}
	linked, err := r.findGitDir()
	if err != nil {
		return nil, err
	}
	r.commonDir = r.gitDir
	common := filepath.Join(r.gitDir, "commondir")
	if exists(common) {
		b, err := readSmall(common, maxSmallFile)
		if err != nil {
			return nil, refuse("repository", "%v", err)
		}
		to := strings.TrimRight(string(b), "\r\n")
		if !linked {
			return nil, refuse("repository", "%s names %q: git would read the objects and refs of that repository, not those in %s (only a linked worktree, reached through a .git file, has a commondir)", common, to, r.gitDir)
		}
		if to == "" {
			return nil, refuse("repository", "%s is empty", common)
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(r.gitDir, to)
		}
		if fi, err := os.Stat(to); err != nil || !fi.IsDir() {
			return nil, refuse("repository", "%s names %s, which is not a directory", common, to)
		}
		r.commonDir = to
	}
	if err := r.checkRewrites(); err != nil {
		return nil, err
	}
	if err := r.findObjects(); err != nil {
		return nil, err
	}
	if err := r.readRefs(); err != nil {
		return nil, err
	}
	return r, r.checkHead()
}

// findGitDir sets r.gitDir; linked is whether it was named by a .git file.
func (r *gitRepo) findGitDir() (linked bool, err error) {
	dotGit := filepath.Join(r.dir, ".git")
	fi, err := os.Stat(dotGit)
	switch {
	case err == nil && fi.IsDir():
		r.gitDir = dotGit
		return false, nil
	case err == nil:
		b, err := readSmall(dotGit, maxSmallFile)
		if err != nil {
			return false, refuse("repository", "%v", err)
		}
		to, ok := strings.CutPrefix(strings.TrimRight(string(b), "\r\n"), "gitdir: ")
		if !ok || to == "" || strings.ContainsAny(to, "\n\x00") {
			return false, refuse("repository", "%s is not a .git file (\"gitdir: <path>\")", dotGit)
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(r.dir, to)
		}
		if fi, err := os.Stat(to); err != nil || !fi.IsDir() {
			return false, refuse("repository", "%s names %s, which is not a git directory", dotGit, to)
		}
		r.gitDir = to
		return true, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, refuse("repository", "%v", err)
	}
	// a bare repository
	if fi, err := os.Stat(filepath.Join(r.dir, "objects")); err == nil && fi.IsDir() && exists(filepath.Join(r.dir, "HEAD")) {
		r.gitDir = r.dir
		return false, nil
	}
	return false, refuse("repository", "%s is not a git repository (no .git, and not a bare repository)", r.dir)
}

// checkRewrites refuses what makes git show parents other than the
// commits' own: grafts and a shallow boundary.
func (r *gitRepo) checkRewrites() error {
	for _, name := range []string{filepath.Join("info", "grafts"), "shallow"} {
		p := filepath.Join(r.commonDir, name)
		if !exists(p) {
			continue
		}
		b, err := readSmall(p, maxListFile)
		if err != nil {
			return refuse("repository", "%v", err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			c, _, _ := strings.Cut(line, " ")
			if name == "shallow" {
				return refuse("repository", "%s cuts the history at commit %.40s: git log stops there (a shallow clone); verify needs the whole history: clone without --depth", p, c)
			}
			return refuse("repository", "%s gives commit %.40s other parents: git log would show another history than the commits' own", p, c)
		}
	}
	return nil
}

// findObjects lists the object directories in git's order: the
// repository's own, then its alternates (objects/info/alternates),
// depth first, as deep as git follows them.
func (r *gitRepo) findObjects() error {
	own := filepath.Join(r.commonDir, "objects")
	if fi, err := os.Stat(own); err != nil || !fi.IsDir() {
		return refuse("repository", "%s has no objects directory", r.commonDir)
	}
	var add func(dir string, depth int) error
	add = func(dir string, depth int) error {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return refuse("repository", "%v", err)
		}
		if slices.Contains(r.objects, abs) {
			return nil
		}
		r.objects = append(r.objects, abs)
		alt := filepath.Join(dir, "info", "alternates")
		if !exists(alt) {
			return nil
		}
		if depth >= maxObjectDepth {
			return refuse("repository", "%s: alternates nested deeper than %d (git ignores them)", alt, maxObjectDepth)
		}
		b, err := readSmall(alt, maxSmallFile)
		if err != nil {
			return refuse("repository", "%v", err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			line = strings.TrimRight(line, "\r")
			if line == "" || line[0] == '#' {
				continue
			}
			if line[0] == '"' {
				if line, err = strconv.Unquote(line); err != nil {
					return refuse("repository", "%s: malformed quoted path %.80q", alt, line)
				}
			}
			p := line
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
				r.findings = append(r.findings, fmt.Sprintf("%s names %s, which is not an object directory (git ignores it too)", alt, p))
				continue
			}
			if err := add(p, depth+1); err != nil {
				return err
			}
			r.findings = append(r.findings, fmt.Sprintf("objects are also read from %s (%s): each is checked against its id wherever it is, but this copy depends on that one", p, alt))
		}
		return nil
	}
	return add(own, 0)
}

// readRefs reads the loose refs and packed-refs of the common directory
// and, in a linked worktree, its own (refs/worktree/, refs/bisect/,
// refs/rewritten/), then HEAD.
func (r *gitRepo) readRefs() error {
	if p := filepath.Join(r.commonDir, "packed-refs"); exists(p) {
		b, err := readSmall(p, maxListFile)
		if err != nil {
			return refuse("refs", "%v", err)
		}
		packed, err := parsePackedRefs(b)
		if err != nil {
			return refuse("refs", "%s: %v", p, err)
		}
		for name, h := range packed {
			r.refs[name] = gitRef{hash: h}
		}
	}
	perWorktree := func(name string) bool {
		return strings.HasPrefix(name, "refs/worktree/") || strings.HasPrefix(name, "refs/bisect/") || strings.HasPrefix(name, "refs/rewritten/")
	}
	dirs := []string{r.commonDir}
	if r.gitDir != r.commonDir {
		dirs = append(dirs, r.gitDir)
	}
	for i, base := range dirs {
		root := filepath.Join(base, "refs")
		if !exists(root) {
			continue
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return refuse("refs", "%v", err)
			}
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(base, p)
			name := filepath.ToSlash(rel)
			if strings.HasSuffix(name, ".lock") {
				return nil // a ref being written; git skips it too
			}
			if perWorktree(name) != (i == 1) && r.gitDir != r.commonDir {
				return nil // the other worktree's, or not one's own
			}
			if len(r.refs) >= maxRefs {
				return refuse("refs", "more than %d refs", maxRefs)
			}
			ref, err := readRefFile(p)
			if err != nil {
				return refuse("refs", "%s: %v", name, err)
			}
			r.refs[name] = ref
			return nil
		})
		if err != nil {
			return err
		}
	}
	head, err := readRefFile(filepath.Join(r.gitDir, "HEAD"))
	if err != nil {
		return refuse("refs", "HEAD: %v", err)
	}
	r.head = head
	return nil
}

// readRefFile reads a loose ref or HEAD: a commit id, or "ref: " and the
// name of another ref.
func readRefFile(p string) (gitRef, error) {
	b, err := readSmall(p, maxRefFile)
	if err != nil {
		return gitRef{}, err
	}
	return parseRef(b)
}

// parseRef parses the content of a loose ref file.
func parseRef(b []byte) (gitRef, error) {
	s, ok := strings.CutSuffix(string(b), "\n")
	if !ok || strings.ContainsAny(s, "\n\r\x00") {
		return gitRef{}, errors.New("malformed ref file (not one line)")
	}
	if to, ok := strings.CutPrefix(s, "ref: "); ok {
		if !strings.HasPrefix(to, "refs/") || strings.Contains(to, "..") || strings.ContainsAny(to, " ~^:?*[\\") {
			return gitRef{}, fmt.Errorf("malformed symbolic ref %.80q", to)
		}
		return gitRef{target: to}, nil
	}
	h, ok := gitobj.ParseHash([]byte(s))
	if !ok {
		return gitRef{}, fmt.Errorf("malformed ref %.80q (not a commit id)", s)
	}
	return gitRef{hash: h}, nil
}

// parsePackedRefs parses a packed-refs file: an optional "# pack-refs
// with:" line, then "<id> <name>" lines, each optionally followed by a
// "^<id>" line (the commit an annotated tag points at).
func parsePackedRefs(b []byte) (map[string]plumbing.Hash, error) {
	out := map[string]plumbing.Hash{}
	last := ""
	for n, line := range bytes.Split(b, []byte("\n")) {
		switch {
		case len(line) == 0:
			if n != bytes.Count(b, []byte("\n")) {
				return nil, fmt.Errorf("line %d is empty", n+1)
			}
		case line[0] == '#':
			if n != 0 {
				return nil, fmt.Errorf("line %d: a comment after the header", n+1)
			}
		case line[0] == '^':
			if _, ok := gitobj.ParseHash(line[1:]); !ok || last == "" {
				return nil, fmt.Errorf("line %d is malformed", n+1)
			}
			last = ""
		default:
			id, name, ok := bytes.Cut(line, []byte(" "))
			h, hok := gitobj.ParseHash(id)
			if !ok || !hok || !bytes.HasPrefix(name, []byte("refs/")) || bytes.ContainsAny(name, " \r\x00") {
				return nil, fmt.Errorf("line %d is malformed", n+1)
			}
			if len(out) >= maxRefs {
				return nil, fmt.Errorf("more than %d refs", maxRefs)
			}
			if _, dup := out[string(name)]; dup {
				return nil, fmt.Errorf("line %d: %s is listed twice", n+1, name)
			}
			out[string(name)] = h
			last = string(name)
		}
	}
	return out, nil
}

// resolve follows ref name to a commit id, as git does (at most five
// symbolic refs deep); false when it leads nowhere.
func (r *gitRepo) resolve(ref gitRef) (plumbing.Hash, string, bool) {
	name := ""
	for range 5 {
		if ref.target == "" {
			return ref.hash, name, true
		}
		name = ref.target
		var ok bool
		if ref, ok = r.refs[name]; !ok {
			return plumbing.ZeroHash, name, false
		}
	}
	return plumbing.ZeroHash, name, false
}

// checkHead finds refs/heads/main and refuses a HEAD that shows another
// history: what git log, git verify-commit and a clone start from.
func (r *gitRepo) checkHead() error {
	main, ok := r.refs[branchRef.String()]
	switch {
	case !ok:
		return refuse("repository", "%s has no branch %s", r.dir, branchRef.Short())
	case main.target != "":
		return refuse("refs", "%s is a symbolic ref to %s: the ledger's branch must be a branch of its own", branchRef, main.target)
	}
	r.main = main.hash
	for _, name := range r.names() {
		if ref := r.refs[name]; strings.HasPrefix(name, "refs/replace/") {
			return refuse("refs", "%s: git replaces object %s with %s when it shows the history (git replace), so it would not show what verify checks; delete it with git replace -d", name, strings.TrimPrefix(name, "refs/replace/"), r.describe(ref))
		}
	}
	h, name, ok := r.resolve(r.head)
	switch {
	case r.head.target == branchRef.String():
		return nil
	case !ok && name != "":
		return refuse("refs", "HEAD is %s, which does not exist: git log shows no history and a clone checks out none; custos verify checks %s (git symbolic-ref HEAD %s)", name, branchRef, branchRef)
	case !ok:
		return refuse("refs", "HEAD cannot be resolved")
	case h != r.main && name != "":
		return refuse("refs", "HEAD is %s at %s, not %s at %s: git log and a clone would show that history, not the one verify checks (git symbolic-ref HEAD %s)", name, h, branchRef, r.main, branchRef)
	case h != r.main:
		return refuse("refs", "HEAD is detached at %s, not at %s (%s): git log would show that history, not the one verify checks", h, branchRef, r.main)
	case name != "":
		r.findings = append(r.findings, fmt.Sprintf("HEAD is %s, not %s, at the same commit", name, branchRef))
	default:
		r.findings = append(r.findings, fmt.Sprintf("HEAD is detached at %s, the commit of %s", h, branchRef))
	}
	return nil
}

// names are the names of the refs, sorted.
func (r *gitRepo) names() []string {
	names := make([]string, 0, len(r.refs))
	for name := range r.refs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (r *gitRepo) describe(ref gitRef) string {
	if ref.target != "" {
		return ref.target
	}
	return ref.hash.String()
}

// checked says which history verify checked.
func (r *gitRepo) checked() string {
	return fmt.Sprintf("%s at %s", branchRef, r.main)
}

// otherRefs reports the refs git could show beside the history checked:
// every branch but main, notes (git log prints them beside the commits),
// and any other ref that is not in the history checked (inHistory) — a
// tag, a remote-tracking branch, custos's own refs/remotes/shared/main.
// o peels annotated tags.
func (r *gitRepo) otherRefs(o *gitobj.Reader, inHistory func(plumbing.Hash) bool) []string {
	var out []string
	for _, name := range r.names() {
		ref := r.refs[name]
		if name == branchRef.String() {
			continue
		}
		h, to, ok := r.resolve(ref)
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s points at %s, which does not exist", name, to))
			continue
		case strings.HasPrefix(name, "refs/notes/"):
			out = append(out, fmt.Sprintf("%s at %s: git log shows these notes beside the commits; notes are not part of the ledger and were not checked", name, h))
			continue
		}
		in := inHistory(h)
		if !in && strings.HasPrefix(name, "refs/tags/") {
			in = inHistory(peelTag(o, h))
		}
		switch {
		case strings.HasPrefix(name, "refs/heads/") && in:
			out = append(out, fmt.Sprintf("%s at %s: another branch, at a commit of the history checked", name, h))
		case strings.HasPrefix(name, "refs/heads/"):
			out = append(out, fmt.Sprintf("%s at %s: another branch, not in the history checked (git log %s shows it; it was not verified)", name, h, strings.TrimPrefix(name, "refs/heads/")))
		case !in:
			out = append(out, fmt.Sprintf("%s at %s is not in the history checked (it was not verified)", name, h))
		}
	}
	return out
}

// peelTag is the object annotated tag h points at (zero if h is not a
// tag).
func peelTag(o *gitobj.Reader, h plumbing.Hash) plumbing.Hash {
	for range 5 {
		b, err := o.Read(h, plumbing.TagObject)
		if err != nil {
			return plumbing.ZeroHash
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		id, ok := bytes.CutPrefix(line, []byte("object "))
		if !ok {
			return plumbing.ZeroHash
		}
		if h, ok = gitobj.ParseHash(id); !ok {
			return plumbing.ZeroHash
		}
		if _, err := o.Read(h, plumbing.CommitObject); err == nil {
			return h
		}
	}
	return plumbing.ZeroHash
}

// objectReader reads the repository's object stores.
func (r *gitRepo) objectReader() *gitobj.Reader {
	return gitobj.NewReader(r.objects...)
}
