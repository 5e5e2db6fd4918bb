package ceremony

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"custos/hsm"
	"custos/internal/hint"
	"custos/internal/ids"
	"custos/ledger"
	"custos/shamir"
)

// KindReshare replaces a backup's shares with new ones, as Vault's rekey
// does for unseal keys: the current holders present at least M shares,
// each checked against the ledger's commitment and signed for by its
// holder; the wrapping key is rebuilt, the HSM confirms its check value,
// and it is split anew to the new holders. Every new share is read back
// and every M-subset recombined before backup.reshared retires the old
// shares' commitments: from then on verify, share-check and restore
// refuse an old share, naming it retired. The wrapped key on the media is
// unchanged (docs/backup.md, "Re-sharing").
const KindReshare = "reshare"

// ResharePlan says which backup is reshared, which shares are presented,
// and how the new ones are split and delivered.
type ResharePlan struct {
	Backup string `yaml:"backup,required"`
	// Shares are the current shares presented, at least the backup's M;
	// each must be good, or nothing happens.
	Shares    []ShareSource `yaml:"shares,required"`
	Threshold int           `yaml:"threshold,required"`
	// Holders receive new share 1, 2, … N in this order.
	Holders           []string          `yaml:"holders,required"`
	ShareDir          string            `yaml:"share_dir,required"`
	Cards             bool              `yaml:"cards"`
	Delivery          map[string]string `yaml:"delivery"`
	PassphraseSources map[string]string `yaml:"passphrase_sources"`
	ReadBack          map[string]string `yaml:"read_back"`
	Reason            string            `yaml:"reason"`
}

// checkReshareScript checks the reshare section on its own.
func checkReshareScript(s *Script) error {
	bad := func(path, msg, fix string) error { return scriptErr(s.File, path, msg, fix) }
	r := s.Reshare
	if !ids.Valid(r.Backup) {
		return bad("reshare.backup", fmt.Sprintf("%q is not a valid backup id", r.Backup), ids.Rule)
	}
	if len(r.Shares) == 0 {
		return bad("reshare.shares", "no shares listed", "list the current shares the holders present")
	}
	return checkSplitScript(bad, "reshare", r.Threshold, splitOut{Holders: r.Holders, Delivery: r.Delivery, PassphraseSources: r.PassphraseSources, ReadBack: r.ReadBack})
}

