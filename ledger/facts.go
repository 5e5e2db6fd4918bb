package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"custos/ledger/internal/canonical"
)

// The facts of each record kind, as types. They are the table's facts
// (kinds.go builds each row's fact list from its type: the JSON name, the
// JSON type, `custos:"required"`), and a reader of a record takes them
// with FactsAs instead of reading a map by string keys.

// Opening are the facts every record that opens a ceremony may carry.
type Opening struct {
	Notes     string   `json:"notes"`
	Witnesses []string `json:"witnesses"` // member names; a witness is their checkpoint signature
	// ScriptSHA256 is the SHA-256 of the ceremony script file, hex: it
	// ties the printed minutes (custos minutes) to the record.
	ScriptSHA256 string `json:"script_sha256"`
}

// HSMFacts names the HSM a record acted on (hsm.enrolled recorded it).
type HSMFacts struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Serial       string `json:"serial"`
	Label        string `json:"label,omitempty"`
	Firmware     string `json:"firmware,omitempty"`
}

// Object is a fact that is a JSON object the table does not type further.
type Object = map[string]any

// List is a fact that is a JSON list the table does not type further.
type List = []any

// RosterFacts are the facts of ledger.genesis and roster.changed.
type RosterFacts struct {
	Opening
	Roster Object `json:"roster" custos:"required"`
	Policy Object `json:"policy" custos:"required"`
	Reason string `json:"reason"`
	// SharesToResplit names, for a change that removes a share holder,
	// each backup whose current shares they hold: {backup, holder}. It
	// must name every one; the backup reads "re-share due" until a
	// backup.reshared (or backup.destroyed) follows.
	SharesToResplit List `json:"shares_to_resplit"`
}

// GenesisFacts are the facts of ledger.genesis.
type GenesisFacts struct {
	Opening
	Roster Object `json:"roster" custos:"required"`
	Policy Object `json:"policy" custos:"required"`
}

// EnrolledFacts are the facts of hsm.enrolled.
type EnrolledFacts struct {
	Opening
	HSM    HSMFacts `json:"hsm" custos:"required"`
	Module Object   `json:"module"`

	// Validation is the HSM's certification as the enroll script states
	// it: program, certificate, level. Absent when the script gave none.
	Validation Object `json:"validation,omitempty"`
}

// ReviewFacts are the facts of review.signed.
type ReviewFacts struct {
	Opening
	Period       string `json:"period" custos:"required"`
	Findings     string `json:"findings"`
	Roster       List   `json:"roster"`
	Inventory    List   `json:"inventory"`
	ReviewedHead string `json:"reviewed_head" custos:"required"`
}

// CompromisedFacts are the facts of key.compromised.
type CompromisedFacts struct {
	Opening
	KeyID      string `json:"key_id" custos:"required"`
	Label      string `json:"label"`
	Reason     string `json:"reason" custos:"required"`
	ReportedBy string `json:"reported_by"`
	FollowUp   List   `json:"follow_up"`
}

// ShareVerifiedFacts are the facts of share.verified.
type ShareVerifiedFacts struct {
	KeyID        string `json:"key_id" custos:"required"`
	BackupID     string `json:"backup_id" custos:"required"`
	BackupRecord int64  `json:"backup_record" custos:"required"`
	Holder       string `json:"holder" custos:"required"`
	Index        int64  `json:"index" custos:"required"`
	Commitment   string `json:"commitment" custos:"required"`
	Checked      string `json:"checked"`
	Notes        string `json:"notes"`
}

