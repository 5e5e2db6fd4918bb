package ceremony

import (
	"strings"
	"testing"

	"custos/hsm/hsmtest"
	"custos/internal/hint"
)

// TestCapabilitiesBeforeRecords: a backup on a token without RFC 5649 key
// wrap (both ids hidden) is refused before any record, naming what is
// missing; the same ceremony on the same token with them runs. (The same
// on a real module without them: cmd/custos testdata/opencryptoki.)
func TestCapabilitiesBeforeRecords(t *testing.T) {
	b := newBackupEnv(t)
	uri, so, _ := b.token("caps")
	b.generate(uri, "k1", "ec-p256")
	before, _ := b.l.Head()
	s := b.backupScript(uri, so, "k1", "k1.bk1", 2, "carol", "dave", "erin")
	undo := hsmtest.HideMechanisms("CKM_AES_KEY_WRAP_KWP", "CKM_AES_KEY_WRAP_PAD")
	_, out, err := b.run(s)
	undo()
	if err == nil {
		t.Fatalf("backup ran on a token without AES key wrap:\n%s", out)
	}
	if !strings.Contains(err.Error(), "cannot backup ec-p256") || !strings.Contains(err.Error(), "CKM_AES_KEY_WRAP_KWP or CKM_AES_KEY_WRAP_PAD") ||
		hint.Of(err) == "" || !strings.HasPrefix(err.Error(), s.File+": hsm: ") {
		t.Errorf("refusal: %v (hint %q)", err, hint.Of(err))
	}
	if after, _ := b.l.Head(); after != before || strings.Contains(out, "recorded") {
		t.Fatalf("something was recorded before the refusal:\n%s", out)
	}
	s = b.backupScript(uri, so, "k1", "k1.bk1", 2, "carol", "dave", "erin")
	if _, out, err := b.run(s); err != nil {
		t.Fatalf("backup with the mechanisms: %v\n%s", err, out)
	}
	if ks := keyByLabel(b.l.State(), "k1", true); ks == nil || len(ks.BackupsOutstanding) != 1 {
		t.Errorf("backup not recorded: %+v", ks)
	}
}
