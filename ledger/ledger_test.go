package ledger

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateAppendVerify(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	genesis := f.l.State().Genesis
	res := mustVerify(t, f.dir, Options{})
	if res.Records != 10 || res.OriginChecked || res.Note != NoteConsistencyOnly {
		t.Fatalf("result without genesis: %+v", res)
	}
	res = mustVerify(t, f.dir, Options{Genesis: genesis, TrustedHead: res.HeadCommit})
	if !res.OriginChecked || !res.TrustedHeadChecked || res.Note != "" {
		t.Fatalf("result with trust roots: %+v", res)
	}
	st := f.l.State()
	if k := st.Keys["root-2026"]; k == nil || k.State != KeyDestroyed || k.Type != "ec-p384" || len(k.History) != 6 {
		t.Fatalf("key state: %+v", st.Keys["root-2026"])
	}
	// The work tree is the commit: stock git sees nothing to commit.
	if out := gitCmd(t, f.dir, "status", "--porcelain"); out != "" {
		t.Fatalf("work tree not clean:\n%s", out)
	}
	// Reopening replays to the same state.
	l2, err := Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := l2.Head(); d != st.Head {
		t.Fatalf("head after reopen %s, want %s", d, st.Head)
	}
}

// TestStockGitVerifiesEveryCommit: stock git with the ledger's
// allowed_signers accepts every commit, %G? is G and %GS the author.
func TestStockGitVerifiesEveryCommit(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	signers := filepath.Join(f.dir, "allowed_signers")
	revs := strings.Fields(gitCmd(t, f.dir, "rev-list", "HEAD"))
	if len(revs) != 10 {
		t.Fatalf("%d commits, want 10", len(revs))
	}
	for _, r := range revs {
		gitCmd(t, f.dir, "-c", "gpg.ssh.allowedSignersFile="+signers, "verify-commit", r)
	}
	out := gitCmd(t, f.dir, "-c", "gpg.ssh.allowedSignersFile="+signers, "log", "--format=%G? %GS %an")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		p := strings.Fields(line)
		if len(p) != 3 || p[0] != "G" || p[1] != p[2] {
			t.Fatalf("stock git: %q", line)
		}
	}
	if !strings.Contains(out, "G bob bob") {
		t.Fatalf("no commit by bob's ECDSA P-256 key:\n%s", out)
	}
	// The script auditors run does the same check.
	script, _ := filepath.Abs("../scripts/stock-verify")
	cmd := exec.Command(script, f.dir)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stock-verify: %v\n%s", err, out)
	}
}

