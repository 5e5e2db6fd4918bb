package tui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custos/ceremony"
	"custos/hsm/hsmtest"
	"custos/ledger"
	"custos/sign"
)

// bkFixture: a ledger with three share holders besides the operator and
// an officer, and a SoftHSM token whose PINs come from files.
type bkFixture struct {
	dir, ledger, uri, so string
	keys                 map[string]string
	signers              map[string]sign.Signer
}

func newBkFixture(t *testing.T) *bkFixture {
	f := &bkFixture{dir: t.TempDir(), keys: map[string]string{}, signers: map[string]sign.Signer{}}
	var roster ledger.Roster
	for _, m := range [][2]string{{"alice", "custodian"}, {"bob", "officer"}, {"carol", "custodian"}, {"dave", "custodian"}, {"erin", "custodian"}} {
		p := filepath.Join(f.dir, m[0])
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", m[0], "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		s, err := sign.LoadFile(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[m[0]], f.signers[m[0]] = p, s
		roster.Members = append(roster.Members, ledger.Member{Name: m[0], Roles: []string{m[1]}, Key: sign.AuthorizedKey(s.PublicKey())})
	}
	f.ledger = filepath.Join(f.dir, "L")
	if _, err := ledger.Create(f.ledger, &roster, &ledger.Policy{Approvals: ledger.DefaultApprovals(), Algorithms: ledger.DefaultAlgorithms}, f.signers, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	tk := hsmtest.NewToken(t, hsmtest.Label("tuibk"))
	pin, so := filepath.Join(f.dir, "user.pin"), filepath.Join(f.dir, "so.pin")
	writeFile(t, pin, string(tk.UserPIN))
	writeFile(t, so, string(tk.SOPIN))
	f.uri = fmt.Sprintf("pkcs11:token=%s?module-path=%s&pin-source=file:%s", tk.Label, hsmtest.ModulePath(), pin)
	f.so = "file:" + so
	f.engine(t, &ceremony.Script{Kind: ceremony.KindEnroll, HSM: f.uri, Operator: "alice"}) // the ledger names only enrolled HSMs
	return f
}

// engine runs a script with every member present, outside the TUI.
func (f *bkFixture) engine(t *testing.T, s *ceremony.Script) {
	t.Helper()
	l, err := ledger.Open(f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	s.File = s.Kind + ".yaml"
	if _, err := (&ceremony.Engine{Ledger: l, Script: s, Signers: f.signers}).Run(); err != nil {
		t.Fatalf("%s: %v", s.Kind, err)
	}
}

// present makes alice (operator) and bob (witness, approver) present on
// the people screen and goes on to what is signed, then through the steps.
func (h *harness) presentAndRun(f *bkFixture) {
	h.waitFor("Who is present")
	h.present(f.keys, "alice", "bob")
	h.key("c")
	h.waitFor("What is signed")
	h.key("enter")
	h.key("enter")
	h.tickSteps()
}

// TestBackupHoldersAndRestoreShares: a backup 2-of-3 from the TUI, each
// holder alone at a cleared screen seeing only their own share file and
// its check; then, after the key is destroyed, a restore whose shares are
// entered one by one (an age file, a card typed wrong, the card typed
// right) with immediate feedback. No share text is ever on the screen.
func TestBackupHoldersAndRestoreShares(t *testing.T) {
	f := newBkFixture(t)
	// Nothing of a share may land in the temporary directory.
	tmpdir := t.TempDir()
	t.Setenv("TMPDIR", tmpdir)
	f.engine(t, &ceremony.Script{Kind: ceremony.KindGenerate, HSM: f.uri, Operator: "alice",
		Key: &ceremony.KeyPlan{Label: "root-tui", Type: "ec-p256", Owner: "o", Purpose: "p", Backup: true}})
	shares := filepath.Join(f.dir, "shares")
	bk := f.script(t, "backup.yaml", fmt.Sprintf(`kind: backup
ceremony: bk-tui
hsm: "%s"
so_pin_source: "%s"
operator: alice
witnesses: [bob]
backup:
  key: root-tui
  id: root-tui.bk1
  threshold: 2
  holders: [carol, dave, erin]
  media: %s
  share_dir: %s
  cards: true
`, f.uri, f.so, filepath.Join(f.dir, "root.wrapped"), shares))

	h := newHarness(t, New(Options{Ledger: f.ledger, NoColor: true}))
	h.waitFor("Members")
	h.key("r")
	h.typ(bk)
	h.key("enter")
	h.waitFor("What will happen")
	h.key("enter")
	h.presentAndRun(f)
	// During the run each holder in turn, alone, says where their card
	// goes: carol copies hers from the screen, dave and erin each name a
	// file on a medium of their own.
	daveCard := filepath.Join(f.dir, "dave-medium", "card.txt")
	for _, n := range []string{"carol", "dave", "erin"} {
		v := h.waitFor(n + " alone: where does your card")
		if !strings.Contains(v, "look away") {
			t.Errorf("card hand-over for %s:\n%s", n, v)
		}
		dest := "screen"
		if n != "carol" {
			dest = filepath.Join(f.dir, n+"-medium", "card.txt")
			if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		h.typ(dest)
		h.key("enter")
		if n == "carol" {
			v = h.waitFor("carol: your card — only you look")
			if !strings.Contains(v, "# custos share card") {
				t.Errorf("carol's card screen:\n%s", v)
			}
			h.capture("backup-card-screen")
			h.key("enter")
		}
	}
	for i, n := range []string{"carol", "dave", "erin"} {
		v := h.waitFor(fmt.Sprintf("Share holder %d of 3: %s", i+1, n))
		if !strings.Contains(v, "look away") || strings.Contains(v, ".age") {
			t.Errorf("hand-over screen for %s shows a file or no warning:\n%s", n, v)
		}
		fits(t, v, 80, 24)
		if i == 0 {
			h.capture("backup-handover")
		}
		h.key("enter")
		v = h.waitFor(n + ": your share")
		if i == 0 {
			h.capture("backup-holder")
		}
		own := fmt.Sprintf("root-tui.bk1-share%d-%s.age", i+1, n)
		if !strings.Contains(v, own) || !strings.Contains(v, "read back from the medium and checked") {
			t.Errorf("%s's screen lacks their file %s or the check:\n%s", n, own, v)
		}
		for _, other := range []string{"carol", "dave", "erin"} {
			if other != n && strings.Contains(v, "-"+other+".") {
				t.Errorf("%s's screen shows %s's file:\n%s", n, other, v)
			}
		}
		fits(t, v, 80, 24)
		if n == "dave" {
			// dave opens his own file, re-read from the medium, with his key
			h.key("k")
			h.typ(f.keys["dave"])
			h.key("enter")
			h.waitFor("dave checked share 2 with their own key")
			h.key("pgdown")
			h.waitFor("opened with your key: share 2 of backup root-tui.bk1, yours")
		}
		h.key("enter")
	}
	v := h.waitFor("Ceremony bk-tui is closed")
	if !strings.Contains(v, "7/7") {
		t.Errorf("done:\n%s", v)
	}
	h.key("enter")
	h.waitFor("Members")

	// The key is lost; the restore brings it back from the shares.
	f.engine(t, &ceremony.Script{Kind: ceremony.KindDestroy, HSM: f.uri, Operator: "alice",
		Destroy: &ceremony.DestroyPlan{Key: "root-tui", Reason: "test", Confirm: "root-tui"}})
	carolAge := filepath.Join(shares, "root-tui.bk1-share1-carol.age")
	rs := f.script(t, "restore.yaml", fmt.Sprintf(`kind: restore
ceremony: rs-tui
hsm: "%s"
operator: alice
witnesses: [bob]
restore:
  backup: root-tui.bk1
  media: %s
  shares:
    - file: %s
      identity: %s
    - file: %s
`, f.uri, filepath.Join(f.dir, "root.wrapped"), carolAge, f.keys["carol"], daveCard))
	h.send(openLedgerCmd(f.ledger, time.Now())()) // the TUI sees the destroy
	h.key("r")
	h.typ(rs)
	h.key("enter")
	h.waitFor("What will happen")
	h.key("enter")
	v = h.waitFor("0 of the 2 needed")
	fits(t, v, 80, 24)
	h.capture("restore-shares-empty")
	h.key("c")
	h.waitFor("enter 2 more")
	h.key("f") // the first listed: carol's age file, opened with her key
	h.key("enter")
	h.waitFor("is encrypted: type the holder's key file")
	h.key("enter")
	h.waitFor("share 1 of carol accepted")
	h.capture("restore-share-accepted")
	h.key("f") // the same share again is refused
	h.typ("")
	h.m.input.SetValue(carolAge)
	h.key("enter")
	h.key("enter")
	h.waitFor("was already entered")

	card := mustRead(t, daveCard)
	var lines []string
	for _, l := range strings.Split(card, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	typeCard := func(lines []string) {
		h.key("w")
		for _, l := range lines {
			h.waitFor("A share card, typed line by line")
			h.typ(l)
			h.key("enter")
		}
		h.key("enter")
	}
	bad := append([]string(nil), lines...)
	ws := strings.Fields(bad[0])
	ws[1], ws[2] = ws[2], ws[1] // two words swapped
	bad[0] = strings.Join(ws, " ")
	typeCard(bad)
	v = h.waitFor("card typed at the screen: ✗ refused")
	if !strings.Contains(v, "line 1") {
		t.Errorf("a swapped word is not named by its line:\n%s", v)
	}
	typeCard(lines)
	v = h.waitFor("share 2 of dave accepted")
	if !strings.Contains(v, "Enough good shares") {
		t.Errorf("shares screen:\n%s", v)
	}
	fits(t, v, 80, 24)
	h.key("c")
	h.presentAndRun(f)
	v = h.waitFor("Ceremony rs-tui is closed")
	for _, want := range []string{"share 1 (holder carol) accepted", "share 2 (holder dave) accepted", "restored key"} {
		if !strings.Contains(v, want) {
			t.Errorf("done lacks %q:\n%s", want, v)
		}
	}
	if ents, _ := os.ReadDir(tmpdir); len(ents) != 0 {
		t.Errorf("the TUI wrote into $TMPDIR: %v", ents)
	}
	// the share folder holds only the age files: no card beside them
	if ents, _ := os.ReadDir(shares); len(ents) != 3 {
		t.Errorf("share folder: %v", ents)
	}
	if res := ledger.Verify(f.ledger, ledger.Options{}); !res.OK {
		t.Fatalf("verify: %v", res.Err())
	}
	for i, s := range h.shown {
		if strings.Contains(s, "carol: your card — only you look") {
			continue // carol's own card, shown to her alone, as she chose
		}
		for _, l := range lines {
			ws := strings.Fields(l)
			for j := 1; j+1 < len(ws); j++ {
				if pair := ws[j] + " " + ws[j+1]; strings.Contains(s, pair) {
					t.Fatalf("screen %d shows words of the card (%q):\n%s", i, pair, s)
				}
			}
		}
		if strings.Contains(s, "custos-share-") {
			t.Fatalf("screen %d shows a share:\n%s", i, s)
		}
	}
}

func (f *bkFixture) script(t *testing.T, name, body string) string {
	p := filepath.Join(f.dir, name)
	writeFile(t, p, body)
	return p
}
