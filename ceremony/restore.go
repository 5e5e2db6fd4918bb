package ceremony

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"custos/hsm"
	"custos/internal/hint"
	"custos/ledger"
	"custos/shamir"
)

// Backup is what the ledger recorded about one backup (backup.split):
// everything a restore or a share check needs, nothing secret.
type Backup struct {
	ID        string
	KeyID     string
	KeyType   hsm.KeyType
	M, N      int
	Holders   []string            // holder of share i+1
	Commits   []shamir.Commitment // commitment of share i+1
	Mechanism string
	BlobSHA   string
	KCV       string // wrapping key's AES-CMAC check value
	PublicKey []byte // SPKI of a key pair's public half
	Attrs     map[string]any
	Seq       int64 // the backup.split record
	// SharesSeq is the record that made the shares in force (the split,
	// or the last backup.reshared); retired are those a reshare replaced.
	SharesSeq int64
	retired   []retiredShare
}

// LoadBackup reads backup id from the ledger's backup.split records.
func LoadBackup(l *ledger.Ledger, id string) (*Backup, error) {
	seq, ok := l.State().Backups[id]
	if !ok {
		return nil, hint.With(fmt.Errorf("ledger %s: no backup %q is recorded (no backup.split)", l.Dir(), id),
			"custos log LEDGER lists the backups; shares of a backup that was never recorded are worthless")
	}
	rec, err := l.Record(seq)
	if err != nil {
		return nil, fmt.Errorf("backup %q: %w", id, err)
	}
	f := rec.Facts
	b := &Backup{ID: id, Seq: rec.Seq}
	b.KeyID, _ = f["key_id"].(string)
	t, _ := f["type"].(string)
	b.KeyType = hsm.KeyType(t)
	b.Mechanism, _ = f["mechanism"].(string)
	b.BlobSHA, _ = f["blob_sha256"].(string)
	b.KCV, _ = f["wrapping_key_kcv_cmac"].(string)
	b.Attrs, _ = f["attributes"].(map[string]any)
	var ok1, ok2 bool
	b.M, ok1 = factInt(f["m"])
	b.N, ok2 = factInt(f["n"])
	bad := func(what string) error {
		return fmt.Errorf("ledger %s: backup.split record %d: %s", l.Dir(), rec.Seq, what)
	}
	if !ok1 || !ok2 || b.M < 2 || b.M > b.N {
		return nil, bad("m and n are missing or wrong")
	}
	if pk, _ := f["public_key_spki"].(string); pk != "" {
		der, err := base64.StdEncoding.DecodeString(pk)
		if err != nil {
			return nil, bad("public_key_spki is not base64")
		}
		b.PublicKey = der
	}
	hs, _ := f["holders"].([]any)
	if len(hs) != b.N {
		return nil, bad(fmt.Sprintf("%d holders for n=%d", len(hs), b.N))
	}
	b.Holders = make([]string, b.N)
	b.Commits = make([]shamir.Commitment, b.N)
	for i, h := range hs {
		hm, _ := h.(map[string]any)
		idx, ok := factInt(hm["index"])
		if !ok || idx != i+1 {
			return nil, bad(fmt.Sprintf("holders[%d]: index is not %d", i, i+1))
		}
		b.Holders[i], _ = hm["member"].(string)
		cs, _ := hm["commitment"].(string)
		c, err := shamir.ParseCommitment(cs)
		if err != nil {
			return nil, bad(fmt.Sprintf("holders[%d].commitment: %v", i, err))
		}
		b.Commits[i] = c
	}
	if err := b.currentShares(l); err != nil {
		return nil, err
	}
	return b, nil
}

// Holder names share index's holder for messages.
func (b *Backup) Holder(index int) string {
	if index >= 1 && index <= len(b.Holders) {
		return b.Holders[index-1]
	}
	return "nobody"
}

