// The fields of the new-ceremony form, per kind, and the script they make.
// Every choice is offered from the ledger (live keys, enrolled tokens,
// roster members and roles, the policy's algorithms and rotation), so the
// script the form writes names nothing the ledger would refuse outright;
// Plan still checks it, as it checks any script.

package tui

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"charm.land/huh/v2"

	"custos/ceremony"
	"custos/internal/ids"
	"custos/internal/termtext"
	"custos/ledger"
)

// formValues are the answers, bound to the fields by pointer, kept when
// the form is opened again to edit them.
type formValues struct {
	kind, ceremony, file, notes string
	// the defaults last offered, replaced when the answers change them
	autoCeremony, autoFile, autoBackupID string
	operator                             string
	witnesses                            []string
	serial, pinSource, soPIN             string

	label, typ, owner, purpose, rotation string
	environment, classification          string // words of the policy's vocabularies, where it has them
	exportable, backup                   bool

	key string // export, backup, destroy, rotate: the label of the key

	retireOn string   // rotate: when the old version retires
	restore  string   // restore: the backup id
	shares   []string // restore: the share files listed, in order

	backupID        string
	holders         []string
	delivery        map[string]*string // holders whose key age cannot encrypt to
	threshold       int
	media, shareDir string
	cards           bool

	recipient, recipientKey, expires, output string

	reason string

	reportedBy string // compromise: the member who reported it

	period, findings string // review

	destroyBackup, mediaDestroyed string // destroy-backup: the backup, how its media were destroyed

	// enroll: the token's label and serial, its certification if any
	tokenLabel, tokenSerial                    string
	validProgram, validCertificate, validLevel string

	// sign (detached): the file, the outputs, the SSH signature's
	// namespace, an RSA key's padding
	signFile, signature, sshsig, namespace, padding string
	// sign: what is signed (detached, or a root certificate of the key)
	// and a root certificate's subject, start, validity and output
	signWhat                                    string
	certCN, certOrg, certCountry, certNotBefore string
	certValidity, certOutput                    string
	// an issuing CA's certificate: its CSR, and (with a CRL) the issuer's
	// certificate; a CRL's number, updates and revoked certificates
	certCSR, certIssuer                     string
	crlNumber, crlThis, crlNext, crlRevoked string
}

// deliveryGroups ask, for each member who may hold a share but whose
// roster key age cannot encrypt a file to (not ssh-ed25519 or ssh-rsa:
// an ECDSA key on a smart card), how their share reaches them; a page
// shows only when that member was ticked.
func (m *Model) deliveryGroups(v *formValues, holders []string) []*huh.Group {
	st := m.led.State()
	if v.delivery == nil {
		v.delivery = map[string]*string{}
	}
	var g []*huh.Group
	for _, h := range holders {
		mem := st.Roster.Member(h)
		if mem == nil || ledger.AgeRecipientKey(mem.Key) {
			continue
		}
		if v.delivery[h] == nil {
			d := ledger.DeliveryPassphrase
			v.delivery[h] = &d
		}
		keyType, _, _ := strings.Cut(mem.Key, " ")
		g = append(g, huh.NewGroup(
			huh.NewSelect[string]().Key("delivery-"+h).Title("How does "+h+"'s share reach them?").
				Description(h+"'s key is "+keyType+": age cannot encrypt a file to it").
				Options(huh.NewOption("passphrase — an age file under a passphrase "+h+" types", ledger.DeliveryPassphrase),
					huh.NewOption("card — a printed word card only", ledger.DeliveryCard)).Value(v.delivery[h]),
		).WithHideFunc(func() bool { return !slices.Contains(v.holders, h) }))
	}
	return g
}

