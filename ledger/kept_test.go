package ledger

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestMain gives the tests a cache directory of their own: the key of
// the kept states' MACs is made there.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "custos-ledger-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// keptFixture is a ledger with keys, a backup, a roster change and an
// open intent: every part of the state a kept state must carry.
func keptFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.story(t)
	id := map[string]any{"key_id": "k2"}
	f.add(t, "key.generate.intent", "gen-2", "alice", map[string]any{"key_id": "k2", "label": "signing", "type": "ec-p384"}, "carol")
	f.add(t, "key.generated", "gen-2", "alice", id)
	f.add(t, "ceremony.closed", "gen-2", "alice", map[string]any{})
	f.add(t, "backup.intent", "bk-1", "alice", id, "carol")
	f.add(t, "backup.split", "bk-1", "alice", id)
	f.add(t, "ceremony.closed", "bk-1", "alice", map[string]any{})
	st := f.l.State()
	p := st.Policy
	p.Rotation = map[string]string{"ec-p384": "1y"}
	facts, err := rosterFacts(&st.Roster, &p)
	if err != nil {
		t.Fatal(err)
	}
	f.add(t, "roster.changed", "r1", "alice", facts, "carol")
	f.add(t, "key.export.intent", "exp-2", "bob", map[string]any{"key_id": "k2", "recipient": "ssh-ed25519 AAAA"}, "dave")
	return f
}