// CheckShare checks one share against the backup as it is entered: that
// it belongs to this backup (ledger, id, M, N, index in range), then its
// own checksum and the ledger's commitment for its index. The error names
// the share by index and holder, never its value.
func (b *Backup) CheckShare(ledgerID string, sh *shamir.Share) error {
	switch {
	case sh.LedgerID != ledgerID:
		return fmt.Errorf("it belongs to ledger %q, not %q", sh.LedgerID, ledgerID)
	case sh.BackupID != b.ID:
		return hint.With(fmt.Errorf("it is a share of backup %q, not of %q", sh.BackupID, b.ID), "the holder brought the share of another backup")
	case b.retiredAs(sh) != nil:
		return b.retiredErr(sh)
	case sh.M != b.M || sh.N != b.N:
		return fmt.Errorf("it is a %d-of-%d share, backup %q is %d-of-%d", sh.M, sh.N, b.ID, b.M, b.N)
	case sh.Index < 1 || sh.Index > b.N:
		return fmt.Errorf("index %d is not 1 to %d", sh.Index, b.N)
	}
	if err := shamir.Check(sh, b.Commits[sh.Index-1]); err != nil {
		return err
	}
	return nil
}

// maxShareFile bounds what is read as a share file or card.
const maxShareFile = 64 << 10

// ShareInput is one share as a holder brings it, in memory: the bytes of
// an age file (opened with Key: the holder's OpenSSH private key file, or
// a passphrase source; else the passphrase is asked), of a text-form line
// or of a word card. What names it in messages and in the record — a file
// name or "card typed at the screen", never any of its content.
type ShareInput struct {
	What string
	Data []byte
	Key  ShareKey
}

// loadShare reads the share file at path and opens it (OpenShare) with k,
// the key to open an age file: an identity, or a passphrase (delivery.go).
// The caller zeroes the share (Share.Zero) after use.
func loadShare(path string, k ShareKey, p Prompter) (*shamir.Share, bool, error) {
	data, err := ReadShareFile(path)
	if err != nil {
		return nil, false, err
	}
	defer clear(data)
	return OpenShare(path, data, k, p)
}

// ReadShareFile reads a share file as its holder brings it (at most
// maxShareFile bytes). The caller zeroes the bytes after use.
func ReadShareFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxShareFile+1))
	f.Close()
	if err != nil {
		clear(data)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxShareFile {
		clear(data)
		return nil, fmt.Errorf("%s: more than %d bytes: not a share file", path, maxShareFile)
	}
	return data, nil
}

// OpenShare reads a share from the bytes a holder brings — an age file
// opened with k (the holder's OpenSSH key file, or their passphrase from
// k.PassphraseSource or asked through p), a text-form line or a word card
// — and says whether it was encrypted; what names it in errors. It
// neither keeps nor zeroes data; the caller zeroes the share (Share.Zero)
// after use.
func OpenShare(what string, data []byte, k ShareKey, p Prompter) (*shamir.Share, bool, error) {
	if len(data) > maxShareFile {
		return nil, false, fmt.Errorf("%s: more than %d bytes: not a share", what, maxShareFile)
	}
	plain := data
	encrypted := isAge(data)
	if encrypted {
		var err error
		plain, err = openAge(what, data, k, p)
		if err != nil {
			return nil, true, err
		}
		defer clear(plain)
	}
	var sh *shamir.Share
	var err error
	if bytes.HasPrefix(bytes.TrimSpace(plain), []byte("custos-share-")) {
		sh, err = shamir.ParseText(plain)
	} else {
		sh, err = shamir.ParseWords(plain)
	}
	if err != nil {
		return nil, encrypted, fmt.Errorf("%s: %w", what, err)
	}
	return sh, encrypted, nil
}

// IsEncryptedShare reports whether the file at path is an age-encrypted
// share to an SSH key (so its holder's key file must be asked for first;
// a share to a passphrase asks its passphrase as it is loaded).
func IsEncryptedShare(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 64)
	n, _ := io.ReadFull(f, head)
	return isAge(head[:n]) && !isPassphraseShare(path)
}

func isAge(b []byte) bool {
	t := bytes.TrimSpace(b)
	return bytes.HasPrefix(t, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) || bytes.HasPrefix(t, []byte("age-encryption.org/"))
}

