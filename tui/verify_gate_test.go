package tui

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// TestNothingSignedBeforeVerify: Home shows while verify runs in the
// background, and a step that signs (whenVerified: a draft, a request, a
// resume) waits for it; it goes on once the ledger verified, and never
// on a ledger whose record 2 was replaced on disk (its kept replay still
// matching the head, so Home shows from it first).
func TestNothingSignedBeforeVerify(t *testing.T) {
	for _, tamper := range []bool{false, true} {
		f := newFixture(t)
		f.enrol(t)
		if n := f.seq(t); n < 3 { // opened: the replay is kept at the head
			t.Fatalf("the enrolled ledger has %d records", n)
		}
		if tamper {
			obj := func(seq string) string {
				out, err := exec.Command("git", "-C", f.ledger, "rev-parse", "HEAD:records/00/00/00000"+seq+".json").Output()
				if err != nil {
					t.Fatal(err)
				}
				h := strings.TrimSpace(string(out))
				return filepath.Join(f.ledger, ".git", "objects", h[:2], h[2:])
			}
			b, err := os.ReadFile(obj("1"))
			if err != nil {
				t.Fatal(err)
			}
			victim := obj("2")
			if err := os.Remove(victim); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(victim, b, 0o444); err != nil {
				t.Fatal(err)
			}
		}
		h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true}))
		h.waitFor("verifying…")
		if !h.m.verifying || !strings.Contains(h.view(), "Members") {
			t.Fatalf("Home is not shown while verifying:\n%s", h.view())
		}
		ran := false
		h.exec(h.m.whenVerified(func() tea.Cmd { ran = true; return nil }))
		if ran || h.m.busy == "" {
			t.Fatalf("a signing step ran (%v) or did not wait (busy %q) before verify finished", ran, h.m.busy)
		}
		h.waitIdle()
		v := h.view()
		switch {
		case !tamper && (!ran || !strings.Contains(v, "✓ verified")):
			t.Errorf("on a ledger that verified, the waiting step ran: %v; screen:\n%s", ran, v)
		case tamper && (ran || !strings.Contains(v, "DOES NOT VERIFY") || !strings.Contains(v, "nothing was signed")):
			t.Errorf("on a tampered ledger, the waiting step ran: %v; screen:\n%s", ran, v)
		}
		// Once verified, a signing step on the tampered ledger is refused
		// at once.
		if tamper {
			h.exec(h.m.whenVerified(func() tea.Cmd { ran = true; return nil }))
			if ran || !strings.Contains(h.m.status, "read-only") {
				t.Errorf("after verify failed, a signing step ran: %v; status %q", ran, h.m.status)
			}
		}
	}
}
