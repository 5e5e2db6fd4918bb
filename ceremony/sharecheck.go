package ceremony

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"custos/internal/hint"
	"custos/ledger"
	"custos/shamir"
	"custos/sign"
)

// ShareCheckOptions say whose share is checked, against which backup.
type ShareCheckOptions struct {
	Backup string // backup id
	// Holder is the member who brings the share; they sign share.verified.
	Holder string
	// Share is the share as the holder brings it, in memory: the bytes of
	// their age file (opened with Identity, their OpenSSH private key
	// file, or for a share encrypted to a passphrase with the passphrase
	// from PassphraseSource, else asked through Prompt), of a text form or
	// of a word card; the check zeroes it. ShareName names it in messages
	// (the file it was read from).
	Share               []byte
	ShareName, Identity string
	PassphraseSource    string
	Signers             map[string]sign.Signer
	Prompt              Prompter
	Now                 func() time.Time
	Progress            io.Writer
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
	defer clear(o.Share)
	unlock, err := lockLedger(l, "share-check", 0, o.Progress)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st := l.State()
	if p := st.Pending(); p != nil {
		return nil, hint.With(fmt.Errorf("ledger %s: ceremony %s was interrupted after %s (record %d) and is not closed", l.Dir(), p.Ceremony, p.Opening.Kind, p.Opening.Seq),
			"run custos resume first")
	}
	// Every key given is checked against the roster before anything is
	// read or recorded, as a ceremony's are.
	for _, name := range slices.Sorted(maps.Keys(o.Signers)) {
		if err := CheckSigner(st, name, o.Signers[name]); err != nil {
			return nil, fmt.Errorf("share check: key of %s: %w", name, err)
		}
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
	sh, err := b.CheckOwnShare(st.LedgerID, o.Holder, o.ShareName, o.Share, ShareKey{Identity: o.Identity, PassphraseSource: o.PassphraseSource}, o.Prompt)
	if err != nil {
		return nil, err
	}
	defer sh.Zero()
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

// CheckOwnShare opens a holder's share from the bytes they bring (their
// age file, decrypted with their own key file identity; or a text form or
// card) and checks that it is intact and theirs: a share of this backup,
// matching the ledger's commitment, the one the backup gave holder. It
// records nothing; the caller zeroes the share it returns.
func (b *Backup) CheckOwnShare(ledgerID, holder, what string, data []byte, k ShareKey, p Prompter) (*shamir.Share, error) {
	sh, _, err := OpenShare(what, data, k, p)
	if err != nil {
		return nil, fmt.Errorf("share check of %s: %w", holder, err)
	}
	if err := b.CheckShare(ledgerID, sh); err != nil {
		sh.Zero()
		return nil, fmt.Errorf("share check: %s: share %d (holder %s) refused: %w", what, sh.Index, b.Holder(sh.Index), err)
	}
	if h := b.Holder(sh.Index); h != holder {
		sh.Zero()
		return nil, hint.With(fmt.Errorf("share check: %s is share %d of backup %q, which was given to %s, not %s", what, sh.Index, b.ID, h, holder),
			"each holder checks their own share")
	}
	return sh, nil
}
