package ceremony

import (
	"crypto/aes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"custos/hsm"
	"custos/internal/hint"
	"custos/internal/ids"
	"custos/ledger"
	"custos/shamir"
)

// Kinds of the backup half of the lifecycle.
const (
	KindBackup  = "backup"
	KindRestore = "restore"
)

// BackupPlan says which key to back up and how the wrapping key is split.
type BackupPlan struct {
	// Key is the label or id of an active key generated with backup: true.
	Key string `yaml:"key,required"`
	// ID names the backup in every share and in the ledger; the ceremony id
	// when empty.
	ID string `yaml:"id"`
	// Threshold is M: how many shares rebuild the wrapping key.
	Threshold int `yaml:"threshold,required"`
	// Holders receive share 1, 2, … N in this order.
	Holders []string `yaml:"holders,required"`
	// Media is where the wrapped key is written (never over a file).
	Media string `yaml:"media,required"`
	// ShareDir receives one age file per holder (and cards).
	ShareDir string `yaml:"share_dir,required"`
	// Cards also gives each holder their share as a printable word card,
	// one holder at a time, where that holder chooses (see CardSink).
	Cards bool `yaml:"cards"`
	// ReadBack maps a holder to their OpenSSH private key file: the holder
	// decrypts their own share file, as read back from the medium, at the
	// workstation before leaving, and the share is checked against its
	// commitment. Every share file is read back and its digest compared.
	ReadBack map[string]string `yaml:"read_back"`
	// Delivery maps a holder to how their share reaches them: ssh (an age
	// file to their key on the roster; the default for ssh-ed25519 and
	// ssh-rsa keys), passphrase (an age file to a passphrase they type)
	// or card (a printed word card only). delivery.go.
	Delivery map[string]string `yaml:"delivery"`
	// PassphraseSources maps a holder delivered by passphrase to a
	// file:PATH holding it, instead of asking at the terminal.
	PassphraseSources map[string]string `yaml:"passphrase_sources"`
}

// RestorePlan says which backup to restore and where the shares are.
type RestorePlan struct {
	Backup string `yaml:"backup,required"`
	Media  string `yaml:"media,required"`
	// Shares are entered in this order until M good ones are in.
	Shares []ShareSource `yaml:"shares,required"`
}

// ShareSource is one share as a holder brings it: a text-form file, a word
// card, or an age file with the holder's OpenSSH key to open it.
type ShareSource struct {
	File     string `yaml:"file,required"`
	Identity string `yaml:"identity"`
	// PassphraseSource (file:PATH) opens an age file encrypted to a
	// passphrase; without it the passphrase is asked at the terminal.
	PassphraseSource string `yaml:"passphrase_source"`
}

// checkBackupScript checks the backup and restore sections on their own.
func checkBackupScript(s *Script) error {
	bad := func(path, msg, fix string) error { return scriptErr(s.File, path, msg, fix) }
	switch s.Kind {
	case KindBackup:
		b := s.Backup
		if b.ID != "" && !ids.Valid(b.ID) {
			return bad("backup.id", fmt.Sprintf("%q is not a valid backup id", b.ID), ids.Rule)
		}
		if err := checkSplitScript(bad, "backup", b.Threshold, splitOut{Holders: b.Holders, Delivery: b.Delivery, PassphraseSources: b.PassphraseSources, ReadBack: b.ReadBack}); err != nil {
			return err
		}
	case KindRestore:
		r := s.Restore
		if !ids.Valid(r.Backup) {
			return bad("restore.backup", fmt.Sprintf("%q is not a valid backup id", r.Backup), "")
		}
		if len(r.Shares) == 0 {
			return bad("restore.shares", "no shares listed", "list the share files in the order they are entered")
		}
	}
	return nil
}