// planReshare validates a reshare against the ledger.
func (e *Engine) planReshare(p *Plan) error {
	s, st := e.Script, e.Ledger.State()
	r := s.Reshare
	b, err := LoadBackup(e.Ledger, r.Backup)
	if err != nil {
		return fmt.Errorf("%s: reshare.backup: %w", s.File, err)
	}
	bs, _ := st.Backup(r.Backup)
	if bs.Destroyed != 0 {
		return fmt.Errorf("%s: reshare.backup: backup %s was destroyed (record %d): there are no shares to reshare", s.File, r.Backup, bs.Destroyed)
	}
	ks := st.Keys[b.KeyID]
	if ks == nil || (ks.State != ledger.KeyActive && ks.State != ledger.KeyDestroyed) {
		return fmt.Errorf("%s: reshare.backup: the key of backup %s is not active or destroyed with this backup outstanding", s.File, r.Backup)
	}
	if seq := compromisedAt(ks); seq > 0 {
		return hint.With(fmt.Errorf("%s: reshare.backup: key %q (%s) was reported compromised (record %d): its backups are not handed on", s.File, ks.Label, ks.ID, seq),
			"rotate it and destroy it, and its backups")
	}
	if len(r.Shares) < b.M {
		return hint.With(fmt.Errorf("%s: reshare.shares: %d listed, backup %q needs %d", s.File, len(r.Shares), b.ID, b.M),
			fmt.Sprintf("at least %d of the current holders %s present their shares", b.M, strings.Join(b.Holders, ", ")))
	}
	for i, src := range r.Shares {
		if _, err := os.Stat(src.File); err != nil {
			return fmt.Errorf("%s: reshare.shares[%d]: %w", s.File, i, err)
		}
	}
	if err := e.checkHolderRoles("reshare", r.Holders); err != nil {
		return err
	}
	if e.deliveries, err = e.planDeliveries("reshare", *e.splitOut()); err != nil {
		return err
	}
	if err := e.checkCards("reshare", *e.splitOut()); err != nil {
		return err
	}
	e.target, e.backupID, e.reshareOf = ks, b.ID, b
	p.KeyID, p.Label = ks.ID, ks.Label
	var leaving []string
	for _, h := range b.Holders {
		if st.Roster.Member(h) == nil {
			leaving = append(leaving, h)
		}
	}
	p.Steps = []string{
		fmt.Sprintf("check the %d shares presented against backup %s's commitments (%d-of-%d, held by %s); each holder presenting signs that they did",
			len(r.Shares), b.ID, b.M, b.N, strings.Join(b.Holders, ", ")),
		fmt.Sprintf("record the intent to reshare backup %s of %s key %q (id %s) %d-of-%d", b.ID, ks.Type, ks.Label, ks.ID, r.Threshold, len(r.Holders)),
		"rebuild the wrapping key from the shares; compare its check value with the ledger's, and have the HSM compute it (a session object, removed at once)",
		fmt.Sprintf("split it anew %d-of-%d among %s into %s: %s", r.Threshold, len(r.Holders), strings.Join(r.Holders, ", "), r.ShareDir, deliverySteps(r.Holders, e.deliveries)),
		fmt.Sprintf("read every new share back and check it; recombine combinations of %d and compare with the wrapping key's check value", r.Threshold),
		fmt.Sprintf("record the new commitments and retire the old ones: no old share of %s is accepted again; the wrapped key on the media is unchanged", b.ID),
		"witnesses co-sign the closing checkpoint",
	}
	if len(leaving) > 0 {
		p.Steps = append(p.Steps, fmt.Sprintf("note: %s left the roster; after this their old shares are worthless to custos", strings.Join(leaving, ", ")))
	}
	return nil
}

// draftReshare loads and checks the presented shares (before any record),
// has each presenting holder sign that they did, and adds the intent's
// facts.
func (e *Engine) draftReshare(facts map[string]any) error {
	r, b := e.Script.Reshare, e.reshareOf
	st := e.Ledger.State()
	if e.presented == nil {
		have := map[int]bool{}
		for i, src := range r.Shares {
			at := fmt.Sprintf("%s: reshare.shares[%d] (%s)", e.Script.File, i, src.File)
			sh, _, err := loadShare(src.File, ShareKey{Identity: src.Identity, PassphraseSource: src.PassphraseSource}, e.Prompt)
			if err != nil {
				e.zeroPresented()
				return fmt.Errorf("%s: %w", at, err)
			}
			if have[sh.Index] {
				err = fmt.Errorf("share %d (holder %s) was already presented", sh.Index, b.Holder(sh.Index))
			} else if cerr := b.CheckShare(st.LedgerID, sh); cerr != nil {
				err = fmt.Errorf("share %d (holder %s) refused: %w", sh.Index, b.Holder(sh.Index), cerr)
			}
			if err != nil {
				sh.Zero()
				e.zeroPresented()
				return hint.With(fmt.Errorf("%s: %w", at, err), "nothing was recorded; bring the holder's current share")
			}
			have[sh.Index] = true
			e.presented = append(e.presented, sh)
			e.say("share %d (holder %s) presented and checked against its commitment", sh.Index, b.Holder(sh.Index))
		}
	}
	presented, err := e.presentations()
	if err != nil {
		return err
	}
	facts["key_id"] = b.KeyID
	facts["label"] = e.plan.Label
	facts["backup_id"] = b.ID
	facts["backup_record"] = b.Seq
	facts["replaces"] = b.SharesSeq
	facts["m"] = int64(r.Threshold)
	facts["n"] = int64(len(r.Holders))
	facts["holders"] = toAny(r.Holders)
	facts["delivery"] = deliveryFacts(e.deliveries)
	facts["presented"] = presented
	if r.Reason != "" {
		facts["reason"] = r.Reason
	}
	return nil
}

