package hsm_test

import (
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"custos/hsm"
	"custos/hsm/hsmtest"
)

// TestRemoveUnnamed: what a module leaves of an object whose creation was
// cut off — a token object with neither CKA_ID nor CKA_LABEL, here a key
// with default attributes and a bare data object, made on a real SoftHSM
// token through the raw PKCS#11 context — is removed; named keys and
// session keys stay.
func TestRemoveUnnamed(t *testing.T) {
	var raw hsm.PKCS11
	undo := hsm.WrapForTest(func(ctx hsm.PKCS11) hsm.PKCS11 { raw = ctx; return ctx })
	defer undo()
	tk := hsmtest.NewToken(t, "unnamed")
	tok := tk.Open(t)
	named, err := tok.Generate(hsm.KeySpec{Label: "named", Type: hsm.AES256, Usage: hsm.KEKUsage})
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	if raw == nil {
		t.Fatal("the test wrapper never saw the module")
	}
	slots, err := raw.GetSlotList(true)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	var sh pkcs11.SessionHandle
	for _, s := range slots {
		if ti, _ := raw.GetTokenInfo(s); strings.TrimRight(ti.Label, " ") == tk.Label {
			if sh, err = raw.OpenSession(s, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sh == 0 {
		t.Fatalf("no slot holds token %q", tk.Label)
	}
	defer raw.CloseSession(sh)
	mk := func(tmpl ...*pkcs11.Attribute) {
		t.Helper()
		if _, err := raw.CreateObject(sh, tmpl); err != nil {
			t.Fatal(err)
		}
	}
	a := pkcs11.NewAttribute
	// A secret key as SoftHSM leaves it: not sensitive, extractable,
	// private, no id and no label.
	mk(a(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), a(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES), a(pkcs11.CKA_TOKEN, true),
		a(pkcs11.CKA_VALUE, make([]byte, 32)))
	mk(a(pkcs11.CKA_CLASS, pkcs11.CKO_DATA), a(pkcs11.CKA_TOKEN, true))
	// A labelled object, even one Custos did not make, stays.
	mk(a(pkcs11.CKA_CLASS, pkcs11.CKO_DATA), a(pkcs11.CKA_TOKEN, true), a(pkcs11.CKA_LABEL, "someone's"))

	before, err := tok.Objects()
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	removed, err := tok.RemoveUnnamed()
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	if removed["secret key"] != 1 || removed["data or unknown"] != 1 || len(removed) != 2 {
		t.Errorf("removed %v, want 1 secret key and 1 data object", removed)
	}
	after, err := tok.Objects()
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	if len(after) != len(before)-2 {
		t.Errorf("%d objects before, %d after: want 2 fewer", len(before), len(after))
	}
	var labels []string
	for _, o := range after {
		if o.ID == "" && o.Label == "" {
			t.Errorf("an unnamed object is still there: %+v", o)
		}
		labels = append(labels, o.Label)
	}
	if strings.Join(labels, ",") != "named,someone's" && strings.Join(labels, ",") != "someone's,named" {
		t.Errorf("left %v, want the named key and the labelled data object", labels)
	}
	if _, err := tok.FindKey(named.ID, ""); err != nil {
		t.Errorf("the named key: %v", err)
	}
	if again, err := tok.RemoveUnnamed(); err != nil || len(again) != 0 {
		t.Errorf("second pass: %v %v", again, err)
	}
}
