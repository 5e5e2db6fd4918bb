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