func (e *Engine) planRestore(p *Plan) error {
	s := e.Script
	r := s.Restore
	b, err := LoadBackup(e.Ledger, r.Backup)
	if err != nil {
		return fmt.Errorf("%s: restore.backup: %w", s.File, err)
	}
	if bs, _ := e.Ledger.State().Backup(r.Backup); bs.Destroyed != 0 {
		return fmt.Errorf("%s: restore.backup: backup %s was destroyed (record %d): its shares and media are attested gone, nothing can be restored from it", s.File, r.Backup, bs.Destroyed)
	}
	ks, err := e.lookupKey(b.KeyID, "restore.backup", keyUse{destroyed: true, compromised: true})
	if err != nil {
		return err
	}
	if n := len(r.Shares); e.Shares == nil && n < b.M || e.Shares != nil && len(e.Shares) < b.M {
		if e.Shares != nil {
			n = len(e.Shares)
		}
		return hint.With(fmt.Errorf("%s: restore.shares: %d listed, backup %q needs %d", s.File, n, b.ID, b.M),
			fmt.Sprintf("bring at least %d of the holders %s", b.M, strings.Join(b.Holders, ", ")))
	}
	if _, err := os.Stat(r.Media); err != nil {
		return fmt.Errorf("%s: restore.media: %w", s.File, err)
	}
	e.target, e.backupID, e.restoreFrom = ks, b.ID, b
	p.KeyID, p.Label = ks.ID, ks.Label
	p.Steps = []string{
		fmt.Sprintf("record the intent to restore %s key %q (id %s) from backup %s (%d-of-%d)", ks.Type, ks.Label, ks.ID, b.ID, b.M, b.N),
		fmt.Sprintf("check %s against the digest the ledger recorded", r.Media),
		"enter the shares one at a time, each checked against its commitment; a wrong one is named and skipped",
		fmt.Sprintf("once %d are in: rebuild the wrapping key, compare its check value, load it into the token for this session only", b.M),
		"unwrap the key with the attributes it was generated with; compare its check value or public key with the ledger",
		"record key.restored; witnesses co-sign the closing checkpoint",
	}
	return nil
}

func (e *Engine) draftRestore(facts map[string]any) error {
	b := e.restoreFrom
	facts["backup_id"] = b.ID
	facts["backup_record"] = b.Seq
	facts["type"] = string(b.KeyType)
	facts["media"] = e.Script.Restore.Media
	facts["m"] = int64(b.M)
	return nil
}

