package ceremony

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custos/hsm"
	"custos/hsm/hsmtest"
	"custos/ledger"
	"custos/shamir"
	"custos/sign"
)

// bkEnv is a ledger whose members have OpenSSH key files made by stock
// ssh-keygen (so age can encrypt shares to them and they can open them),
// and SoftHSM tokens to back up from and restore into.
type bkEnv struct {
	t       testing.TB
	dir     string
	l       *ledger.Ledger
	signers map[string]sign.Signer
	keyFile map[string]string
	n       int
}

var bkMembers = []struct{ name, role string }{
	{"alice", "custodian"}, {"bob", "officer"}, {"carol", "custodian"},
	{"dave", "custodian"}, {"erin", "custodian"}, {"frank", "custodian"}, {"olga", "auditor"},
}

func newBackupEnv(t *testing.T) *bkEnv { return newBackupEnvTB(t) }

func newBackupEnvTB(t testing.TB) *bkEnv {
	t.Helper()
	b := &bkEnv{t: t, dir: t.TempDir(), signers: map[string]sign.Signer{}, keyFile: map[string]string{}}
	roster := &ledger.Roster{}
	for _, m := range bkMembers {
		p := filepath.Join(b.dir, "key-"+m.name)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", m.name, "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		s, err := sign.LoadFile(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		b.signers[m.name], b.keyFile[m.name] = s, p
		roster.Members = append(roster.Members, ledger.Member{Name: m.name, Roles: []string{m.role}, Key: sign.AuthorizedKey(s.PublicKey())})
	}
	policy := &ledger.Policy{Approvals: ledger.DefaultApprovals(), Algorithms: ledger.DefaultAlgorithms}
	ld := filepath.Join(b.dir, "L")
	if _, err := ledger.Create(ld, roster, policy, b.signers, time.Now()); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ld)
	if err != nil {
		t.Fatal(err)
	}
	b.l = l
	return b
}

// token makes a fresh token and returns its URI and SO pin-source.
func (b *bkEnv) token(prefix string) (uri, so string, tk *hsmtest.Token) {
	tk = hsmtest.NewToken(b.t, hsmtest.Label(prefix))
	b.n++
	pin := filepath.Join(b.dir, fmt.Sprintf("user%d.pin", b.n))
	sop := filepath.Join(b.dir, fmt.Sprintf("so%d.pin", b.n))
	writePIN(b.t, pin, tk.UserPIN)
	writePIN(b.t, sop, tk.SOPIN)
	uri = fmt.Sprintf("pkcs11:token=%s?module-path=%s&pin-source=file:%s", tk.Label, hsmtest.ModulePath(), pin)
	// The ledger names only enrolled HSMs: enrol each token made.
	if _, out, err := b.run(&Script{Kind: KindEnroll, HSM: uri, Operator: "alice"}); err != nil {
		b.t.Fatalf("enrol %s: %v\n%s", tk.Label, err, out)
	}
	return uri, "file:" + sop, tk
}

// run runs a script through the engine with every member present.
func (b *bkEnv) run(s *Script) (*Result, string, error) {
	var out bytes.Buffer
	if s.File == "" {
		s.File = s.Kind + ".yaml"
	}
	e := &Engine{Ledger: b.l, Script: s, Signers: b.signers, Progress: &out}
	if s.Kind == KindBackup {
		e.Cards = &dirCards{b: b, id: s.Backup.ID}
	}
	res, err := e.Run()
	return res, out.String(), err
}

// dirCards is each holder choosing a new file in a directory of their own
// (their removable medium) for their card; the cards never share one.
type dirCards struct {
	b     *bkEnv
	id    string
	asked []string
}

func (c *dirCards) Where(holder string, index, n int, failed error) (string, error) {
	if failed != nil {
		return "", failed
	}
	c.asked = append(c.asked, holder)
	p := c.b.card(c.id, index, holder).File
	return p, os.MkdirAll(filepath.Dir(p), 0o700)
}

func (c *dirCards) Show(string, []byte) error { return errors.New("no screen in this test") }

func (b *bkEnv) generate(uri, label, typ string) *ledger.KeyState {
	b.t.Helper()
	_, out, err := b.run(&Script{Kind: KindGenerate, HSM: uri, Operator: "alice",
		Key: &KeyPlan{Label: label, Type: typ, Owner: "o", Purpose: "p", Backup: true}})
	if err != nil {
		b.t.Fatalf("generate %s: %v\n%s", typ, err, out)
	}
	return keyByLabel(b.l.State(), label, true)
}

func (b *bkEnv) backup(uri, so, key, id string, m int, holders ...string) (*Script, string) {
	b.t.Helper()
	s := b.backupScript(uri, so, key, id, m, holders...)
	_, out, err := b.run(s)
	if err != nil {
		b.t.Fatalf("backup: %v\n%s", err, out)
	}
	return s, out
}

