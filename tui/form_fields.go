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
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

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
	operator                    string
	witnesses                   []string
	serial, pinSource, soPIN    string

	label, typ, owner, purpose, rotation string
	exportable, backup                   bool

	key string // export, backup, destroy: the label of the key

	backupID        string
	holders         []string
	threshold       int
	media, shareDir string
	cards           bool

	recipient, recipientKey, expires, output string

	reason string
}

// kindChoices are the ceremonies the form offers on this ledger: each one
// only when the ledger holds something it could act on.
func kindChoices(st *ledger.State) []huh.Option[string] {
	out := []huh.Option[string]{huh.NewOption("generate — a new key inside the HSM", ceremony.KindGenerate)}
	if len(ceremony.KeysFor(st, ceremony.KindBackup)) > 0 && len(ceremony.ShareHolders(st)) >= 2 {
		out = append(out, huh.NewOption("backup — split a key's backup among share holders", ceremony.KindBackup))
	}
	if len(ceremony.KeysFor(st, ceremony.KindExport)) > 0 {
		out = append(out, huh.NewOption("export — wrap a key to a recipient", ceremony.KindExport))
	}
	if len(ceremony.KeysFor(st, ceremony.KindDestroy)) > 0 {
		out = append(out, huh.NewOption("destroy — a key, on the HSM, for good", ceremony.KindDestroy))
	}
	return out
}