// presentations are the presented shares' entries, each signed by its
// holder: signed once per ceremony (an ECDSA signature differs each time,
// and the record drafted must stay the one approved), or taken from the
// request being run when it names the same shares.
func (e *Engine) presentations() ([]any, error) {
	b := e.reshareOf
	st := e.Ledger.State()
	if e.presentedFacts != nil && e.presentedFor == e.plan.Ceremony {
		return e.presentedFacts, nil
	}
	var want []string
	for _, sh := range e.presented {
		want = append(want, fmt.Sprintf("%d %s %s", sh.Index, b.Holder(sh.Index), b.Commits[sh.Index-1]))
	}
	if e.Request != nil {
		l, _ := e.Request.Record.Facts["presented"].([]any)
		var got []string
		for _, x := range l {
			p, _ := x.(map[string]any)
			idx, _ := factInt(p["index"])
			m, _ := p["member"].(string)
			c, _ := p["commitment"].(string)
			got = append(got, fmt.Sprintf("%d %s %s", idx, m, c))
		}
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			e.presentedFacts, e.presentedFor = l, e.plan.Ceremony
			return l, nil
		}
	}
	var presented []any
	for _, sh := range e.presented {
		h := b.Holder(sh.Index)
		sg, err := e.signer(h, "that they presented their share")
		if err != nil {
			return nil, err
		}
		c := b.Commits[sh.Index-1].String()
		sig, err := sg.Sign(ledger.NamespaceSharePresented, ledger.SharePresentedMessage(st.LedgerID, b.ID, int64(sh.Index), h, c, e.plan.Ceremony))
		if err != nil {
			return nil, fmt.Errorf("signature by %s that they presented their share: %w", h, err)
		}
		presented = append(presented, map[string]any{"index": int64(sh.Index), "member": h, "commitment": c, "signature": string(sig)})
	}
	e.presentedFacts, e.presentedFor = presented, e.plan.Ceremony
	return presented, nil
}

func (e *Engine) zeroPresented() {
	shamir.ZeroAll(e.presented)
	e.presented, e.presentedFacts = nil, nil
}

// reshareKeyID is the CKA_ID of the rebuilt wrapping key a reshare of
// backupID loads, for the token to compute its check value.
func reshareKeyID(backupID string) []byte {
	id := wrappingKeyID(backupID)
	id[1] ^= 0xff
	return id
}

// reshare rebuilds the wrapping key, has the token confirm it, splits it
// anew and delivers the shares; it returns backup.reshared.
func (e *Engine) reshare(res *Result) (*ledger.Record, error) {
	r, b := e.Script.Reshare, e.reshareOf
	st := e.Ledger.State()
	if len(e.presented) < b.M {
		return nil, fmt.Errorf("reshare of backup %q: %d shares presented, %d needed", b.ID, len(e.presented), b.M)
	}
	secret, kcv, err := rebuild(b, e.presented, "reshare")
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	// The token computes the check value too, of the key as loaded: a
	// session object, destroyed at once (and gone with the session).
	kid := reshareKeyID(b.ID)
	k, err := e.token.ImportAES(hsm.KeySpec{Label: "custos-reshare-" + hex.EncodeToString(kid[:4]), ID: kid,
		Usage: hsm.Usage{Sign: true}, Ephemeral: true}, secret)
	if err != nil {
		return nil, fmt.Errorf("load the rebuilt wrapping key: %w", err)
	}
	kf, ferr := k.Facts()
	crashPoint("reshare-after-load")
	if _, derr := e.token.Destroy(k); derr != nil {
		return nil, fmt.Errorf("remove the rebuilt wrapping key from token %q: %w", e.token.Info().Label, derr)
	}
	if ferr != nil {
		return nil, fmt.Errorf("check value of the rebuilt wrapping key: %w", ferr)
	}
	if kf.KCVAESCMAC != b.KCV {
		return nil, fmt.Errorf("reshare of backup %q: the token computes check value %s for the rebuilt wrapping key, the ledger recorded %s", b.ID, kf.KCVAESCMAC, b.KCV)
	}
	e.say("rebuilt the wrapping key from shares %s: check value %s matches, on the token too; removed from the token", setNames(e.presented), kcv)

	m, n := r.Threshold, len(r.Holders)
	// New files never meet old ones: named by the ceremony.
	e.shareBase = b.ID + "." + e.plan.Ceremony
	holders, total, checked, err := e.deliverSplit(secret, kcv, m, r.Holders, shamir.Meta{LedgerID: st.LedgerID, BackupID: b.ID}, r.ShareDir, "reshare")
	if err != nil {
		return nil, err
	}
	retired := make([]any, len(b.Holders))
	for i, h := range b.Holders {
		retired[i] = map[string]any{"index": int64(i + 1), "member": h, "commitment": b.Commits[i].String()}
	}
	facts := map[string]any{
		"key_id": b.KeyID, "backup_id": b.ID, "hsm": hsmFacts(e.token),
		"m": int64(m), "n": int64(n), "holders": holders, "retired": retired,
		"wrapping_key_kcv_cmac": kcv,
		"combinations_checked":  int64(checked), "combinations_total": int64(total),
	}
	return e.Ledger.Draft("backup.reshared", e.plan.Ceremony, e.actor(), facts, e.now()), nil
}