// planBackup validates a backup or restore against the ledger and fills in
// the plan's steps.
func (e *Engine) planBackup(p *Plan) error {
	s, st := e.Script, e.Ledger.State()
	if s.Kind == KindRestore {
		return e.planRestore(p)
	}
	b := s.Backup
	ks, err := e.lookupKey(b.Key, "backup.key", keyUse{})
	if err != nil {
		return err
	}
	if ks.Type == string(hsm.Ed25519) {
		return hint.With(fmt.Errorf("%s: backup.key: key %q (%s) is ed25519: its private key cannot be wrapped on this kind of HSM", s.File, ks.Label, ks.ID),
			"nothing was generated or split; back up only aes-256, rsa or ec keys")
	}
	if !wrapsOnlyUnderTrusted(ks) {
		return hint.With(fmt.Errorf("%s: backup.key: key %q (%s) was not generated for backup: it must be extractable only under a trusted wrapping key", s.File, ks.Label, ks.ID),
			"generate keys that need a backup with backup: true")
	}
	if err := e.checkHolderRoles("backup", b.Holders); err != nil {
		return err
	}
	if e.deliveries, err = e.planDeliveries("backup", *e.splitOut()); err != nil {
		return err
	}
	id := b.ID
	if id == "" {
		id = p.Ceremony
	}
	if !ids.Valid(id) {
		return fmt.Errorf("%s: backup.id: %q (the ceremony id) is not a valid backup id; set backup.id", s.File, id)
	}
	if seq, ok := st.Backups[id]; ok {
		return hint.With(fmt.Errorf("%s: backup.id: backup %q already exists (record %d)", s.File, id, seq), "choose a new backup id")
	}
	if _, err := os.Lstat(b.Media); err == nil {
		return hint.With(fmt.Errorf("%s: backup.media: %s already exists", s.File, b.Media), "custos never writes over a file; choose a new path")
	}
	if err := e.checkCards("backup", *e.splitOut()); err != nil {
		return err
	}
	e.target = ks
	e.backupID = id
	p.KeyID, p.Label = ks.ID, ks.Label
	n := len(b.Holders)
	p.Steps = []string{
		fmt.Sprintf("record the intent to back up %s key %q (id %s) as backup %s, %d-of-%d", ks.Type, ks.Label, ks.ID, id, b.Threshold, n),
		"make a fresh 32-byte backup wrapping key; the security officer imports it as a trusted key",
		"wrap the key under it (AES key wrap with padding, RFC 5649); remove the wrapping key from the token",
		fmt.Sprintf("split the wrapping key %d-of-%d among %s into %s: %s%s", b.Threshold, n, strings.Join(b.Holders, ", "), b.ShareDir, deliverySteps(b.Holders, e.deliveries), cardStep(b.Cards)),
		fmt.Sprintf("read every share back from the medium and check it; recombine combinations of %d and compare with the wrapping key's check value", b.Threshold),
		fmt.Sprintf("write the wrapped key to %s and read it back; record commitments (never shares), digests, mechanism, M and N", b.Media),
		"witnesses co-sign the closing checkpoint",
	}
	return nil
}

func cardStep(cards bool) string {
	if cards {
		return "; each holder in turn, alone, takes their word card where they choose"
	}
	return ""
}

// holderRoles are the roles a share holder must hold: "custodian", or the
// roles of the policy entry "backup.holder" when the policy has one.
func holderRoles(p *ledger.Policy) []string {
	if r, ok := p.Approvals["backup.holder"]; ok && len(r.Roles) > 0 {
		return r.Roles
	}
	return []string{"custodian"}
}

// checkHolderRoles: every holder is a member with a share holder's role.
func (e *Engine) checkHolderRoles(sec string, holders []string) error {
	st := e.Ledger.State()
	roles := holderRoles(&st.Policy)
	for i, h := range holders {
		m := st.Roster.Member(h)
		if m == nil {
			return hint.With(fmt.Errorf("%s: %s.holders[%d]: %q is not a member of the ledger's roster", e.Script.File, sec, i, h), "members: "+memberNames(st))
		}
		if !m.HasRole(roles...) {
			return fmt.Errorf("%s: %s.holders[%d]: %s holds none of the roles %s a share holder needs (has %s)", e.Script.File, sec, i, h, strings.Join(roles, "/"), strings.Join(m.Roles, ", "))
		}
	}
	return nil
}

func lastEvent(ks *ledger.KeyState) int64 {
	if n := len(ks.History); n > 0 {
		return ks.History[n-1].Seq
	}
	return 0
}

// draftBackup adds the facts of backup.intent or key.restore.intent.
func (e *Engine) draftBackup(facts map[string]any) error {
	p := e.plan
	facts["key_id"] = p.KeyID
	facts["label"] = p.Label
	if e.Script.Kind == KindRestore {
		return e.draftRestore(facts)
	}
	b := e.Script.Backup
	facts["backup_id"] = e.backupID
	facts["type"] = e.target.Type
	facts["m"] = int64(b.Threshold)
	facts["n"] = int64(len(b.Holders))
	facts["holders"] = toAny(b.Holders)
	facts["delivery"] = deliveryFacts(e.deliveries)
	facts["media"] = b.Media
	if b.ShareDir != "" {
		facts["share_dir"] = b.ShareDir
	}
	facts["wrapping"] = "aes-256 backup wrapping key, RFC 5649 key wrap with padding"
	return nil
}

