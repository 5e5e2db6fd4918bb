package ledger

import (
	"os"
	"path/filepath"
	"testing"
)

// TestIndexLists: the work tree's index, as stock git writes it in each
// version (4 compresses names: the search misses and the decoder
// answers), lists the records it holds and nothing else — not a name
// that ends another, nor one a record's name begins.
func TestIndexLists(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	l, err := Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	gitDir, _, err := l.dirs()
	if err != nil {
		t.Fatal(err)
	}
	last := recordFile(l.state.Seq)
	if err := os.WriteFile(filepath.Join(f.dir, "x"+filepath.Base(last)), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, f.dir, "add", "x"+filepath.Base(last))
	for _, v := range []string{"2", "3", "4"} {
		gitCmd(t, f.dir, "update-index", "--index-version", v)
		if v == "3" {
			gitCmd(t, f.dir, "update-index", "--skip-worktree", "x"+filepath.Base(last)) // an extended flag
		}
		if !l.indexLists(gitDir, last) || !l.indexLists(gitDir, recordFile(1)) {
			t.Errorf("index version %s: %s or record 1 not listed", v, last)
		}
		for _, absent := range []string{recordFile(l.state.Seq + 1), filepath.Base(last), last[:len(last)-1]} {
			if l.indexLists(gitDir, absent) {
				t.Errorf("index version %s lists %s", v, absent)
			}
		}
	}
}