// prefill starts a rotation's new version from the old one, and a
// restore from what its backup recorded.
func (m *Model) prefill(v *formValues, backups []ceremony.RestorableBackup) {
	st := m.led.State()
	switch v.kind {
	case ceremony.KindRotate:
		for _, ks := range ceremony.KeysFor(st, ceremony.KindRotate) {
			if ks.Label != v.key {
				continue
			}
			if v.label == "" {
				v.label = nextLabel(st, ks.Label)
			}
			if v.typ == "" {
				v.typ = ks.Type
			}
			if v.owner == "" {
				v.owner, _ = ks.Facts["owner"].(string)
			}
			if v.purpose == "" {
				v.purpose, _ = ks.Facts["purpose"].(string)
			}
			if v.environment == "" {
				v.environment, _ = ks.Facts["environment"].(string)
			}
			if v.classification == "" {
				v.classification, _ = ks.Facts["classification"].(string)
			}
		}
	case ceremony.KindSign:
		switch v.signWhat {
		case ceremony.SignRootCertificate:
			m.prefillRootCert(v)
			return
		case ceremony.SignIntermediateCertificate, ceremony.SignCRL:
			m.prefillIssued(v)
			return
		}
		// outputs beside the file, named after it, never over a file
		if v.signature == "" && v.sshsig == "" {
			v.signature = freeOutput(v.signFile, ".sig")
			v.sshsig = freeOutput(v.signFile, ".sshsig")
		}
		if v.namespace == "" {
			v.namespace = "file"
		}
	case ceremony.KindRestore:
		for _, b := range backups {
			if b.ID == v.restore && v.shares == nil {
				v.media = b.Media
				for _, f := range b.Files {
					if f != "" {
						v.shares = append(v.shares, f)
					}
				}
			}
		}
	}
}