// GenerateIntentFacts are the facts of key.generate.intent (a rotation's
// too: it names the key it rotates).
type GenerateIntentFacts struct {
	Opening
	KeyID             string   `json:"key_id" custos:"required"`
	Label             string   `json:"label" custos:"required"`
	Type              string   `json:"type" custos:"required"`
	Owner             string   `json:"owner"`
	Purpose           string   `json:"purpose"`
	RotationDays      int64    `json:"rotation_days"`
	Exportable        bool     `json:"exportable"`
	BackupPlanned     bool     `json:"backup_planned"`
	PlannedAttributes Object   `json:"planned_attributes"`
	HSM               HSMFacts `json:"hsm" custos:"required"`
	Rotates           string   `json:"rotates"`
	RotatesLabel      string   `json:"rotates_label"`
	RetireOn          string   `json:"retire_on"`
	PublicKeyOut      Object   `json:"public_key_out"` // files for the public key: pem, ssh

	// Environment and Classification are the key's, as its script
	// states them; absent when it gave none.
	Environment    string `json:"environment,omitempty"`
	Classification string `json:"classification,omitempty"`
}

// KeyFacts are a key as the HSM describes it: the facts of key.generated.
type KeyFacts struct {
	KeyID          string   `json:"key_id" custos:"required"`
	ID             string   `json:"id"` // CKA_ID, hex: the key id
	Label          string   `json:"label" custos:"required"`
	Type           string   `json:"type" custos:"required"`
	Class          string   `json:"class"`
	Attributes     Object   `json:"attributes"`
	KCVAESCMAC     string   `json:"kcv_aes_cmac"`
	KCVAESECB      string   `json:"kcv_aes_ecb"`
	SPKISHA256     string   `json:"spki_sha256"`
	SSHFingerprint string   `json:"ssh_fingerprint"`
	HSM            HSMFacts `json:"hsm" custos:"required"`
	Resumed        bool     `json:"resumed"`
	// PublicKeyFiles: each public key file written, as format, file, sha256.
	PublicKeyFiles List `json:"public_key_files"`
}

// RetirementFacts are the facts of key.retirement.scheduled.
type RetirementFacts struct {
	KeyID     string `json:"key_id" custos:"required"`
	Label     string `json:"label"`
	RetireOn  string `json:"retire_on" custos:"required"`
	Successor string `json:"successor" custos:"required"`
}

// ExportIntentFacts are the facts of key.export.intent.
type ExportIntentFacts struct {
	Opening
	KeyID                  string   `json:"key_id" custos:"required"`
	Label                  string   `json:"label"`
	Recipient              string   `json:"recipient" custos:"required"`
	RecipientKeySPKISHA256 string   `json:"recipient_key_spki_sha256" custos:"required"`
	RecipientKeyBits       int64    `json:"recipient_key_bits"`
	Purpose                string   `json:"purpose"`
	Expires                string   `json:"expires"`
	Output                 string   `json:"output"`
	HSM                    HSMFacts `json:"hsm" custos:"required"`
}

// ExportedFacts are the facts of key.exported.
type ExportedFacts struct {
	KeyID                     string   `json:"key_id" custos:"required"`
	HSM                       HSMFacts `json:"hsm" custos:"required"`
	Recipient                 string   `json:"recipient" custos:"required"`
	Mechanism                 string   `json:"mechanism" custos:"required"`
	OAEPHash                  string   `json:"oaep_hash"`
	Output                    string   `json:"output"`
	OutputBytes               int64    `json:"output_bytes"`
	OutputSHA256              string   `json:"output_sha256" custos:"required"`
	TrustedWrappingKeyRemoved bool     `json:"trusted_wrapping_key_removed"`
	Resumed                   bool     `json:"resumed"`
}

// SignIntentFacts are the facts of key.sign.intent: what is signed
// (sign_kind, each input file and its SHA-256, the digest of the exact
// bytes the key will sign, tbs_sha256), with which mechanism, and where the
// outputs go. Approvals cover these facts, so an approval is bound to that
// one TBS: one byte changed in a template or a file is another digest.
type SignIntentFacts struct {
	Opening
	KeyID     string   `json:"key_id" custos:"required"`
	Label     string   `json:"label"`
	SignKind  string   `json:"sign_kind" custos:"required"`
	Mechanism string   `json:"mechanism" custos:"required"`
	Inputs    List     `json:"inputs"`
	TBSSHA256 string   `json:"tbs_sha256" custos:"required"`
	Outputs   List     `json:"outputs" custos:"required"`
	Purpose   string   `json:"purpose"`
	Summary   Object   `json:"summary"`
	HSM       HSMFacts `json:"hsm" custos:"required"`
}

