package report

import ctrl "custos/controls"

// The report's data model. Its JSON form is specified by
// docs/report-schema.json; change both together and bump SchemaVersion on
// an incompatible change.

// SchemaVersion names the JSON form of a Report.
const SchemaVersion = "custos-report/3"

// Report is the evidence package for one ledger and one period.
type Report struct {
	// Verified and Failure come first, so that a report of a ledger that
	// does not verify says so before anything else.
	Verified  bool          `json:"verified"`          // verify ran and passed
	Failure   string        `json:"failure,omitempty"` // verify's failure, when it failed
	Schema    string        `json:"schema"`
	Generated string        `json:"generated"` // when the report was made (UTC)
	AsOf      string        `json:"as_of"`     // the date overdue rotations are judged against
	Ledger    string        `json:"ledger"`
	Genesis   string        `json:"genesis"`
	Head      string        `json:"head"` // digest of the last record read
	Records   int64         `json:"records"`
	Period    Period        `json:"period"`
	Verify    VerifySection `json:"verify"`
	// Exceptions are what a reviewer must follow up, as far as the
	// records show it; the control tests of custos check, when they are
	// added to the report, come between Verify and Exceptions.
	Exceptions []Exception     `json:"exceptions"`
	Inventory  []Key           `json:"inventory"`
	HSMs       []HSM           `json:"hsms"`
	Calendar   []RotationEntry `json:"rotation_calendar"`
	Ceremonies []Ceremony      `json:"ceremonies"`
	Roster     []RosterVersion `json:"roster_history"`
	Reviews    []Review        `json:"access_reviews"`
	Policy     PolicySection   `json:"policy"`
	Controls   []Control       `json:"controls"`
	// ControlTests are custos check's verdicts over the same records and
	// period; absent when the ledger did not verify.
	ControlTests *ctrl.Result `json:"control_tests,omitempty"`
}

// Exception is one thing a reviewer must follow up that the records show.
type Exception struct {
	// Kind is one of aborted_ceremony, unclosed_ceremony, open_ceremony,
	// restored_after_destruction, backup_outlives_key,
	// export_outlives_key, rotation_overdue, retirement_overdue,
	// no_rotation_period, label_reused, ceremony_id_reused,
	// compromised, reshare_due.
	Kind     string  `json:"kind"`
	Text     string  `json:"text"`
	Seqs     []int64 `json:"seqs"` // the records that show it
	KeyID    string  `json:"key_id,omitempty"`
	Ceremony string  `json:"ceremony,omitempty"`
}

// Sentence is one sentence of a key's summary and the records it rests on.
type Sentence struct {
	Text string  `json:"text"`
	Seqs []int64 `json:"seqs"`
}

// Period is the time window the report covers; empty bounds are open.
type Period struct {
	Since     string `json:"since,omitempty"`
	Until     string `json:"until,omitempty"`
	Records   int64  `json:"records"` // records inside the window
	FirstSeq  int64  `json:"first_seq,omitempty"`
	LastSeq   int64  `json:"last_seq,omitempty"`
	FirstTime string `json:"first_time,omitempty"`
	LastTime  string `json:"last_time,omitempty"`
}

// VerifySection is the outcome of ledger.Verify and what it did not check.
type VerifySection struct {
	Ran                bool     `json:"ran"`
	OK                 bool     `json:"ok"`
	Records            int64    `json:"records"`
	Genesis            string   `json:"genesis,omitempty"`
	GenesisWords       string   `json:"genesis_words,omitempty"`
	Head               string   `json:"head,omitempty"`
	HeadCommit         string   `json:"head_commit,omitempty"`
	HeadWords          string   `json:"head_words,omitempty"`
	OriginChecked      bool     `json:"origin_checked"`
	TrustedHeadChecked bool     `json:"trusted_head_checked"`
	Failure            string   `json:"failure,omitempty"`
	OpenIntent         string   `json:"open_intent,omitempty"`
	Checked            []string `json:"checked"`
	NotChecked         []string `json:"not_checked"`
}