// shareFile is the path of share index of backup id for holder in dir.
func shareFile(dir, id string, index int, holder string) string {
	return filepath.Join(dir, fmt.Sprintf("%s-share%d-%s.age", id, index, holder))
}

// wrappingKeyID is the CKA_ID of a backup's wrapping key on the token, so
// resume can find and remove one left behind by an interrupted backup.
func wrappingKeyID(backupID string) []byte {
	h := sha256.Sum256([]byte("custos-backup-wrapping-key\x00" + backupID))
	return h[:16]
}

func wrappingKeyLabel(backupID string) string {
	return "custos-backup-" + hex.EncodeToString(wrappingKeyID(backupID)[:4])
}

// backup performs the HSM part of a backup and everything that must happen
// before anyone leaves the room; it returns backup.split.
func (e *Engine) backup(res *Result) (*ledger.Record, error) {
	b := e.Script.Backup
	st := e.Ledger.State()
	m, n := b.Threshold, len(b.Holders)
	id, _ := hex.DecodeString(e.plan.KeyID)

	secret := make([]byte, 32)
	defer clear(secret)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("backup wrapping key: %w", err)
	}
	kcv, err := cmacKCV(secret)
	if err != nil {
		return nil, err
	}
	wid := wrappingKeyID(e.backupID)
	wrapper, err := e.asSO(func() (*hsm.Key, error) {
		return e.token.ImportTrustedAES(wrappingKeyLabel(e.backupID), wid, secret)
	})
	if err != nil {
		if wrapper != nil {
			e.token.Destroy(wrapper)
		}
		return nil, fmt.Errorf("import the backup wrapping key: %w", err)
	}
	// A session object where the token allows it; destroyed on every path.
	removed := false
	removeWrapper := func() (hsm.DestroyProof, error) {
		p, err := e.token.Destroy(wrapper)
		removed = err == nil
		return p, err
	}
	defer func() {
		if !removed {
			e.token.Destroy(wrapper)
		}
	}()
	// The token's own check value of the imported key must equal the one
	// computed here, or the key the shares rebuild is not the one that wraps.
	if wf, err := wrapper.Facts(); err != nil || wf.KCVAESCMAC != kcv {
		removeWrapper()
		if err != nil {
			return nil, fmt.Errorf("check value of the backup wrapping key: %w", err)
		}
		return nil, fmt.Errorf("backup wrapping key: the token's check value %s differs from %s", wf.KCVAESCMAC, kcv)
	}
	target, err := e.token.FindKey(id, "")
	if err != nil {
		removeWrapper()
		return nil, err
	}
	w, err := e.token.Wrap(wrapper, target)
	if err != nil {
		removeWrapper()
		return nil, err
	}
	crashPoint("backup-after-wrap")
	proof, err := removeWrapper()
	if err != nil {
		return nil, fmt.Errorf("remove the backup wrapping key: %w", err)
	}
	e.say("wrapped key %q with %s; the wrapping key is gone from the token", e.plan.Label, w.Mechanism)

	e.shareBase = e.backupID
	holders, total, checked, err := e.deliverSplit(secret, kcv, m, b.Holders, shamir.Meta{LedgerID: st.LedgerID, BackupID: e.backupID}, b.ShareDir, "backup")
	if err != nil {
		return nil, err
	}
	sum, err := writeOutput(b.Media, w.Blob)
	if err != nil {
		return nil, fmt.Errorf("%s: backup.media: %w", e.Script.File, err)
	}
	res.Output = b.Media
	e.say("wrote the wrapped key to %s and read it back (sha256 %s)", b.Media, sum)
	pf, err := ledger.FactsOf(proof)
	if err != nil {
		return nil, err
	}
	facts := map[string]any{
		"key_id": e.plan.KeyID, "backup_id": e.backupID, "type": string(w.KeyType),
		"m": int64(m), "n": int64(n), "holders": holders,
		"mechanism": w.Mechanism, "media": b.Media,
		"blob_sha256": sum, "blob_bytes": int64(len(w.Blob)),
		"wrapping_key_kcv_cmac":        kcv,
		"wrapping_key_removed":         pf,
		"combinations_checked":         int64(checked),
		"combinations_total":           int64(total),
		"hsm":                          hsmFacts(e.token),
		"trusted_wrapping_key_removed": true,
	}
	if len(w.PublicKey) > 0 {
		facts["public_key_spki"] = base64.StdEncoding.EncodeToString(w.PublicKey)
	}
	if a, ok := e.target.Facts["attributes"]; ok {
		facts["attributes"] = a
	}
	return e.Ledger.Draft("backup.split", e.plan.Ceremony, e.actor(), facts, e.now()), nil
}

