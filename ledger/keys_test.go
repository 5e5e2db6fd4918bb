package ledger

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"custos/sign"
)

const smallOrderRule = "ed25519 key is a point of small order: anyone could sign as this member"

// identityKey is the ed25519 key whose point is the identity (y = 1): any
// R = [s]B is a signature of any message by it.
func identityKey(t *testing.T) string {
	t.Helper()
	pub, err := ssh.NewPublicKey(ed25519.PublicKey(append([]byte{1}, make([]byte, 31)...)))
	if err != nil {
		t.Fatal(err)
	}
	return sign.AuthorizedKey(pub)
}

// TestParseRosterRefusesForgeableKeys: a roster file naming a key anyone
// can sign for is refused at the key's YAML path and line.
func TestParseRosterRefusesForgeableKeys(t *testing.T) {
	in := strings.Replace(goodRoster, "    key: "+edKey2, "    key: "+identityKey(t), 1)
	_, err := ParseRoster("roster.yaml", []byte(in))
	want := "roster.yaml: members[1].key (line 10): " + smallOrderRule
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if !errors.Is(err, sign.ErrSmallOrder) {
		t.Errorf("%v does not wrap sign.ErrSmallOrder", err)
	}
	// The same key given to Validate directly (as replayed facts are).
	rf, err := ParseRoster("roster.yaml", []byte(goodRoster))
	if err != nil {
		t.Fatal(err)
	}
	rf.Roster.Members[1].Key = identityKey(t)
	if err := Validate(&rf.Roster, &rf.Policy); err == nil || err.Error() != "members[1].key: "+smallOrderRule {
		t.Fatalf("Validate: %v", err)
	}
	if _, _, err := parseRosterFacts(mustFacts(t, &rf.Roster, &rf.Policy)); err == nil || err.Error() != "facts: members[1].key: "+smallOrderRule {
		t.Fatalf("parseRosterFacts: %v", err)
	}
	// Create (custos init past the roster file) refuses it too, and
	// writes nothing.
	dir := filepath.Join(t.TempDir(), "l")
	if _, err := Create(dir, &rf.Roster, &rf.Policy, nil, t0); err == nil || err.Error() != "roster: members[1].key: "+smallOrderRule {
		t.Fatalf("Create: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Create left %s: %v", dir, err)
	}
}

// TestRosterRSAMinimum: policy.member_rsa_min_bits sets the RSA minimum
// (3072 when unset), is range-checked, and is left out of the policy's
// encoding when unset (ledgers written before it encode as they did).
func TestRosterRSAMinimum(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	roster := "members:\n  - {name: a, roles: [custodian], key: " + sign.AuthorizedKey(pub) + "}\n  - {name: b, roles: [officer], key: " + edKey2 + "}\n"
	if _, err := ParseRoster("r.yaml", []byte(roster)); err == nil || !strings.Contains(err.Error(), "r.yaml: members[0].key (line 2): ssh-rsa key has 2048 bits, fewer than the 3072 required") {
		t.Fatalf("rsa-2048 under the default: %v", err)
	}
	rf, err := ParseRoster("r.yaml", []byte(roster+"policy:\n  member_rsa_min_bits: 2048\n"))
	if err != nil {
		t.Fatalf("rsa-2048 with member_rsa_min_bits 2048: %v", err)
	}
	if rf.Policy.MemberKeyRSAMinBits != 2048 || len(rf.Unmet) != 0 || rf.Policy.Required("roster.changed").Count != 1 {
		t.Fatalf("policy %+v, unmet %v", rf.Policy, rf.Unmet)
	}
	if _, _, err := parseRosterFacts(mustFacts(t, &rf.Roster, &rf.Policy)); err != nil {
		t.Fatalf("the minimum does not round-trip through facts: %v", err)
	}
	for _, bad := range []string{"1024", "0", "100000", "x"} {
		_, err := ParseRoster("r.yaml", []byte(roster+"policy:\n  member_rsa_min_bits: "+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), "r.yaml: policy.member_rsa_min_bits (line 5): ") {
			t.Errorf("member_rsa_min_bits %s: %v", bad, err)
		}
	}
	p := *testPolicy()
	p.MemberKeyRSAMinBits = 1024
	if err := Validate(&Roster{Members: []Member{{Name: "a", Roles: []string{"officer"}, Key: edKey}}}, &p); err == nil || !strings.Contains(err.Error(), "policy.member_rsa_min_bits: 1024 is out of range") {
		t.Errorf("Validate of a 1024-bit minimum: %v", err)
	}
	b, err := json.Marshal(testPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "member_rsa_min_bits") {
		t.Errorf("an unset minimum is encoded: %s", b)
	}
}

// TestRosterChangeRefusesForgeableKey: a roster.changed record bringing
// in a small-order key is refused by Append; forced into the ledger
// (committed without Append's checks, signed and approved by members),
// it fails verify at that record, naming the rule.
func TestRosterChangeRefusesForgeableKey(t *testing.T) {
	f := newFixture(t)
	st := f.l.State()
	newR := st.Roster
	newR.Members = append(append([]Member(nil), st.Roster.Members...), Member{Name: "mallory", Roles: []string{"officer"}, Key: identityKey(t)})
	facts := map[string]any{"roster": &newR, "policy": &st.Policy}
	facts, err := FactsOf(facts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.try("roster.changed", "r1", "alice", facts, "carol")
	if err == nil || !strings.Contains(err.Error(), "append record 2 (roster.changed): new roster: ") || !strings.Contains(err.Error(), "members[4].key: "+smallOrderRule) {
		t.Fatalf("Append: %v", err)
	}
	mustVerify(t, f.dir, Options{})

	rec := f.l.Draft("roster.changed", "r1", "alice", facts, f.now.Add(time.Minute))
	ap, err := Approve(rec, "carol", f.signers["carol"])
	if err != nil {
		t.Fatal(err)
	}
	rec.Approvals = []Approval{ap}
	f.forge(t, rec, f.signers["alice"], nil)
	expectFailure(t, f.dir, Options{}, 2, "policy", "new roster: facts: members[4].key: "+smallOrderRule)
	res := Verify(f.dir, Options{})
	if msg := res.Err().Error(); !strings.Contains(msg, "record 2") || !strings.Contains(msg, smallOrderRule) {
		t.Fatalf("verify: %s", msg)
	}
	t.Logf("verify: %v", res.Err())
}
