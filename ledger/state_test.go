package ledger

import (
	"slices"
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
	f.add(t, "ceremony.closed", "gen-1", "alice", map[string]any{})
	f.add(t, "backup.intent", "bk-1", "alice", id, "carol")
	f.add(t, "backup.split", "bk-1", "alice", id)
	f.add(t, "ceremony.closed", "bk-1", "alice", map[string]any{})
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

// TestPolicyRotationAtCreation: a key keeps the rotation period the policy
// gave its type when it was made; a later policy change applies to keys
// made after it (the report reads periods the same way).
func TestPolicyRotationAtCreation(t *testing.T) {
	f := newFixture(t)
	f.add(t, "key.generate.intent", "g1", "alice", map[string]any{"key_id": "k1", "type": "ec-p384"}, "carol")
	f.add(t, "key.generated", "g1", "alice", map[string]any{"key_id": "k1"})
	st := f.l.State()
	p := st.Policy
	p.Rotation = map[string]string{"ec-p384": "1y"}
	facts, err := rosterFacts(&st.Roster, &p)
	if err != nil {
		t.Fatal(err)
	}
	f.add(t, "roster.changed", "r1", "alice", facts, "carol")
	f.add(t, "key.generate.intent", "g2", "alice", map[string]any{"key_id": "k2", "type": "ec-p384"}, "carol")
	f.add(t, "key.generated", "g2", "alice", map[string]any{"key_id": "k2"})
	f.open(t) // a fresh replay, as the TUI reads it
	keys := f.l.State().Keys
	if got := keys["k1"].PolicyRotation; got != "5y" {
		t.Errorf("k1, made under the 5y policy: %q", got)
	}
	if got := keys["k2"].PolicyRotation; got != "1y" {
		t.Errorf("k2, made under the 1y policy: %q", got)
	}
}

// TestIntentsDoNotMoveKeys: a restore to another HSM that is aborted
// leaves the key where it was; the key moves only on key.restored.
func TestIntentsDoNotMoveKeys(t *testing.T) {
	f := newFixture(t)
	id := map[string]any{"key_id": "k1"}
	f.add(t, "key.generate.intent", "gen-1", "alice", map[string]any{"key_id": "k1", "type": "aes-256"}, "carol")
	f.add(t, "key.generated", "gen-1", "alice", map[string]any{"kcv_aes_cmac": "abc"})
	f.add(t, "ceremony.closed", "gen-1", "alice", map[string]any{})
	f.add(t, "backup.intent", "bk-1", "alice", id, "carol")
	f.add(t, "backup.split", "bk-1", "alice", id)
	f.add(t, "ceremony.closed", "bk-1", "alice", map[string]any{})
	dr := freshHSM()
	f.add(t, "hsm.enrolled", "enrol-dr", "alice", map[string]any{"hsm": dr})
	f.add(t, "key.restore.intent", "res-1", "alice", map[string]any{"key_id": "k1", "hsm": dr})
	k := f.l.State().Keys["k1"]
	if got := hsmSerial(k.Facts); got != "1234" || !slices.Equal(k.HeldOn(), []string{"1234"}) {
		t.Fatalf("after the restore intent: hsm %q, held on %v", got, k.HeldOn())
	}
	f.add(t, "ceremony.aborted", "res-1", "alice", map[string]any{"reason": "shares missing"})
	k = f.l.State().Keys["k1"]
	if got := hsmSerial(k.Facts); got != "1234" || !slices.Equal(k.HeldOn(), []string{"1234"}) {
		t.Fatalf("after the aborted restore: hsm %q, held on %v", got, k.HeldOn())
	}
	mustVerify(t, f.dir, Options{})
}