// Event is one recorded step that happened to a key: when, who, approvals.
type Event struct {
	Seq        int64    `json:"seq"`
	Time       string   `json:"time"`
	Ceremony   string   `json:"ceremony"`
	By         string   `json:"by"`
	ApprovedBy []string `json:"approved_by"`
	// Carried maps each approver whose approval was carried as a file to
	// that file's SHA-256; the others signed in the room.
	Carried   map[string]string `json:"carried,omitempty"`
	IntentSeq int64             `json:"intent_seq,omitempty"`
	Witnesses []string          `json:"witnesses,omitempty"`
	Reason    string            `json:"reason,omitempty"`
}

// HSMRef names the HSM a key lives on.
type HSMRef struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Serial       string `json:"serial,omitempty"`
	Label        string `json:"label,omitempty"`
}

// Export is one export of a key: the intent's approvals and the outcome.
type Export struct {
	Event
	Recipient    string `json:"recipient,omitempty"`
	Purpose      string `json:"purpose,omitempty"`
	Expires      string `json:"expires,omitempty"`
	Mechanism    string `json:"mechanism,omitempty"`
	OutputSHA256 string `json:"output_sha256,omitempty"`
}

// Signature is one signature made with a key on the HSM (key.signed): a
// certificate, a CRL or a detached signature, with the digest of what
// was signed and of each output.
type Signature struct {
	Event
	SignKind  string         `json:"sign_kind"`
	Purpose   string         `json:"purpose,omitempty"`
	Mechanism string         `json:"mechanism"`
	TBSSHA256 string         `json:"tbs_sha256"`
	Serial    string         `json:"serial,omitempty"`
	Outputs   []SignedOutput `json:"outputs"`
}

// SignedOutput is one file a signature wrote.
type SignedOutput struct {
	File   string `json:"file"`
	Format string `json:"format"`
	SHA256 string `json:"sha256"`
}

// Backup is one backup split of a key: M of N shares of the wrapping key.
type Backup struct {
	Event
	BackupID    string       `json:"backup_id,omitempty"`
	Threshold   int64        `json:"threshold"`
	Shares      int64        `json:"shares"`
	Holders     []string     `json:"holders"`
	Media       string       `json:"media,omitempty"`
	BlobSHA256  string       `json:"blob_sha256,omitempty"`
	ShareChecks []ShareCheck `json:"share_checks"`
	// SharesChecked is how many distinct shares of those in force were
	// checked by their holder (share.verified) after the split or the
	// last reshare; the split and a reshare read every share back.
	SharesChecked int64 `json:"shares_checked"`
	// Destroyed is the backup.destroyed record: media destroyed (how, in
	// MediaDestroyed) and every holder's signed attestation.
	Destroyed      *Event `json:"destroyed,omitempty"`
	MediaDestroyed string `json:"media_destroyed,omitempty"`
	// Reshares are the backup.reshared records that gave out new shares
	// (Threshold, Shares and Holders are those in force); ReshareDue
	// names the holders of the shares in force who left the roster: the
	// backup must be reshared (or destroyed).
	Reshares   []Event  `json:"reshares,omitempty"`
	ReshareDue []string `json:"reshare_due,omitempty"`
}

// ShareCheck is one holder's check of their share (share.verified).
type ShareCheck struct {
	Seq    int64  `json:"seq"`
	Time   string `json:"time"`
	Index  int64  `json:"index"`
	Holder string `json:"holder"`
}

