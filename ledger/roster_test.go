package ledger

import (
	"errors"
	"strings"
	"testing"

	"custos/internal/strictyaml"
)

const edKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
const edKey2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti"
const edKey3 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFSHbc+NisS932lRxogvvqy1OsNuU4WZpAULY11jBqc1"

var goodRoster = `ledger: acme-root
ceremony: genesis-2026
members:
  - name: alice
    email: alice@example.org
    roles: [custodian]
    key: ` + edKey + ` alice@laptop
  - name: carol
    roles: [officer, auditor]
    key: ` + edKey2 + `
policy:
  approvals:
    key.generate.intent: {roles: [officer], count: 1}
    "key.*": {roles: [officer], count: 1, self_approval: true}
  algorithms: [ec-p384, aes-256]
  rotation: {ec-p384: 5y}
`

func TestParseRoster(t *testing.T) {
	rf, err := ParseRoster("roster.yaml", []byte(goodRoster))
	if err != nil {
		t.Fatal(err)
	}
	if rf.Ledger != "acme-root" || rf.Ceremony != "genesis-2026" || len(rf.Roster.Members) != 2 || rf.Roster.Members[0].Key != edKey {
		t.Fatalf("parsed %+v", rf)
	}
	p := rf.Policy
	if r := p.Required("key.generate.intent"); r.Count != 1 || r.SelfApproval {
		t.Fatalf("exact requirement %+v", r)
	}
	if r := p.Required("key.destroy.intent"); r.Count != 1 || !r.SelfApproval {
		t.Fatalf("pattern requirement %+v", r)
	}
	if r := p.Required("hsm.enrolled"); r.Count != 0 {
		t.Fatalf("no requirement %+v", r)
	}
	// Defaults: approved algorithms, and officer approval of intents
	// where the roster has an officer.
	rf, err = ParseRoster("r.yaml", []byte("members:\n  - {name: a, roles: [custodian], key: "+edKey+"}\n  - {name: b, roles: [officer], key: "+edKey2+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rf.Policy.Algorithms) != 6 || rf.Policy.Required("key.destroy.intent").Count != 1 || rf.Policy.Required("roster.changed").Count != 1 {
		t.Fatalf("defaults %+v", rf.Policy)
	}
	// Without an officer the defaults cannot be met: left out, and named.
	rf, err = ParseRoster("r.yaml", []byte("members:\n  - {name: a, roles: [custodian], key: "+edKey+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rf.Unmet) != 8 || len(rf.Defaulted) != 0 || rf.Policy.Required("key.export.intent").Count != 0 {
		t.Fatalf("no officer: unmet %v, defaulted %v, policy %+v", rf.Unmet, rf.Defaulted, rf.Policy)
	}
}

// The review cadence: read from the roster file, a quarter by default,
// and left out of the policy's encoding when unset, so a policy written
// before the field encodes as it did.
func TestReviewCadence(t *testing.T) {
	rf, err := ParseRoster("roster.yaml", []byte(goodRoster))
	if err != nil {
		t.Fatal(err)
	}
	if rf.Policy.ReviewCadence != "" || rf.Policy.ReviewCadenceDays() != 92 {
		t.Fatalf("default cadence %q, %d days", rf.Policy.ReviewCadence, rf.Policy.ReviewCadenceDays())
	}
	facts, err := FactsOf(map[string]any{"policy": &rf.Policy})
	if err != nil {
		t.Fatal(err)
	}
	if _, has := facts["policy"].(map[string]any)["review_cadence"]; has {
		t.Fatalf("an unset cadence is encoded: %v", facts["policy"])
	}
	rf, err = ParseRoster("roster.yaml", []byte(goodRoster+"  review_cadence: 3m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rf.Policy.ReviewCadence != "3m" || rf.Policy.ReviewCadenceDays() != 90 {
		t.Fatalf("cadence %q, %d days", rf.Policy.ReviewCadence, rf.Policy.ReviewCadenceDays())
	}
	facts, err = FactsOf(map[string]any{"roster": &rf.Roster, "policy": &rf.Policy})
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := parseRosterFacts(facts)
	if err != nil || p.ReviewCadence != "3m" {
		t.Fatalf("round trip: %v, %+v", err, p)
	}
}

func TestParseRosterErrors(t *testing.T) {
	base := goodRoster
	for _, c := range []struct{ from, to, want string }{
		{"    key: " + edKey2, "    key: " + edKey, `roster.yaml: members[1].key: the same key is already the key of alice`},
		{"    key: " + edKey2, "    key: ssh-ed25519 AAAA", `roster.yaml: members[1].key (line 10): not an ssh public key`},
		{"    roles: [officer, auditor]", "    roles: [officer, [x]]", `roster.yaml: members[1].roles[1] (line 9): want a single value, got a list`},
		{"    roles: [officer, auditor]", "    roles: [officer, admin]", `roster.yaml: members[1].roles[1]: unknown role "admin"`},
		{"  - name: carol", "  - name: Carol", `roster.yaml: members[1].name: "Carol" is not a valid member name`},
		{"    email: alice@example.org", "    e-mail: alice@example.org", `roster.yaml: members[0].e-mail (line 5): unknown field`},
		{"  rotation: {ec-p384: 5y}", "  rotation: {ec-p384: 5 years}", `roster.yaml: policy.rotation.ec-p384: "5 years" is not a period`},
		{"  algorithms: [ec-p384, aes-256]", "  algorithms: [ec-p384, des]", `roster.yaml: policy.algorithms[1]: unknown algorithm "des"`},
		{"  rotation: {ec-p384: 5y}", "  rotation: {ec-p384: 5y}\n  review_cadence: quarterly", `roster.yaml: policy.review_cadence: "quarterly" is not a period like 92d, 13w or 3m`},
		{"  rotation: {ec-p384: 5y}", "  rotation: {ec-p384: 5y}\n  review_cadence: 0d", `roster.yaml: policy.review_cadence: "0d" is not a period`},
		{"  rotation: {ec-p384: 5y}", "  rotation: {ec-p384: 5y}\n  environments: [production, Staging]", `roster.yaml: policy.environments[1]: "Staging" is not one word of lower-case letters`},
		{"  rotation: {ec-p384: 5y}", "  rotation: {ec-p384: 5y}\n  classifications: [secret, secret]", `roster.yaml: policy.classifications[1]: "secret" is listed twice`},
		{"  rotation: {ec-p384: 5y}", "  rotation: {ec-p384: 5y}\n  environments: production", `roster.yaml: policy.environments (line 17): want a list, got "production"`},
		{"{roles: [officer], count: 1}\n", "{roles: [officer], count: 3}\n", `roster.yaml: policy.approvals.key.generate.intent.count: 3 approvals by officer cannot be met`},
		{"{roles: [officer], count: 1}\n", "{roles: [officer], count: one}\n", `roster.yaml: policy.approvals.key.generate.intent.count (line 13): want a whole number, got "one"`},
		{"ledger: acme-root", "ledgr: acme-root", `roster.yaml: ledgr (line 1): unknown field`},
		{"ceremony: genesis-2026", "ceremony: genesis-2026\nceremony: x", `roster.yaml: ceremony (line 3): duplicate key`},
		{"  - name: alice", "  - &a\n    name: alice", `anchors and aliases are not allowed`},
		{"    roles: [custodian]\n", "", `roster.yaml: members[0].roles (line 4): required field is missing`},
		{"    email: alice@example.org", "    email: \"alice\\e[2K@example.org\"", `roster.yaml: members[0].email (line 5): holds the control character U+001B`},
	} {
		in := strings.Replace(base, c.from, c.to, 1)
		if in == base {
			t.Fatalf("edit %q did not apply", c.from)
		}
		_, err := ParseRoster("roster.yaml", []byte(in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("edit %q: err = %v\nwant %q", c.to, err, c.want)
		}
	}
	for _, in := range []string{"", "[]", "members: []", "a: 1\n---\nb: 2", ":"} {
		if _, err := ParseRoster("r.yaml", []byte(in)); err == nil || !strings.HasPrefix(err.Error(), "r.yaml: ") {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// Roster errors are strictyaml errors, like those of ceremony scripts, so
// callers can read the path and line.
func TestParseRosterErrorType(t *testing.T) {
	_, err := ParseRoster("roster.yaml", []byte(strings.Replace(goodRoster, "ledger: acme-root", "ledgr: acme-root", 1)))
	var se *strictyaml.Error
	if !errors.As(err, &se) || se.File != "roster.yaml" || se.Path != "ledgr" || se.Line != 1 {
		t.Fatalf("err = %#v, want a *strictyaml.Error at ledgr, line 1", err)
	}
}

func FuzzParseRoster(f *testing.F) {
	f.Add([]byte(goodRoster))
	f.Add([]byte("members:\n  - {name: a, roles: [officer], key: " + edKey + "}\n"))
	f.Add([]byte("a: &x [*x]"))
	f.Add([]byte("members: [{name: 1}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rf, err := ParseRoster("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := Validate(&rf.Roster, &rf.Policy); err != nil {
			t.Fatalf("accepted roster does not validate: %v", err)
		}
		if _, _, err := parseRosterFacts(mustFacts(t, &rf.Roster, &rf.Policy)); err != nil {
			t.Fatalf("accepted roster does not round-trip through facts: %v", err)
		}
	})
}

func mustFacts(t *testing.T, r *Roster, p *Policy) map[string]any {
	m, err := rosterFacts(r, p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPolicyDefaultsFillGaps: a kind with a default requirement that no
// rule of the roster file covers keeps the default; a rule that covers it
// (exact, pattern or "*"), even "count: 0", is the file's word.
func TestPolicyDefaultsFillGaps(t *testing.T) {
	members := "members:\n  - {name: a, roles: [custodian], key: " + edKey + "}\n  - {name: b, roles: [officer], key: " + edKey2 + "}\n  - {name: c, roles: [officer], key: " + edKey3 + "}\npolicy:\n  approvals:\n"
	for _, c := range []struct {
		rules     string
		want      map[string]int
		defaulted int
	}{
		{"    key.generate.intent: {roles: [officer], count: 2}\n",
			map[string]int{"key.generate.intent": 2, "key.export.intent": 1, "key.destroy.intent": 1, "roster.changed": 1, "backup.intent": 1, "backup.destroyed": 1, "backup.reshare.intent": 1, "hsm.enrolled": 0}, 7},
		{"    \"key.*\": {roles: [officer], count: 2}\n",
			map[string]int{"key.generate.intent": 2, "key.export.intent": 2, "key.restore.intent": 2, "roster.changed": 1, "backup.intent": 1}, 4},
		{"    key.export.intent: {count: 0}\n",
			map[string]int{"key.export.intent": 0, "key.generate.intent": 1, "roster.changed": 1}, 7},
		{"    \"*\": {count: 0}\n",
			map[string]int{"key.export.intent": 0, "key.generate.intent": 0, "roster.changed": 0}, 0},
	} {
		rf, err := ParseRoster("r.yaml", []byte(members+c.rules))
		if err != nil {
			t.Fatalf("%s: %v", c.rules, err)
		}
		for kind, n := range c.want {
			if got := rf.Policy.Required(kind).Count; got != n {
				t.Errorf("rules %q: %s needs %d approvals, want %d", c.rules, kind, got, n)
			}
		}
		if len(rf.Defaulted) != c.defaulted {
			t.Errorf("rules %q: defaulted %v, want %d kinds", c.rules, rf.Defaulted, c.defaulted)
		}
	}
}

// TestSignQuorumFollowsExport: a signature with a key needs what its
// export needs, exact rule or pattern, unless a rule names signing itself.
func TestSignQuorumFollowsExport(t *testing.T) {
	two := Requirement{Roles: []string{"officer"}, Count: 2}
	one := Requirement{Roles: []string{"custodian"}, Count: 1}
	for _, c := range []struct {
		name  string
		rules map[string]Requirement
		want  int
	}{
		{"export exact", map[string]Requirement{"key.export.intent": two, "*": one}, 2},
		{"export by pattern", map[string]Requirement{"key.*": two}, 2},
		{"sign exact wins", map[string]Requirement{"key.export.intent": two, "key.sign.intent": one}, 1},
		{"sign waived explicitly", map[string]Requirement{"key.export.intent": two, "key.sign.intent": {}}, 0},
		{"wildcard", map[string]Requirement{"*": one}, 1},
		{"nothing", map[string]Requirement{}, 0},
	} {
		p := &Policy{Approvals: c.rules}
		if got := p.Required("key.sign.intent").Count; got != c.want {
			t.Errorf("%s: key.sign.intent needs %d approvals, want %d", c.name, got, c.want)
		}
	}
}