// restore collects the shares, rebuilds the wrapping key and unwraps the
// key into the token; it returns key.restored.
func (e *Engine) restore(res *Result) (*ledger.Record, error) {
	r, b := e.Script.Restore, e.restoreFrom
	st := e.Ledger.State()
	blob, err := os.ReadFile(r.Media)
	if err != nil {
		return nil, fmt.Errorf("%s: restore.media: %w", e.Script.File, err)
	}
	if sum := sha256.Sum256(blob); hex.EncodeToString(sum[:]) != b.BlobSHA {
		return nil, fmt.Errorf("%s: restore.media: %s has sha256 %s, backup %q recorded %s: it is not that backup's wrapped key, or it is damaged",
			e.Script.File, r.Media, hex.EncodeToString(sum[:]), b.ID, b.BlobSHA)
	}
	var accepted []*shamir.Share
	defer func() { shamir.ZeroAll(accepted) }()
	var used, refused []any
	have := map[int]bool{}
	inputs := e.Shares
	defer func() {
		for _, in := range inputs {
			clear(in.Data)
		}
	}()
	count := len(r.Shares)
	if inputs != nil {
		count = len(inputs)
	}
	for i := range count {
		if len(accepted) == b.M {
			break
		}
		var in ShareInput
		var err error
		at := ""
		if inputs != nil {
			in = inputs[i]
			at = fmt.Sprintf("share %d entered (%s)", i+1, in.What)
		} else {
			src := r.Shares[i]
			in = ShareInput{What: src.File, Key: ShareKey{Identity: src.Identity, PassphraseSource: src.PassphraseSource}}
			at = fmt.Sprintf("restore.shares[%d] (%s)", i, src.File)
			in.Data, err = ReadShareFile(src.File)
		}
		var sh *shamir.Share
		if err == nil {
			sh, _, err = OpenShare(in.What, in.Data, in.Key, e.Prompt)
		}
		clear(in.Data)
		if err == nil && have[sh.Index] {
			err = fmt.Errorf("share %d (holder %s) was already entered", sh.Index, b.Holder(sh.Index))
		}
		if err == nil {
			if cerr := b.CheckShare(st.LedgerID, sh); cerr != nil {
				err = fmt.Errorf("share %d (holder %s) refused: %w", sh.Index, b.Holder(sh.Index), cerr)
			}
		}
		if err != nil {
			if sh != nil {
				sh.Zero()
			}
			e.say("refused %s: %v", at, err)
			refused = append(refused, map[string]any{"file": in.What, "reason": err.Error()})
			continue
		}
		have[sh.Index] = true
		accepted = append(accepted, sh)
		used = append(used, map[string]any{"index": int64(sh.Index), "holder": b.Holder(sh.Index), "commitment": b.Commits[sh.Index-1].String()})
		e.say("share %d (holder %s) accepted: %d of %d", sh.Index, b.Holder(sh.Index), len(accepted), b.M)
	}
	if len(accepted) < b.M {
		return nil, hint.With(fmt.Errorf("restore of backup %q: %d good shares of the %d needed; %d refused", b.ID, len(accepted), b.M, len(refused)),
			"the refusals above name each share and why; bring the right share of another holder")
	}
	secret, kcv, err := rebuild(b, accepted, "restore")
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	e.say("rebuilt the wrapping key from shares %s: check value %s matches", setNames(accepted), kcv)
	// The transport key lives in this session only: if the process dies,
	// the token forgets it; it is destroyed on every path all the same.
	tid := transportKeyID(b.ID)
	transport, err := e.token.ImportAES(hsm.KeySpec{Label: "custos-restore-" + hex.EncodeToString(tid[:4]), ID: tid,
		Usage: hsm.Usage{Unwrap: true, Sign: true}, Ephemeral: true}, secret)
	clear(secret)
	if err != nil {
		return nil, fmt.Errorf("load the rebuilt wrapping key: %w", err)
	}
	defer e.token.Destroy(transport)
	id, _ := hex.DecodeString(b.KeyID)
	spec := hsm.KeySpec{Label: e.plan.Label, ID: id, Extractable: attrBool(b.Attrs, "extractable"),
		WrapWithTrusted: attrBool(b.Attrs, "wrap_with_trusted"), Usage: usageOf(b.Attrs, b.KeyType)}
	key, err := e.token.Unwrap(transport, &hsm.Wrapped{Mechanism: b.Mechanism, KeyType: b.KeyType, Blob: blob, PublicKey: b.PublicKey}, spec)
	if err != nil {
		return nil, err
	}
	kf, err := key.Facts()
	if err != nil {
		return nil, err // settle looks at the key again
	}
	matched, err := compareKeyFacts(e.target.Facts, kf)
	if err != nil {
		e.token.Destroy(key)
		return nil, fmt.Errorf("restore of key %q: %w; the restored key was destroyed", e.plan.Label, err)
	}
	e.say("restored key %q on token %s: %s matches the ledger", e.plan.Label, e.token.Info().Label, strings.Join(matched, ", "))
	extra := map[string]any{"shares_used": used, "wrapping_key_kcv_cmac": kcv}
	if len(refused) > 0 {
		extra["shares_refused"] = refused
	}
	return e.restoredRecord(kf, b.ID, matched, extra)
}

func attrBool(a map[string]any, k string) bool { v, _ := a[k].(bool); return v }

// usageOf rebuilds the usage the key was generated with from its recorded
// attributes; the policy's usage for the type when none were recorded.
func usageOf(a map[string]any, kt hsm.KeyType) hsm.Usage {
	if len(a) == 0 {
		return usageFor(kt)
	}
	return hsm.UsageFromFacts(a)
}

// compareKeyFacts compares the restored key's check values and public key
// fingerprints with those the ledger recorded at generation; every value
// recorded must match, and at least one must be there.
func compareKeyFacts(recorded map[string]any, got hsm.KeyFacts) ([]string, error) {
	var matched []string
	for _, c := range []struct{ name, got string }{
		{"kcv_aes_cmac", got.KCVAESCMAC}, {"kcv_aes_ecb", got.KCVAESECB},
		{"spki_sha256", got.SPKISHA256}, {"ssh_fingerprint", got.SSHFingerprint},
	} {
		want, _ := recorded[c.name].(string)
		if want == "" {
			continue
		}
		if c.got != want {
			return nil, fmt.Errorf("its %s is %q, the ledger recorded %q", c.name, c.got, want)
		}
		matched = append(matched, c.name)
	}
	if len(matched) == 0 {
		return nil, errors.New("the ledger recorded no check value or fingerprint to compare with")
	}
	return matched, nil
}
