package gitobj

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// TestTreeOrder checks compareEntries against git's rule (a folder sorts
// as its name plus "/") and against stock git's own trees.
func TestTreeOrder(t *testing.T) {
	names := []string{"a", "a.b", "a-b", "a/", "ab", "a0", "b", "LEDGER.md", "keys", "records", "roster.json", "00", "000001.json", "0"}
	var es []TreeEntry
	for i, n := range names {
		if strings.HasSuffix(n, "/") {
			continue
		}
		mode := filemode.Regular
		if i%2 == 0 {
			mode = filemode.Dir
		}
		es = append(es, TreeEntry{Name: n, Mode: mode}, TreeEntry{Name: n + "x", Mode: filemode.Regular})
	}
	got := slices.Clone(es)
	slices.SortFunc(got, compareEntries)
	want := slices.Clone(es)
	sort.Slice(want, func(i, j int) bool { return want[i].Key() < want[j].Key() })
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
	var mine []TreeEntry
	for _, line := range strings.Split(strings.TrimSpace(gitCmd(t, dir, "ls-tree", tree)), "\n") {
		meta, name, _ := strings.Cut(line, "\t")
		f := strings.Fields(meta)
		mode := filemode.Regular
		if f[1] == "tree" {
			mode = filemode.Dir
		}
		mine = append([]TreeEntry{{Name: name, Mode: mode, Hash: plumbing.NewHash(f[2])}}, mine...) // reversed
	}
	if got := Hash(plumbing.TreeObject, EncodeTree(mine)).String(); got != tree {
		t.Fatalf("EncodeTree gives %s, git %s", got, tree)
	}
}

// TestEncTree: however entries are added or changed (at the end, in the
// middle, a folder or a file), the kept encoding hashes as encoding the
// tree afresh does.
func TestEncTree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var et Tree
		byName := map[string]TreeEntry{}
		for range 1 + r.IntN(40) {
			name := fmt.Sprintf("%02d", r.IntN(30))
			mode := filemode.Regular
			if name[0] < '1' { // a name keeps its mode
				mode = filemode.Dir
			}
			var h plumbing.Hash
			h[r.IntN(20)] = byte(1 + r.IntN(255))
			e := TreeEntry{Name: name, Mode: mode, Hash: h}
			if r.IntN(4) == 0 && len(et.Entries()) > 0 { // change the last one, as a ledger does
				e.Name, e.Mode = et.Entries()[len(et.Entries())-1].Name, et.Entries()[len(et.Entries())-1].Mode
			}
			et.Set(e)
			byName[e.Name] = e
			if r.IntN(3) == 0 {
				fresh := slices.Collect(maps.Values(byName))
				if got, want := et.ID(), Hash(plumbing.TreeObject, EncodeTree(fresh)); got != want {
					t.Fatalf("round %d: kept encoding hashes to %s, afresh %s", round, got, want)
				}
			}
		}
		if len(et.Entries()) != len(byName) {
			t.Fatalf("round %d: %d entries, want %d", round, len(et.Entries()), len(byName))
		}
	}
}

// FuzzParseTree: any bytes give entries or an error, never a panic; a tree
// the exact parser accepts is exactly what git would write for its
// entries.
func FuzzParseTree(f *testing.F) {
	var h plumbing.Hash
	h[0] = 1
	f.Add(EncodeTree([]TreeEntry{{Name: "00", Mode: filemode.Dir, Hash: h}, {Name: "a.json", Mode: filemode.Regular, Hash: h}}))
	f.Add([]byte("040000 00\x00" + string(h[:])))
	f.Add([]byte("100644 a\x00" + string(h[:]) + "100644 a\x00" + string(h[:])))
	f.Add([]byte("100644 a\x00short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ParseTree(b)
		exact, xerr := ParseTreeExact(b)
		if err != nil {
			if xerr == nil {
				t.Fatal("the exact parser accepts what ParseTree refuses")
			}
			return
		}
		if xerr == nil && (!bytes.Equal(EncodeTree(exact), b) || len(exact) != len(es)) {
			t.Fatalf("accepted %q, which git would write as %q", b, EncodeTree(exact))
		}
	})
}
