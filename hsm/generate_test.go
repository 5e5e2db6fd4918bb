package hsm_test

import (
	"errors"
	"testing"

	"custos/hsm"
	"custos/hsm/hsmtest"
)

func TestGenerateEveryType(t *testing.T) {
	tk := hsmtest.NewToken(t, "gen")
	tok := tk.Open(t)
	for _, kt := range hsm.KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			u := hsm.Usage{Sign: true, Verify: true}
			if kt.Secret() {
				u = hsm.KEKUsage
				u.Encrypt = true
			}
			k, err := tok.Generate(hsm.KeySpec{Label: "k-" + string(kt), Type: kt, Usage: u})
			if err != nil {
				hsmtest.SkipIfLacks(t, err)
				t.Fatal(err)
			}
			f, err := k.Facts()
			if err != nil {
				hsmtest.SkipIfLacks(t, err)
				t.Fatal(err)
			}
			t.Logf("%+v", f)
			if f.Type != kt || !f.Attributes.Sensitive || f.Attributes.Extractable || !f.Attributes.NeverExtractable || !f.Attributes.Local {
				t.Errorf("facts %+v", f)
			}
			if kt.Secret() {
				hsmtest.NeedMechanism(t, tok, "CKM_AES_CMAC")
			}
			if kt.Secret() && (len(f.KCVAESECB) != 6 || len(f.KCVAESCMAC) != 6) {
				t.Errorf("kcv %+v", f)
			}
			if !kt.Secret() && (len(f.SPKISHA256) != 64 || f.SSHFingerprint == "") {
				t.Errorf("fingerprints %+v", f)
			}
			_, err = tok.Generate(hsm.KeySpec{Label: "k-" + string(kt), Type: kt, Usage: u})
			if !errors.Is(err, hsm.ErrLabelExists) {
				t.Errorf("second generate: %v, want ErrLabelExists", err)
			}
		})
	}
}