// detailGroups are the pages of the form for v.kind.
func (m *Model) detailGroups(v *formValues, hsms []ceremony.EnrolledHSM) []*huh.Group {
	st := m.led.State()
	var g []*huh.Group
	if v.rotation == "" {
		v.rotation = "1y"
	}
	switch v.kind {
	case ceremony.KindGenerate, ceremony.KindRotate:
		types := ceremony.ApprovedKeyTypes(st)
		typ := &locked[string]{p: &v.typ}
		g = append(g,
			huh.NewGroup(
				huh.NewInput().Key("label").Title("Label of the new key").Description("how scripts, the HSM and the ledger name it").Value(&v.label).Validate(func(s string) error {
					if !ids.Valid(s) {
						return errors.New(ids.Rule)
					}
					if !ceremony.LabelFree(st, s) {
						return fmt.Errorf("%q already names a live key", s)
					}
					return nil
				}),
				huh.NewSelect[string]().Key("type").Title("Key type").Description("the policy's approved algorithms").Options(huh.NewOptions(types...)...).Accessor(typ),
			),
			huh.NewGroup(
				huh.NewInput().Key("owner").Title("Owner").Description("who the key belongs to, e.g. payments").Value(&v.owner).Validate(required),
				huh.NewInput().Key("purpose").Title("Purpose").Description("what it is for, in words").Value(&v.purpose).Validate(required),
			),
			huh.NewGroup(
				vocabField(st.Policy.Environments, "environment", "Environment", "e.g. production, staging", &v.environment),
				vocabField(st.Policy.Classifications, "classification", "Classification", "e.g. confidential, internal", &v.classification),
			),
			huh.NewGroup(
				huh.NewSelect[string]().Key("rotation").Title("Rotation").DescriptionFunc(func() string { return rotationNote(st, typ.Get()) }, &v.typ).
					OptionsFunc(func() []huh.Option[string] { return rotationChoices(st, typ.Get()) }, &v.typ).Value(&v.rotation),
			),
			huh.NewGroup(
				huh.NewConfirm().Key("exportable").Title("Exportable?").Description("extractable, but only under a trusted wrapping key").Value(&v.exportable),
				huh.NewConfirm().Key("backup").Title("To be backed up?").Description("a backup ceremony can then split it among holders").Value(&v.backup).
					Validate(func(b bool) error {
						if b && v.typ == "ed25519" {
							return errors.New("an ed25519 key cannot be wrapped for backup on this kind of HSM")
						}
						return nil
					}),
			),
		)
	case ceremony.KindBackup:
		holders := ceremony.ShareHolders(st)
		chosen := &locked[[]string]{p: &v.holders}
		g = append(g,
			huh.NewGroup(
				keySelect(st, v.kind, &v.key, "Key to back up"),
			),
			huh.NewGroup(
				huh.NewMultiSelect[string]().Key("holders").Title("Share holders").Description("space: tick · shares 1, 2, … go in this order").
					Options(huh.NewOptions(holders...)...).Height(min(len(holders), 8)+3).Accessor(chosen).Validate(func(h []string) error {
					if len(h) < 2 {
						return errors.New("tick at least two holders")
					}
					return nil
				}),
				huh.NewSelect[int]().Key("threshold").Title("Threshold").Description("shares needed to restore").
					OptionsFunc(func() []huh.Option[int] { return thresholdChoices(len(chosen.Get())) }, &v.holders).Height(min(len(holders), 6)+2).Value(&v.threshold),
			),
			huh.NewGroup(
				newPath("Medium for the wrapped key", "a new file, e.g. /media/backup/KEY.bk1.wrapped", &v.media).Key("media"),
				huh.NewInput().Key("sharedir").Title("Directory for the share files").Description("one age file per holder").Value(&v.shareDir).Validate(required),
				huh.NewConfirm().Key("cards").Title("Word cards too?").Description("each holder also gets a printable card, alone at the screen").Value(&v.cards),
			),
		)
		g = append(g, m.deliveryGroups(v, holders)...)
	case ceremony.KindExport:
		g = append(g,
			huh.NewGroup(
				keySelect(st, v.kind, &v.key, "Key to export"),
				huh.NewInput().Key("recipient").Title("Recipient").Description("who receives it").Suggestions(ceremony.PastRecipients(m.led)).Value(&v.recipient).Validate(required),
				huh.NewInput().Key("recipientkey").Title("Recipient's RSA public key").Description("a PEM file: PUBLIC KEY or CERTIFICATE").Value(&v.recipientKey).Validate(func(p string) error {
					_, err := ceremony.CheckRecipientKey(p)
					return err
				}),
			),
			huh.NewGroup(
				huh.NewInput().Key("purpose").Title("Purpose").Value(&v.purpose).Validate(required),
				huh.NewInput().Key("expires").Title("Expires").Description("YYYY-MM-DD, in the future").Value(&v.expires).Validate(m.futureDate),
				newPath("Output file", "the wrapped key, a new file", &v.output).Key("output"),
			),
		)
	case ceremony.KindRestore:
		g = append(g, huh.NewGroup(
			huh.NewInput().Key("media").Title("The wrapped key's medium").Description("the file the backup wrote; it is checked against the ledger").Value(&v.media).Validate(func(p string) error {
				_, err := os.Stat(p)
				return err
			}),
			huh.NewMultiSelect[string]().Key("shares").Title("Share files offered at the share screen").
				Description("space: tick · a holder may bring a card or another file there instead").
				Options(huh.NewOptions(v.shares...)...).Height(min(len(v.shares), 8)+3).Value(&v.shares).Validate(func(f []string) error {
				for _, b := range m.form.backups {
					if b.ID == v.restore && len(f) < b.M {
						return fmt.Errorf("list at least %d (the backup's threshold); holders may bring others to the share screen", b.M)
					}
				}
				return nil
			}),
		))
	case ceremony.KindSign:
		g = append(g, m.signGroups(v)...)
	case ceremony.KindDestroy:
		g = append(g, huh.NewGroup(
			keySelect(st, v.kind, &v.key, "Key to destroy"),
			huh.NewInput().Key("reason").Title("Reason").Description("recorded in the ledger").Value(&v.reason).Validate(required),
		))
	case ceremony.KindCompromise:
		g = append(g, huh.NewGroup(
			keySelect(st, v.kind, &v.key, "Key reported compromised"),
			huh.NewInput().Key("reason").Title("What happened").Description("recorded in the ledger").Value(&v.reason).Validate(required),
			huh.NewSelect[string]().Key("reportedby").Title("Reported by").Description("the member who reported it").Options(witnessChoices(st)...).Value(&v.reportedBy),
		))
	case ceremony.KindDestroyBackup:
		g = append(g, huh.NewGroup(
			huh.NewSelect[string]().Key("destroybackup").Title("Backup destroyed").Description("each holder then signs that their share is destroyed").
				Options(backupChoices(m.form.backups)...).Value(&v.destroyBackup),
			huh.NewInput().Key("mediadestroyed").Title("How the media were destroyed").Description("for the minutes, e.g. USB stick shredded before alice and bob").
				Value(&v.mediaDestroyed).Validate(required),
		))
	case ceremony.KindReview:
		if v.period == "" {
			now := m.opts.Now().UTC()
			v.period = fmt.Sprintf("%d-Q%d", now.Year(), (int(now.Month())+2)/3)
		}
		g = append(g, huh.NewGroup(
			huh.NewInput().Key("period").Title("Period reviewed").Description("e.g. 2026-Q4").Value(&v.period).Validate(required),
			huh.NewText().Key("findings").Title("Findings").Description("what the review found; \"none\" when nothing").Lines(3).Value(&v.findings).Validate(required),
		))
	}
	var hsmOpts []huh.Option[string]
	for _, h := range hsms {
		hsmOpts = append(hsmOpts, huh.NewOption(fmt.Sprintf("%s · serial %s · %s (record %d)", termtext.Printable(h.Label), termtext.Printable(h.Serial), termtext.Printable(h.Model), h.Seq), h.Serial))
	}
	token := []huh.Field{
		huh.NewSelect[string]().Key("token").Title("Token").Description("the ledger's enrolled HSMs").Options(hsmOpts...).Value(&v.serial),
		pinSource("User PIN", &v.pinSource).Key("pin"),
	}
	if v.kind == ceremony.KindEnroll {
		token = []huh.Field{
			huh.NewInput().Key("tokenlabel").Title("Token label").Description("as the token reports it (custos hsm info lists them)").Value(&v.tokenLabel).Validate(func(s string) error {
				_, err := ceremony.EnrollURI(s, "", "")
				return err
			}),
			huh.NewInput().Key("tokenserial").Title("Token serial").Description("optional: read off the device; the HSM step checks it").Value(&v.tokenSerial),
			pinSource("User PIN", &v.pinSource).Key("pin"),
		}
	}
	if v.kind == ceremony.KindBackup || v.kind == ceremony.KindExport {
		token = append(token, pinSource("Security officer PIN (imports the wrapping key)", &v.soPIN).Key("sopin"))
	}
	ops := ceremony.Operators(st, v.kind)
	if !slices.Contains(ops, v.operator) && len(ops) > 0 {
		v.operator = ops[0]
	}
	g = append(g,
		huh.NewGroup(
			huh.NewSelect[string]().Key("operator").Title("Operator").Description("at the keyboard; signs every record").Options(huh.NewOptions(ops...)...).Value(&v.operator),
			huh.NewMultiSelect[string]().Key("witnesses").Title("Witnesses").Description("space: tick · present in the room; co-sign the checkpoint").
				Options(witnessChoices(st)...).Height(min(len(st.Roster.Members), 8)+3).Value(&v.witnesses).
				Validate(func(w []string) error {
					if slices.Contains(w, v.operator) {
						return fmt.Errorf("%s operates: a witness is a second person", v.operator)
					}
					return nil
				}),
		),
	)
	if !ceremony.NeedsHSM(v.kind) {
		return g // a decision recorded: no token, no PIN
	}
	g = append(g, huh.NewGroup(token...))
	if v.kind == ceremony.KindEnroll {
		g = append(g, m.validationGroups(v)...)
	}
	return g
}

// locked is a form value that huh's dynamic options and descriptions read
// from their own goroutine (huh runs OptionsFunc and DescriptionFunc as
// commands) while its field writes it in Update: both go through the lock.
type locked[T any] struct {
	mu sync.Mutex
	p  *T
}

func (l *locked[T]) Get() T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return *l.p
}

func (l *locked[T]) Set(v T) {
	l.mu.Lock()
	*l.p = v
	l.mu.Unlock()
}
