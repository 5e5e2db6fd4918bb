package ledger

import (
	"strconv"
	"strings"
	"testing"
)

// A destroyed key's refusal names the record that destroyed it, even when
// later records (an aborted restore) touched the key.
func TestDestroyedKeyNamesItsDestruction(t *testing.T) {
	f := newFixture(t)
	id := map[string]any{"key_id": "root-2026"}
	f.add(t, "key.generate.intent", "gen-1", "alice", map[string]any{"key_id": "root-2026", "type": "ec-p384"}, "carol")
	f.add(t, "key.generated", "gen-1", "alice", id)
	f.add(t, "backup.intent", "gen-1", "alice", id)
	f.add(t, "backup.split", "gen-1", "alice", id)
	f.add(t, "ceremony.closed", "gen-1", "alice", map[string]any{})
	f.add(t, "key.destroy.intent", "des-1", "alice", id, "carol", "dave")
	destroyed := f.add(t, "key.destroyed", "des-1", "alice", id)
	f.add(t, "ceremony.closed", "des-1", "alice", map[string]any{})
	f.add(t, "key.restore.intent", "res-1", "alice", id)
	f.add(t, "ceremony.aborted", "res-1", "alice", map[string]any{})
	_, err := f.try("key.export.intent", "exp-1", "bob", id, "dave")
	want := "key root-2026 was destroyed (record " + strconv.FormatInt(destroyed.Seq, 10) + ")"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("export of a destroyed key: err = %v, want %q", err, want)
	}
}
