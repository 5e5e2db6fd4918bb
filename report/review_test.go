package report

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestExceptionsAndSummaries: the exceptions a reviewer must follow up,
// each key's life in sentences, facts as rows without JSON, and the
// witnesses as members who acted in the role, from a real ledger.
func TestExceptionsAndSummaries(t *testing.T) {
	f := newFixture(t)
	f.story()
	// A generation aborted, and a second key labelled root (the first is
	// destroyed) with no rotation period (aes-256 has none in the policy).
	f.add("key.generate.intent", "gen-k3", "alice", map[string]any{"key_id": "k3", "label": "spare", "type": "aes-256", "hsm": hsmFacts}, "bob")
	f.add("ceremony.aborted", "gen-k3", "alice", map[string]any{"key_id": "k3", "reason": "token full"})
	f.add("key.generate.intent", "gen-k4", "alice", map[string]any{"key_id": "k4", "label": "root", "type": "aes-256", "hsm": hsmFacts}, "bob")
	f.add("key.generated", "gen-k4", "alice", map[string]any{"key_id": "k4", "label": "root", "type": "aes-256", "kcv_aes_cmac": "0f0f0f", "hsm": hsmFacts})
	f.reopen()
	r := build(t, f, Options{Now: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)})

	kinds := map[string][]Exception{}
	for _, x := range r.Exceptions {
		kinds[x.Kind] = append(kinds[x.Kind], x)
		if x.Text == "" || len(x.Seqs) == 0 {
			t.Errorf("exception without text or records: %+v", x)
		}
	}
	want := map[string]string{
		"aborted_ceremony":    "gen-k3",
		"export_outlives_key": "expires 2030-01-01",
		"rotation_overdue":    "kek is overdue",
		"no_rotation_period":  "root (aes-256) has no rotation period",
		"label_reused":        "label root names 2 keys",
	}
	for k, text := range want {
		if len(kinds[k]) != 1 || !strings.Contains(kinds[k][0].Text, text) {
			t.Errorf("exception %s: %+v, want one saying %q", k, kinds[k], text)
		}
	}
	// the fixture's roster change and review are not closed either
	if u := kinds["unclosed_ceremony"]; len(u) != 3 || u[2].Ceremony != "gen-k4" || u[0].Ceremony != "roster-1" {
		t.Errorf("unclosed: %+v", u)
	}
	delete(kinds, "unclosed_ceremony")
	for k := range kinds {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected exception %s: %+v", k, kinds[k])
		}
	}
	k1 := keyOf(r, "k1")
	life := ""
	for _, s := range k1.Summary {
		life += s.Text + " "
		for _, q := range s.Seqs {
			if q < 1 || q > r.Records {
				t.Errorf("sentence %q names record %d", s.Text, q)
			}
		}
	}
	for _, w := range []string{"kek (aes-256, wraps data keys, owned by payments) was generated on SoftHSM v2 0123456789abcdef", "approved by bob",
		"exported to partner", "expires 2030-01-01", "OVERDUE"} {
		if !strings.Contains(life, w) {
			t.Errorf("k1's summary lacks %q: %s", w, life)
		}
	}
	for _, c := range r.Ceremonies {
		for _, s := range c.Steps {
			for _, fa := range s.Facts {
				if strings.Contains(fa.Value, `{"`) || strings.Contains(fa.Value, `["`) || strings.Contains(fa.Value, "BEGIN SSH SIGNATURE") {
					t.Errorf("record %d fact %s = %q", s.Seq, fa.Name, fa.Value)
				}
			}
		}
	}
	for _, h := range r.Policy.Roles {
		if h.Role == "witness" && (!slices.Equal(h.Members, []string{"erin"}) || !slices.Equal(h.Acted, []string{"bob"})) {
			t.Errorf("witness role: %+v, want erin holding it and bob acting in it", h)
		}
	}
	if rv := r.Reviews; len(rv) != 1 || len(rv[0].Members) != 0 || len(rv[0].Keys) != 0 || rv[0].Period != "2024" {
		t.Errorf("review: %+v (its record lists no roster or inventory)", rv)
	}
	var b strings.Builder
	if err := Render(&b, r, "html"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "its coverage of the roster is not recorded") {
		t.Error("the HTML does not say the review's coverage is not recorded")
	}
}

// TestFactLines: an object of plain values is one line, a list of
// objects numbered rows, a SHA-1 OAEP hash carries its reason.
func TestFactLines(t *testing.T) {
	fs := flatten(map[string]any{
		"hsm":       map[string]any{"serial": "01", "model": "m"},
		"holders":   []any{map[string]any{"member": "alice", "index": int64(1)}, map[string]any{"member": "bob", "index": int64(2)}},
		"oaep_hash": "sha-1",
		"tags":      []any{"a", "b"},
	})
	lines := factLines(fs)
	var got []string
	for _, l := range lines {
		got = append(got, strings.Repeat(">", l.Depth)+l.Label+"|"+l.Value)
	}
	want := []string{"holders|", ">#1|index: 1 · member: alice", ">#2|index: 2 · member: bob", "hsm|model: m · serial: 01", "oaep_hash|sha-1", "tags|a, b"}
	if !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	for _, f := range fs {
		if f.Label == "oaep_hash" && !strings.Contains(f.Note, "SoftHSM offers only SHA-1") {
			t.Errorf("oaep_hash note %q", f.Note)
		}
	}
}

// TestExceptionKinds: exceptions the ledger's rules make hard to reach
// in a fixture (a backup outliving its key, an id used again, a key
// restored after its destruction), from a report's model.
func TestExceptionKinds(t *testing.T) {
	destroyed := &Event{Seq: 9, Time: "2024-02-01T00:00:00Z", By: "alice", Reason: "decommissioned"}
	b := &builder{reused: map[string][]int64{"gen-1": {12}}, r: &Report{
		Inventory: []Key{
			{ID: "k1", Label: "gone", Type: "aes-256", State: "destroyed", Destroyed: destroyed, Requested: Event{Seq: 2},
				Backups: []Backup{{Event: Event{Seq: 5}, BackupID: "k1.bk1", Threshold: 2, Shares: 3, Holders: []string{"a", "b", "c"}}}},
			{ID: "k2", Label: "back", Type: "aes-256", State: "active", RotationDays: 30, Destroyed: destroyed, Requested: Event{Seq: 3},
				Restores: []Event{{Seq: 11, Time: "2024-02-02T00:00:00Z"}}},
		},
	}}
	got := map[string]string{}
	for _, x := range b.exceptions() {
		got[x.Kind] = x.Text
	}
	for kind, text := range map[string]string{
		"backup_outlives_key":        "backup k1.bk1 (2 of 3 shares: a, b, c) is not destroyed",
		"restored_after_destruction": "back was destroyed on 2024-02-01 (reason: decommissioned) and restored from backup on 2024-02-02",
		"ceremony_id_reused":         "ceremony id gen-1 is used again",
	} {
		if !strings.Contains(got[kind], text) {
			t.Errorf("%s: %q, want %q", kind, got[kind], text)
		}
	}
	if len(got) != 3 {
		t.Errorf("exceptions %v", got)
	}
}
