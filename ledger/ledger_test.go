package ledger

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateAppendVerify(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	genesis := f.l.State().Genesis
	res := mustVerify(t, f.dir, Options{})
	if res.Records != 10 || res.OriginChecked || res.Note != NoteConsistencyOnly {
		t.Fatalf("result without genesis: %+v", res)
	}
	res = mustVerify(t, f.dir, Options{Genesis: genesis, TrustedHead: res.HeadCommit})
	if !res.OriginChecked || !res.TrustedHeadChecked || res.Note != "" {
		t.Fatalf("result with trust roots: %+v", res)
	}
	st := f.l.State()
	if k := st.Keys["root-2026"]; k == nil || k.State != KeyDestroyed || k.Type != "ec-p384" || len(k.History) != 6 {
		t.Fatalf("key state: %+v", st.Keys["root-2026"])
	}
	// The work tree is the commit: stock git sees nothing to commit.
	if out := gitCmd(t, f.dir, "status", "--porcelain"); out != "" {
		t.Fatalf("work tree not clean:\n%s", out)
	}
	// Reopening replays to the same state.
	l2, err := Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := l2.Head(); d != st.Head {
		t.Fatalf("head after reopen %s, want %s", d, st.Head)
	}
}

// TestStockGitVerifiesEveryCommit: stock git with the ledger's
// allowed_signers accepts every commit, %G? is G and %GS the author.
func TestStockGitVerifiesEveryCommit(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	signers := filepath.Join(f.dir, "allowed_signers")
	revs := strings.Fields(gitCmd(t, f.dir, "rev-list", "HEAD"))
	if len(revs) != 10 {
		t.Fatalf("%d commits, want 10", len(revs))
	}
	for _, r := range revs {
		gitCmd(t, f.dir, "-c", "gpg.ssh.allowedSignersFile="+signers, "verify-commit", r)
	}
	out := gitCmd(t, f.dir, "-c", "gpg.ssh.allowedSignersFile="+signers, "log", "--format=%G? %GS %an")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		p := strings.Fields(line)
		if len(p) != 3 || p[0] != "G" || p[1] != p[2] {
			t.Fatalf("stock git: %q", line)
		}
	}
	if !strings.Contains(out, "G bob bob") {
		t.Fatalf("no commit by bob's ECDSA P-256 key:\n%s", out)
	}
	// The script auditors run does the same check.
	script, _ := filepath.Abs("../scripts/stock-verify")
	cmd := exec.Command(script, f.dir)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stock-verify: %v\n%s", err, out)
	}
}