// detailGroups are the pages of the form for v.kind.
func (m *Model) detailGroups(v *formValues, hsms []ceremony.EnrolledHSM) []*huh.Group {
	st := m.led.State()
	var g []*huh.Group
	if v.rotation == "" {
		v.rotation = "1y"
	}
	switch v.kind {
	case ceremony.KindGenerate:
		types := ceremony.ApprovedKeyTypes(st)
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
				huh.NewSelect[string]().Key("type").Title("Key type").Description("the policy's approved algorithms").Options(huh.NewOptions(types...)...).Value(&v.typ),
			),
			huh.NewGroup(
				huh.NewInput().Key("owner").Title("Owner").Description("who the key belongs to, e.g. payments").Value(&v.owner).Validate(required),
				huh.NewInput().Key("purpose").Title("Purpose").Description("what it is for, in words").Value(&v.purpose).Validate(required),
			),
			huh.NewGroup(
				huh.NewSelect[string]().Key("rotation").Title("Rotation").DescriptionFunc(func() string { return rotationNote(st, v.typ) }, &v.typ).
					OptionsFunc(func() []huh.Option[string] { return rotationChoices(st, v.typ) }, &v.typ).Value(&v.rotation),
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
		g = append(g,
			huh.NewGroup(
				keySelect(st, v, "Key to back up"),
			),
			huh.NewGroup(
				huh.NewMultiSelect[string]().Key("holders").Title("Share holders").Description("space: tick · shares 1, 2, … go in this order").
					Options(huh.NewOptions(holders...)...).Height(min(len(holders), 8)+3).Value(&v.holders).Validate(func(h []string) error {
					if len(h) < 2 {
						return errors.New("tick at least two holders")
					}
					return nil
				}),
				huh.NewSelect[int]().Key("threshold").Title("Threshold").Description("shares needed to restore").
					OptionsFunc(func() []huh.Option[int] { return thresholdChoices(len(v.holders)) }, &v.holders).Height(min(len(holders), 6)+2).Value(&v.threshold),
			),
			huh.NewGroup(
				newPath("Medium for the wrapped key", "a new file, e.g. /media/backup/KEY.bk1.wrapped", &v.media).Key("media"),
				huh.NewInput().Key("sharedir").Title("Directory for the share files").Description("one age file per holder").Value(&v.shareDir).Validate(required),
				huh.NewConfirm().Key("cards").Title("Word cards too?").Description("each holder also gets a printable card, alone at the screen").Value(&v.cards),
			),
		)
	case ceremony.KindExport:
		g = append(g,
			huh.NewGroup(
				keySelect(st, v, "Key to export"),
				huh.NewInput().Key("recipient").Title("Recipient").Description("who receives it").Suggestions(ceremony.PastRecipients(m.led)).Value(&v.recipient).Validate(required),
				huh.NewInput().Key("recipientkey").Title("Recipient's RSA public key").Description("a PEM file: PUBLIC KEY or CERTIFICATE").Value(&v.recipientKey).Validate(func(p string) error {
					_, err := ceremony.CheckRecipientKey(p)
					return err
				}),
			),
			huh.NewGroup(
				huh.NewInput().Key("purpose").Title("Purpose").Value(&v.purpose).Validate(required),
				huh.NewInput().Key("expires").Title("Expires").Description("YYYY-MM-DD, in the future").Value(&v.expires).Validate(func(s string) error {
					d, err := time.Parse(time.DateOnly, s)
					if err != nil {
						return errors.New("want a date like 2027-01-31")
					}
					if !d.After(m.opts.Now().AddDate(0, 0, -1)) {
						return errors.New("set a future date")
					}
					return nil
				}),
				newPath("Output file", "the wrapped key, a new file", &v.output).Key("output"),
			),
		)
	case ceremony.KindDestroy:
		g = append(g, huh.NewGroup(
			keySelect(st, v, "Key to destroy"),
			huh.NewInput().Key("reason").Title("Reason").Description("recorded in the ledger").Value(&v.reason).Validate(required),
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
	if v.kind == ceremony.KindBackup || v.kind == ceremony.KindExport {
		token = append(token, pinSource("Security officer PIN (imports the wrapping key)", &v.soPIN).Key("sopin"))
	}
	ops := ceremony.Operators(st, v.kind)
	if !slices.Contains(ops, v.operator) && len(ops) > 0 {
		v.operator = ops[0]
	}
	return append(g,
		huh.NewGroup(
			huh.NewSelect[string]().Key("operator").Title("Operator").Description("at the keyboard; signs every record").Options(huh.NewOptions(ops...)...).Value(&v.operator),
			huh.NewMultiSelect[string]().Key("witnesses").Title("Witnesses").Description("space: tick · present in the room; co-sign the checkpoint").
				OptionsFunc(func() []huh.Option[string] { return witnessChoices(st, v.operator) }, &v.operator).
				Height(min(len(st.Roster.Members), 8)+3).Value(&v.witnesses),
		),
		huh.NewGroup(token...),
	)
}

// nameGroup is the last page: the ceremony id and the file the script is
// saved as, defaults made from the choices so far.
func (m *Model) nameGroup(v *formValues) *huh.Group {
	st := m.led.State()
	if v.ceremony == "" {
		what := v.key
		if v.kind == ceremony.KindGenerate {
			what = v.label
		}
		v.ceremony = freeCeremonyID(st, v.kind+"-"+what)
	}
	if v.file == "" {
		v.file = m.freeFile(v.ceremony + ".yaml")
	}
	fields := []huh.Field{huh.NewInput().Key("ceremony").Title("Ceremony id").Description("unique in this ledger").Value(&v.ceremony).Validate(func(s string) error {
		if !ids.Valid(s) {
			return errors.New(ids.Rule)
		}
		if seq, used := st.CeremonyUsed(s); used {
			return fmt.Errorf("already used in this ledger (record %d)", seq)
		}
		return nil
	})}
	if v.kind == ceremony.KindBackup {
		if v.backupID == "" {
			v.backupID = freeBackupID(st, v.key)
		}
		fields = append(fields, huh.NewInput().Key("backupid").Title("Backup id").Description("named in every share and in the ledger").Value(&v.backupID).Validate(func(s string) error {
			if !ids.Valid(s) {
				return errors.New(ids.Rule)
			}
			if seq, ok := st.Backups[s]; ok {
				return fmt.Errorf("backup %s already exists (record %d)", s, seq)
			}
			return nil
		}))
	}
	fields = append(fields,
		huh.NewInput().Key("notes").Title("Notes").Description("optional, kept in the script").Value(&v.notes),
		huh.NewInput().Key("file").Title("Save the script as").Description("a new file in "+m.workspace()+"; never over a file").Value(&v.file).Validate(func(p string) error {
			if strings.TrimSpace(p) == "" {
				return errors.New("required")
			}
			if _, err := os.Lstat(m.wsPath(p)); err == nil {
				return fmt.Errorf("%s already exists; custos never writes over a file", m.wsPath(p))
			}
			return nil
		}))
	return huh.NewGroup(fields...)
}

// freeBackupID is KEY.bk1, or .bk2 … the first not used.
func freeBackupID(st *ledger.State, key string) string {
	for i := 1; ; i++ {
		id := fmt.Sprintf("%s.bk%d", key, i)
		if _, used := st.Backups[id]; !used || !ids.Valid(id) {
			return id
		}
	}
}

// script is the ceremony script the answers make.
func (m *Model) script(v *formValues) (*ceremony.Script, error) {
	s := &ceremony.Script{Kind: v.kind, Ceremony: v.ceremony, Operator: v.operator, Witnesses: v.witnesses, Notes: strings.TrimSpace(v.notes)}
	hsms, err := ceremony.EnrolledHSMs(m.led, v.pinSource)
	if err != nil {
		return nil, err
	}
	for _, h := range hsms {
		if h.Serial == v.serial {
			s.HSM = h.URI
		}
	}
	if v.kind == ceremony.KindBackup || v.kind == ceremony.KindExport {
		s.SOPINSource = v.soPIN
	}
	switch v.kind {
	case ceremony.KindGenerate:
		k := &ceremony.KeyPlan{Label: v.label, Type: v.typ, Owner: v.owner, Purpose: v.purpose, Exportable: v.exportable, Backup: v.backup}
		if v.rotation != "" && v.rotation != noRotation {
			if err := k.Rotation.UnmarshalText([]byte(v.rotation)); err != nil {
				return nil, err
			}
		}
		s.Key = k
	case ceremony.KindBackup:
		s.Backup = &ceremony.BackupPlan{Key: v.key, ID: v.backupID, Threshold: v.threshold, Holders: v.holders, Media: v.media, ShareDir: v.shareDir, Cards: v.cards}
	case ceremony.KindExport:
		d, err := time.Parse(time.DateOnly, v.expires)
		if err != nil {
			return nil, fmt.Errorf("expires: %w", err)
		}
		s.Export = &ceremony.ExportPlan{Key: v.key, Recipient: v.recipient, RecipientKey: v.recipientKey, Purpose: v.purpose, Expires: ceremony.Date{Time: d}, Output: v.output}
	case ceremony.KindDestroy:
		s.Destroy = &ceremony.DestroyPlan{Key: v.key, Reason: v.reason}
	}
	return s, nil
}

func keySelect(st *ledger.State, v *formValues, title string) *huh.Select[string] {
	var opts []huh.Option[string]
	for _, ks := range ceremony.KeysFor(st, v.kind) {
		opts = append(opts, huh.NewOption(fmt.Sprintf("%s · %s · id %s", termtext.Printable(ks.Label), termtext.Printable(ks.Type), short(ks.ID, 12)), ks.Label))
	}
	return huh.NewSelect[string]().Key("key").Title(title).Description("the ledger's live keys this ceremony may take").Options(opts...).Value(&v.key)
}

// rotationChoices are periods up to the policy's for the key type; none
// only when the policy sets no period for it.
func rotationChoices(st *ledger.State, typ string) []huh.Option[string] {
	most := ledger.PeriodDays(st.Policy.Rotation[typ])
	var out []huh.Option[string]
	for _, p := range []string{"30d", "90d", "180d", "1y", "2y", "3y", "5y"} {
		if most == 0 || ledger.PeriodDays(p) <= most {
			out = append(out, huh.NewOption(p, p))
		}
	}
	if most == 0 {
		return append(out, huh.NewOption("none", noRotation))
	}
	if p := st.Policy.Rotation[typ]; !slices.ContainsFunc(out, func(o huh.Option[string]) bool { return ledger.PeriodDays(o.Value) == most }) {
		out = append(out, huh.NewOption(p, p))
	}
	return out
}

// noRotation is the choice of no rotation period (rotation left out).
const noRotation = "none"

func rotationNote(st *ledger.State, typ string) string {
	if p := st.Policy.Rotation[typ]; p != "" {
		return "the policy allows " + typ + " keys at most " + p
	}
	return "the policy sets no period for " + typ
}

func thresholdChoices(n int) []huh.Option[int] {
	var out []huh.Option[int]
	for m := 2; m <= max(2, n); m++ {
		out = append(out, huh.NewOption(fmt.Sprintf("%d of %d", m, n), m))
	}
	return out
}

func witnessChoices(st *ledger.State, operator string) []huh.Option[string] {
	var out []huh.Option[string]
	for _, mem := range st.Roster.Members {
		if mem.Name != operator {
			out = append(out, huh.NewOption(mem.Name+" ("+strings.Join(mem.Roles, ",")+")", mem.Name))
		}
	}
	return out
}

func pinSource(title string, v *string) *huh.Input {
	return huh.NewInput().Title(title).Description("blank: typed at the masked prompt · or file:PATH").Value(v).Validate(func(s string) error {
		if s != "" && !strings.HasPrefix(s, "file:") {
			return errors.New("want file:PATH, or leave it blank; a PIN is never written in a script")
		}
		return nil
	})
}

// newPath is a path that must not exist yet: custos never writes over a file.
func newPath(title, desc string, v *string) *huh.Input {
	return huh.NewInput().Title(title).Description(desc).Value(v).Validate(func(p string) error {
		if strings.TrimSpace(p) == "" {
			return errors.New("required")
		}
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; custos never writes over a file", p)
		}
		return nil
	})
}

func required(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("required")
	}
	return nil
}

// freeCeremonyID is base, or base-2, base-3 … the first not used.
func freeCeremonyID(st *ledger.State, base string) string {
	if len(base) > ids.MaxLen-4 {
		base = base[:ids.MaxLen-4]
	}
	id := base
	for i := 2; ; i++ {
		if _, used := st.CeremonyUsed(id); !used {
			return id
		}
		id = base + "-" + strconv.Itoa(i)
	}
}

// workspace is where scripts are saved.
func (m *Model) workspace() string {
	if m.opts.Workspace != "" {
		return m.opts.Workspace
	}
	if wd, err := os.Getwd(); err == nil {
		return wd
	}
	return "."
}

// wsPath is a script's file name in the workspace (an absolute one as is).
func (m *Model) wsPath(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(m.workspace(), name)
}

// freeFile is name, or NAME-2.yaml … the first not in the workspace.
func (m *Model) freeFile(name string) string {
	base := strings.TrimSuffix(name, ".yaml")
	for i := 2; ; i++ {
		if _, err := os.Lstat(m.wsPath(name)); err != nil {
			return name
		}
		name = fmt.Sprintf("%s-%d.yaml", base, i)
	}
}
