package ceremony

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"custos/internal/hint"
	"custos/internal/ids"
	"custos/internal/strictyaml"
	"custos/ledger"
)

// Kinds of ceremony a script may name.
const (
	KindEnroll   = "enroll"
	KindGenerate = "generate"
	KindExport   = "export"
	KindDestroy  = "destroy"
)

// Script says what a ceremony is to do. Who must agree comes from the
// ledger's policy, never from the script.
type Script struct {
	// File is where the script was read from, for messages.
	File string `yaml:"-"`
	// SHA256 is the SHA-256 of the script's bytes, hex: the intent
	// records it (script_sha256), so printed minutes tie to the record.
	SHA256 string `yaml:"-"`

	Kind     string `yaml:"kind,required"`
	Ceremony string `yaml:"ceremony"`
	HSM      string `yaml:"hsm"` // required unless the kind touches no HSM
	// SOPINSource is where the token's security officer PIN is read (an
	// export needs the SO); asked at the terminal when empty.
	SOPINSource string   `yaml:"so_pin_source"`
	Operator    string   `yaml:"operator,required"`
	Witnesses   []string `yaml:"witnesses"`
	Notes       string   `yaml:"notes"`

	Key     *KeyPlan     `yaml:"key"`
	Export  *ExportPlan  `yaml:"export"`
	Destroy *DestroyPlan `yaml:"destroy"`
	Backup  *BackupPlan  `yaml:"backup"`
	Restore *RestorePlan `yaml:"restore"`

	Rotate     *RotatePlan     `yaml:"rotate"`
	Compromise *CompromisePlan `yaml:"compromise"`
	Roster     *RosterPlan     `yaml:"roster"`
	Review     *ReviewPlan     `yaml:"review"`
	// Policy is the policy section of a roster script.
	Policy *PolicyPlan `yaml:"policy"`

	DestroyBackup *DestroyBackupPlan `yaml:"destroy_backup"`
	Reshare       *ResharePlan       `yaml:"reshare"`
	// Sign is a sign script's section (signing.go).
	Sign *SignPlan `yaml:"sign"`

	// Validation is an enrolled HSM's certification (enroll only).
	Validation *ValidationPlan `yaml:"validation"`
}

// ValidationPlan is an HSM's certification as its certificate states it:
// program fips-140-2, fips-140-3 or common-criteria, the certificate
// number, and the level (1 to 4 for FIPS 140, an EAL for Common Criteria).
type ValidationPlan struct {
	Program     string `yaml:"program,required"`
	Certificate string `yaml:"certificate,required"`
	Level       Level  `yaml:"level"`
}

// Level is a validation level written as a number (level: 3) or a word
// (level: EAL4+).
type Level string

// UnmarshalText takes the level as written.
func (l *Level) UnmarshalText(b []byte) error {
	*l = Level(b)
	return nil
}

// KeyPlan describes a key to generate.
type KeyPlan struct {
	Label      string   `yaml:"label,required"`
	Type       string   `yaml:"type,required"`
	Owner      string   `yaml:"owner,required"`
	Purpose    string   `yaml:"purpose,required"`
	Rotation   Duration `yaml:"rotation"`
	Exportable bool     `yaml:"exportable"`
	Backup     bool     `yaml:"backup"`
	// PublicKey names the files a key pair's public key is written to.
	PublicKey *PublicKeyOut `yaml:"public_key"`

	// Environment (production, staging, …) and Classification
	// (confidential, restricted, …) are recorded when given.
	Environment    string `yaml:"environment"`
	Classification string `yaml:"classification"`
}

// ExportPlan is an export request: which key goes to whom, why, until when.
type ExportPlan struct {
	Key          string `yaml:"key,required"`
	Recipient    string `yaml:"recipient,required"`
	RecipientKey string `yaml:"recipient_key,required"`
	Purpose      string `yaml:"purpose,required"`
	Expires      Date   `yaml:"expires,required"`
	Output       string `yaml:"output,required"`
}

// DestroyPlan names the key to destroy.
type DestroyPlan struct {
	Key    string `yaml:"key,required"`
	Reason string `yaml:"reason,required"`
	// Confirm is the key's label typed in full; in the TUI it is typed at
	// the prompt instead.
	Confirm string `yaml:"confirm"`
}

// Duration is a rotation period written as "90d", "12m" (months) or "1y".
type Duration struct{ Days int }

var durationRE = regexp.MustCompile(`^([1-9][0-9]{0,4})([dmy])$`)