func TestAppendRefusals(t *testing.T) {
	f := newFixture(t)
	k := map[string]any{"key_id": "k1", "type": "ec-p256"}
	cases := []struct {
		name, kind, actor string
		facts             map[string]any
		approvers         []string
		want              string
	}{
		{"too few approvals", "key.destroy.intent", "alice", map[string]any{"key_id": "k1"}, []string{"carol"}, ""},
		{"no approval", "key.generate.intent", "alice", k, nil, "0 of 1 required approvals"},
		{"self approval", "key.generate.intent", "carol", k, []string{"carol", "dave"}, "may not approve their own"},
		{"wrong role", "key.generate.intent", "alice", k, []string{"bob"}, "holds none of the roles"},
		{"not a member", "key.generate.intent", "mallory", k, []string{"carol"}, "not a member"},
		{"unapproved algorithm", "key.generate.intent", "alice", map[string]any{"key_id": "k2", "type": "rsa-1024"}, []string{"carol"}, "not on the policy"},
		{"outcome without intent", "key.generated", "alice", map[string]any{"key_id": "k1"}, nil, "cannot begin ceremony"},
		{"float fact", "hsm.enrolled", "alice", map[string]any{"x": 1.5}, nil, "floating-point"},
	}
	for _, c := range cases[1:] {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.try(c.kind, "c1", c.actor, c.facts, c.approvers...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	f.add(t, "key.generate.intent", "c1", "alice", k, "carol")
	if _, err := f.try("hsm.enrolled", "other", "alice", nil); err == nil || !strings.Contains(err.Error(), "has no outcome") {
		t.Fatalf("record of another ceremony with an intent open: %v", err)
	}
	f.add(t, "key.generated", "c1", "alice", map[string]any{"key_id": "k1"})
	if _, err := f.try("key.destroy.intent", "c2", "alice", map[string]any{"key_id": "k1"}, "carol"); err == nil || !strings.Contains(err.Error(), "1 of 2") {
		t.Fatalf("too few approvals: %v", err)
	}
	// An approval signed for another place in history is refused.
	rec := f.l.Draft("key.export.intent", "c3", "alice", map[string]any{"key_id": "k1", "recipient": "p", "recipient_key_spki_sha256": "00", "hsm": testHSM}, f.now)
	other := *rec
	other.Seq++
	ap, _ := Approve(&other, "carol", f.signers["carol"])
	if _, err := f.l.Append(rec, f.signers["alice"], []Approval{ap}); err == nil || !strings.Contains(err.Error(), "approval by carol") {
		t.Fatalf("approval for another seq: %v", err)
	}
	// A signer whose key is not the actor's is refused.
	if _, err := f.l.Append(rec, f.signers["bob"], nil); err == nil {
		t.Fatal("append signed by another member's key accepted")
	}
	mustVerify(t, f.dir, Options{})
}

func TestHeadMoved(t *testing.T) {
	f := newFixture(t)
	other, err := Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	f.add(t, "hsm.enrolled", "e1", "alice", nil)
	rec := other.Draft("hsm.enrolled", "e2", "alice", map[string]any{"hsm": testHSM}, f.now)
	if _, err := other.Append(rec, f.signers["alice"], nil); err == nil || !strings.Contains(err.Error(), "head moved") {
		t.Fatalf("append on a stale head: %v", err)
	}
	mustVerify(t, f.dir, Options{})
}

func TestCreateRefusesNonEmptyDir(t *testing.T) {
	f := newFixture(t)
	st := f.l.State()
	if _, err := Create(f.dir, &st.Roster, &st.Policy, f.signers, t0); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("create over a ledger: %v", err)
	}
	delete(f.signers, "dave")
	if _, err := Create(filepath.Join(t.TempDir(), "l"), &st.Roster, &st.Policy, f.signers, t0); err == nil || !strings.Contains(err.Error(), "dave") {
		t.Fatalf("create without a founder's key: %v", err)
	}
}

func TestOpenIntentIsReportedNotFailed(t *testing.T) {
	f := newFixture(t)
	f.add(t, "key.generate.intent", "g", "alice", map[string]any{"key_id": "k9", "type": "ed25519"}, "carol")
	res := mustVerify(t, f.dir, Options{})
	if res.OpenIntent == nil || res.OpenIntent.Seq != f.l.State().Seq || res.OpenIntent.KeyID != "k9" {
		t.Fatalf("open intent: %+v", res.OpenIntent)
	}
	if f.l.State().OpenIntent == nil {
		t.Fatal("state has no open intent")
	}
}

func TestRosterChange(t *testing.T) {
	f := newFixture(t)
	st := f.l.State()
	newR := st.Roster
	newR.Members = append([]Member(nil), st.Roster.Members...)
	// erin joins, alice rotates her key, bob leaves.
	erin := sshKey(t, f.keys, "erin")
	alice2 := sshKey(t, f.keys, "alice2")
	newR.Members = append(newR.Members, Member{Name: "erin", Roles: []string{"officer"}, Key: authKey(erin)})
	newR.Members[0].Key = authKey(alice2)
	newR.Members = append(newR.Members[:1], newR.Members[2:]...)
	facts, err := rosterFacts(&newR, &st.Policy)
	if err != nil {
		t.Fatal(err)
	}
	f.signers["erin"] = erin
	// Approval by erin (not yet a member) does not count: the OLD roster decides.
	if _, err := f.try("roster.changed", "r1", "alice", facts, "erin"); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("roster change approved by a new member: %v", err)
	}
	f.add(t, "roster.changed", "r1", "alice", facts, "carol")
	f.signers["alice"], f.signers["erin"] = alice2, erin
	f.add(t, "hsm.enrolled", "e1", "alice", nil)
	f.add(t, "key.generate.intent", "g1", "alice", map[string]any{"key_id": "k1"}, "erin")
	if _, err := f.try("hsm.enrolled", "g1", "bob", nil); err == nil {
		t.Fatal("removed member appended")
	}
	mustVerify(t, f.dir, Options{})
	signers := filepath.Join(f.dir, "allowed_signers")
	for _, r := range strings.Fields(gitCmd(t, f.dir, "rev-list", "HEAD")) {
		gitCmd(t, f.dir, "-c", "gpg.ssh.allowedSignersFile="+signers, "verify-commit", r)
	}
}

// TestPackedLedger: after stock `git gc` packs the objects, the ledger
// still verifies and takes appends (objects read through go-git's packs).
func TestPackedLedger(t *testing.T) {
	f := newFixture(t)
	f.story(t)
	gitCmd(t, f.dir, "gc", "-q", "--prune=now")
	if loose, _ := filepath.Glob(filepath.Join(f.dir, ".git", "objects", "??", "*")); len(loose) != 0 {
		t.Fatalf("%d loose objects after gc", len(loose))
	}
	mustVerify(t, f.dir, Options{})
	f.open(t)
	f.add(t, "hsm.enrolled", "e9", "alice", nil)
	if res := mustVerify(t, f.dir, Options{}); res.Records != 11 {
		t.Fatalf("%d records", res.Records)
	}
}
