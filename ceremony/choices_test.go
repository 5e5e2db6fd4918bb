package ceremony

import (
	"slices"
	"strings"
	"testing"

	"custos/ledger"
)

func labels(ks []*ledger.KeyState) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.Label)
	}
	return out
}

// TestChoicesFollowTheLedger: the choices a front end offers are those
// the ledger holds: its enrolled token (by label and serial), the
// members whose roles fit, the policy's algorithms, the keys each kind
// may take as they are generated, backed up and destroyed, and the
// backups a restore may name with the files their shares went to.
func TestChoicesFollowTheLedger(t *testing.T) {
	b := newBackupEnv(t)
	uri, so, tk := b.token("ch")
	hsms, err := EnrolledHSMs(b.l, "file:user.pin")
	if err != nil {
		t.Fatal(err)
	}
	if len(hsms) != 1 || hsms[0].Serial != tk.Serial || hsms[0].Label != tk.Label {
		t.Fatalf("enrolled: %+v, token %s %s", hsms, tk.Label, tk.Serial)
	}
	for _, w := range []string{"pkcs11:token=" + tk.Label, "serial=" + tk.Serial, "module-path=", "pin-source=file:user.pin"} {
		if !strings.Contains(hsms[0].URI, w) {
			t.Errorf("URI %s lacks %s", hsms[0].URI, w)
		}
	}
	st := b.l.State()
	if got := Operators(st, KindGenerate); strings.Join(got, ",") != "alice,carol,dave,erin,frank" {
		t.Errorf("operators of a generate: %v", got)
	}
	if got := Operators(st, KindReview); slices.Contains(got, "alice") {
		t.Errorf("operators of a review: %v", got)
	}
	if got := ShareHolders(st); strings.Join(got, ",") != "alice,carol,dave,erin,frank" {
		t.Errorf("share holders: %v", got)
	}
	if got := ApprovedKeyTypes(st); !slices.Equal(got, keyTypeNames()) {
		t.Errorf("approved types: %v", got)
	}

	b.generate(uri, "k-bk", "aes-256") // backup: true
	if _, out, err := b.run(&Script{Kind: KindGenerate, HSM: uri, Operator: "alice", Key: &KeyPlan{Label: "k-plain", Type: "ec-p256", Owner: "o", Purpose: "p"}}); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	st = b.l.State()
	for kind, want := range map[string]string{KindBackup: "k-bk", KindExport: "k-bk", KindDestroy: "k-bk,k-plain", KindRotate: "k-bk,k-plain", KindCompromise: "k-bk,k-plain", KindSign: "k-plain", KindGenerate: ""} {
		if got := strings.Join(labels(KeysFor(st, kind)), ","); got != want {
			t.Errorf("keys for %s: %s, want %s", kind, got, want)
		}
	}
	if NeedsHSM(KindReview) || NeedsHSM(KindCompromise) || !NeedsHSM(KindGenerate) || !NeedsHSM(KindSign) {
		t.Error("NeedsHSM: a review and a compromise run on no token; a generate and a sign do")
	}
	dir := t.TempDir()
	if CheckSignInput(dir) == nil || CheckSignInput(dir+"/none") == nil {
		t.Error("CheckSignInput takes a directory or a missing file")
	}
	if CheckOutputFree(dir) == nil || CheckOutputFree(dir+"/new.sig") != nil {
		t.Error("CheckOutputFree")
	}
	if LabelFree(st, "k-bk") || !LabelFree(st, "k-new") {
		t.Error("LabelFree")
	}
	if bs, err := RestorableBackups(b.l); err != nil || len(bs) != 0 {
		t.Fatalf("backups before any: %v %v", bs, err)
	}
	b.backup(uri, so, "k-bk", "k-bk.bk1", 2, "carol", "dave", "erin")
	if _, out, err := b.run(&Script{Kind: KindDestroy, HSM: uri, Operator: "alice", Destroy: &DestroyPlan{Key: "k-bk", Reason: "r", Confirm: "k-bk"}}); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	st = b.l.State()
	if got := strings.Join(labels(KeysFor(st, KindDestroy)), ","); got != "k-plain" {
		t.Errorf("keys for a destroy after one was destroyed: %s", got)
	}
	bs, err := RestorableBackups(b.l)
	if err != nil || len(bs) != 1 {
		t.Fatalf("backups: %+v %v", bs, err)
	}
	r := bs[0]
	if r.ID != "k-bk.bk1" || r.KeyLabel != "k-bk" || r.KeyState != ledger.KeyDestroyed || r.M != 2 || r.N != 3 || strings.Join(r.Holders, ",") != "carol,dave,erin" || !strings.HasSuffix(r.Media, "k-bk.bk1.wrapped") {
		t.Errorf("backup: %+v", r)
	}
	for i, h := range r.Holders {
		if want := b.shareFile("k-bk.bk1", i+1, h).File; r.Files[i] != want {
			t.Errorf("share %d file %q, want %q", i+1, r.Files[i], want)
		}
	}
}