func TestAppendRefusals(t *testing.T) {
	f := newFixture(t)
	k := map[string]any{"key_id": "k1", "type": "ec-p256"}
	cases := []struct {
		name, kind, actor string
		facts             map[string]any
		approvers         []string
		want              string
	}{
		{"too few approvals", "key.destroy.intent", "alice", map[string]any{"key_id": "k1"}, []string{"carol"}, ""},
		{"no approval", "key.generate.intent", "alice", k, nil, "0 of 1 required approvals"},
		{"self approval", "key.generate.intent", "carol", k, []string{"carol", "dave"}, "may not approve their own"},
		{"wrong role", "key.generate.intent", "alice", k, []string{"bob"}, "holds none of the roles"},
		{"not a member", "key.generate.intent", "mallory", k, []string{"carol"}, "not a member"},
		{"unapproved algorithm", "key.generate.intent", "alice", map[string]any{"key_id": "k2", "type": "rsa-1024"}, []string{"carol"}, "not on the policy"},
		{"outcome without intent", "key.generated", "alice", map[string]any{"key_id": "k1"}, nil, "cannot begin ceremony"},
		{"float fact", "hsm.enrolled", "alice", map[string]any{"x": 1.5}, nil, "floating-point"},
	}
	for _, c := range cases[1:] {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.try(c.kind, "c1", c.actor, c.facts, c.approvers...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	f.add(t, "key.generate.intent", "c1", "alice", k, "carol")
	if _, err := f.try("hsm.enrolled", "other", "alice", nil); err == nil || !strings.Contains(err.Error(), "has no outcome") {
		t.Fatalf("record of another ceremony with an intent open: %v", err)
	}
	f.add(t, "key.generated", "c1", "alice", map[string]any{"key_id": "k1"})
	if _, err := f.try("key.destroy.intent", "c2", "alice", map[string]any{"key_id": "k1"}, "carol"); err == nil || !strings.Contains(err.Error(), "1 of 2") {
		t.Fatalf("too few approvals: %v", err)
	}
	// An approval signed for another place in history is refused.
	rec := f.l.Draft("key.export.intent", "c3", "alice", map[string]any{"key_id": "k1", "recipient": "p", "recipient_key_spki_sha256": "00", "hsm": testHSM}, f.now)
	other := *rec
	other.Seq++
	ap, _ := Approve(&other, "carol", f.signers["carol"])
	if _, err := f.l.Append(rec, f.signers["alice"], []Approval{ap}); err == nil || !strings.Contains(err.Error(), "approval by carol") {
		t.Fatalf("approval for another seq: %v", err)
	}
	// A signer whose key is not the actor's is refused.
	if _, err := f.l.Append(rec, f.signers["bob"], nil); err == nil {
		t.Fatal("append signed by another member's key accepted")
	}
	mustVerify(t, f.dir, Options{})
}

func TestHeadMoved(t *testing.T) {
	f := newFixture(t)
	other, err := Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	f.add(t, "hsm.enrolled", "e1", "alice", nil)
	rec := other.Draft("hsm.enrolled", "e2", "alice", map[string]any{"hsm": testHSM}, f.now)
	if _, err := other.Append(rec, f.signers["alice"], nil); err == nil || !strings.Contains(err.Error(), "head moved") {
		t.Fatalf("append on a stale head: %v", err)
	}
	mustVerify(t, f.dir, Options{})
}

func TestCreateRefusesNonEmptyDir(t *testing.T) {
	f := newFixture(t)
	st := f.l.State()
	if _, err := Create(f.dir, &st.Roster, &st.Policy, f.signers, t0); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("create over a ledger: %v", err)
	}
	delete(f.signers, "dave")
	if _, err := Create(filepath.Join(t.TempDir(), "l"), &st.Roster, &st.Policy, f.signers, t0); err == nil || !strings.Contains(err.Error(), "dave") {
		t.Fatalf("create without a founder's key: %v", err)
	}
}

func TestOpenIntentIsReportedNotFailed(t *testing.T) {
	f := newFixture(t)
	f.add(t, "key.generate.intent", "g", "alice", map[string]any{"key_id": "k9", "type": "ed25519"}, "carol")
	res := mustVerify(t, f.dir, Options{})
	if res.OpenIntent == nil || res.OpenIntent.Seq != f.l.State().Seq || res.OpenIntent.KeyID != "k9" {
		t.Fatalf("open intent: %+v", res.OpenIntent)
	}
	if f.l.State().OpenIntent == nil {
		t.Fatal("state has no open intent")
	}
}

func TestRosterChange(t *testing.T) {
	f := newFixture(t)
	st := f.l.State()
	newR := st.Roster
	newR.Members = append([]Member(nil), st.Roster.Members...)
	// erin joins, alice rotates her key, bob leaves.
	erin := sshKey(t, f.keys, "erin")
	alice2 := sshKey(t, f.keys, "alice2")
	newR.Members = append(newR.Members, Member{Name: "erin", Roles: []string{"officer"}, Key: authKey(erin)})
	newR.Members[0].Key = authKey(alice2)
	newR.Members = append(newR.Members[:1], newR.Members[2:]...)
	facts, err := rosterFacts(&newR, &st.Policy)
	if err != nil {
		t.Fatal(err)
	}
	f.signers["erin"] = erin
	// Approval by erin (not yet a member) does not count: the OLD roster decides.
	if _, err := f.try("roster.changed", "r1", "alice", facts, "erin"); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("roster change approved by a new member: %v", err)
	}
	f.add(t, "roster.changed", "r1", "alice", facts, "carol")
	f.signers["alice"], f.signers["erin"] = alice2, erin
	f.add(t, "hsm.enrolled", "e1", "alice", nil)
	f.add(t, "key.generate.intent", "g1", "alice", map[string]any{"key_id": "k1"}, "erin")
	if _, err := f.try("hsm.enrolled", "g1", "bob", nil); err == nil {
		t.Fatal("removed member appended")
	}
	mustVerify(t, f.dir, Options{})
	signers := filepath.Join(f.dir, "allowed_signers")
	for _, r := range strings.Fields(gitCmd(t, f.dir, "rev-list", "HEAD")) {
		gitCmd(t, f.dir, "-c", "gpg.ssh.allowedSignersFile="+signers, "verify-commit", r)
	}
}