func (b *bkEnv) backupScript(uri, so, key, id string, m int, holders ...string) *Script {
	return &Script{Kind: KindBackup, HSM: uri, SOPINSource: so, Operator: "alice", Witnesses: []string{"bob"},
		Backup: &BackupPlan{Key: key, ID: id, Threshold: m, Holders: holders, Media: filepath.Join(b.dir, id+".wrapped"),
			ShareDir: filepath.Join(b.dir, "shares"), Cards: true}}
}

// shareFile is the age file the backup wrote for holder's share.
func (b *bkEnv) shareFile(id string, index int, holder string) ShareSource {
	return ShareSource{File: filepath.Join(b.dir, "shares", fmt.Sprintf("%s-share%d-%s.age", id, index, holder)), Identity: b.keyFile[holder]}
}

// card is where holder put the card of their share (dirCards).
func (b *bkEnv) card(id string, index int, holder string) ShareSource {
	return ShareSource{File: filepath.Join(b.dir, "card-"+holder, fmt.Sprintf("%s-share%d.card", id, index))}
}

func (b *bkEnv) restoreScript(uri, id string, shares ...ShareSource) *Script {
	return &Script{Kind: KindRestore, HSM: uri, Operator: "alice",
		Restore: &RestorePlan{Backup: id, Media: filepath.Join(b.dir, id+".wrapped"), Shares: shares}}
}

func lastRecord(t *testing.T, l *ledger.Ledger, kind string) *ledger.Record {
	t.Helper()
	var last *ledger.Record
	for rec, err := range l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == kind {
			last = rec
		}
	}
	if last == nil {
		t.Fatalf("no %s record", kind)
	}
	return last
}

func verifyLedger(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	if out, err := exec.Command("git", "-C", l.Dir(), "fsck", "--no-progress").CombinedOutput(); err != nil {
		t.Fatalf("git fsck: %v\n%s", err, out)
	}
	if r := ledger.Verify(l.Dir(), ledger.Options{}); !r.OK {
		t.Fatalf("ledger does not verify: %v", r.Err())
	}
}

// TestBackupRestoreDisasterCopy backs up each wrappable key type 2-of-3 and
// restores it into a second token: the restored key has the check value or
// public key the ledger recorded at generation, and, for key pairs, signs
// so that the original public key verifies.
func TestBackupRestoreDisasterCopy(t *testing.T) {
	b := newBackupEnv(t)
	uri, so, _ := b.token("bk-src")
	for _, typ := range []string{"aes-256", "ec-p256", "ec-p384", "rsa-3072"} {
		t.Run(typ, func(t *testing.T) {
			label := "k-" + typ
			ks := b.generate(uri, label, typ)
			id := "bk-" + typ
			_, out := b.backup(uri, so, label, id, 2, "carol", "dave", "erin")
			for _, want := range []string{"share 1 of 3 for carol", "recombined 3 of 3 combinations of 2 shares"} {
				if !strings.Contains(out, want) {
					t.Errorf("backup output lacks %q:\n%s", want, out)
				}
			}
			split := lastRecord(t, b.l, "backup.split")
			if split.Facts["backup_id"] != id || split.Facts["mechanism"] == "" {
				t.Fatalf("backup.split facts: %v", split.Facts)
			}
			// shares are files of mode 0600, encrypted to their holders
			for i, h := range []string{"carol", "dave", "erin"} {
				fi, err := os.Stat(b.shareFile(id, i+1, h).File)
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("share file of %s: %v %v", h, fi, err)
				}
			}
			dr, _, tk := b.token("bk-dr")
			_, out, err := b.run(b.restoreScript(dr, id, b.shareFile(id, 3, "erin"), b.card(id, 1, "carol")))
			if err != nil {
				t.Fatalf("restore: %v\n%s", err, out)
			}
			rec := lastRecord(t, b.l, "key.restored")
			for _, k := range []string{"kcv_aes_cmac", "spki_sha256", "ssh_fingerprint"} {
				if w, _ := ks.Facts[k].(string); w != "" && rec.Facts[k] != w {
					t.Errorf("%s: restored %v, generated %v", k, rec.Facts[k], w)
				}
			}
			// The restored key is on the DR token with the recorded attributes.
			tok := tk.Open(t)
			id16, _ := hexID(ks.ID)
			key, err := tok.FindKey(id16, "")
			if err != nil {
				t.Fatal(err)
			}
			kf, err := key.Facts()
			if err != nil {
				t.Fatal(err)
			}
			if !kf.Attributes.Sensitive || !kf.Attributes.Extractable || !kf.Attributes.WrapWithTrusted || kf.Attributes.Modifiable {
				t.Errorf("restored attributes: %+v", kf.Attributes)
			}
			if !hsm.KeyType(typ).Secret() {
				signAndVerify(t, key, ks)
			}
		})
	}
	verifyLedger(t, b.l)
	assertNoSecrets(t, b)
}

