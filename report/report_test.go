package report

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"custos/ledger"
	"custos/report/schematest"
	"custos/sign"
)

// fixture is a real ledger (real git repository, real SSH signatures) with
// records written through ledger.Append. The HSM facts are typed in here;
// the SoftHSM-backed end-to-end test is cmd/custos/testdata/report.
type fixture struct {
	t       testing.TB
	dir     string
	l       *ledger.Ledger
	signers map[string]sign.Signer
	now     time.Time
}

var t0 = time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: filepath.Join(t.TempDir(), "L"), signers: map[string]sign.Signer{}, now: t0}
	roster := &ledger.Roster{}
	for _, m := range []struct{ name, role string }{{"alice", "custodian"}, {"bob", "officer"}, {"carol", "officer"}, {"dave", "auditor"}} {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		s, err := sign.FromCrypto(priv)
		if err != nil {
			t.Fatal(err)
		}
		f.signers[m.name] = s
		sp, _ := ssh.NewPublicKey(pub)
		roster.Members = append(roster.Members, ledger.Member{Name: m.name, Roles: []string{m.role}, Key: sign.AuthorizedKey(sp)})
	}
	policy := &ledger.Policy{
		Approvals: map[string]ledger.Requirement{
			"key.destroy.*":       {Roles: []string{"officer"}, Count: 1},
			"key.export.intent":   {Roles: []string{"officer"}, Count: 2},
			"roster.changed":      {Roles: []string{"officer"}, Count: 1},
			"hsm.enrolled":        {Roles: []string{"officer"}, Count: 1},
			"key.generate.intent": {Roles: []string{"officer"}, Count: 1},
		},
		Algorithms: []string{"aes-256", "ec-p384"},
		Rotation:   map[string]string{"ec-p384": "2y"},
	}
	if _, err := ledger.Create(f.dir, roster, policy, f.signers, t0); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	return f
}