// deliverShare writes one share encrypted to its holder onto the share
// medium, reads the file back from there (its digest must be the one
// recorded; with the holder's key named under read_back, the holder
// decrypts what was read back) and, with cards, hands the holder their
// word card; it returns the holder's entry of backup.split.
// deliverSplit splits secret m-of-len(to), delivers share i to holder to[i]
// (files under dir, named from e.shareBase), and recombines every
// m-combination before anything is recorded. It returns the holders'
// facts and the combinations checked. section names the script section
// in errors ("backup", "reshare").
func (e *Engine) deliverSplit(secret []byte, kcv string, m int, to []string, meta shamir.Meta, dir, section string) (holders []any, total, checked int, err error) {
	shares, err := shamir.Split(secret, m, len(to), meta)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("split the wrapping key: %w", err)
	}
	defer shamir.ZeroAll(shares)
	commits, err := shamir.CommitAll(shares)
	if err != nil {
		return nil, 0, 0, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %s.share_dir: %w", e.Script.File, section, err)
	}
	holders = make([]any, len(to))
	for i, sh := range shares {
		if holders[i], err = e.deliverShare(sh, commits[i], to[i]); err != nil {
			return nil, 0, 0, err
		}
	}
	crashPoint(section + "-after-shares")
	if total, checked, err = checkCombinations(shares, m, secret); err != nil {
		return nil, 0, 0, err
	}
	which := "shares"
	if section == "reshare" {
		which = "new shares"
	}
	e.say("recombined %d of %d combinations of %d %s: each gives the wrapping key (check value %s)", checked, total, m, which, kcv)
	return holders, total, checked, nil
}

// rebuild combines the presented shares of backup b and checks the
// result against the check value the ledger recorded. The caller clears
// the secret.
func rebuild(b *Backup, shares []*shamir.Share, what string) (secret []byte, kcv string, err error) {
	secret, err = shamir.Combine(shares)
	if err != nil {
		return nil, "", err
	}
	kcv, err = cmacKCV(secret)
	if err == nil && subtle.ConstantTimeCompare([]byte(kcv), []byte(b.KCV)) != 1 {
		err = fmt.Errorf("%s of backup %q: the rebuilt wrapping key has check value %s, the ledger recorded %s", what, b.ID, kcv, b.KCV)
	}
	if err != nil {
		clear(secret)
		return nil, "", err
	}
	return secret, kcv, nil
}

func (e *Engine) deliverShare(sh *shamir.Share, c shamir.Commitment, holder string) (map[string]any, error) {
	b := e.splitOut()
	text, err := sh.Text()
	if err != nil {
		return nil, err
	}
	defer clear(text)
	// The text form must say what the share is before it is sealed.
	inMem, err := shamir.ParseText(text)
	if err == nil {
		err = checkReadBack(inMem, sh, c)
		inMem.Zero()
	}
	if err != nil {
		return nil, fmt.Errorf("share %d of %s: text form: %w", sh.Index, holder, err)
	}
	entry := map[string]any{"index": int64(sh.Index), "member": holder, "commitment": c.String(), "delivery": e.deliveries[holder]}
	enc, err := e.sealShare(holder, text)
	if err != nil {
		return nil, fmt.Errorf("share %d for %s: %w", sh.Index, holder, err)
	}
	if enc != nil {
		file := shareFile(b.ShareDir, e.shareBase, sh.Index, holder)
		fsum, back, err := writeReadBack(file, enc)
		if err != nil {
			return nil, fmt.Errorf("share %d for %s: %w", sh.Index, holder, err)
		}
		defer clear(back)
		entry["file"], entry["file_sha256"] = file, fsum
		got, readBack, err := e.readBackSealed(holder, file, back, b.ReadBack[holder])
		if err == nil && got != nil {
			err = checkReadBack(got, sh, c)
			got.Zero()
		}
		if err != nil {
			return nil, fmt.Errorf("read back share %d of %s: %w", sh.Index, holder, err)
		}
		entry["read_back"] = readBack
		e.say("share %d of %d for %s: %s, read back and checked", sh.Index, sh.N, holder, file)
	}
	if b.needsCard(holder, e.deliveries) {
		how, err := e.deliverCard(sh, c, holder)
		if err != nil {
			return nil, err
		}
		entry["card"] = how
		if enc == nil {
			entry["read_back"] = "card: " + how
		}
	}
	return entry, nil
}