// TestPackedLedger: after stock `git gc` packs the objects, the ledger
// still verifies and takes appends (objects read through go-git's packs).
func TestPackedLedger(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	gitCmd(t, f.dir, "gc", "-q", "--prune=now")
	if loose, _ := filepath.Glob(filepath.Join(f.dir, ".git", "objects", "??", "*")); len(loose) != 0 {
		t.Fatalf("%d loose objects after gc", len(loose))
	}
	mustVerify(t, f.dir, Options{})
	f.open(t)
	f.add(t, "hsm.enrolled", "e9", "alice", nil)
	if res := mustVerify(t, f.dir, Options{}); res.Records != 11 {
		t.Fatalf("%d records", res.Records)
	}
}

// TestTreeOrder checks compareEntries against git's rule (a folder sorts
// as its name plus "/") and against stock git's own trees.
func TestTreeOrder(t *testing.T) {
	names := []string{"a", "a.b", "a-b", "a/", "ab", "a0", "b", "LEDGER.md", "keys", "records", "roster.json", "00", "000001.json", "0"}
	var es []treeEntry
	for i, n := range names {
		if strings.HasSuffix(n, "/") {
			continue
		}
		mode := filemode.Regular
		if i%2 == 0 {
			mode = filemode.Dir
		}
		es = append(es, treeEntry{name: n, mode: mode}, treeEntry{name: n + "x", mode: filemode.Regular})
	}
	got := slices.Clone(es)
	slices.SortFunc(got, compareEntries)
	want := slices.Clone(es)
	sort.Slice(want, func(i, j int) bool { return treeKey(want[i]) < treeKey(want[j]) })
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	// stock git agrees: a tree custos encodes is the one git writes for
	// the same files
	dir := t.TempDir()
	gitCmd(t, dir, "init", "-q")
	for _, p := range []string{"a.b", "a/x", "a-b", "ab", "a0/y"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(p), 0o644)
	}
	gitCmd(t, dir, "add", ".")
	tree := strings.TrimSpace(gitCmd(t, dir, "write-tree"))
	var mine []treeEntry
	for _, line := range strings.Split(strings.TrimSpace(gitCmd(t, dir, "ls-tree", tree)), "\n") {
		meta, name, _ := strings.Cut(line, "\t")
		f := strings.Fields(meta)
		mode := filemode.Regular
		if f[1] == "tree" {
			mode = filemode.Dir
		}
		mine = append([]treeEntry{{name: name, mode: mode, hash: plumbing.NewHash(f[2])}}, mine...) // reversed
	}
	if got := hashObject(plumbing.TreeObject, encodeTree(mine)).String(); got != tree {
		t.Fatalf("encodeTree gives %s, git %s", got, tree)
	}
}