// Key is one inventory entry.
type Key struct {
	ID      string `json:"id"`
	Label   string `json:"label"`
	Type    string `json:"type"`
	Bits    int    `json:"bits,omitempty"`
	Class   string `json:"class,omitempty"`
	HSM     HSMRef `json:"hsm"`
	Owner   string `json:"owner,omitempty"`
	Purpose string `json:"purpose,omitempty"`
	State   string `json:"state"`
	// Disposition is State, except for a key destroyed on its HSM while
	// a backup of it is outstanding: it is destroyed only when every copy
	// is ("destroyed on the HSM; backup B outstanding").
	Disposition string          `json:"disposition"`
	CheckValue  string          `json:"check_value,omitempty"`
	Attributes  map[string]bool `json:"attributes,omitempty"`
	Created     *Event          `json:"created,omitempty"` // nil while generating or when aborted
	Requested   Event           `json:"requested"`         // the generate intent
	Exports     []Export        `json:"exports"`
	// Signatures are the key's uses: what it signed (the key-usage list).
	Signatures     []Signature `json:"signatures,omitempty"`
	Backups        []Backup    `json:"backups"`
	Restores       []Event     `json:"restores"`
	LastShareCheck string      `json:"last_share_check,omitempty"`
	RotationDays   int64       `json:"rotation_days,omitempty"`
	RotationSource string      `json:"rotation_source,omitempty"` // "ceremony" or "policy"
	RotationDue    string      `json:"rotation_due,omitempty"`
	Overdue        bool        `json:"overdue"`
	Destroyed      *Event      `json:"destroyed,omitempty"`
	Aborted        *Event      `json:"aborted,omitempty"`
	Compromised    *Event      `json:"compromised,omitempty"` // reported compromised (key.compromised)
	Predecessor    string      `json:"predecessor,omitempty"` // the key this one rotates
	Retirement     *Retirement `json:"retirement,omitempty"`  // scheduled by a rotation
	RetireOverdue  bool        `json:"retire_overdue"`        // still active after its retirement date
	History        []KeyEvent  `json:"history"`
	// Summary is the key's whole life in sentences, oldest first.
	Summary []Sentence `json:"summary"`
	// Environment and Classification are the optional facts of the
	// generate intent (empty when the script gave none).
	Environment    string `json:"environment,omitempty"`
	Classification string `json:"classification,omitempty"`

	on     []string // serials of the HSMs holding the key, as the ledger's replay keeps them
	madeOn HSMRef   // the HSM it was generated on (HSM is where it is now)
}

// KeyEvent is one record that named a key.
type KeyEvent struct {
	Seq      int64  `json:"seq"`
	Time     string `json:"time"`
	Ceremony string `json:"ceremony"`
	Kind     string `json:"kind"`
	Actor    string `json:"actor"`
}

// Retirement is a key's retirement scheduled when it was rotated.
type Retirement struct {
	Event
	RetireOn  string `json:"retire_on"`
	Successor string `json:"successor,omitempty"`
}

// HSM is one enrolled HSM.
type HSM struct {
	HSMRef
	Firmware string `json:"firmware,omitempty"`
	Enrolled Event  `json:"enrolled"`
	// Validation is the HSM's certification as recorded at enrolment
	// (hsm.validation); nil when the enrolment recorded none.
	Validation *Validation `json:"validation,omitempty"`
}

// Validation is an HSM's certification: program (fips-140-2,
// fips-140-3, common-criteria), certificate number and level.
type Validation struct {
	Program     string `json:"program"`
	Certificate string `json:"certificate,omitempty"`
	Level       string `json:"level,omitempty"`
}

// RotationEntry is one line of the rotation calendar.
type RotationEntry struct {
	Action       string `json:"action"` // "rotate" (period ends) or "retire" (rotated, retirement scheduled)
	KeyID        string `json:"key_id"`
	Label        string `json:"label"`
	Type         string `json:"type"`
	Owner        string `json:"owner,omitempty"`
	Created      string `json:"created"`
	RotationDays int64  `json:"rotation_days,omitempty"`
	Due          string `json:"due"`
	DaysLeft     int64  `json:"days_left"`
	Overdue      bool   `json:"overdue"`
}

// Ceremony is one ceremony with its steps.
type Ceremony struct {
	ID         string   `json:"id"`
	Kind       string   `json:"kind"`
	Status     string   `json:"status"` // closed, aborted, open, unclosed
	Start      string   `json:"start"`
	End        string   `json:"end"`
	Operators  []string `json:"operators"`
	Approvers  []string `json:"approvers"`
	Witnesses  []string `json:"witnesses"`
	Keys       []string `json:"keys"`
	HSMs       []HSMRef `json:"hsms"`
	Checkpoint string   `json:"checkpoint,omitempty"` // head digest co-signed at close
	Steps      []Step   `json:"steps"`
}