func checkReadBack(back, orig *shamir.Share, c shamir.Commitment) error {
	if err := shamir.Check(back, c); err != nil {
		return err
	}
	if !back.Equal(orig) {
		return errors.New("the share read back differs from the share made")
	}
	return nil
}

// maxCombinations bounds the recombination check; beyond it a cover is
// checked in which every share takes part.
const maxCombinations = 256

// checkCombinations recombines M-subsets of shares and compares each result
// with secret: all of them when there are at most maxCombinations, else
// N windows of M consecutive shares (each share in M of them).
func checkCombinations(shares []*shamir.Share, m int, secret []byte) (total, checked int, err error) {
	n := len(shares)
	total = binomial(n, m)
	var sets [][]int
	if total <= maxCombinations {
		sets = combinations(n, m)
	} else {
		for i := range n {
			set := make([]int, m)
			for j := range m {
				set[j] = (i + j) % n
			}
			sets = append(sets, set)
		}
	}
	for _, set := range sets {
		sub := make([]*shamir.Share, m)
		for j, i := range set {
			sub[j] = shares[i]
		}
		got, err := shamir.Combine(sub)
		if err != nil {
			return total, checked, fmt.Errorf("recombine shares %s: %w", setNames(sub), err)
		}
		ok := subtle.ConstantTimeCompare(got, secret) == 1
		clear(got)
		if !ok {
			return total, checked, fmt.Errorf("recombine shares %s: the result is not the wrapping key", setNames(sub))
		}
		checked++
	}
	return total, checked, nil
}

func setNames(sub []*shamir.Share) string {
	var s []string
	for _, sh := range sub {
		s = append(s, fmt.Sprint(sh.Index))
	}
	return strings.Join(s, "+")
}

func binomial(n, k int) int {
	r := 1
	for i := 1; i <= k; i++ {
		r = r * (n - k + i) / i
		if r > 1<<30 {
			return 1 << 30
		}
	}
	return r
}

// combinations lists every k-subset of 0..n-1 in lexicographic order.
func combinations(n, k int) [][]int {
	var out [][]int
	set := make([]int, k)
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth == k {
			out = append(out, slices.Clone(set))
			return
		}
		for i := start; i <= n-(k-depth); i++ {
			set[depth] = i
			rec(i+1, depth+1)
		}
	}
	rec(0, 0)
	return out
}

// cmacKCV is the AES-CMAC check value (ANSI X9.24-1): the first 3 bytes of
// AES-CMAC(key, 0^16), hex — the same value the token computes for the key,
// so the wrapping key can be identified without revealing it.
func cmacKCV(key []byte) (string, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("check value: %w", err)
	}
	// One complete block: CMAC = E(K, M xor K1), K1 from L = E(K, 0).
	var l, k1, out [16]byte
	blk.Encrypt(l[:], l[:])
	shiftLeft(k1[:], l[:])
	if l[0]&0x80 != 0 {
		k1[15] ^= 0x87
	}
	blk.Encrypt(out[:], k1[:]) // M is zero, so M xor K1 = K1
	kcv := hex.EncodeToString(out[:3])
	clear(l[:])
	clear(k1[:])
	clear(out[:])
	return kcv, nil
}

func shiftLeft(dst, src []byte) {
	var carry byte
	for i := len(src) - 1; i >= 0; i-- {
		dst[i] = src[i]<<1 | carry
		carry = src[i] >> 7
	}
}

// factInt reads an integer fact, whether drafted (int64) or read back
// from the ledger (json.Number).
func factInt(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), true
	case int:
		return x, true
	case json.Number:
		i, err := x.Int64()
		return int(i), err == nil
	}
	return 0, false
}