// settleReshare: the new shares of an interrupted reshare were never
// recorded, so the old ones stay in force; a rebuilt key left on the
// token is removed.
func settleReshare(t *hsm.Token, oi *ledger.Record) (string, error) {
	id, _ := oi.Facts["backup_id"].(string)
	note, err := removeLeft(t, reshareKeyID(id), "rebuilt wrapping key")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("the reshare of backup %q was not recorded: its old shares stay in force, any new share files written are worthless and must be destroyed", id) + note, nil
}

// retiredShare is a share of an earlier share set of a backup, retired
// by a reshare.
type retiredShare struct {
	commit shamir.Commitment
	index  int
	holder string
	seq    int64
}

// currentShares moves b to the shares in force: those of the last
// backup.reshared, when there is one; and notes the retired ones.
func (b *Backup) currentShares(l *ledger.Ledger) error {
	b.SharesSeq = b.Seq
	bs, ok := l.State().Backup(b.ID)
	if !ok {
		return nil
	}
	for c, r := range bs.Retired {
		pc, err := shamir.ParseCommitment(c)
		if err != nil {
			continue
		}
		b.retired = append(b.retired, retiredShare{commit: pc, index: int(r.Index), holder: r.Holder, seq: r.Seq})
	}
	if bs.SetSeq == 0 || bs.SetSeq == b.Seq {
		return nil
	}
	rec, err := l.Record(bs.SetSeq)
	if err != nil {
		return fmt.Errorf("backup %q: %w", b.ID, err)
	}
	f, err := ledger.FactsAs[struct {
		M, N    int64
		Holders []ledger.ShareHolder
	}](rec)
	if err != nil {
		return fmt.Errorf("backup %q: %w", b.ID, err)
	}
	if len(f.Holders) != int(f.N) || f.M < 2 || f.M > f.N {
		return fmt.Errorf("ledger %s: backup.reshared record %d: m, n or holders are wrong", l.Dir(), rec.Seq)
	}
	b.M, b.N, b.SharesSeq = int(f.M), int(f.N), rec.Seq
	b.Holders = make([]string, b.N)
	b.Commits = make([]shamir.Commitment, b.N)
	for i, h := range f.Holders {
		c, err := shamir.ParseCommitment(h.Commitment)
		if err != nil || h.Index != int64(i+1) {
			return fmt.Errorf("ledger %s: backup.reshared record %d: holders[%d] is wrong", l.Dir(), rec.Seq, i)
		}
		b.Holders[i], b.Commits[i] = h.Member, c
	}
	return nil
}

// retiredAs is the retired share sh is, or nil.
func (b *Backup) retiredAs(sh *shamir.Share) *retiredShare {
	for i := range b.retired {
		if r := &b.retired[i]; r.index == sh.Index && shamir.Check(sh, r.commit) == nil {
			return r
		}
	}
	return nil
}

// retiredErr names a retired share as retired.
func (b *Backup) retiredErr(sh *shamir.Share) error {
	r := b.retiredAs(sh)
	return hint.With(fmt.Errorf("it is share %d of backup %q as %s held it before the reshare of record %d: that share is retired", r.index, b.ID, r.holder, r.seq),
		"the reshare gave out new shares that replace it; destroy this one")
}