// SignedFacts are the facts of key.signed: the signature made inside the
// HSM, and each output file written, read back, with its SHA-256.
type SignedFacts struct {
	KeyID           string   `json:"key_id" custos:"required"`
	HSM             HSMFacts `json:"hsm" custos:"required"`
	SignKind        string   `json:"sign_kind" custos:"required"`
	Mechanism       string   `json:"mechanism" custos:"required"`
	TBSSHA256       string   `json:"tbs_sha256" custos:"required"`
	SignatureSHA256 string   `json:"signature_sha256" custos:"required"`
	Outputs         List     `json:"outputs" custos:"required"`
	Serial          string   `json:"serial"`
	Resumed         bool     `json:"resumed"`
}

// DestroyIntentFacts are the facts of key.destroy.intent: the key's
// outstanding backups and its exports are named, every copy.
type DestroyIntentFacts struct {
	Opening
	KeyID   string   `json:"key_id" custos:"required"`
	Label   string   `json:"label"`
	Reason  string   `json:"reason" custos:"required"`
	HSM     HSMFacts `json:"hsm" custos:"required"`
	Backups List     `json:"backups"`
	Exports List     `json:"exports"`
}

// DestroyedFacts are the facts of key.destroyed.
type DestroyedFacts struct {
	KeyID        string   `json:"key_id" custos:"required"`
	HSM          HSMFacts `json:"hsm" custos:"required"`
	Verification Object   `json:"verification" custos:"required"`
	Resumed      bool     `json:"resumed"`
}

// BackupDestroyedFacts are the facts of backup.destroyed: each share
// attested destroyed by its holder.
type BackupDestroyedFacts struct {
	Opening
	KeyID          string `json:"key_id" custos:"required"`
	Label          string `json:"label"`
	BackupID       string `json:"backup_id" custos:"required"`
	MediaDestroyed string `json:"media_destroyed" custos:"required"`
	Attested       List   `json:"attested" custos:"required"` // {index, member, signature}
}

// BackupIntentFacts are the facts of backup.intent.
type BackupIntentFacts struct {
	Opening
	KeyID    string   `json:"key_id" custos:"required"`
	Label    string   `json:"label"`
	Type     string   `json:"type"`
	BackupID string   `json:"backup_id" custos:"required"`
	M        int64    `json:"m" custos:"required"`
	N        int64    `json:"n" custos:"required"`
	Holders  []string `json:"holders"`
	// Delivery maps each holder to how their share reaches them
	// (DeliverySSH, DeliveryPassphrase, DeliveryCard), so the approvers
	// see it; the split's holder entries must say the same.
	Delivery Object   `json:"delivery"`
	Media    string   `json:"media" custos:"required"`
	ShareDir string   `json:"share_dir"` // where the share files go, so resume can name them
	Wrapping string   `json:"wrapping"`
	HSM      HSMFacts `json:"hsm" custos:"required"`
}

// How a share reaches its holder (ShareHolder.Delivery).
const (
	// DeliverySSH: an age file encrypted to the holder's SSH key on the
	// roster (ssh-ed25519 or ssh-rsa only). A holder entry without a
	// delivery (ledgers written before deliveries were recorded) is one.
	DeliverySSH = "ssh"
	// DeliveryPassphrase: an age file encrypted to a passphrase the holder
	// typed (scrypt), for holders whose key cannot receive an age file.
	DeliveryPassphrase = "passphrase"
	// DeliveryCard: a printed word card only, no file.
	DeliveryCard = "card"
)

