// The last page of the new-ceremony form (names) and the script the
// answers make.

package tui

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"charm.land/huh/v2"

	"custos/ceremony"
	"custos/internal/ids"
	"custos/ledger"
)

// nameGroup is the last page: the ceremony id and the file the script is
// saved as, defaults made from the choices so far.
func (m *Model) nameGroup(v *formValues) *huh.Group {
	st := m.led.State()
	// Defaults follow the answers (an edited label renames them) until
	// the custodian types their own.
	if v.ceremony == "" || v.ceremony == v.autoCeremony {
		what := v.key
		switch v.kind {
		case ceremony.KindGenerate:
			what = v.label
		case ceremony.KindRestore:
			what = v.restore
		case ceremony.KindSign:
			switch v.signWhat {
			case ceremony.SignRootCertificate:
				what = v.key + "-certificate"
			case ceremony.SignIntermediateCertificate:
				what = v.key + "-issues-" + idPart(strings.TrimSuffix(strings.TrimSuffix(filepath.Base(v.certCSR), ".pem"), ".csr"))
			case ceremony.SignCRL:
				what = v.key + "-crl-" + v.crlNumber
			default:
				what = idPart(filepath.Base(v.signFile))
			}
		case ceremony.KindReview:
			what = idPart(strings.ToLower(v.period))
		case ceremony.KindDestroyBackup:
			what = v.destroyBackup
		case ceremony.KindEnroll:
			what = idPart(v.tokenLabel)
		}
		v.ceremony = freeCeremonyID(st, v.kind+"-"+what)
		v.autoCeremony = v.ceremony
	}
	if v.file == "" || v.file == v.autoFile {
		v.file = m.freeFile(v.ceremony + ".yaml")
		v.autoFile = v.file
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
		if v.backupID == "" || v.backupID == v.autoBackupID {
			v.backupID = freeBackupID(st, v.key)
			v.autoBackupID = v.backupID
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
		if h.Serial == v.serial && ceremony.NeedsHSM(v.kind) {
			s.HSM = h.URI
		}
	}
	if v.kind == ceremony.KindEnroll {
		if s.HSM, err = ceremony.EnrollURI(strings.TrimSpace(v.tokenLabel), strings.TrimSpace(v.tokenSerial), v.pinSource); err != nil {
			return nil, err
		}
		if v.validProgram != "" {
			s.Validation = &ceremony.ValidationPlan{Program: v.validProgram, Certificate: strings.TrimSpace(v.validCertificate), Level: ceremony.Level(strings.TrimSpace(v.validLevel))}
		}
	}
	if v.kind == ceremony.KindBackup || v.kind == ceremony.KindExport {
		s.SOPINSource = v.soPIN
	}
	switch v.kind {
	case ceremony.KindGenerate, ceremony.KindRotate:
		k := &ceremony.KeyPlan{Label: v.label, Type: v.typ, Owner: v.owner, Purpose: v.purpose, Environment: v.environment, Classification: v.classification, Exportable: v.exportable, Backup: v.backup}
		if v.rotation != "" && v.rotation != noRotation {
			if err := k.Rotation.UnmarshalText([]byte(v.rotation)); err != nil {
				return nil, err
			}
		}
		s.Key = k
		if v.kind == ceremony.KindRotate {
			d, err := time.Parse(time.DateOnly, v.retireOn)
			if err != nil {
				return nil, fmt.Errorf("retire on: %w", err)
			}
			s.Rotate = &ceremony.RotatePlan{Key: v.key, RetireOn: ceremony.Date{Time: d}}
		}
	case ceremony.KindRestore:
		r := &ceremony.RestorePlan{Backup: v.restore, Media: v.media}
		for _, f := range v.shares {
			r.Shares = append(r.Shares, ceremony.ShareSource{File: f})
		}
		s.Restore = r
	case ceremony.KindBackup:
		s.Backup = &ceremony.BackupPlan{Key: v.key, ID: v.backupID, Threshold: v.threshold, Holders: v.holders, Media: v.media, ShareDir: v.shareDir, Cards: v.cards}
		for _, h := range v.holders {
			if d := v.delivery[h]; d != nil {
				if s.Backup.Delivery == nil {
					s.Backup.Delivery = map[string]string{}
				}
				s.Backup.Delivery[h] = *d
			}
		}
	case ceremony.KindExport:
		d, err := time.Parse(time.DateOnly, v.expires)
		if err != nil {
			return nil, fmt.Errorf("expires: %w", err)
		}
		s.Export = &ceremony.ExportPlan{Key: v.key, Recipient: v.recipient, RecipientKey: v.recipientKey, Purpose: v.purpose, Expires: ceremony.Date{Time: d}, Output: v.output}
	case ceremony.KindSign:
		p, err := signCertPlan(v)
		if err != nil {
			return nil, err
		}
		s.Sign = p
	case ceremony.KindDestroy:
		s.Destroy = &ceremony.DestroyPlan{Key: v.key, Reason: v.reason}
	case ceremony.KindCompromise:
		s.Compromise = &ceremony.CompromisePlan{Key: v.key, Reason: v.reason, ReportedBy: v.reportedBy}
	case ceremony.KindDestroyBackup:
		s.DestroyBackup = &ceremony.DestroyBackupPlan{Backup: v.destroyBackup, Media: strings.TrimSpace(v.mediaDestroyed)}
	case ceremony.KindReview:
		s.Review = &ceremony.ReviewPlan{Period: strings.TrimSpace(v.period), Findings: strings.TrimSpace(v.findings)}
	}
	return s, nil
}
