package ledger

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"custos/sign"
)

// t0 is the time of the first record of test ledgers.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// sshKey makes an ed25519 key with stock ssh-keygen and loads it.
func sshKey(t testing.TB, dir, name string) sign.Signer {
	t.Helper()
	p := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	s, err := sign.LoadFile(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ecdsaKey is a software ECDSA P-256 signer, the stand-in for a smart card.
func ecdsaKey(t testing.TB) sign.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.FromCrypto(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type fixture struct {
	dir     string
	keys    string
	signers map[string]sign.Signer
	l       *Ledger
	now     time.Time
}

// members of the test roster and their roles.
var testRoles = map[string][]string{
	"alice": {"custodian"}, "bob": {"custodian"}, "carol": {"custodian", "officer"}, "dave": {"officer", "auditor"},
}

func testPolicy() *Policy {
	return &Policy{
		Approvals: map[string]Requirement{
			"key.generate.intent": {Roles: []string{"officer"}, Count: 1},
			"key.export.intent":   {Roles: []string{"officer"}, Count: 1},
			"key.destroy.intent":  {Roles: []string{"officer"}, Count: 2},
			"roster.changed":      {Roles: []string{"officer"}, Count: 1},
		},
		Algorithms: DefaultAlgorithms,
		Rotation:   map[string]string{"ec-p384": "5y"},
	}
}

// newFixture creates a ledger of the test roster; bob signs with an ECDSA
// P-256 key (the smart-card stand-in), the others with ssh-keygen ed25519.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	base := t.TempDir()
	f := &fixture{dir: filepath.Join(base, "ledger"), keys: filepath.Join(base, "keys"), signers: map[string]sign.Signer{}, now: t0}
	os.MkdirAll(f.keys, 0o700)
	r := &Roster{}
	for _, n := range []string{"alice", "bob", "carol", "dave"} {
		if n == "bob" {
			f.signers[n] = ecdsaKey(t)
		} else {
			f.signers[n] = sshKey(t, f.keys, n)
		}
		r.Members = append(r.Members, Member{Name: n, Roles: testRoles[n], Key: sign.AuthorizedKey(f.signers[n].PublicKey())})
	}
	r.Members[2].Email = "carol@example.org"
	if _, err := Create(f.dir, r, testPolicy(), f.signers, f.now, WithLedgerID("test-ledger")); err != nil {
		t.Fatal(err)
	}
	f.open(t)
	return f
}

func (f *fixture) open(t testing.TB) {
	t.Helper()
	l, err := Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	f.l = l
}

// add appends a record by actor approved by approvers.
func (f *fixture) add(t testing.TB, kind, ceremony, actor string, facts map[string]any, approvers ...string) *Record {
	t.Helper()
	rec, err := f.try(kind, ceremony, actor, facts, approvers...)
	if err != nil {
		t.Fatalf("append %s: %v", kind, err)
	}
	return rec
}

func (f *fixture) try(kind, ceremony, actor string, facts map[string]any, approvers ...string) (*Record, error) {
	f.now = f.now.Add(time.Minute)
	facts, err := f.complete(kind, ceremony, facts)
	if err != nil {
		return nil, err
	}
	rec := f.l.Draft(kind, ceremony, actor, facts, f.now)
	var apps []Approval
	for _, a := range approvers {
		ap, err := Approve(rec, a, f.signers[a])
		if err != nil {
			return nil, err
		}
		apps = append(apps, ap)
	}
	if _, err := f.l.Append(rec, f.signers[actor], apps); err != nil {
		return nil, err
	}
	rec.Approvals = apps
	return rec, nil
}

// testHSM is the HSM of the test ledgers; complete enrols it when a
// record names it first.
var testHSM = map[string]any{"serial": "1234", "model": "SoftHSM v2", "label": "test"}

var hsmCount atomic.Int64

// freshHSM is another HSM, never enrolled yet (an HSM is enrolled once).
func freshHSM() map[string]any {
	return map[string]any{"serial": fmt.Sprintf("h-%d", hsmCount.Add(1)), "model": "SoftHSM v2", "label": "other"}
}

// complete fills in the facts a test leaves out with what the engine
// would write (a test names only the facts it is about): the HSM, the
// facts an outcome carries from its intent, a checkpoint. A fact the test
// gives is never changed; "-" as a value removes a fact.
func (f *fixture) complete(kind, ceremony string, in map[string]any) (map[string]any, error) {
	facts := map[string]any{}
	for k, v := range in {
		facts[k] = v
	}
	def := func(k string, v any) {
		if _, has := facts[k]; !has {
			facts[k] = v
		}
	}
	st := f.l.State()
	var intent map[string]any
	if oi := st.OpenIntent; oi != nil && oi.Ceremony == ceremony {
		intent = oi.Facts
	}
	fromIntent := func(ks ...string) {
		for _, k := range ks {
			if v, ok := intent[k]; ok {
				def(k, v)
			}
		}
	}
	keyFact := func(k string) any {
		if ks := st.Keys[factString(facts, "key_id")]; ks != nil {
			return ks.Facts[k]
		}
		return nil
	}
	spec, known := kinds[kind]
	if kind == "hsm.enrolled" {
		if _, ok := st.HSMs["1234"]; ok {
			def("hsm", freshHSM())
		}
	}
	if known && spec.facts["hsm"].req {
		if _, ok := st.HSMs["1234"]; !ok && kind != "hsm.enrolled" {
			f.now = f.now.Add(-30 * time.Second)
			if _, err := f.try("hsm.enrolled", "enrol-test-hsm-"+ceremony, "alice", map[string]any{"hsm": testHSM}, "carol"); err != nil {
				return nil, fmt.Errorf("enrol the test hsm: %w", err)
			}
			st = f.l.State()
		}
		def("hsm", testHSM)
	}
	switch kind {
	case "key.generate.intent":
		def("label", facts["key_id"])
		def("type", "aes-256")
	case "key.generated":
		fromIntent("key_id", "label", "type")
	case "key.export.intent":
		def("recipient", "partner")
		def("recipient_key_spki_sha256", "00")
	case "key.exported":
		fromIntent("key_id", "recipient", "output")
		def("mechanism", "CKM_RSA_PKCS_OAEP")
		def("oaep_hash", "sha-256")
		def("output_sha256", "00")
	case "key.destroy.intent":
		def("reason", "test")
		if k := st.Keys[factString(facts, "key_id")]; k != nil {
			if len(k.BackupsOutstanding) > 0 {
				def("backups", toList(k.BackupsOutstanding))
			}
			if ex := ExportsOf(k); len(ex) > 0 {
				def("exports", ex)
			}
		}
	case "key.destroyed":
		fromIntent("key_id")
		def("verification", map[string]any{"found_by_id": 0})
	case "backup.intent":
		def("backup_id", fmt.Sprint(facts["key_id"], ".bk1"))
		def("m", 2)
		def("n", 2)
		def("media", "media.wrapped")
	case "backup.split":
		fromIntent("key_id", "backup_id", "m", "n", "media")
		def("holders", []any{map[string]any{"index": 1, "member": "alice"}, map[string]any{"index": 2, "member": "bob"}})
		def("mechanism", "CKM_AES_KEY_WRAP_PAD")
		def("blob_sha256", "00")
	case "key.restore.intent":
		for id, seq := range st.Backups {
			if b, _ := st.backups.get(id); b != nil && b.keyID == factString(facts, "key_id") {
				def("backup_id", id)
				def("backup_record", seq)
			}
		}
	case "key.restored":
		fromIntent("key_id", "backup_id")
		for _, k := range []string{"label", "type", "kcv_aes_cmac", "spki_sha256"} {
			if v := keyFact(k); v != nil {
				def(k, v)
			}
		}
	case "ceremony.aborted":
		def("reason", "test")
	case "backup.destroyed":
		if k := st.Keys[factString(facts, "key_id")]; k != nil && len(k.BackupsOutstanding) > 0 {
			id := k.BackupsOutstanding[0]
			def("backup_id", id)
			def("media_destroyed", "shredded")
			b, _ := st.Backup(id)
			var att []any
			for _, idx := range slices.Sorted(maps.Keys(b.Holders)) {
				h := b.Holders[idx]
				sig, err := f.signers[h].Sign(NamespaceShareDestroyed, ShareDestroyedMessage(st.LedgerID, id, idx, h))
				if err != nil {
					return nil, err
				}
				att = append(att, map[string]any{"index": idx, "member": h, "signature": string(sig)})
			}
			def("attested", att)
		}
	case "ceremony.closed":
		if _, has := facts["checkpoint"]; !has {
			cf, err := f.l.CloseFacts(nil, nil)
			if err != nil {
				return nil, err
			}
			facts["checkpoint"] = cf["checkpoint"]
		}
	case "review.signed":
		def("period", "2026-Q1")
		def("reviewed_head", st.Head)
	}
	for k, v := range facts {
		if v == "-" {
			delete(facts, k)
		}
	}
	return FactsOf(facts)
}

// story appends a full key lifecycle: generate, export, destroy, close.
func (f *fixture) story(t testing.TB) {
	t.Helper()
	k := map[string]any{"key_id": "root-2026", "label": "root-2026", "type": "ec-p384"}
	f.add(t, "hsm.enrolled", "enrol-1", "alice", map[string]any{"hsm": map[string]any{"serial": "1234", "model": "SoftHSM v2"}})
	f.add(t, "key.generate.intent", "gen-1", "alice", k, "carol")
	f.add(t, "key.generated", "gen-1", "alice", map[string]any{"key_id": "root-2026", "spki_sha256": "abc", "attributes": map[string]any{"extractable": false}})
	f.add(t, "ceremony.closed", "gen-1", "alice", map[string]any{})
	f.add(t, "key.export.intent", "exp-1", "bob", map[string]any{"key_id": "root-2026", "recipient": "ssh-ed25519 AAAA"}, "dave")
	f.add(t, "key.exported", "exp-1", "bob", map[string]any{"key_id": "root-2026", "output_sha256": "00"})
	f.add(t, "key.destroy.intent", "des-1", "alice", map[string]any{"key_id": "root-2026"}, "carol", "dave")
	f.add(t, "key.destroyed", "des-1", "alice", map[string]any{"key_id": "root-2026", "verification": map[string]any{"found_by_id": 0}})
	f.add(t, "ceremony.closed", "des-1", "alice", map[string]any{})
}

// gitCmd runs stock git in dir with a clean configuration.
func gitCmd(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func mustVerify(t testing.TB, dir string, opts Options) Result {
	t.Helper()
	res := verifyBoth(t, dir, opts)
	if !res.OK {
		t.Fatalf("verify: %v", res.Err())
	}
	return res
}

func authKey(s sign.Signer) string { return sign.AuthorizedKey(s.PublicKey()) }