// TestEncTree: however entries are added or changed (at the end, in the
// middle, a folder or a file), the kept encoding hashes as encoding the
// tree afresh does.
func TestEncTree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var et encTree
		byName := map[string]treeEntry{}
		for range 1 + r.IntN(40) {
			name := fmt.Sprintf("%02d", r.IntN(30))
			mode := filemode.Regular
			if name[0] < '1' { // a name keeps its mode
				mode = filemode.Dir
			}
			var h plumbing.Hash
			h[r.IntN(20)] = byte(1 + r.IntN(255))
			e := treeEntry{name: name, mode: mode, hash: h}
			if r.IntN(4) == 0 && len(et.es) > 0 { // change the last one, as a ledger does
				e.name, e.mode = et.es[len(et.es)-1].name, et.es[len(et.es)-1].mode
			}
			et.set(e)
			byName[e.name] = e
			if r.IntN(3) == 0 {
				fresh := slices.Collect(maps.Values(byName))
				if got, want := et.id(), hashObject(plumbing.TreeObject, encodeTree(fresh)); got != want {
					t.Fatalf("round %d: kept encoding hashes to %s, afresh %s", round, got, want)
				}
			}
		}
		if len(et.es) != len(byName) {
			t.Fatalf("round %d: %d entries, want %d", round, len(et.es), len(byName))
		}
	}
}

// TestPackSet: in a ledger packed by stock git (deltas included), every
// object reads through packSet as through go-git, without falling back
// to go-git's storage, and the compact index maps each entry's offset to
// its id.
func TestPackSet(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	gitCmd(t, f.dir, "gc", "-q", "--aggressive", "--prune=now")
	ps := &packSet{dir: filepath.Join(f.dir, ".git", "objects", "pack")}
	defer ps.close()
	o := &objectReader{objects: filepath.Join(f.dir, ".git", "objects"), st: failSource{t}, packs: ps}
	repo, err := git.PlainOpen(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(gitCmd(t, f.dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname):%(objecttype):%(deltabase)"))
	deltas := 0
	for _, l := range lines {
		parts := strings.Split(l, ":")
		h, typ := plumbing.NewHash(parts[0]), parts[1]
		if parts[2] != strings.Repeat("0", 40) {
			deltas++
		}
		ot, _ := plumbing.ParseObjectType(typ)
		got, err := o.read(h, ot)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		// o.read checked the content against its id; go-git agrees.
		if want, err := readObject(repo.Storer, h, ot); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s reads differently through packSet (go-git: %v)", h, err)
		}
	}
	if deltas == 0 {
		t.Fatal("the pack has no deltas: the test checks nothing about them")
	}
	idx := ps.idx[0]
	it, _ := idx.MemoryIndex.Entries()
	for n := 0; ; n++ {
		e, err := it.Next()
		if err != nil {
			if n != len(lines) {
				t.Fatalf("%d index entries, %d objects", n, len(lines))
			}
			break
		}
		if h, err := idx.FindHash(int64(e.Offset)); err != nil || h != e.Hash {
			t.Fatalf("offset %d: %s, %v; want %s", e.Offset, h, err, e.Hash)
		}
		if _, err := idx.FindHash(int64(e.Offset) + 1); err == nil {
			t.Fatalf("offset %d, inside an object, found an id", e.Offset+1)
		}
	}
}

// failSource fails a test that reads through it.
type failSource struct{ t *testing.T }

func (s failSource) EncodedObject(_ plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	s.t.Fatalf("%s read through go-git's storage, not the packs", h)
	return nil, nil
}

// FuzzPackSet: a pack or pack index altered anywhere gives each object
// either its content (checked against its id) or an error naming it;
// never a panic, never wrong content; an unaltered pack reads whole.
func FuzzPackSet(f *testing.F) {
	fx := newFixture(f)
	fx.story(f)
	gitCmd(f, fx.dir, "gc", "-q", "--aggressive", "--prune=now")
	packDir := filepath.Join(fx.dir, ".git", "objects", "pack")
	idxs, _ := filepath.Glob(filepath.Join(packDir, "*.idx"))
	if len(idxs) != 1 {
		f.Fatalf("%d pack indexes", len(idxs))
	}
	pack, _ := os.ReadFile(strings.TrimSuffix(idxs[0], ".idx") + ".pack")
	idx, _ := os.ReadFile(idxs[0])
	type object struct {
		id  plumbing.Hash
		typ plumbing.ObjectType
	}
	var objects []object
	for _, l := range strings.Fields(gitCmd(f, fx.dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname):%(objecttype)")) {
		id, typ, _ := strings.Cut(l, ":")
		ot, _ := plumbing.ParseObjectType(typ)
		objects = append(objects, object{plumbing.NewHash(id), ot})
	}
	f.Add(false, uint32(0), byte(0))  // unaltered
	f.Add(false, uint32(12), byte(1)) // the first object's header
	f.Add(false, uint32(200), byte(0x80))
	f.Add(true, uint32(8+4*255), byte(3)) // the fan-out's total
	f.Add(true, uint32(1100), byte(0xff))
	f.Fuzz(func(t *testing.T, inIdx bool, at uint32, flip byte) {
		p, x := bytes.Clone(pack), bytes.Clone(idx)
		target := p
		if inIdx {
			target = x
		}
		target[int(at)%len(target)] ^= flip
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "pack-x.pack"), p, 0o644)
		os.WriteFile(filepath.Join(dir, "pack-x.idx"), x, 0o644)
		ps := &packSet{dir: dir}
		defer ps.close()
		o := &objectReader{objects: t.TempDir(), st: emptySource{}, packs: ps}
		// read checks any content against its id (a panic would be turned
		// into an error by it): what can go wrong is an unaltered pack
		// that does not read, or an error that does not name the object
		for _, ob := range objects {
			_, err := o.read(ob.id, ob.typ)
			if err != nil && flip == 0 {
				t.Fatalf("unaltered pack: %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), ob.id.String()) {
				t.Fatalf("the error does not name object %s: %v", ob.id, err)
			}
		}
	})
}

