package ceremony

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestParseDeliveryAndReshareScripts: the delivery and reshare sections
// are checked on their own, each error naming its YAML path.
func TestParseDeliveryAndReshareScripts(t *testing.T) {
	bk := "kind: backup\nhsm: \"pkcs11:token=t\"\noperator: alice\nbackup:\n  key: k\n  threshold: 2\n  holders: [a, b]\n  media: m\n  share_dir: d\n"
	rs := "kind: reshare\nhsm: \"pkcs11:token=t\"\noperator: alice\nreshare:\n  backup: k.bk1\n  shares: [{file: s1}, {file: s2}]\n  share_dir: d\n"
	cases := []struct{ yaml, want string }{
		{bk + "  delivery: {c: card}\n", `backup.delivery.c: "c" is not a share holder`},
		{bk + "  delivery: {a: pigeon}\n", `backup.delivery.a: "pigeon" is not a delivery`},
		{bk + "  passphrase_sources: {a: \"file:p\"}\n", "backup.passphrase_sources.a: a's share is not delivered by passphrase"},
		{bk + "  delivery: {a: passphrase}\n  passphrase_sources: {a: hunter2hunter2}\n", "backup.passphrase_sources.a: want file:PATH"},
		{bk + "  delivery: {a: card}\n  read_back: {a: keys/a}\n", "backup.read_back.a: a's share is delivered by card"},
		{rs + "  threshold: 1\n  holders: [a, b]\n", "reshare.threshold: threshold 1 is refused"},
		{rs + "  threshold: 3\n  holders: [a, b]\n", "reshare.threshold: threshold 3 is more than the 2 holders"},
		{rs + "  threshold: 2\n  holders: [a, a]\n", `reshare.holders[1]: "a" holds two shares`},
		{rs + "  threshold: 2\n  holders: [a, b]\n  delivery: {c: ssh}\n", `reshare.delivery.c: "c" is not a share holder`},
		{"kind: reshare\nhsm: \"pkcs11:token=t\"\noperator: alice\nreshare:\n  backup: k.bk1\n  shares: []\n  threshold: 2\n  holders: [a, b]\n  share_dir: d\n", "reshare.shares: no shares listed"},
		{"kind: reshare\noperator: alice\nreshare:\n  backup: k.bk1\n  shares: [{file: s}]\n  threshold: 2\n  holders: [a, b]\n  share_dir: d\n", "hsm: required field is missing"},
	}
	for _, c := range cases {
		_, err := ParseScript("s.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
	for _, ok := range []string{
		bk + "  delivery: {a: passphrase, b: card}\n  passphrase_sources: {a: \"file:p\"}\n",
		rs + "  threshold: 2\n  holders: [a, b, c]\n  delivery: {c: passphrase}\n",
	} {
		if _, err := ParseScript("ok.yaml", []byte(ok)); err != nil {
			t.Errorf("good script %q: %v", ok, err)
		}
	}
}

// FuzzParseReshareScript: a reshare or backup script with deliveries,
// however damaged, never panics the parser; one it accepts names holders
// for every delivery it carries.
func FuzzParseReshareScript(f *testing.F) {
	for _, p := range []string{"reshare-root", "backup-root"} {
		if b, err := os.ReadFile("../docs/examples/" + p + ".yaml"); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseScript("f.yaml", []byte(in))
		if err != nil {
			return
		}
		if r := s.Reshare; r != nil {
			for h := range r.Delivery {
				if !slices.Contains(r.Holders, h) {
					t.Fatalf("accepted a delivery for %q, not a holder", h)
				}
			}
			if r.Threshold < 2 || r.Threshold > len(r.Holders) {
				t.Fatalf("accepted threshold %d of %d", r.Threshold, len(r.Holders))
			}
		}
	})
}