func (f *fixture) reopen() {
	l, err := ledger.Open(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	f.l = l
}

var hsmFacts = map[string]any{"manufacturer": "SoftHSM project", "model": "SoftHSM v2", "serial": "0123456789abcdef", "label": "t1", "firmware": "2.6"}

// add appends one record, approved by approvers, one hour after the last.
func (f *fixture) add(kind, cer, actor string, facts map[string]any, approvers ...string) {
	f.t.Helper()
	f.now = f.now.Add(time.Hour)
	fs, err := ledger.FactsOf(facts)
	if err != nil {
		f.t.Fatal(err)
	}
	rec := f.l.Draft(kind, cer, actor, fs, f.now)
	var apps []ledger.Approval
	for _, a := range approvers {
		ap, err := ledger.Approve(rec, a, f.signers[a])
		if err != nil {
			f.t.Fatal(err)
		}
		apps = append(apps, ap)
	}
	if _, err := f.l.Append(rec, f.signers[actor], apps); err != nil {
		f.t.Fatalf("append %s: %v", kind, err)
	}
}

// close appends the ceremony's ceremony.closed, its checkpoint signed by
// the witnesses.
func (f *fixture) close(cer, actor string, witnesses ...string) {
	f.t.Helper()
	facts, err := f.l.CloseFacts(witnesses, f.signers)
	if err != nil {
		f.t.Fatal(err)
	}
	f.add("ceremony.closed", cer, actor, facts)
}

// story writes a key life: enrol, generate two keys, export one, destroy
// the other, a roster change and an access review.
func (f *fixture) story() {
	f.add("hsm.enrolled", "enroll", "alice", map[string]any{"hsm": hsmFacts, "witnesses": []string{"bob"}}, "bob")
	f.close("enroll", "alice", "bob")
	f.add("key.generate.intent", "gen-kek", "alice", map[string]any{"key_id": "k1", "label": "kek", "type": "aes-256", "owner": "payments",
		"purpose": "wraps data keys", "rotation_days": 30, "hsm": hsmFacts}, "bob")
	f.add("key.generated", "gen-kek", "alice", map[string]any{"key_id": "k1", "label": "kek", "type": "aes-256", "kcv_aes_cmac": "a1b2c3",
		"class": "secret", "attributes": map[string]any{"sensitive": true, "extractable": true}, "hsm": hsmFacts})
	f.close("gen-kek", "alice")
	f.add("key.generate.intent", "gen-root", "alice", map[string]any{"key_id": "k2", "label": "root", "type": "ec-p384", "owner": "pki",
		"purpose": "signs CAs", "hsm": hsmFacts}, "carol")
	f.add("key.generated", "gen-root", "alice", map[string]any{"key_id": "k2", "label": "root", "type": "ec-p384", "spki_sha256": "ff00", "hsm": hsmFacts})
	f.close("gen-root", "alice")
	f.add("key.export.intent", "exp-1", "alice", map[string]any{"key_id": "k1", "recipient": "partner", "recipient_key_spki_sha256": "aa", "purpose": "link", "expires": "2030-01-01", "hsm": hsmFacts}, "bob", "carol")
	f.add("key.exported", "exp-1", "alice", map[string]any{"key_id": "k1", "recipient": "partner", "mechanism": "CKM_RSA_PKCS_OAEP", "oaep_hash": "sha-256", "output_sha256": "beef", "hsm": hsmFacts})
	f.close("exp-1", "alice")
	f.add("key.destroy.intent", "destroy-root", "alice", map[string]any{"key_id": "k2", "reason": "superseded", "hsm": hsmFacts}, "bob")
	f.add("key.destroyed", "destroy-root", "alice", map[string]any{"key_id": "k2", "verification": map[string]any{"found_by_id": 0}, "hsm": hsmFacts})
	f.close("destroy-root", "alice")
	st := f.l.State()
	newRoster := append([]ledger.Member{}, st.Roster.Members...)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := ssh.NewPublicKey(pub)
	newRoster = append(newRoster, ledger.Member{Name: "erin", Roles: []string{"witness"}, Key: sign.AuthorizedKey(sp)})
	pol := st.Policy
	f.add("roster.changed", "roster-1", "bob", map[string]any{"roster": ledger.Roster{Members: newRoster}, "policy": pol}, "carol")
	head, _ := f.l.Head()
	f.add("review.signed", "review-2024", "carol", map[string]any{"period": "2024", "findings": "roster and inventory", "reviewed_head": head})
}

func build(t testing.TB, f *fixture, o Options) *Report {
	t.Helper()
	res := ledger.Verify(f.dir, ledger.Options{})
	if !res.OK {
		t.Fatalf("fixture does not verify: %v", res.Err())
	}
	o.Verify = &res
	r, err := Build(f.l, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func keyOf(r *Report, id string) *Key {
	for i := range r.Inventory {
		if r.Inventory[i].ID == id {
			return &r.Inventory[i]
		}
	}
	return nil
}

// TestBuild checks the report's facts against the ledger's own records
// and replayed state, not against fixed text.
func TestBuild(t *testing.T) {
	f := newFixture(t)
	f.story()
	f.reopen()
	r := build(t, f, Options{Now: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)})

	st := f.l.State()
	if r.Records != st.Seq || r.Head != st.Head || r.Genesis != st.Genesis || r.Ledger != st.LedgerID {
		t.Fatalf("report head %d %s, ledger %d %s", r.Records, r.Head, st.Seq, st.Head)
	}
	if !r.Verify.Ran || !r.Verify.OK || r.Verify.OriginChecked {
		t.Fatalf("verify section: %+v", r.Verify)
	}
	if !slices.ContainsFunc(r.Verify.NotChecked, func(s string) bool { return strings.Contains(s, "origin") }) {
		t.Fatalf("not checked lacks origin: %q", r.Verify.NotChecked)
	}
	// every key of the replay, with its state and history
	if len(r.Inventory) != len(st.Keys) {
		t.Fatalf("inventory has %d keys, ledger %d", len(r.Inventory), len(st.Keys))
	}
	for id, ks := range st.Keys {
		k := keyOf(r, id)
		if k == nil {
			t.Fatalf("key %s missing", id)
		}
		if k.State != ks.State || k.Label != ks.Label || k.Type != ks.Type || k.Requested.Seq != ks.CreatedSeq {
			t.Errorf("key %s: report %s %s %s %d, ledger %s %s %s %d", id, k.State, k.Label, k.Type, k.Requested.Seq, ks.State, ks.Label, ks.Type, ks.CreatedSeq)
		}
		if len(k.History) != len(ks.History) {
			t.Fatalf("key %s history %d, ledger %d", id, len(k.History), len(ks.History))
		}
		for i, h := range ks.History {
			if k.History[i].Seq != h.Seq || k.History[i].Kind != h.Kind || k.History[i].Time != h.Time {
				t.Errorf("key %s history[%d] = %+v, ledger %+v", id, i, k.History[i], h)
			}
		}
	}
	// records cross-checked one by one
	recs := map[int64]*ledger.Record{}
	for rec, err := range f.l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		recs[rec.Seq] = rec
	}
	k1, k2 := keyOf(r, "k1"), keyOf(r, "k2")
	gen := recs[k1.Created.Seq]
	if gen.Kind != "key.generated" || k1.Created.By != gen.Actor || k1.CheckValue != "kcv_aes_cmac:"+gen.Facts["kcv_aes_cmac"].(string) {
		t.Errorf("k1 created %+v check %s, record %d %s", k1.Created, k1.CheckValue, gen.Seq, gen.Kind)
	}
	intent := recs[k1.Created.IntentSeq]
	if intent.Kind != "key.generate.intent" || !slices.Equal(k1.Created.ApprovedBy, names(intent.Approvals)) {
		t.Errorf("k1 approvals %v, intent %d approvals %v", k1.Created.ApprovedBy, intent.Seq, names(intent.Approvals))
	}
	if k1.HSM.Serial != hsmFacts["serial"] || k1.HSM.Model != hsmFacts["model"] || k1.Bits != 256 || k1.Owner != "payments" || !k1.Attributes["sensitive"] {
		t.Errorf("k1 = %+v", k1)
	}
	if len(k1.Exports) != 1 || k1.Exports[0].Recipient != "partner" || !slices.Equal(k1.Exports[0].ApprovedBy, []string{"bob", "carol"}) ||
		k1.Exports[0].Purpose != "link" || recs[k1.Exports[0].Seq].Kind != "key.exported" {
		t.Errorf("k1 exports %+v", k1.Exports)
	}
	// rotation: 30 days from generation, overdue at June 2024
	due := gen.Time.AddDate(0, 0, 30).Format(ledger.TimeLayout)
	if k1.RotationDays != 30 || k1.RotationSource != "ceremony" || k1.RotationDue != due || !k1.Overdue {
		t.Errorf("k1 rotation %d %s due %s overdue %v, want due %s", k1.RotationDays, k1.RotationSource, k1.RotationDue, k1.Overdue, due)
	}
	if len(r.Calendar) != 1 || r.Calendar[0].KeyID != "k1" || !r.Calendar[0].Overdue {
		t.Errorf("calendar %+v", r.Calendar)
	}
	if k2.State != ledger.KeyDestroyed || k2.Destroyed == nil || recs[k2.Destroyed.Seq].Kind != "key.destroyed" ||
		k2.Destroyed.Reason != "superseded" || !slices.Equal(k2.Destroyed.ApprovedBy, []string{"bob"}) {
		t.Errorf("k2 destroyed %+v", k2.Destroyed)
	}
	if k2.RotationDays != 730 || k2.RotationSource != "policy" || k2.RotationDue != "" || k2.Overdue {
		t.Errorf("k2 rotation %d %s %s %v (destroyed keys are not due)", k2.RotationDays, k2.RotationSource, k2.RotationDue, k2.Overdue)
	}
	// every record appears in exactly one ceremony, with its digest
	n := 0
	for _, c := range r.Ceremonies {
		for _, s := range c.Steps {
			n++
			rec := recs[s.Seq]
			d, _ := rec.Digest()
			if s.Digest != d || s.Kind != rec.Kind || s.Actor != rec.Actor || s.Ceremony != c.ID || rec.Ceremony != c.ID ||
				!slices.Equal(s.ApprovedBy, names(rec.Approvals)) {
				t.Errorf("step %d of %s does not match its record", s.Seq, c.ID)
			}
		}
	}
	if n != len(recs) {
		t.Fatalf("ceremonies hold %d steps, ledger %d records", n, len(recs))
	}
	want := map[string]string{"genesis": "genesis", "enroll": "enroll", "gen-kek": "generate", "exp-1": "export", "destroy-root": "destroy", "roster-1": "roster", "review-2024": "review"}
	for _, c := range r.Ceremonies {
		if k, ok := want[c.ID]; ok && c.Kind != k {
			t.Errorf("ceremony %s kind %s, want %s", c.ID, c.Kind, k)
		}
	}
	if len(r.HSMs) != 1 || r.HSMs[0].Serial != "0123456789abcdef" || r.HSMs[0].Firmware != "2.6" {
		t.Errorf("hsms %+v", r.HSMs)
	}
	if len(r.Roster) != 2 || !slices.Equal(r.Roster[1].Added, []string{"erin"}) || r.Roster[1].PolicyChanged || len(r.Roster[1].Members) != 5 {
		t.Errorf("roster history %+v", r.Roster)
	}
	if len(r.Reviews) != 1 || r.Reviews[0].By != "carol" {
		t.Errorf("reviews %+v", r.Reviews)
	}
	// policy as enforced: the same requirement verify applies
	for _, q := range r.Policy.Quorum {
		req := st.Policy.Required(q.Kind)
		if q.Count != req.Count || !slices.Equal(q.Roles, req.Roles) {
			t.Errorf("quorum %s: report %d %v, policy %d %v", q.Kind, q.Count, q.Roles, req.Count, req.Roles)
		}
		if q.Kind == "key.destroy.intent" && q.Rule != "key.destroy.*" {
			t.Errorf("destroy intent rule %q, want key.destroy.*", q.Rule)
		}
		if q.Kind == "key.export.intent" && (q.Observed != 1 || q.MinApprovals != 2) {
			t.Errorf("export quorum observed %+v", q)
		}
	}
	if !slices.Equal(r.Policy.Algorithms, st.Policy.Algorithms) || len(r.Policy.Rotation) != 1 {
		t.Errorf("policy %+v", r.Policy)
	}
	if r.Period.Records != st.Seq {
		t.Errorf("period records %d", r.Period.Records)
	}
}

func names(a []ledger.Approval) []string {
	out := []string{}
	for _, x := range a {
		out = append(out, x.Member)
	}
	return out
}

// TestPeriod limits the report to a window: ceremonies outside are left
// out, the inventory is as of the end, overdue judged at the end.
func TestPeriod(t *testing.T) {
	f := newFixture(t)
	f.story()
	f.reopen()
	var recs []*ledger.Record
	for rec, err := range f.l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	// up to the generated root (record 8): no export, no destruction yet
	until := recs[7].Time
	r := build(t, f, Options{Until: until, Now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	if r.Records != 8 || r.Period.Records != 8 || r.AsOf != until.Format(ledger.TimeLayout) {
		t.Fatalf("until: records %d period %d as of %s", r.Records, r.Period.Records, r.AsOf)
	}
	if k2 := keyOf(r, "k2"); k2 == nil || k2.State != ledger.KeyActive || len(keyOf(r, "k1").Exports) != 0 {
		t.Fatalf("inventory as of record 8: %+v", r.Inventory)
	}
	if keyOf(r, "k1").Overdue {
		t.Errorf("k1 overdue as of %s", r.AsOf)
	}
	// from the export on: earlier ceremonies are out, the roster in force
	// at the start is kept
	since := recs[8].Time
	r = build(t, f, Options{Since: since})
	for _, c := range r.Ceremonies {
		if c.ID == "gen-kek" || c.ID == "genesis" {
			t.Errorf("ceremony %s before the period is listed", c.ID)
		}
	}
	if r.Period.FirstSeq != 9 || r.Period.Records != int64(len(recs)-8) {
		t.Errorf("period %+v", r.Period)
	}
	if len(r.Roster) != 2 || r.Roster[0].Seq != 1 {
		t.Errorf("roster history in the period: %+v", r.Roster)
	}
	// a window with nothing in it
	r = build(t, f, Options{Since: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)})
	if len(r.Ceremonies) != 0 || r.Period.Records != 0 || len(r.Reviews) != 0 {
		t.Errorf("empty window: %d ceremonies", len(r.Ceremonies))
	}
}

// TestSchema checks every format: JSON validates against
// docs/report-schema.json, Markdown and HTML name every key and ceremony.
func TestSchema(t *testing.T) {
	f := newFixture(t)
	f.story()
	f.reopen()
	schema := loadSchema(t)
	for _, o := range []Options{{}, {Since: t0.Add(5 * time.Hour)}, {Until: t0.Add(3 * time.Hour)}} {
		r := build(t, f, o)
		var buf bytes.Buffer
		if err := Render(&buf, r, "json"); err != nil {
			t.Fatal(err)
		}
		if errs := schema.Problems(buf.Bytes()); len(errs) > 0 {
			t.Fatalf("report does not validate:\n%s", strings.Join(errs, "\n"))
		}
	}
	// the schema is strict: a drifted report fails
	r := build(t, f, Options{})
	var buf bytes.Buffer
	Render(&buf, r, "json")
	var m map[string]any
	json.Unmarshal(buf.Bytes(), &m)
	m["inventory"].([]any)[0].(map[string]any)["state"] = "retired?"
	m["extra"] = 1
	bad, _ := json.Marshal(m)
	if errs := schema.Problems(bad); len(errs) != 2 {
		t.Fatalf("drifted report: %q", errs)
	} else {
		t.Logf("drifted report: %q", errs)
	}
	for _, format := range []string{"md", "html"} {
		var out bytes.Buffer
		if err := Render(&out, r, format); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		for _, k := range r.Inventory {
			if !strings.Contains(s, k.ID) || !strings.Contains(s, k.Label) {
				t.Errorf("%s lacks key %s", format, k.ID)
			}
		}
		for _, c := range r.Ceremonies {
			if !strings.Contains(s, c.ID) {
				t.Errorf("%s lacks ceremony %s", format, c.ID)
			}
		}
		for _, want := range []string{"CC6.1", "CC6.6/CC6.7", "C1.2", "A.8.24", r.Genesis, "origin"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks %q", format, want)
			}
		}
		if format == "html" && (strings.Contains(s, "http://") || strings.Contains(s, "https://") || strings.Contains(s, "<script") || strings.Contains(s, "<link")) {
			t.Errorf("html report refers to something outside itself")
		}
	}
	if err := Render(&buf, r, "pdf"); err == nil {
		t.Error("format pdf accepted")
	}
}

func loadSchema(t testing.TB) *schematest.Schema {
	s, err := schematest.Load("../docs/report-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEscaping puts markup into facts: HTML escapes it, Markdown keeps
// tables intact.
func TestEscaping(t *testing.T) {
	f := newFixture(t)
	f.add("hsm.enrolled", "enroll", "alice", map[string]any{"hsm": hsmFacts}, "bob")
	f.add("key.generate.intent", "gen-x", "alice", map[string]any{"key_id": "kx", "label": "x<script>alert(1)</script>", "type": "aes-256",
		"owner": "a|b", "purpose": "line\nbreak", "hsm": hsmFacts}, "bob")
	f.reopen()
	r := build(t, f, Options{})
	var h, m bytes.Buffer
	Render(&h, r, "html")
	Render(&m, r, "md")
	if strings.Contains(h.String(), "<script>") {
		t.Error("html report carries a script tag from a fact")
	}
	for _, line := range strings.Split(m.String(), "\n") {
		if strings.Contains(line, "kx |") && strings.Count(line, " | ") != 10 {
			t.Errorf("markdown row broken: %s", line)
		}
	}
}

func TestParseBound(t *testing.T) {
	for _, c := range []struct {
		in   string
		end  bool
		want string
	}{
		{"2026-03-01", false, "2026-03-01T00:00:00Z"},
		{"2026-03-01", true, "2026-03-01T23:59:59Z"},
		{"2026-03-01T09:30:00Z", true, "2026-03-01T09:30:00Z"},
		{"2026-03-01T10:30:00+01:00", false, "2026-03-01T09:30:00Z"},
	} {
		got, err := ParseBound(c.in, c.end)
		if err != nil || got.Format(ledger.TimeLayout) != c.want {
			t.Errorf("ParseBound(%q, %v) = %v, %v; want %s", c.in, c.end, got, err, c.want)
		}
	}
	for _, bad := range []string{"yesterday", "2026-13-01", "01/03/2026", "2026-03-01 09:00"} {
		if _, err := ParseBound(bad, false); err == nil {
			t.Errorf("ParseBound(%q) accepted", bad)
		}
	}
}

func FuzzParseBound(f *testing.F) {
	for _, s := range []string{"2026-03-01", "2026-03-01T09:30:00Z", "", "x", "9999-12-31T23:59:59+14:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseBound(s, false)
		if err != nil {
			return
		}
		b, err := ParseBound(s, true)
		if err != nil || b.Before(a) {
			t.Fatalf("%q: start %v end %v (%v)", s, a, b, err)
		}
	})
}

func TestPeriodDays(t *testing.T) {
	for in, want := range map[string]int64{"90d": 90, "2w": 14, "12m": 360, "5y": 1825, "0d": 0, "d": 0, "1x": 0} {
		if got := ledger.PeriodDays(in); got != want {
			t.Errorf("PeriodDays(%q) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[string]int{"aes-256": 256, "rsa-3072": 3072, "ec-p384": 384, "ed25519": 256, "blob": 0} {
		if got := bitsOf(in); got != want {
			t.Errorf("bitsOf(%q) = %d", in, got)
		}
	}
}

// TestNotVerified: a report made without a verify result says so first.
func TestNotVerified(t *testing.T) {
	f := newFixture(t)
	r, err := Build(f.l, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verify.Ran || len(r.Verify.NotChecked) != 1 || !strings.Contains(r.Verify.NotChecked[0], "not verified") {
		t.Fatalf("verify section %+v", r.Verify)
	}
	var h bytes.Buffer
	Render(&h, r, "html")
	if !strings.Contains(h.String(), "NOT VERIFIED") {
		t.Error("html does not say NOT VERIFIED")
	}
}

// TestKeyLife follows a key through backup, share check, destruction,
// restore, rotation and compromise: the inventory and calendar follow the
// ledger's state.
func TestKeyLife(t *testing.T) {
	f := newFixture(t)
	f.add("hsm.enrolled", "enroll", "alice", map[string]any{"hsm": hsmFacts}, "bob")
	f.add("key.generate.intent", "gen-a", "alice", map[string]any{"key_id": "a", "label": "a", "type": "aes-256", "owner": "o", "purpose": "p", "rotation_days": 30, "hsm": hsmFacts}, "bob")
	f.add("key.generated", "gen-a", "alice", map[string]any{"key_id": "a", "label": "a", "type": "aes-256", "kcv_aes_cmac": "0a0b0c", "hsm": hsmFacts})
	f.add("backup.intent", "bk-a", "alice", map[string]any{"key_id": "a", "backup_id": "bk-a", "m": 2, "n": 2, "media": "a.wrapped", "holders": []string{"alice", "carol"}, "hsm": hsmFacts})
	f.add("backup.split", "bk-a", "alice", map[string]any{"key_id": "a", "backup_id": "bk-a", "m": 2, "n": 2, "media": "a.wrapped", "blob_sha256": "cafe",
		"mechanism": "CKM_AES_KEY_WRAP_PAD", "hsm": hsmFacts,
		"holders": []any{map[string]any{"index": 1, "member": "alice", "commitment": "sha256:01"}, map[string]any{"index": 2, "member": "carol", "commitment": "sha256:00"}}})
	f.add("share.verified", "check-2", "carol", map[string]any{"key_id": "a", "backup_id": "bk-a", "backup_record": 6, "index": 2, "holder": "carol", "commitment": "sha256:00"})
	f.add("key.destroy.intent", "des-a", "alice", map[string]any{"key_id": "a", "reason": "test", "hsm": hsmFacts, "backups": []string{"bk-a"}}, "bob")
	f.add("key.destroyed", "des-a", "alice", map[string]any{"key_id": "a", "verification": map[string]any{"found_by_id": 0}, "hsm": hsmFacts})
	f.reopen()
	if k := keyOf(build(t, f, Options{}), "a"); k.State != ledger.KeyDestroyed || len(k.Backups) != 1 ||
		k.Disposition != "destroyed on the HSM; backup bk-a outstanding" || k.Disposition != f.l.State().Keys["a"].Disposition() {
		t.Fatalf("after destruction, backup outstanding: %+v", k)
	}
	f.add("key.restore.intent", "res-a", "alice", map[string]any{"key_id": "a", "backup_id": "bk-a", "backup_record": 6, "hsm": hsmFacts}, "bob")
	f.add("key.restored", "res-a", "alice", map[string]any{"key_id": "a", "label": "a", "type": "aes-256", "backup_id": "bk-a", "kcv_aes_cmac": "0a0b0c", "hsm": hsmFacts})
	f.add("key.generate.intent", "rot-a", "alice", map[string]any{"key_id": "b", "label": "b", "type": "aes-256", "owner": "o", "purpose": "p", "rotates": "a", "retire_on": "2024-02-01", "hsm": hsmFacts}, "bob")
	f.add("key.generated", "rot-a", "alice", map[string]any{"key_id": "b", "label": "b", "type": "aes-256", "kcv_aes_cmac": "0d0e0f", "hsm": hsmFacts})
	f.add("key.retirement.scheduled", "rot-a", "alice", map[string]any{"key_id": "a", "retire_on": "2024-02-01", "successor": "b"})
	f.add("key.compromised", "comp-a", "bob", map[string]any{"key_id": "a", "reason": "copy exposed", "reported_by": "carol"})
	f.reopen()
	r := build(t, f, Options{Now: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)})
	a, b := keyOf(r, "a"), keyOf(r, "b")
	if a.State != f.l.State().Keys["a"].State || a.State != ledger.KeyActive || len(a.Restores) != 1 || a.Restores[0].IntentSeq == 0 {
		t.Fatalf("restored key: state %s, restores %+v", a.State, a.Restores)
	}
	bk := a.Backups[0]
	if bk.Threshold != 2 || bk.Shares != 2 || !slices.Equal(bk.Holders, []string{"alice", "carol"}) || len(bk.ShareChecks) != 1 ||
		bk.ShareChecks[0].Holder != "carol" || a.LastShareCheck != bk.ShareChecks[0].Time || bk.BlobSHA256 != "cafe" {
		t.Errorf("backup %+v, last check %s", bk, a.LastShareCheck)
	}
	if a.Compromised == nil || a.Compromised.Reason != "copy exposed" || a.Compromised.By != "bob" {
		t.Errorf("compromise %+v", a.Compromised)
	}
	if a.Retirement == nil || a.Retirement.Successor != "b" || !a.RetireOverdue || a.Overdue || b.Predecessor != "a" {
		t.Errorf("rotation: a %+v overdue %v/%v, b predecessor %q", a.Retirement, a.Overdue, a.RetireOverdue, b.Predecessor)
	}
	if len(r.Calendar) != 1 || r.Calendar[0].Action != "retire" || r.Calendar[0].KeyID != "a" || !r.Calendar[0].Overdue ||
		r.Calendar[0].Due != "2024-02-01T23:59:59Z" {
		t.Errorf("calendar %+v", r.Calendar)
	}
	var buf bytes.Buffer
	Render(&buf, r, "json")
	if errs := loadSchema(t).Problems(buf.Bytes()); len(errs) > 0 {
		t.Fatalf("schema: %s", strings.Join(errs, "\n"))
	}
	buf.Reset()
	Render(&buf, r, "html")
	for _, want := range []string{"COMPROMISED", "RETIREMENT OVERDUE", "retire on 2024-02-01"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("html lacks %q", want)
		}
	}
}

// TestBuildDuringVerify: a report built from the records as verify
// replays them (ledger.Options.Each, one read) is the report built from
// the ledger as opened, for the whole history and for a period.
func TestBuildDuringVerify(t *testing.T) {
	f := newFixture(t)
	f.story()
	for _, o := range []Options{{Now: f.now}, {Now: f.now, Since: t0.Add(5 * time.Minute), Until: t0.Add(12 * time.Minute)}} {
		want := build(t, f, o)
		b := NewBuilder(o)
		var seen int64
		res := ledger.Verify(f.dir, ledger.Options{Each: func(rec *ledger.Record, digest string) {
			seen++
			if err := b.Add(rec, digest); err != nil {
				t.Fatal(err)
			}
		}})
		if !res.OK || seen != res.Records || seen < 17 {
			t.Fatalf("verify: %v, %d records seen of %d", res.Err(), seen, res.Records)
		}
		got := b.Finish(&res)
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		if !bytes.Equal(wj, gj) {
			t.Fatalf("built during verify:\n%s\nbuilt from the opened ledger:\n%s", gj, wj)
		}
	}
}

// TestInventoryOnly holds the inventory built without the ceremonies'
// steps to the one the whole report builds, for the whole ledger and
// for a period's end; the rest of the report stays empty.
func TestInventoryOnly(t *testing.T) {
	f := newFixture(t)
	f.story()
	for i, o := range []Options{{Now: f.now}, {Now: f.now, Until: t0.Add(12 * time.Minute)}} {
		want := build(t, f, o)
		o.InventoryOnly = true
		got := build(t, f, o)
		if i == 0 && len(want.Inventory) < 2 {
			t.Fatalf("the story has %d keys", len(want.Inventory))
		}
		wj, _ := json.Marshal(want.Inventory)
		gj, _ := json.Marshal(got.Inventory)
		if !bytes.Equal(wj, gj) {
			t.Fatalf("inventory only:\n%s\nwhole report:\n%s", gj, wj)
		}
		cj, _ := json.Marshal(want.Calendar)
		gc, _ := json.Marshal(got.Calendar)
		if !bytes.Equal(cj, gc) {
			t.Errorf("calendar: inventory only %s, whole report %s", gc, cj)
		}
		if len(got.Ceremonies) != 0 || len(got.Reviews) != 0 || got.ControlTests != nil {
			t.Errorf("inventory only kept %d ceremonies, %d reviews, control tests %v", len(got.Ceremonies), len(got.Reviews), got.ControlTests != nil)
		}
	}
}