// emptySource holds no objects.
type emptySource struct{}

func (emptySource) EncodedObject(plumbing.ObjectType, plumbing.Hash) (plumbing.EncodedObject, error) {
	return nil, plumbing.ErrObjectNotFound
}

// FuzzParseTree: any bytes give entries or an error, never a panic; a tree
// the exact parser accepts is exactly what git would write for its
// entries.
func FuzzParseTree(f *testing.F) {
	var h plumbing.Hash
	h[0] = 1
	f.Add(encodeTree([]treeEntry{{name: "00", mode: filemode.Dir, hash: h}, {name: "a.json", mode: filemode.Regular, hash: h}}))
	f.Add([]byte("040000 00\x00" + string(h[:])))
	f.Add([]byte("100644 a\x00" + string(h[:]) + "100644 a\x00" + string(h[:])))
	f.Add([]byte("100644 a\x00short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := parseTree(b)
		exact, xerr := parseTreeExact(b)
		if err != nil {
			if xerr == nil {
				t.Fatal("the exact parser accepts what parseTree refuses")
			}
			return
		}
		if xerr == nil && (!bytes.Equal(encodeTree(exact), b) || len(exact) != len(es)) {
			t.Fatalf("accepted %q, which git would write as %q", b, encodeTree(exact))
		}
	})
}

// FuzzParseCommit: any bytes give a commit or an error, never a panic;
// an unsigned commit's payload is the whole commit.
func FuzzParseCommit(f *testing.F) {
	fx := newFixture(f)
	raw, err := readObject(fx.l.repo.Storer, fx.l.head, plumbing.CommitObject)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte("tree " + strings.Repeat("0", 40) + "\nparent x\n\nmsg"))
	f.Add([]byte("tree " + strings.Repeat("0", 40) + "\ngpgsig a\n b\n c\nencoding x\n\nm"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCommit(b)
		if err != nil {
			return
		}
		if len(c.sig) == 0 && !bytes.Contains(b, []byte("\ngpgsig")) && !bytes.HasPrefix(b, []byte("gpgsig")) && !bytes.Equal(c.payload, b) {
			t.Fatalf("unsigned commit %q has payload %q", b, c.payload)
		}
	})
}