// Deliveries are the delivery methods, in the order they are offered.
var Deliveries = []string{DeliverySSH, DeliveryPassphrase, DeliveryCard}

// AgeRecipientKey reports whether an authorized-key line is a key age can
// encrypt a file to (ssh-ed25519, ssh-rsa): only those holders may be
// given DeliverySSH.
func AgeRecipientKey(authorizedKey string) bool {
	return strings.HasPrefix(authorizedKey, "ssh-ed25519 ") || strings.HasPrefix(authorizedKey, "ssh-rsa ")
}

// ShareHolder is one entry of the holders of backup.split and
// backup.reshared: a share, its holder, the commitment that checks it
// and how it was delivered.
type ShareHolder struct {
	Index      int64  `json:"index"`
	Member     string `json:"member"`
	Commitment string `json:"commitment"`
	Delivery   string `json:"delivery,omitempty"` // "" is DeliverySSH
	File       string `json:"file,omitempty"`     // the age file (ssh, passphrase)
	FileSHA256 string `json:"file_sha256,omitempty"`
	Card       string `json:"card,omitempty"` // the word card, when one was written
	ReadBack   string `json:"read_back,omitempty"`
}

// ShareRef names one share of a share set: a retired one in
// backup.reshared, a presented one (with the holder's signature) in
// backup.reshare.intent.
type ShareRef struct {
	Index      int64  `json:"index"`
	Member     string `json:"member"`
	Commitment string `json:"commitment,omitempty"`
	Signature  string `json:"signature,omitempty"`
}

// ReshareIntentFacts are the facts of backup.reshare.intent: which share
// set is replaced (the record that made it: the backup.split or the last
// backup.reshared), the new threshold and holders, and the current
// holders who presented their shares, each with their signature that
// they did (ShareRef, namespace NamespaceSharePresented): at least the
// current threshold of them.
type ReshareIntentFacts struct {
	Opening
	KeyID        string   `json:"key_id" custos:"required"`
	Label        string   `json:"label"`
	BackupID     string   `json:"backup_id" custos:"required"`
	BackupRecord int64    `json:"backup_record" custos:"required"`
	Replaces     int64    `json:"replaces" custos:"required"`
	M            int64    `json:"m" custos:"required"`
	N            int64    `json:"n" custos:"required"`
	Holders      []string `json:"holders" custos:"required"`
	Delivery     Object   `json:"delivery"`
	Presented    List     `json:"presented" custos:"required"` // ShareRef with signature
	Reason       string   `json:"reason"`
	HSM          HSMFacts `json:"hsm" custos:"required"`
}

// ResharedFacts are the facts of backup.reshared: the new shares (as in
// backup.split), the wrapping key's check value (the backup's, computed
// again from the rebuilt key, and by the HSM), and every commitment of
// the set replaced, retired: no custos check or restore accepts those
// shares again.
type ResharedFacts struct {
	KeyID               string   `json:"key_id" custos:"required"`
	BackupID            string   `json:"backup_id" custos:"required"`
	HSM                 HSMFacts `json:"hsm" custos:"required"`
	M                   int64    `json:"m" custos:"required"`
	N                   int64    `json:"n" custos:"required"`
	Holders             List     `json:"holders" custos:"required"` // ShareHolder
	Retired             List     `json:"retired" custos:"required"` // ShareRef
	WrappingKeyKCVCMAC  string   `json:"wrapping_key_kcv_cmac" custos:"required"`
	CombinationsChecked int64    `json:"combinations_checked"`
	CombinationsTotal   int64    `json:"combinations_total"`
	Resumed             bool     `json:"resumed"`
}