// UnmarshalText parses "90d", "12m" or "2y".
func (d *Duration) UnmarshalText(b []byte) error {
	m := durationRE.FindStringSubmatch(string(b))
	if m == nil {
		return fmt.Errorf("want a period like 90d, 12m or 1y, got %q", b)
	}
	n, _ := strconv.Atoi(m[1])
	switch m[2] {
	case "m":
		n *= 30
	case "y":
		n *= 365
	}
	d.Days = n
	return nil
}

func (d Duration) String() string {
	if d.Days == 0 {
		return ""
	}
	return fmt.Sprintf("%dd", d.Days)
}

// Date is a calendar day, YYYY-MM-DD.
type Date struct{ time.Time }

// UnmarshalText parses YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	t, err := time.Parse(time.DateOnly, string(b))
	if err != nil {
		return fmt.Errorf("want a date like 2027-01-31, got %q", b)
	}
	d.Time = t
	return nil
}

func (d Date) String() string { return d.Format(time.DateOnly) }

// LoadScript reads and checks a ceremony script file.
func LoadScript(path string) (*Script, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ceremony script: %w", err)
	}
	return ParseScript(path, data)
}

// ParseScript decodes a script and checks it on its own (the ledger's
// policy and state are checked later, by the engine).
func ParseScript(name string, data []byte) (*Script, error) {
	var s Script
	if err := strictyaml.Decode(name, data, &s); err != nil {
		return nil, err
	}
	s.File = name
	sum := sha256.Sum256(data)
	s.SHA256 = hex.EncodeToString(sum[:])
	if err := checkTextSizes(&s); err != nil {
		return nil, err
	}
	bad := func(path, msg, fix string) error { return scriptErr(name, path, msg, fix) }
	sections := map[string]bool{"key": s.Key != nil, "export": s.Export != nil, "destroy": s.Destroy != nil}
	want := map[string]string{KindGenerate: "key", KindExport: "export", KindDestroy: "destroy", KindEnroll: ""}
	sections["backup"], sections["restore"] = s.Backup != nil, s.Restore != nil
	want[KindBackup], want[KindRestore] = "backup", "restore"
	sections["rotate"], sections["compromise"], sections["roster"], sections["review"] = s.Rotate != nil, s.Compromise != nil, s.Roster != nil, s.Review != nil
	want[KindRotate], want[KindCompromise], want[KindRoster], want[KindReview] = "rotate", "compromise", "roster", "review"
	sections["destroy_backup"], want[KindDestroyBackup] = s.DestroyBackup != nil, "destroy_backup"
	sections["reshare"], want[KindReshare] = s.Reshare != nil, "reshare"
	sections["policy"] = s.Policy != nil
	sections["sign"], want[KindSign] = s.Sign != nil, "sign"
	sec, ok := want[s.Kind]
	if !ok {
		return nil, bad("kind", fmt.Sprintf("unknown ceremony kind %q", s.Kind), "kind is one of: enroll, generate, export, destroy, destroy-backup, backup, restore, reshare, rotate, compromise, roster, review, sign")
	}
	for name, present := range sections {
		if present && name != sec && !(s.Kind == KindRotate && name == "key") && !(s.Kind == KindRoster && name == "policy") {
			return nil, bad(name, fmt.Sprintf("not allowed in a %s script", s.Kind), "remove it, or write a separate script for that ceremony")
		}
	}
	if s.Kind == KindRotate && s.Key == nil {
		return nil, bad("key", "required field is missing", "a rotate script describes the new version under \"key\"")
	}
	if sec != "" && !sections[sec] {
		return nil, bad(sec, "required field is missing", fmt.Sprintf("a %s script says what to do under %q", s.Kind, sec))
	}
	if noHSM[s.Kind] && s.HSM != "" {
		return nil, bad("hsm", fmt.Sprintf("a %s ceremony touches no HSM", s.Kind), "remove the hsm line")
	}
	if !noHSM[s.Kind] && s.HSM == "" {
		return nil, bad("hsm", "required field is missing", "name the token, e.g. pkcs11:token=custos-demo?module-path=…&pin-source=file:…")
	}
	if !noHSM[s.Kind] && !strings.HasPrefix(s.HSM, "pkcs11:") {
		return nil, bad("hsm", "want a PKCS#11 URI (pkcs11:token=…)", "name the token by label or serial, e.g. pkcs11:token=custos-demo?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:user.pin")
	}
	if strings.Contains(s.HSM, "pin-value=") {
		return nil, bad("hsm", "a PIN must not be written in the script", "use pin-source=file:PATH, or leave it out to be asked at the terminal")
	}
	seen := map[string]bool{s.Operator: true}
	for i, w := range s.Witnesses {
		if seen[w] {
			return nil, bad(fmt.Sprintf("witnesses[%d]", i), fmt.Sprintf("%q is named twice or is the operator", w), "a witness is a second person; name each once")
		}
		seen[w] = true
	}
	if err := checkValidation(&s); err != nil {
		return nil, err
	}
	switch s.Kind {
	case KindGenerate, KindRotate:
		k := s.Key
		if !ids.Valid(k.Label) {
			return nil, bad("key.label", fmt.Sprintf("%q is not a valid label", k.Label), ids.Rule)
		}
		if _, ok := keyTypes[k.Type]; !ok {
			return nil, bad("key.type", fmt.Sprintf("unknown key type %q", k.Type), "one of: "+strings.Join(keyTypeNames(), ", "))
		}
		for path, v := range map[string]string{"key.environment": k.Environment, "key.classification": k.Classification} {
			if v != "" && !ledger.VocabWord.MatchString(v) {
				return nil, bad(path, fmt.Sprintf("%q is not one word", v), "a word of lower-case letters, digits and dashes, e.g. production or confidential")
			}
		}
		if k.Backup && k.Type == "ed25519" {
			return nil, bad("key.backup", "ed25519 private keys cannot be wrapped for backup on this kind of HSM", "choose ec-p256 or ec-p384, or plan no backup")
		}
		if err := checkPublicKeyOut(name, k); err != nil {
			return nil, err
		}
	case KindExport:
		if !s.Export.Expires.After(time.Now().AddDate(0, 0, -1)) {
			return nil, bad("export.expires", fmt.Sprintf("the request expired on %s", s.Export.Expires), "set a future date")
		}
	case KindDestroy:
	case KindBackup, KindRestore:
		if err := checkBackupScript(&s); err != nil {
			return nil, err
		}
	case KindReshare:
		if err := checkReshareScript(&s); err != nil {
			return nil, err
		}
	case KindSign:
		if err := checkSignScript(&s); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

// validationPrograms are the certification programs an enroll script may name.
var validationPrograms = []string{"fips-140-2", "fips-140-3", "common-criteria"}

var (
	fipsLevel = regexp.MustCompile(`^[1-4]$`)
	ccLevel   = regexp.MustCompile(`^EAL[1-7]\+?$`)
	certNo    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ./_-]{0,63}$`)
)

// checkValidation checks an enroll script's validation section.
func checkValidation(s *Script) error {
	v := s.Validation
	if v == nil {
		return nil
	}
	bad := func(path, msg, fix string) error { return scriptErr(s.File, path, msg, fix) }
	if s.Kind != KindEnroll {
		return bad("validation", fmt.Sprintf("not allowed in a %s script", s.Kind), "an HSM's validation is recorded when it is enrolled")
	}
	if !slices.Contains(validationPrograms, v.Program) {
		return bad("validation.program", fmt.Sprintf("unknown program %q", v.Program), "one of: "+strings.Join(validationPrograms, ", "))
	}
	if !certNo.MatchString(v.Certificate) {
		return bad("validation.certificate", fmt.Sprintf("%q is not a certificate number", v.Certificate), "the number on the certificate, e.g. \"4745\" (CMVP) or \"BSI-DSZ-CC-1234-2024\"")
	}
	switch {
	case v.Level == "":
	case v.Program == "common-criteria" && !ccLevel.MatchString(string(v.Level)):
		return bad("validation.level", fmt.Sprintf("%q is not an evaluation assurance level", v.Level), "EAL1 to EAL7, e.g. EAL4+")
	case v.Program != "common-criteria" && !fipsLevel.MatchString(string(v.Level)):
		return bad("validation.level", fmt.Sprintf("%q is not a FIPS 140 security level", v.Level), "1, 2, 3 or 4")
	}
	return nil
}

// keyTypes maps a script's key type to whether it is a secret (symmetric) key.
var keyTypes = map[string]bool{
	"aes-256": true, "rsa-3072": false, "rsa-4096": false,
	"ec-p256": false, "ec-p384": false, "ed25519": false,
}

func keyTypeNames() []string {
	return []string{"aes-256", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ed25519"}
}

// scriptErr is an error at a YAML path of a script, with a hint when a fix
// is likely.
func scriptErr(file, path, msg, fix string) error {
	err := fmt.Errorf("%s: %s: %s", file, path, msg)
	if fix != "" {
		return hint.With(err, fix)
	}
	return err
}