// TestRestoreEveryCombination restores a 3-of-5 backup from every one of
// the ten combinations of three shares, each into a fresh token.
func TestRestoreEveryCombination(t *testing.T) {
	b := newBackupEnv(t)
	uri, so, _ := b.token("bk-src")
	ks := b.generate(uri, "kek", "aes-256")
	holders := []string{"alice", "carol", "dave", "erin", "frank"}
	_, out := b.backup(uri, so, "kek", "kek.bk1", 3, holders...)
	if !strings.Contains(out, "recombined 10 of 10 combinations of 3 shares") {
		t.Fatalf("backup output:\n%s", out)
	}
	n := 0
	for _, set := range combinations(5, 3) {
		var srcs []ShareSource
		for _, i := range set {
			srcs = append(srcs, b.shareFile("kek.bk1", i+1, holders[i]))
		}
		dr, _, _ := b.token("dr")
		if _, out, err := b.run(b.restoreScript(dr, "kek.bk1", srcs...)); err != nil {
			t.Fatalf("restore from shares %v: %v\n%s", set, err, out)
		}
		if got := lastRecord(t, b.l, "key.restored").Facts["kcv_aes_cmac"]; got != ks.Facts["kcv_aes_cmac"] {
			t.Fatalf("shares %v: check value %v, want %v", set, got, ks.Facts["kcv_aes_cmac"])
		}
		n++
	}
	if n != 10 {
		t.Fatalf("%d combinations", n)
	}
	verifyLedger(t, b.l)
}

