package ledger

import (
	"strings"
	"testing"
)

// TestCheckpoint: a ceremony.closed record's checkpoint must name this
// ledger, the record before it and its size; witnesses co-sign exactly the
// history they saw.
func TestCheckpoint(t *testing.T) {
	f := newFixture(t)
	f.add(t, "hsm.enrolled", "enrol-1", "alice", map[string]any{"hsm": map[string]any{"serial": "1234"}})
	head, commit := f.l.Head()
	size := f.l.State().Seq
	good := map[string]any{"ledger": "test-ledger", "head": head, "size": size, "commit": commit}
	for _, tc := range []struct {
		name string
		cp   map[string]any
		want string
	}{
		{"wrong head", map[string]any{"ledger": "test-ledger", "head": "sha256:" + strings.Repeat("0", 64), "size": size}, "checkpoint head"},
		{"wrong size", map[string]any{"ledger": "test-ledger", "head": head, "size": size + 5}, "checkpoint size"},
		{"wrong ledger", map[string]any{"ledger": "other", "head": head, "size": size}, "checkpoint names ledger"},
	} {
		_, err := f.try("ceremony.closed", "enrol-1", "alice", map[string]any{"checkpoint": tc.cp}, "carol")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	f.add(t, "ceremony.closed", "enrol-1", "alice", map[string]any{"checkpoint": good}, "carol", "dave")
	if res := Verify(f.dir, Options{}); !res.OK {
		t.Fatalf("verify: %v", res.Err())
	}
}

// TestIndexAndRecord: the replay indexes enrolled HSMs and backups by name,
// and Record reads one record back, the same as the iterator gives.
func TestIndexAndRecord(t *testing.T) {
	f := newFixture(t)
	f.add(t, "hsm.enrolled", "enrol-1", "alice", map[string]any{"hsm": map[string]any{"serial": "1234"}})
	f.add(t, "key.generate.intent", "gen-1", "alice", map[string]any{"key_id": "k1", "label": "k1", "type": "aes-256"}, "carol")
	f.add(t, "key.generated", "gen-1", "alice", map[string]any{"key_id": "k1"})
	f.add(t, "backup.intent", "bk-1", "alice", map[string]any{"key_id": "k1", "backup_id": "k1.bk1"}, "carol")
	f.add(t, "backup.split", "bk-1", "alice", map[string]any{"key_id": "k1", "backup_id": "k1.bk1"})
	f.open(t) // a fresh replay from the repository
	st := f.l.State()
	if st.HSMs["1234"] != 2 || st.Backups["k1.bk1"] != 6 || len(st.HSMs) != 1 || len(st.Backups) != 1 {
		t.Fatalf("index: hsms %v backups %v", st.HSMs, st.Backups)
	}
	var want []*Record
	for r, err := range f.l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	for _, r := range want {
		got, err := f.l.Record(r.Seq)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := got.Digest()
		b, _ := r.Digest()
		if a != b {
			t.Fatalf("record %d: %s, iterator %s", r.Seq, a, b)
		}
	}
	for _, bad := range []int64{0, int64(len(want)) + 1} {
		if _, err := f.l.Record(bad); err == nil {
			t.Fatalf("record %d: no error", bad)
		}
	}
}
