package ceremony

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"custos/internal/hint"
)

// TestMarshalScriptRoundTrip: a script written by MarshalScript reads back,
// with the strict decoder custos run uses, as the same script; and values
// that look like other YAML types (a label "true", a date-like id) stay text.
func TestMarshalScriptRoundTrip(t *testing.T) {
	hsmURI := "pkcs11:token=t;serial=1?module-path=/usr/lib/softhsm/libsofthsm2.so"
	exp, _ := time.Parse(time.DateOnly, "2099-12-31")
	for _, s := range []*Script{
		{Kind: KindGenerate, Ceremony: "gen-1", HSM: hsmURI, Operator: "alice", Witnesses: []string{"bob"},
			Key: &KeyPlan{Label: "true", Type: "aes-256", Owner: "12", Purpose: "wraps: the data keys # not a comment", Rotation: Duration{365}, Exportable: true}},
		{Kind: KindGenerate, Ceremony: "2026-01-01", HSM: hsmURI, Operator: "alice",
			Key: &KeyPlan{Label: "k", Type: "ec-p256", Owner: "o", Purpose: "p", Rotation: Duration{90}, Backup: true}},
		{Kind: KindBackup, Ceremony: "bk", HSM: hsmURI, SOPINSource: "file:so.pin", Operator: "alice",
			Backup: &BackupPlan{Key: "k", ID: "k.bk1", Threshold: 2, Holders: []string{"carol", "dave", "erin"}, Media: "m/k.wrapped", ShareDir: "shares", Cards: true}},
		{Kind: KindExport, Ceremony: "ex", HSM: hsmURI, Operator: "alice", Notes: "line one\nline two",
			Export: &ExportPlan{Key: "k", Recipient: "partner", RecipientKey: "p.pem", Purpose: "x", Expires: Date{exp}, Output: "o.wrapped"}},
		{Kind: KindDestroy, Ceremony: "d", HSM: hsmURI, Operator: "alice", Destroy: &DestroyPlan{Key: "k", Reason: "superseded"}},
	} {
		b, err := MarshalScript(s, "written for a test")
		if err != nil {
			t.Fatalf("%s: %v", s.Kind, err)
		}
		if !strings.HasPrefix(string(b), "# written for a test\n") {
			t.Errorf("%s: no head comment:\n%s", s.Kind, b)
		}
		got, err := ParseScript("x.yaml", b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", s.Kind, err, b)
		}
		got.File, got.SHA256 = "", ""
		if !reflect.DeepEqual(got, s) {
			t.Errorf("%s: read back as\n%+v\nwant\n%+v\n%s", s.Kind, got, s, b)
		}
	}
	// A script MarshalScript would write but ParseScript refuses is not written.
	if _, err := MarshalScript(&Script{Kind: KindBackup, HSM: hsmURI, Operator: "a", Backup: &BackupPlan{Key: "k", Threshold: 1, Holders: []string{"b", "c"}, Media: "m", ShareDir: "s"}}); err == nil || !strings.Contains(err.Error(), "threshold 1 is refused") {
		t.Errorf("threshold 1: %v", err)
	}
}

// TestWriteScriptFileNeverOverwrites: the second write to the same path is
// refused and the first file stays as it was.
func TestWriteScriptFileNeverOverwrites(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d.yaml")
	b, err := MarshalScript(&Script{Kind: KindDestroy, HSM: "pkcs11:token=t", Operator: "alice", Destroy: &DestroyPlan{Key: "k", Reason: "r"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteScriptFile(p, b); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteScriptFile(p, append([]byte("# another\n"), b...)); err == nil || !strings.Contains(err.Error(), p+" already exists") || !strings.Contains(hint.Of(err), "never writes over a file") {
		t.Errorf("second write: %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != string(b) {
		t.Errorf("the file changed:\n%s", got)
	}
}