// TestRestoreBadShares enters bad shares of every kind; each is refused at
// entry, named by index and holder, and the restore goes on with the next
// share. Too few good shares fail before anything touches the token.
func TestRestoreBadShares(t *testing.T) {
	b := newBackupEnv(t)
	uri, so, _ := b.token("bk-src")
	b.generate(uri, "kek", "aes-256")
	b.backup(uri, so, "kek", "kek.bk1", 2, "carol", "dave", "erin")
	// another backup of the same key: same holders, other threshold
	b.backup(uri, so, "kek", "kek.bk2", 3, "carol", "dave", "erin")
	bad := filepath.Join(b.dir, "bad")
	os.Mkdir(bad, 0o700)

	// a text share with one flipped character in its value
	good := decryptTo(t, b, "kek.bk1", 1, "carol")
	flipped := []byte(strings.TrimSpace(string(good)))
	parts := bytes.Split(flipped, []byte(":"))
	v := parts[5]
	if v[3] == 'a' {
		v[3] = 'b'
	} else {
		v[3] = 'a'
	}
	writeFile(t, filepath.Join(bad, "flipped.txt"), bytes.Join(parts, []byte(":")))
	// a card with one word replaced by another list word
	card, err := os.ReadFile(b.card("kek.bk1", 2, "dave").File)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(card), "\n")
	for i, ln := range lines {
		if strings.HasPrefix(ln, "03") {
			f := strings.Fields(ln)
			if f[1] == "abandon" {
				f[1] = "ability"
			} else {
				f[1] = "abandon"
			}
			lines[i] = strings.Join(f, " ")
		}
	}
	writeFile(t, filepath.Join(bad, "wrongword.card"), []byte(strings.Join(lines, "\n")))

	// well-formed shares of the same ledger and backup id that the ledger
	// never recorded: another threshold, and the right threshold (forged)
	for name, m := range map[string]int{"3of3.txt": 3, "forged.txt": 2} {
		secret := bytes.Repeat([]byte{7}, 32)
		sh, err := shamir.Split(secret, m, 3, shamir.Meta{LedgerID: b.l.State().LedgerID, BackupID: "kek.bk1"})
		if err != nil {
			t.Fatal(err)
		}
		txt, _ := sh[0].Text()
		writeFile(t, filepath.Join(bad, name), txt)
	}
	cases := []struct {
		name   string
		shares []ShareSource
		want   []string // in the progress output
		fail   string   // error of the restore, "" when it succeeds
	}{
		{"flipped byte", []ShareSource{{File: filepath.Join(bad, "flipped.txt")}, b.shareFile("kek.bk1", 2, "dave"), b.shareFile("kek.bk1", 3, "erin")},
			[]string{"refused restore.shares[0] (" + filepath.Join(bad, "flipped.txt") + ")", `field "checksum"`, "share 2 (holder dave) accepted", "share 3 (holder erin) accepted: 2 of 2"}, ""},
		{"wrong word", []ShareSource{{File: filepath.Join(bad, "wrongword.card")}, b.shareFile("kek.bk1", 1, "carol"), b.card("kek.bk1", 3, "erin")},
			[]string{"refused restore.shares[0]", "line 3 does not add up", "share 1 (holder carol) accepted", "share 3 (holder erin) accepted"}, ""},
		{"share of another backup", []ShareSource{b.shareFile("kek.bk2", 1, "carol"), b.shareFile("kek.bk1", 2, "dave"), b.shareFile("kek.bk1", 1, "carol")},
			[]string{`share 1 (holder carol) refused: it is a share of backup "kek.bk2", not of "kek.bk1"`, "share 2 (holder dave) accepted"}, ""},
		{"mixed thresholds", []ShareSource{{File: filepath.Join(bad, "3of3.txt")}, b.shareFile("kek.bk1", 2, "dave"), b.shareFile("kek.bk1", 1, "carol")},
			[]string{`share 1 (holder carol) refused: it is a 3-of-3 share, backup "kek.bk1" is 2-of-3`, "share 1 (holder carol) accepted: 2 of 2"}, ""},
		{"forged well-formed share", []ShareSource{{File: filepath.Join(bad, "forged.txt")}, b.shareFile("kek.bk1", 2, "dave"), b.shareFile("kek.bk1", 3, "erin")},
			[]string{`share 1 (holder carol) refused: shamir: check share 1 of backup "kek.bk1": share does not match its commitment`, "share 3 (holder erin) accepted: 2 of 2"}, ""},
		{"duplicate", []ShareSource{b.shareFile("kek.bk1", 2, "dave"), b.card("kek.bk1", 2, "dave"), b.shareFile("kek.bk1", 3, "erin")},
			[]string{"share 2 (holder dave) was already entered", "share 3 (holder erin) accepted: 2 of 2"}, ""},
		{"too few", []ShareSource{b.shareFile("kek.bk1", 2, "dave"), b.card("kek.bk1", 2, "dave")},
			[]string{"share 2 (holder dave) was already entered"}, "1 good shares of the 2 needed; 1 refused"},
		{"age file without the holder's key", []ShareSource{{File: b.shareFile("kek.bk1", 1, "carol").File, Identity: b.keyFile["dave"]}, b.shareFile("kek.bk1", 2, "dave")},
			[]string{"refused restore.shares[0]"}, "1 good shares of the 2 needed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dr, _, tk := b.token("dr")
			_, out, err := b.run(b.restoreScript(dr, "kek.bk1", c.shares...))
			switch {
			case c.fail == "" && err != nil:
				t.Fatalf("restore failed: %v\n%s", err, out)
			case c.fail != "" && (err == nil || !strings.Contains(err.Error(), c.fail)):
				t.Fatalf("restore error %v, want %q\n%s", err, c.fail, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if c.fail != "" {
				// nothing was unwrapped on the token
				tok := tk.Open(t)
				if _, err := tok.FindKey(nil, "kek"); !errors.Is(err, hsm.ErrKeyNotFound) {
					t.Errorf("a failed restore left a key: %v", err)
				}
				if r := lastRecord(t, b.l, "ceremony.aborted"); !strings.Contains(fmt.Sprint(r.Facts["reason"]), "good shares") {
					t.Errorf("aborted reason: %v", r.Facts["reason"])
				}
			}
		})
	}
	verifyLedger(t, b.l)
	assertNoSecrets(t, b)
}

