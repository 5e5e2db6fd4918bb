package ceremony

import (
	"fmt"
	"io"
	"time"

	"custos/hint"
	"custos/ledger"
	"custos/sign"
)

// ShareCheckOptions say whose share is checked, against which backup.
type ShareCheckOptions struct {
	Backup string // backup id
	// Holder is the member who brings the share; they sign share.verified.
	Holder string
	// Share is the share file (age file, text form or word card); Identity
	// the holder's OpenSSH private key to open an age file.
	Share, Identity string
	// PassphraseSource (file:PATH) opens a share encrypted to a
	// passphrase; without it the passphrase is asked through Prompt.
	PassphraseSource string
	Signers          map[string]sign.Signer
	Prompt           Prompter
	Now              func() time.Time
	Progress         io.Writer
}

// ShareCheckResult is what a share check recorded.
type ShareCheckResult struct {
	Ceremony string
	Index    int
	Seq      int64
}

// CheckShareHeld is the periodic share check: a holder shows their share is
// intact (its checksum) and theirs (the ledger's commitment for the index the
// backup gave them), without combining anything; share.verified records it,
// signed by the holder. Nothing touches an HSM.
func CheckShareHeld(l *ledger.Ledger, o ShareCheckOptions) (*ShareCheckResult, error) {
	unlock, err := lockLedger(l, "share-check", 0, o.Progress)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st := l.State()
	if oi := st.OpenIntent; oi != nil {
		return nil, hint.With(fmt.Errorf("ledger %s: ceremony %s was interrupted: %s (record %d) has no outcome", l.Dir(), oi.Ceremony, oi.Kind, oi.Seq),
			"run custos resume first")
	}
	b, err := LoadBackup(l, o.Backup)
	if err != nil {
		return nil, err
	}
	ks := st.Keys[b.KeyID]
	if ks == nil || ks.State != ledger.KeyActive {
		state := "unknown"
		if ks != nil {
			state = ks.State
		}
		return nil, fmt.Errorf("backup %q is of key %s, which is %s: its shares need no check", b.ID, b.KeyID, state)
	}
	if st.Roster.Member(o.Holder) == nil {
		return nil, fmt.Errorf("share check: %q is not a member of the roster", o.Holder)
	}
	holderSigner := o.Signers[o.Holder]
	if holderSigner == nil {
		return nil, hint.With(fmt.Errorf("share check: no key for %s, who signs the check of their share", o.Holder), "add --key "+o.Holder+"=REF")
	}
	sh, _, err := loadShare(o.Share, ShareKey{Identity: o.Identity, PassphraseSource: o.PassphraseSource}, o.Prompt)
	if err != nil {
		return nil, fmt.Errorf("share check of %s: %w", o.Holder, err)
	}
	defer sh.Zero()
	if err := b.CheckShare(st.LedgerID, sh); err != nil {
		return nil, fmt.Errorf("share check: %s: share %d (holder %s) refused: %w", o.Share, sh.Index, b.Holder(sh.Index), err)
	}
	if h := b.Holder(sh.Index); h != o.Holder {
		return nil, hint.With(fmt.Errorf("share check: %s is share %d of backup %q, which was given to %s, not %s", o.Share, sh.Index, b.ID, h, o.Holder),
			"each holder checks their own share")
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t := now().UTC()
	cer := fmt.Sprintf("share-check-%s-%d-%s", b.ID, sh.Index, t.Format("20060102T150405Z"))
	if len(cer) > 64 {
		cer = fmt.Sprintf("share-check-%d-%s", sh.Index, t.Format("20060102T150405Z"))
	}
	facts := map[string]any{
		"key_id": b.KeyID, "backup_id": b.ID, "index": int64(sh.Index), "holder": o.Holder,
		"commitment": b.Commits[sh.Index-1].String(), "backup_record": b.Seq,
		"checked": "envelope checksum and ledger commitment",
	}
	rec := l.Draft("share.verified", cer, o.Holder, facts, t)
	e := &Engine{Ledger: l, Signers: o.Signers, Progress: o.Progress}
	approvals, err := e.Approve(rec)
	if err != nil {
		return nil, err
	}
	if _, err := l.Append(rec, holderSigner, approvals); err != nil {
		return nil, err
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "share %d of backup %s, held by %s, is intact and matches its commitment; recorded share.verified (record %d)\n",
			sh.Index, b.ID, o.Holder, rec.Seq)
	}
	return &ShareCheckResult{Ceremony: cer, Index: sh.Index, Seq: rec.Seq}, nil
}
