package hsm_test

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"custos/hsm"
	"custos/hsm/hsmtest"
)

// TestTrustedSessionObjects measures what SoftHSM allows: the SO can make a
// trusted key a session object (CKA_TOKEN=false), it stays usable for
// wrapping a wrap-with-trusted key after the SO logs out and the user logs
// in on the same session, and it is gone once the session closes.
func TestTrustedSessionObjects(t *testing.T) {
	tk := hsmtest.NewToken(t, "trusted-session")
	tok := tk.Open(t)
	k, err := tok.Generate(hsm.KeySpec{Label: "target", Type: hsm.AES256, Extractable: true, WrapWithTrusted: true, Usage: hsm.KEKUsage})
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	tok.Logout()
	if err := tok.LoginSO(tk.SOPIN); err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 32)
	rand.Read(v)
	wk, err := tok.ImportTrustedAES("trusted-aes", nil, v)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	rk, _ := rsa.GenerateKey(rand.Reader, 3072)
	rwk, err := tok.ImportTrustedRSAPublic("trusted-rsa", nil, &rk.PublicKey)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	tok.Logout()
	if err := tok.Login(tk.UserPIN); err != nil {
		t.Fatal(err)
	}
	// Handles of private objects do not survive the logout: find it again.
	if k, err = tok.FindKey(k.ID, ""); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*hsm.Key{wk, rwk} {
		if !w.SessionObject() {
			t.Errorf("%s: not a session object on SoftHSM", w.Label)
		}
		f, err := w.Facts()
		if err != nil || !f.Attributes.Trusted || f.Attributes.Token {
			t.Errorf("%s: facts %+v %v", w.Label, f.Attributes, err)
		}
		if _, err := tok.Wrap(w, k); err != nil {
			t.Errorf("wrap under the trusted session key %s: %v", w.Label, err)
		}
	}
	// Another session of the process sees them; after this one closes,
	// nobody does.
	tok.Close()
	again := tk.Open(t)
	objs, err := again.Objects()
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Label != "target" {
		t.Fatalf("after the session closed the token holds %+v", objs)
	}
}

// TestUnwrapLeavesOnlyTheKey: SoftHSM refuses CKA_MODIFIABLE in an unwrap
// template (CKR_ATTRIBUTE_READ_ONLY) and keeps the half-made object, not
// labelled, not sensitive, modifiable; Token.Unwrap never sends that
// template and leaves exactly the key, also when the unwrap fails.
func TestUnwrapLeavesOnlyTheKey(t *testing.T) {
	a, b := hsmtest.NewToken(t, "unwrap-src"), hsmtest.NewToken(t, "unwrap-dst")
	ta, tb := a.Open(t), b.Open(t)
	wk, uk, v := importTransport(t, a, ta, tb, "transport")
	spec := hsm.KeySpec{Label: "kek", Type: hsm.AES256, Extractable: true, WrapWithTrusted: true, Usage: hsm.KEKUsage}
	k, err := ta.Generate(spec)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	w, err := ta.Wrap(wk, k)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	count := func() []hsm.Object {
		objs, err := tb.Objects()
		if err != nil {
			hsmtest.SkipIfLacks(t, err)
			t.Fatal(err)
		}
		return objs
	}
	before := len(count())
	err = hsm.UnwrapFullTemplateForTest(tb, uk, w.Blob, hsm.KeySpec{Label: "raw", Extractable: true, WrapWithTrusted: true, Usage: hsm.KEKUsage})
	objs := count()
	t.Logf("C_UnwrapKey with CKA_MODIFIABLE=false: %v; objects %d -> %d", err, before, len(objs))
	var left []hsm.Object
	for _, o := range objs {
		if o.Label == "" {
			left = append(left, o)
		}
	}
	if err == nil {
		t.Log("this module accepts CKA_MODIFIABLE in an unwrap template")
	} else if len(left) > 0 {
		t.Logf("half-made object left by the module: %+v", left[0])
		if left[0].Sensitive || !left[0].Modifiable || left[0].Label != "" {
			t.Errorf("the half-made object is not what docs/hsm.md describes: %+v", left[0])
		}
	}
	// What Custos leaves: the key, nothing else (the half-made object of
	// the raw call above aside).
	before = len(count())
	spec.ID = k.ID
	r, err := tb.Unwrap(uk, w, spec)
	if err != nil {
		hsmtest.SkipIfLacks(t, err)
		t.Fatal(err)
	}
	objs = count()
	if len(objs) != before+1 {
		t.Fatalf("unwrap made %d objects, want 1: %+v", len(objs)-before, objs)
	}
	rf, _ := r.Facts()
	if rf.Attributes.Modifiable || !rf.Attributes.Token || !rf.Attributes.Sensitive {
		t.Errorf("unwrapped key attributes %+v", rf.Attributes)
	}
	// A failing unwrap, the call refused or reported failed after it
	// acted, leaves nothing either.
	for _, call := range []string{"C_UnwrapKey", "C_CopyObject", "C_DestroyObject"} {
		for _, mode := range []hsmtest.Mode{hsmtest.Before, hsmtest.After} {
			f := hsmtest.NewFaults(hsmtest.Point{Call: call, N: 1}, mode)
			undo := f.Install()
			tf := b.Open(t)
			tuk, err := tf.ImportAES(hsm.KeySpec{Label: "t-" + call + mode.String(), Usage: hsm.KEKUsage, Ephemeral: true}, v)
			if err != nil {
				hsmtest.SkipIfLacks(t, err)
				t.Fatal(err)
			}
			before, _ := tf.Objects()
			s := spec
			s.Label, s.ID = "kek-"+call+mode.String(), nil
			_, uerr := tf.Unwrap(tuk, w, s)
			after, _ := tf.Objects()
			undo()
			t.Logf("%s %s: unwrap error %v; objects %d -> %d", call, mode, uerr, len(before), len(after))
			if uerr != nil && len(after) != len(before) {
				t.Errorf("%s %s: a failed unwrap left %d objects", call, mode, len(after)-len(before))
			}
			if uerr == nil && len(after) != len(before)+1 {
				t.Errorf("%s %s: unwrap made %d objects, want 1", call, mode, len(after)-len(before))
			}
			tf.Close()
		}
	}
}