// fullReplay is the state of dir replayed from its first record.
func fullReplay(t *testing.T, dir string) *State {
	t.Helper()
	l, err := OpenEach(dir, func(*Record, string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if l.replayed != l.state.Seq {
		t.Fatalf("OpenEach replayed %d of %d records", l.replayed, l.state.Seq)
	}
	return l.state
}

// comparable is s with what only caches or a clone's bookkeeping hold
// cleared, and its copy-on-write maps folded.
func comparable(s *State) State {
	n := *s
	n.keys, n.dirty, n.owned = nil, dirtySet{}, nil
	n.notAfter, n.parentCommit = s.notAfter, s.parentCommit
	n.ceremonies, n.backups, n.labels = s.ceremonies.fork(), s.backups.fork(), s.labels.fork()
	return n
}

func sameState(t *testing.T, got, want *State) {
	t.Helper()
	g, w := comparable(got), comparable(want)
	if !reflect.DeepEqual(g, w) {
		gk, _ := keep(got, "")
		wk, _ := keep(want, "")
		t.Fatalf("kept state differs from the replay:\n got %+v\nwant %+v", gk, wk)
	}
}

func openCounting(t *testing.T, dir string) *Ledger {
	t.Helper()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func keptFileOf(t *testing.T, l *Ledger) string {
	t.Helper()
	_, common, err := l.dirs()
	if err != nil {
		t.Fatal(err)
	}
	return keptPath(common, l.state.LedgerID)
}

// An Open of a head whose state is kept loads it, replaying nothing, and
// the state loaded is the replay's, to the last field; a ledger opened so
// appends under the full rules.
func TestKeptStateLoads(t *testing.T) {
	f := keptFixture(t)
	os.RemoveAll(filepath.Join(f.dir, ".git", "custos")) // kept at the genesis by newFixture's Open
	first := openCounting(t, f.dir)
	if first.replayed != first.state.Seq {
		t.Fatalf("first Open replayed %d of %d records", first.replayed, first.state.Seq)
	}
	if _, err := os.Stat(keptFileOf(t, first)); err != nil {
		t.Fatalf("no kept state after a replay: %v", err)
	}
	l := openCounting(t, f.dir)
	if l.replayed != 0 {
		t.Fatalf("Open of a kept head replayed %d records, want 0", l.replayed)
	}
	sameState(t, l.state, fullReplay(t, f.dir))
	if l.state.OpenIntent == nil || l.state.OpenIntent.Kind != "key.export.intent" {
		t.Fatalf("open intent not kept: %+v", l.state.OpenIntent)
	}
	// The rules still hold for a record appended to the loaded state.
	f.l = l
	if _, err := f.try("key.destroy.intent", "des-9", "alice", map[string]any{"key_id": "k2"}, "carol", "dave"); err == nil {
		t.Fatal("a second intent while one is open was accepted on a kept state")
	}
	f.add(t, "key.exported", "exp-2", "bob", map[string]any{"key_id": "k2", "output_sha256": "00"})
	f.add(t, "ceremony.closed", "exp-2", "bob", map[string]any{})
	mustVerify(t, f.dir, Options{})
}

// A head that extends the kept one replays only the new records.
func TestKeptStateExtended(t *testing.T) {
	f := keptFixture(t)
	openCounting(t, f.dir) // keeps the state at this head
	f.add(t, "key.exported", "exp-2", "bob", map[string]any{"key_id": "k2", "output_sha256": "00"})
	f.add(t, "ceremony.closed", "exp-2", "bob", map[string]any{})
	f.add(t, "hsm.enrolled", "enrol-2", "alice", map[string]any{"hsm": freshHSM()})
	l := openCounting(t, f.dir)
	if l.replayed != 3 {
		t.Fatalf("Open of a head 3 records past the kept one replayed %d records, want 3", l.replayed)
	}
	sameState(t, l.state, fullReplay(t, f.dir))
	if again := openCounting(t, f.dir); again.replayed != 0 {
		t.Fatalf("the extended state was not kept: the next Open replayed %d", again.replayed)
	}
}

// A kept state that is damaged, cut short, written by another account,
// or from another ledger is ignored: the ledger is replayed whole, and
// its state kept again.
func TestKeptStateIgnored(t *testing.T) {
	other := keptFixture(t) // same ledger id, another genesis
	openCounting(t, other.dir)
	otherKept, err := os.ReadFile(keptFileOf(t, other.l))
	if err != nil {
		t.Fatal(err)
	}
	for name, spoil := range map[string]func([]byte) []byte{
		"corrupted": func(b []byte) []byte {
			c := bytes.Clone(b)
			c[len(c)-10] ^= 1
			return c
		},
		"truncated":     func(b []byte) []byte { return b[:len(b)/2] },
		"empty":         func([]byte) []byte { return nil },
		"not JSON":      func([]byte) []byte { return []byte(keptMagic + "x\n{") },
		"other ledger":  func([]byte) []byte { return otherKept },
		"other account": func(b []byte) []byte { return resign(t, b, bytes.Repeat([]byte{7}, 32)) },
	} {
		t.Run(name, func(t *testing.T) {
			f := keptFixture(t)
			l := openCounting(t, f.dir)
			p := keptFileOf(t, l)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, spoil(b), 0o644); err != nil {
				t.Fatal(err)
			}
			l = openCounting(t, f.dir)
			if l.replayed != l.state.Seq {
				t.Fatalf("replayed %d of %d records: the %s kept state was used", l.replayed, l.state.Seq, name)
			}
			sameState(t, l.state, fullReplay(t, f.dir))
			if again := openCounting(t, f.dir); again.replayed != 0 {
				t.Fatalf("the kept state was not rewritten: the next Open replayed %d", again.replayed)
			}
		})
	}
}

// resign is kept state file b with its payload MAC'd under key.
func resign(t *testing.T, b, key []byte) []byte {
	t.Helper()
	k, err := decodeKept(b, keptKeyOf())
	if err != nil {
		t.Fatal(err)
	}
	out, err := encodeKept(k, key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// editKept rewrites the kept state of l's ledger through edit, with a
// valid MAC: what a holder of the MAC key could plant.
func editKept(t *testing.T, l *Ledger, edit func(k *keptFile)) {
	t.Helper()
	p := keptFileOf(t, l)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	k, err := decodeKept(b, keptKeyOf())
	if err != nil {
		t.Fatal(err)
	}
	edit(k)
	out, err := encodeKept(k, keptKeyOf())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A ledger rewritten under its kept state — cut back and appended to
// again, to the same length with other records — is replayed, not
// trusted: the kept head is no longer on its history.
func TestKeptStateRewrittenLedger(t *testing.T) {
	f := keptFixture(t)
	l := openCounting(t, f.dir)
	n := l.state.Seq
	_, keptCommit := l.Head()
	kept, err := os.ReadFile(keptFileOf(t, l))
	if err != nil {
		t.Fatal(err)
	}
	gitCmd(t, f.dir, "reset", "-q", "--hard", "HEAD~1")
	f.open(t) // the ledger at n-1
	f.add(t, "hsm.enrolled", "enrol-2", "alice", map[string]any{"hsm": freshHSM()})
	// The state kept at the old head n is put back, as it was.
	if err := os.WriteFile(keptFileOf(t, l), kept, 0o644); err != nil {
		t.Fatal(err)
	}
	l = openCounting(t, f.dir)
	if _, c := l.Head(); l.state.Seq != n || c == keptCommit {
		t.Fatalf("rewrite: seq %d head %s, want seq %d and another head", l.state.Seq, c, n)
	}
	if l.replayed != n {
		t.Fatalf("rewritten ledger: replayed %d of %d records", l.replayed, n)
	}
	if l.state.OpenIntent != nil {
		t.Fatal("the rewritten ledger shows the open intent of the record it lost: the kept state was trusted")
	}
	sameState(t, l.state, fullReplay(t, f.dir))
}

// A kept state whose head is not on the ledger's history (a later head
// the branch was reset from), or that claims a seq or digest other than
// its commit's, is ignored even with a valid MAC.
func TestKeptStateNotAncestor(t *testing.T) {
	f := keptFixture(t)
	l := openCounting(t, f.dir)
	gitCmd(t, f.dir, "reset", "-q", "--hard", "HEAD~2")
	l2 := openCounting(t, f.dir)
	if l2.replayed != l2.state.Seq {
		t.Fatalf("Open after a reset below the kept head replayed %d of %d records", l2.replayed, l2.state.Seq)
	}
	sameState(t, l2.state, fullReplay(t, f.dir))
	if l.state.Seq == l2.state.Seq {
		t.Fatal("the reset did not shorten the ledger")
	}

	for name, edit := range map[string]func(k *keptFile){
		"seq":    func(k *keptFile) { k.Seq-- },
		"digest": func(k *keptFile) { k.Head = k.Genesis },
		"commit": func(k *keptFile) { k.Commit = "0123456789012345678901234567890123456789" },
		"ledger": func(k *keptFile) { k.Ledger = "another" },
	} {
		t.Run(name, func(t *testing.T) {
			g := keptFixture(t)
			l := openCounting(t, g.dir)
			g.add(t, "key.exported", "exp-2", "bob", map[string]any{"key_id": "k2", "output_sha256": "00"})
			editKept(t, l, edit)
			l = openCounting(t, g.dir)
			if l.replayed != l.state.Seq {
				t.Fatalf("replayed %d of %d records: a kept state with a wrong %s was used", l.replayed, l.state.Seq, name)
			}
		})
	}
}

// A kept state is not needed: a read-only git directory is opened (and
// replayed) as before.
func TestKeptStateReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	f := keptFixture(t)
	os.RemoveAll(filepath.Join(f.dir, ".git", "custos"))
	gitDir := filepath.Join(f.dir, ".git")
	if err := os.Chmod(gitDir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(gitDir, 0o755)
	l := openCounting(t, f.dir)
	if l.replayed != l.state.Seq {
		t.Fatalf("replayed %d of %d", l.replayed, l.state.Seq)
	}
}

// The kept state carries every field of the state: a field added to
// State, KeyState, the ceremony or a backup must be added to kept.go (and
// keptVersion raised) before this test is brought up to date. compact,
// touchedCompact and compacted are verify's alone (its replay keeps a
// settled key small): a state Open replays, the one kept, never has them
// set, so kept.go does not carry them.
func TestKeptStateCarriesEveryField(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{State{}, "LedgerID Genesis Roster Policy RosterSeq Keys Head Seq Time OpenIntent HSMs Backups cer ceremonies backups labels notAfter parentCommit signers keys dirty owned compact touchedCompact"},
		{KeyState{}, "ID Label Type State CreatedSeq CreatedTime Facts History BackupsOutstanding PolicyRotation histJSON compacted generatedBy on"},
		{ceremonyState{}, "id opening intentOpen outcome outcomeRec retired closed"},
		{backupInfo{}, "seq keyID m n setSeq kcv holders commitments retired destroyed"},
		{signerKey{}, "Name Key From Until"},
	} {
		rt := reflect.TypeOf(c.v)
		var got []string
		for i := range rt.NumField() {
			got = append(got, rt.Field(i).Name)
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%s has the fields\n  %s\nthe kept state (kept.go) carries\n  %s", rt.Name(), g, c.want)
		}
	}
}
