// The first page of the new-ceremony form: which ceremony, offered only
// when the ledger holds something it can act on, and for some kinds what
// the later pages start from (the key, the backup, what is signed).

package tui

import (
	"errors"
	"fmt"
	"strings"

	"charm.land/huh/v2"

	"custos/ceremony"
	"custos/internal/termtext"
	"custos/ledger"
)

// kindChoices are the ceremonies the form offers on this ledger: each one
// only when the ledger holds something it could act on. With no enrolled
// HSM, an enrolment first (every ceremony on a token needs one) and the
// access review, which needs no token.
func kindChoices(st *ledger.State, backups []ceremony.RestorableBackup, enrolled bool) []huh.Option[string] {
	enroll := huh.NewOption("enroll — record an HSM in the ledger, so ceremonies may use it", ceremony.KindEnroll)
	review := len(ceremony.Operators(st, ceremony.KindReview)) > 0
	if !enrolled {
		out := []huh.Option[string]{enroll}
		if review {
			out = append(out, huh.NewOption(reviewLabel, ceremony.KindReview))
		}
		return out
	}
	has := func(kind string) bool { return len(ceremony.KeysFor(st, kind)) > 0 }
	offers := []struct {
		label, kind string
		offered     bool
	}{
		{"generate — a new key inside the HSM", ceremony.KindGenerate, true},
		{"backup — split a key's backup among share holders", ceremony.KindBackup, has(ceremony.KindBackup) && len(ceremony.ShareHolders(st)) >= 2},
		{"export — wrap a key to a recipient", ceremony.KindExport, has(ceremony.KindExport)},
		{"rotate — a new version of a key; the old one retires", ceremony.KindRotate, has(ceremony.KindRotate)},
		{"restore — a key from its backup, shares entered here", ceremony.KindRestore, len(backups) > 0},
		{"sign — a file, a certificate or a CRL, by a key pair", ceremony.KindSign, has(ceremony.KindSign)},
		{"destroy — a key, on the HSM, for good", ceremony.KindDestroy, has(ceremony.KindDestroy)},
		{"compromise — report a key compromised; later use refused", ceremony.KindCompromise, has(ceremony.KindCompromise)},
		{"destroy-backup — a backup's media and every share, destroyed", ceremony.KindDestroyBackup, len(backups) > 0},
		{reviewLabel, ceremony.KindReview, review},
	}
	var out []huh.Option[string]
	for _, o := range offers {
		if o.offered {
			out = append(out, huh.NewOption(o.label, o.kind))
		}
	}
	return append(out, enroll)
}

const reviewLabel = "review — the periodic access review, signed by an officer"

// kindGroups are the first pages: the kind, and for a rotation the key it
// replaces, for a restore the backup, for a signature the key and the
// file, so the pages after can start from what they hold.
func (m *Model) kindGroups(v *formValues, backups []ceremony.RestorableBackup, enrolled bool) []*huh.Group {
	st := m.led.State()
	bk := backupChoices(backups)
	return []*huh.Group{
		huh.NewGroup(
			huh.NewSelect[string]().Key("kind").Title("Which ceremony?").
				Description("offered when the ledger holds something it can act on").
				Options(kindChoices(st, backups, enrolled)...).Value(&v.kind),
		),
		huh.NewGroup(
			keySelect(st, ceremony.KindRotate, &v.key, "Key to rotate"),
			huh.NewInput().Key("retire").Title("Retire the old version on").Description("YYYY-MM-DD; after it, destroy it").Value(&v.retireOn).Validate(m.futureDate),
		).WithHideFunc(func() bool { return v.kind != ceremony.KindRotate }),
		huh.NewGroup(
			huh.NewSelect[string]().Key("restore").Title("Backup to restore from").Description("the ledger's backups that are not destroyed").Options(bk...).Value(&v.restore),
		).WithHideFunc(func() bool { return v.kind != ceremony.KindRestore }),
		huh.NewGroup(
			keySelect(st, ceremony.KindSign, &v.key, "Key to sign with"),
			huh.NewSelect[string]().Key("signwhat").Title("What does the key sign?").
				Options(huh.NewOption("a file — a detached signature", ceremony.SignDetached),
					huh.NewOption("its own root certificate — self-signed, linted by zlint first", ceremony.SignRootCertificate),
					huh.NewOption("an issuing CA's certificate, from its CSR — linted first", ceremony.SignIntermediateCertificate),
					huh.NewOption("a CRL — the certificates it revokes", ceremony.SignCRL)).Value(&v.signWhat),
		).WithHideFunc(func() bool { return v.kind != ceremony.KindSign }),
		huh.NewGroup(
			huh.NewInput().Key("signfile").Title("File to sign").Description("a regular file of at most 64 MiB; its SHA-256 goes in the intent").
				Value(&v.signFile).Validate(func(p string) error {
				if strings.TrimSpace(p) == "" {
					return errors.New("required")
				}
				return ceremony.CheckSignInput(p)
			}),
		).WithHideFunc(func() bool { return v.kind != ceremony.KindSign || v.signWhat != ceremony.SignDetached }),
	}
}

// backupChoices are the backups not destroyed, each with its key, M of N
// and holders.
func backupChoices(backups []ceremony.RestorableBackup) []huh.Option[string] {
	var bk []huh.Option[string]
	for _, b := range backups {
		bk = append(bk, huh.NewOption(fmt.Sprintf("%s · key %s (%s) · %d of %d: %s", termtext.Printable(b.ID), termtext.Printable(b.KeyLabel), b.KeyState, b.M, b.N, termtext.Printable(strings.Join(b.Holders, ", "))), b.ID))
	}
	return bk
}
