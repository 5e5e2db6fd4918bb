package ledger

import (
	"testing"
	"time"
)

// verifyBoth verifies dir as custos does (settled keys compact) and with
// every key whole, and fails t unless the two agree on everything an
// auditor reads: the verdict, the failing record, its check and reason.
func verifyBoth(t testing.TB, dir string, opts Options) Result {
	t.Helper()
	res := Verify(dir, opts)
	full := opts
	full.fullKeys = true
	whole := Verify(dir, full)
	if res.OK != whole.OK || res.Records != whole.Records || res.Head != whole.Head ||
		(res.Failure == nil) != (whole.Failure == nil) ||
		(res.Failure != nil && *res.Failure != *whole.Failure) {
		t.Fatalf("verify with settled keys compact says %v, with every key whole %v", res.Err(), whole.Err())
	}
	return res
}

// TestCompactSettledKey: after a key's destruction (no backup, no other
// HSM) verify keeps it small, and a record that names it later is refused
// as it is with the key whole.
func TestCompactSettledKey(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	verifyBoth(t, f.dir, Options{})
	// Verify's replay compacts it: check on a replay of the same state.
	s := f.l.State().clone()
	k := s.ownKey("root-2026") // a copy: the ledger's own state stays whole
	if !settled(k) {
		t.Fatalf("root-2026 is %s, on %v, backups %v: not settled", k.State, k.on, k.BackupsOutstanding)
	}
	compactKey(k)
	if len(k.History) != 1 || k.History[0].Kind != "key.destroyed" || k.Facts["label"] != "root-2026" || k.histJSON != nil {
		t.Fatalf("compact key: history %v, facts %v", k.History, k.Facts)
	}
	if _, has := k.Facts["attributes"]; has {
		t.Fatal("the compact key kept facts that are not its identity")
	}
	for _, c := range []struct{ kind, actor string }{
		{"key.export.intent", "bob"}, {"key.exported", "bob"}, {"key.destroy.intent", "alice"},
		{"key.restore.intent", "alice"}, {"backup.intent", "alice"}, {"key.compromised", "alice"},
	} {
		g := newFixture(t)
		g.story(t)
		rec := g.l.Draft(c.kind, "late-1", c.actor, map[string]any{"key_id": "root-2026", "label": "root-2026", "backup_id": "bk-1", "hsm": map[string]any{"serial": "1234"}}, g.now.Add(time.Hour))
		g.forge(t, rec, g.signers[c.actor], nil)
		if res := verifyBoth(t, g.dir, Options{}); res.OK {
			t.Fatalf("%s on a destroyed key verified", c.kind)
		}
	}
}

// TestCompactReplaysAgain: when a record changes a compact key, verify
// replays again with every key whole, and hands Each every record once.
func TestCompactReplaysAgain(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	compacted := 0
	compactWhen = func(*KeyState) bool { compacted++; return true } // every key, after every change
	defer func() { compactWhen = settled }()
	var seen []int64
	res := Verify(f.dir, Options{Each: func(r *Record, _ string) { seen = append(seen, r.Seq) }})
	if !res.OK {
		t.Fatalf("verify: %v", res.Err())
	}
	if compacted == 0 {
		t.Fatal("no key was compacted: the test checks nothing")
	}
	if int64(len(seen)) != res.Records {
		t.Fatalf("Each saw %d records of %d: %v", len(seen), res.Records, seen)
	}
	for i, s := range seen {
		if s != int64(i+1) {
			t.Fatalf("Each saw %v", seen)
		}
	}
}