func decryptTo(t *testing.T, b *bkEnv, id string, index int, holder string) []byte {
	t.Helper()
	src := b.shareFile(id, index, holder)
	data, err := os.ReadFile(src.File)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := shamir.DecryptWithSSHKey(src.Identity, nil, data)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBackupRefusals: what validation refuses before anything is
// generated, split or written.
func TestBackupRefusals(t *testing.T) {
	b := newBackupEnv(t)
	uri, so, tk := b.token("bk-src")
	b.generate(uri, "kek", "aes-256")
	_, out, err := b.run(&Script{Kind: KindGenerate, HSM: uri, Operator: "alice",
		Key: &KeyPlan{Label: "sealed", Type: "aes-256", Owner: "o", Purpose: "p"}})
	if err != nil {
		t.Fatal(err, out)
	}
	_, out, err = b.run(&Script{Kind: KindGenerate, HSM: uri, Operator: "alice",
		Key: &KeyPlan{Label: "ed", Type: "ed25519", Owner: "o", Purpose: "p", Exportable: true}})
	if err != nil {
		t.Fatal(err, out)
	}
	seq := b.l.State().Seq
	media := filepath.Join(b.dir, "exists.wrapped")
	writeFile(t, media, []byte("x"))
	cases := []struct {
		name string
		mod  func(s *Script)
		want string
	}{
		{"ed25519", func(s *Script) { s.Backup.Key = "ed" }, "is ed25519: its private key cannot be wrapped"},
		{"not for backup", func(s *Script) { s.Backup.Key = "sealed" }, "was not generated for backup"},
		{"unknown key", func(s *Script) { s.Backup.Key = "nope" }, `no key "nope" in the ledger`},
		{"not a member", func(s *Script) { s.Backup.Holders[1] = "mallory" }, `backup.holders[1]: "mallory" is not a member`},
		{"wrong role", func(s *Script) { s.Backup.Holders[2] = "olga" }, "backup.holders[2]: olga holds none of the roles custodian"},
		{"media exists", func(s *Script) { s.Backup.Media = media }, "backup.media: " + media + " already exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := b.backupScript(uri, so, "kek", "bk-"+strings.ReplaceAll(c.name, " ", "-"), 2, "carol", "dave", "erin")
			c.mod(s)
			_, out, err := b.run(s)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q\n%s", err, c.want, out)
			}
		})
	}
	if got := b.l.State().Seq; got != seq {
		t.Errorf("refused backups recorded %d records", got-seq)
	}
	tok := tk.Open(t)
	for _, l := range []string{"custos-backup"} {
		if _, err := tok.FindKey(nil, l); !errors.Is(err, hsm.ErrKeyNotFound) {
			t.Errorf("found %s: %v", l, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(b.dir, "shares")); len(ents) != 0 {
		t.Errorf("refused backups wrote %d share files", len(ents))
	}
}

func TestParseBackupScripts(t *testing.T) {
	base := "kind: backup\nhsm: \"pkcs11:token=t\"\noperator: alice\n"
	cases := []struct{ yaml, want string }{
		{"backup:\n  key: k\n  threshold: 1\n  holders: [a, b]\n  media: m\n  share_dir: d\n", "backup.threshold: threshold 1 is refused"},
		{"backup:\n  key: k\n  threshold: 3\n  holders: [a, b]\n  media: m\n  share_dir: d\n", "threshold 3 is more than the 2 holders"},
		{"backup:\n  key: k\n  threshold: 2\n  holders: [a, a]\n  media: m\n  share_dir: d\n", `backup.holders[1]: "a" holds two shares`},
		{"backup:\n  key: k\n  threshold: 2\n  holders: [a]\n  media: m\n  share_dir: d\n", "1 holders: a split needs 2"},
		{"backup:\n  key: k\n  id: \"bad id\"\n  threshold: 2\n  holders: [a, b]\n  media: m\n  share_dir: d\n", "backup.id"},
		{"backup:\n  key: k\n  threshold: 2\n  holders: [a, b]\n  media: m\n  share_dir: d\n  read_back: {c: x}\n", `"c" is not a share holder`},
		{"backup:\n  key: k\n  threshold: 2\n  holders: [a, b]\n  media: m\n", "share_dir"},
		{"restore:\n  backup: b\n  media: m\n  shares: [{file: x}]\n", "not allowed in a backup script"},
	}
	for _, c := range cases {
		_, err := ParseScript("b.yaml", []byte(base+c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
	_, err := ParseScript("r.yaml", []byte("kind: restore\nhsm: \"pkcs11:token=t\"\noperator: alice\nrestore:\n  backup: b\n  media: m\n  shares: []\n"))
	if err == nil || !strings.Contains(err.Error(), "restore.shares: no shares listed") {
		t.Errorf("empty shares: %v", err)
	}
	if _, err := ParseScript("ok.yaml", []byte(base+"backup:\n  key: k\n  threshold: 2\n  holders: [a, b]\n  media: m\n  share_dir: d\n  cards: true\n")); err != nil {
		t.Errorf("good script: %v", err)
	}
}

// TestCMACKCV checks the Go check value against RFC 4493's example key
// (AES-128, so the same code path) and against the token's own.
func TestCMACKCV(t *testing.T) {
	// RFC 4493 example 1: key 2b7e1516…, empty message gives bb1d6929…; for
	// a zero block message, compare with the token instead.
	tk := hsmtest.NewToken(t, hsmtest.Label("kcv"))
	tok := tk.Open(t)
	for i := range 20 {
		key := bytes.Repeat([]byte{byte(i * 13)}, 32)
		key[i] ^= 0x5a
		k, err := tok.ImportAES(hsm.KeySpec{Label: fmt.Sprintf("kcv%d", i), Usage: hsm.KEKUsage, Ephemeral: true}, key)
		if err != nil {
			t.Fatal(err)
		}
		f, err := k.Facts()
		if err != nil {
			t.Fatal(err)
		}
		got, err := cmacKCV(key)
		if err != nil {
			t.Fatal(err)
		}
		if got != f.KCVAESCMAC {
			t.Fatalf("key %d: go %s, token %s", i, got, f.KCVAESCMAC)
		}
	}
}

func TestCombinations(t *testing.T) {
	for _, c := range []struct{ n, k, want int }{{3, 2, 3}, {5, 3, 10}, {6, 3, 20}, {4, 4, 1}, {10, 5, 252}} {
		if got := len(combinations(c.n, c.k)); got != c.want || binomial(c.n, c.k) != c.want {
			t.Errorf("C(%d,%d) = %d / %d, want %d", c.n, c.k, got, binomial(c.n, c.k), c.want)
		}
	}
}

func hexID(s string) ([]byte, error) {
	var out []byte
	_, err := fmt.Sscanf(s, "%x", &out)
	return out, err
}

// assertNoSecrets: no share (text form or any word line of a card) and no
// PIN occurs anywhere in the ledger directory, git objects included.
func assertNoSecrets(t *testing.T, b *bkEnv) {
	t.Helper()
	var secrets []string
	ents, _ := filepath.Glob(filepath.Join(b.dir, "shares", "*"))
	cardFiles, _ := filepath.Glob(filepath.Join(b.dir, "card-*", "*.card"))
	for _, p := range append(ents, cardFiles...) {
		if strings.HasSuffix(p, ".age") {
			name := filepath.Base(p)
			holder := strings.TrimSuffix(name[strings.LastIndex(name, "-")+1:], ".age")
			plain, err := shamir.DecryptWithSSHKey(b.keyFile[holder], nil, mustRead(t, p))
			if err != nil {
				t.Fatal(err)
			}
			s := strings.TrimSpace(string(plain))
			secrets = append(secrets, s, strings.Split(s, ":")[5])
		} else {
			for _, ln := range strings.Split(string(mustRead(t, p)), "\n") {
				if ln != "" && !strings.HasPrefix(ln, "#") {
					secrets = append(secrets, strings.Join(strings.Fields(ln)[1:], " "))
				}
			}
		}
	}
	pins, _ := filepath.Glob(filepath.Join(b.dir, "*.pin"))
	for _, p := range pins {
		secrets = append(secrets, strings.TrimSpace(string(mustRead(t, p))))
	}
	if len(secrets) < 4 {
		t.Fatalf("only %d secrets to look for", len(secrets))
	}
	// the scan must see what it looks for: a card as printed is found
	if cards := cardFiles; len(cards) > 0 {
		flat := strings.Join(strings.Fields(string(mustRead(t, cards[0]))), " ")
		hit := false
		for _, s := range secrets {
			hit = hit || strings.Contains(flat, s)
		}
		if !hit {
			t.Fatal("the secrecy scan does not recognise a card")
		}
	}
	dump, err := exec.Command("git", "-C", b.l.Dir(), "log", "-p", "--all").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	filepath.Walk(b.l.Dir(), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.Contains(p, string(filepath.Separator)+".git"+string(filepath.Separator)) {
			dump = append(dump, mustRead(t, p)...)
		}
		return nil
	})
	// card lines are matched with white space collapsed
	flat := strings.Join(strings.Fields(string(dump)), " ")
	for _, s := range secrets {
		if strings.Contains(flat, s) {
			t.Fatalf("a secret (share or PIN) occurs in the ledger")
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signAndVerify signs with the restored private key on the token and
// verifies with its public key, whose fingerprint the restore compared
// with the ledger's: the private half really is the original key's.
func signAndVerify(t *testing.T, key *hsm.Key, ks *ledger.KeyState) {
	t.Helper()
	signer, err := key.Signer()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	spki, _, err := hsm.Fingerprints(pub)
	if err != nil || spki != ks.Facts["spki_sha256"] {
		t.Fatalf("public key %s, ledger %v (%v)", spki, ks.Facts["spki_sha256"], err)
	}
	digest := sha256.Sum256([]byte("restored"))
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(p, digest[:], sig) {
			t.Fatal("ecdsa signature of the restored key does not verify")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(p, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("public key %T", pub)
	}
}

// TestShareCheck: a holder proves their share intact and theirs; the check
// is recorded and signed by the holder. Someone else's share, a damaged
// share and a share of an unknown backup are refused and nothing recorded.
func TestShareCheck(t *testing.T) {
	b := newBackupEnv(t)
	uri, so, _ := b.token("bk-src")
	b.generate(uri, "kek", "aes-256")
	b.backup(uri, so, "kek", "kek.bk1", 2, "carol", "dave", "erin")
	var out bytes.Buffer
	src := b.shareFile("kek.bk1", 2, "dave")
	res, err := CheckShareHeld(b.l, ShareCheckOptions{Backup: "kek.bk1", Holder: "dave", Share: mustRead(t, src.File), ShareName: src.File, Identity: src.Identity,
		Signers: map[string]sign.Signer{"dave": b.signers["dave"]}, Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	rec := lastRecord(t, b.l, "share.verified")
	if rec.Actor != "dave" || rec.Seq != res.Seq || fmt.Sprint(rec.Facts["index"]) != "2" || rec.Facts["backup_id"] != "kek.bk1" {
		t.Fatalf("share.verified: %+v", rec)
	}
	if !strings.Contains(out.String(), "share 2 of backup kek.bk1, held by dave, is intact") {
		t.Errorf("output: %s", out.String())
	}
	seq := b.l.State().Seq
	garbled := filepath.Join(b.dir, "garbled.card")
	card := mustRead(t, b.card("kek.bk1", 3, "erin").File)
	writeFile(t, garbled, bytes.Replace(card, []byte("01  "), []byte("01  zzzz "), 1))
	for _, c := range []struct {
		o    ShareCheckOptions
		want string
	}{
		{ShareCheckOptions{Backup: "kek.bk1", Holder: "carol", Share: mustRead(t, b.card("kek.bk1", 2, "dave").File), ShareName: b.card("kek.bk1", 2, "dave").File}, "is share 2 of backup \"kek.bk1\", which was given to dave, not carol"},
		{ShareCheckOptions{Backup: "kek.bk1", Holder: "erin", Share: mustRead(t, garbled), ShareName: garbled}, "is not in the word list"},
		{ShareCheckOptions{Backup: "kek.bk9", Holder: "erin", Share: mustRead(t, b.card("kek.bk1", 3, "erin").File), ShareName: b.card("kek.bk1", 3, "erin").File}, `no backup "kek.bk9" is recorded`},
		{ShareCheckOptions{Backup: "kek.bk1", Holder: "erin", Share: mustRead(t, b.shareFile("kek.bk1", 3, "erin").File), ShareName: b.shareFile("kek.bk1", 3, "erin").File}, "no identity is given"},
		{ShareCheckOptions{Backup: "kek.bk1", Holder: "mallory", Share: mustRead(t, b.card("kek.bk1", 3, "erin").File), ShareName: b.card("kek.bk1", 3, "erin").File}, "not a member"},
	} {
		c.o.Signers = b.signers
		if _, err := CheckShareHeld(b.l, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.o, err, c.want)
		}
	}
	if b.l.State().Seq != seq {
		t.Errorf("refused checks were recorded")
	}
	verifyLedger(t, b.l)
}

// FuzzLoadShareFile: whatever a share file holds, loading it never panics
// and an error never echoes the file's content.
func FuzzLoadShareFile(f *testing.F) {
	sh, err := shamir.Split(bytes.Repeat([]byte{1}, 32), 2, 3, shamir.Meta{LedgerID: "l", BackupID: "b"})
	if err != nil {
		f.Fatal(err)
	}
	txt, _ := sh[0].Text()
	card, _ := sh[1].Card()
	f.Add(txt)
	f.Add(card)
	f.Add([]byte("-----BEGIN AGE ENCRYPTED FILE-----\nxx\n-----END AGE ENCRYPTED FILE-----\n"))
	f.Add([]byte("custos-share-1:l:b:2-of-3:1:zz:zz"))
	f.Add([]byte("abandon ability able about above absent\n"))
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		p := filepath.Join(dir, fmt.Sprintf("s%d", n))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(p)
		s, _, err := loadShare(p, ShareKey{}, nil)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), p)
			if len(data) >= 12 && strings.Contains(msg, string(data)) {
				t.Fatalf("error echoes the input: %v", err)
			}
			return
		}
		if s.Validate() != nil {
			t.Fatal("loaded share does not validate")
		}
	})
}

// BenchmarkBackupCeremony: whole backup ceremonies of an AES-256 key,
// 3-of-5 (SO login, import, wrap, destroy-and-verify, split, five age
// files and cards read back, ten recombinations, four records).
func BenchmarkBackupCeremony(b *testing.B) {
	env := newBackupEnvTB(b)
	uri, so, _ := env.token("bench")
	env.generate(uri, "kek", "aes-256")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := env.backupScript(uri, so, "kek", fmt.Sprintf("kek.b%d", i), 3, "alice", "carol", "dave", "erin", "frank")
		if _, out, err := env.run(s); err != nil {
			b.Fatal(err, out)
		}
	}
}

// BenchmarkRestoreCeremony: restores of a 3-of-5 backup from age files,
// each into a fresh token (token initialisation excluded).
func BenchmarkRestoreCeremony(b *testing.B) {
	env := newBackupEnvTB(b)
	uri, so, _ := env.token("bench")
	env.generate(uri, "kek", "aes-256")
	holders := []string{"alice", "carol", "dave", "erin", "frank"}
	s := env.backupScript(uri, so, "kek", "kek.b", 3, holders...)
	if _, out, err := env.run(s); err != nil {
		b.Fatal(err, out)
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dr, _, _ := env.token("dr")
		b.StartTimer()
		if _, out, err := env.run(env.restoreScript(dr, "kek.b", env.shareFile("kek.b", 1, "alice"), env.shareFile("kek.b", 3, "dave"), env.shareFile("kek.b", 5, "frank"))); err != nil {
			b.Fatal(err, out)
		}
	}
}

// TestBackupExamples: the documented example scripts parse.
func TestBackupExamples(t *testing.T) {
	files, _ := filepath.Glob("../docs/examples/backup-*.yaml")
	more, _ := filepath.Glob("../docs/examples/restore-*.yaml")
	files = append(files, more...)
	if len(files) < 2 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		if _, err := LoadScript(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestDestroyEveryCopy: a key destroyed on its HSM while its backup is
// outstanding is "destroyed on the HSM; backup … outstanding" (the plan
// and the record name the backup) and can still be restored; once the
// backup is destroyed too — every holder attesting their share — the key
// is destroyed, and a restore is refused by the engine and by the ledger.
func TestDestroyEveryCopy(t *testing.T) {
	b := newBackupEnv(t)
	uri, so, _ := b.token("de-src")
	ks := b.generate(uri, "kek", "aes-256")
	b.backup(uri, so, "kek", "kek.bk1", 2, "carol", "dave", "erin")
	destroy := &Script{Kind: KindDestroy, HSM: uri, Operator: "alice", Destroy: &DestroyPlan{Key: "kek", Reason: "retired", Confirm: "kek"}}
	e := &Engine{Ledger: b.l, Script: destroy, Signers: b.signers}
	p, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(p.Steps, "\n"), "backup kek.bk1 of this key is outstanding") {
		t.Fatalf("the destroy plan does not name the outstanding backup:\n%s", strings.Join(p.Steps, "\n"))
	}
	if _, out, err := b.run(destroy); err != nil {
		t.Fatalf("destroy: %v\n%s", err, out)
	}
	intent := lastRecord(t, b.l, "key.destroy.intent")
	if got := fmt.Sprint(intent.Facts["backups"]); got != "[kek.bk1]" {
		t.Fatalf("key.destroy.intent facts.backups = %s", got)
	}
	k := b.l.State().Keys[ks.ID]
	if k.State != ledger.KeyDestroyed || k.Disposition() != "destroyed on the HSM; backup kek.bk1 outstanding" {
		t.Fatalf("after the HSM destruction: %s / %s", k.State, k.Disposition())
	}
	// Everyone's key is needed: the holders attest their shares.
	signers := b.signers
	b.signers = map[string]sign.Signer{"alice": signers["alice"], "bob": signers["bob"], "carol": signers["carol"], "dave": signers["dave"]}
	db := &Script{Kind: KindDestroyBackup, Operator: "alice", DestroyBackup: &DestroyBackupPlan{Backup: "kek.bk1", Media: "shredded"}}
	if _, _, err := b.run(db); err == nil || !strings.Contains(err.Error(), "erin") {
		t.Fatalf("destroy-backup without holder erin's key: %v", err)
	}
	b.signers = signers
	if _, out, err := b.run(db); err != nil {
		t.Fatalf("destroy-backup: %v\n%s", err, out)
	}
	rec := lastRecord(t, b.l, "backup.destroyed")
	if at, _ := rec.Facts["attested"].([]any); len(at) != 3 {
		t.Fatalf("backup.destroyed attests %d shares, want 3", len(at))
	}
	k = b.l.State().Keys[ks.ID]
	if k.Disposition() != ledger.KeyDestroyed || len(k.BackupsOutstanding) != 0 {
		t.Fatalf("after the backup's destruction: %s", k.Disposition())
	}
	dr, _, _ := b.token("de-dr")
	_, _, err = b.run(b.restoreScript(dr, "kek.bk1", b.shareFile("kek.bk1", 1, "carol"), b.shareFile("kek.bk1", 2, "dave")))
	if err == nil || !strings.Contains(err.Error(), "backup kek.bk1 was destroyed") {
		t.Fatalf("restore after every copy was destroyed: %v", err)
	}
	t.Log(err)
	verifyLedger(t, b.l)
}