// BackupSplitFacts are the facts of backup.split.
type BackupSplitFacts struct {
	KeyID                     string   `json:"key_id" custos:"required"`
	BackupID                  string   `json:"backup_id" custos:"required"`
	HSM                       HSMFacts `json:"hsm" custos:"required"`
	M                         int64    `json:"m" custos:"required"`
	N                         int64    `json:"n" custos:"required"`
	Media                     string   `json:"media" custos:"required"`
	Type                      string   `json:"type"`
	Attributes                Object   `json:"attributes"`
	BlobBytes                 int64    `json:"blob_bytes"`
	BlobSHA256                string   `json:"blob_sha256" custos:"required"`
	CombinationsChecked       int64    `json:"combinations_checked"`
	CombinationsTotal         int64    `json:"combinations_total"`
	Holders                   List     `json:"holders" custos:"required"` // ShareHolder
	Mechanism                 string   `json:"mechanism" custos:"required"`
	PublicKeySPKI             string   `json:"public_key_spki"`
	TrustedWrappingKeyRemoved bool     `json:"trusted_wrapping_key_removed"`
	WrappingKeyKCVCMAC        string   `json:"wrapping_key_kcv_cmac"`
	WrappingKeyRemoved        Object   `json:"wrapping_key_removed"`
	Resumed                   bool     `json:"resumed"`
}

// RestoreIntentFacts are the facts of key.restore.intent.
type RestoreIntentFacts struct {
	Opening
	KeyID        string   `json:"key_id" custos:"required"`
	Label        string   `json:"label"`
	Type         string   `json:"type"`
	BackupID     string   `json:"backup_id" custos:"required"`
	BackupRecord int64    `json:"backup_record" custos:"required"`
	M            int64    `json:"m"`
	Media        string   `json:"media"`
	HSM          HSMFacts `json:"hsm" custos:"required"`
}

// RestoredFacts are the facts of key.restored. Each entry of SharesUsed
// is {index, holder, commitment}: a commitment retired by a reshare is
// refused.
type RestoredFacts struct {
	KeyFacts
	BackupID           string `json:"backup_id" custos:"required"`
	SharesUsed         List   `json:"shares_used"`
	SharesRefused      List   `json:"shares_refused"`
	Matched            List   `json:"matched"`
	WrappingKeyKCVCMAC string `json:"wrapping_key_kcv_cmac"`
}

// AbortedFacts are the facts of ceremony.aborted.
type AbortedFacts struct {
	KeyID   string `json:"key_id"`
	Reason  string `json:"reason" custos:"required"`
	Resumed bool   `json:"resumed"`
	HSM     Object `json:"hsm"`
}

// ClosedFacts are the facts of ceremony.closed.
type ClosedFacts struct {
	Checkpoint Object `json:"checkpoint" custos:"required"` // {ledger, size, head, commit}
	Witnessed  List   `json:"witnessed"`                    // {member, signature}
}

// factsOf is the table's fact list of a facts type: each field's JSON
// name, its JSON type and whether it is required; embedded structs give
// their fields.
func factsOf(v any) map[string]fact {
	out := map[string]fact{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			var ft factType
			switch k := f.Type.Kind(); {
			case k == reflect.String:
				ft = fString
			case k == reflect.Int64:
				ft = fInt
			case k == reflect.Bool:
				ft = fBool
			case k == reflect.Map, k == reflect.Struct:
				ft = fObject
			case k == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
				ft = fNames
			case k == reflect.Slice:
				ft = fList
			default:
				panic(fmt.Sprintf("ledger: facts type %s: field %s has no JSON type", t, f.Name))
			}
			out[name] = fact{t: ft, req: f.Tag.Get("custos") == "required"}
		}
	}
	walk(reflect.TypeOf(v))
	return out
}

// FactsAs decodes rec's facts into T, the facts type of its kind (the
// replay checked them against the table).
func FactsAs[T any](rec *Record) (T, error) {
	var out T
	b, err := canonical.Marshal(rec.Facts)
	if err != nil {
		return out, fmt.Errorf("record %d facts: %w", rec.Seq, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&out); err != nil {
		return out, fmt.Errorf("record %d (%s) facts: %w", rec.Seq, rec.Kind, err)
	}
	return out, nil
}