// Step is one record.
type Step struct {
	Seq        int64             `json:"seq"`
	Time       string            `json:"time"`
	Ceremony   string            `json:"ceremony"`
	Kind       string            `json:"kind"`
	Actor      string            `json:"actor"`
	ApprovedBy []string          `json:"approved_by"`
	Carried    map[string]string `json:"carried,omitempty"` // as Event's
	KeyID      string            `json:"key_id,omitempty"`
	Digest     string            `json:"digest"`
	Facts      []Fact            `json:"facts"`
}

// Fact is one fact of a record, flattened to a dotted path.
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"` // "" on a row that heads nested rows
	// Label is the last part of Name as a row shows it, Depth its
	// indentation: an object or a list of objects heads rows one deeper.
	Label string `json:"label,omitempty"`
	Depth int    `json:"depth,omitempty"`
	// Note says why a value that looks wrong is what it is.
	Note string `json:"note,omitempty"`
}

// Member is one member of a roster version.
type Member struct {
	Name        string   `json:"name"`
	Email       string   `json:"email,omitempty"`
	Roles       []string `json:"roles"`
	Fingerprint string   `json:"fingerprint"`
}

// RosterVersion is the roster set by one record (the genesis or a roster change).
type RosterVersion struct {
	Event
	Members       []Member `json:"members"`
	Added         []string `json:"added"`
	Removed       []string `json:"removed"`
	Changed       []string `json:"changed"`
	PolicyChanged bool     `json:"policy_changed"`
}

// Review is one signed access review.
type Review struct {
	Event
	Facts []Fact `json:"facts"`
	// Period, Findings and ReviewedHead are the review's own facts;
	// Members and Keys what its roster and inventory facts list (the
	// coverage the review claims), empty when it listed none.
	Period       string   `json:"period,omitempty"`
	Findings     string   `json:"findings,omitempty"`
	ReviewedHead string   `json:"reviewed_head,omitempty"`
	Members      []string `json:"members"`
	Keys         []string `json:"keys"`
}

// Quorum is what one record kind needs, as the ledger enforces it, and
// what was seen in the period.
type Quorum struct {
	Kind         string   `json:"kind"`
	Rule         string   `json:"rule"` // the policy entry that applies: the kind, "prefix.*", "*", or "none"
	Roles        []string `json:"roles"`
	Count        int      `json:"count"`
	SelfApproval bool     `json:"self_approval"`
	Observed     int64    `json:"observed"`      // records of this kind in the period
	MinApprovals int64    `json:"min_approvals"` // fewest approvals seen on one of them
}

// RoleHolders lists the members holding one role.
type RoleHolders struct {
	Role    string   `json:"role"`
	Members []string `json:"members"`
	// Acted are the members who acted in the role in the period
	// without holding it: a witness is whoever signed a ceremony's
	// closing checkpoint, and the policy gives that no role.
	Acted []string `json:"acted"`
}

// RotationRule is one rotation period of the policy.
type RotationRule struct {
	Type   string `json:"type"`
	Period string `json:"period"`
}

// PolicySection is the key-management policy as the ledger enforces it.
type PolicySection struct {
	SinceSeq   int64         `json:"since_seq"` // record that set the policy in force
	Roles      []RoleHolders `json:"roles"`
	Quorum     []Quorum      `json:"quorum"`
	Algorithms []string      `json:"algorithms"`
	// Environments and Classifications: the policy's vocabularies, which
	// every new key's words come from; absent where the policy has none.
	Environments    []string       `json:"environments,omitempty"`
	Classifications []string       `json:"classifications,omitempty"`
	Rotation        []RotationRule `json:"rotation"`
	Changes         []int64        `json:"changes"` // records that changed the policy
}

// Control maps report sections to a control they evidence.
type Control struct {
	Framework string   `json:"framework"`
	Control   string   `json:"control"`
	Title     string   `json:"title"`
	Sections  []string `json:"sections"`
	Evidence  string   `json:"evidence"`
}
