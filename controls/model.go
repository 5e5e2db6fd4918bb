package controls

// SchemaVersion is the version of the JSON document (docs/check-schema.json).
const SchemaVersion = 1

// Statuses of a control.
const (
	Pass          = "pass"
	Fail          = "fail"
	NotApplicable = "not_applicable"
)

// Result is the outcome of every control over a period.
type Result struct {
	Schema  int    `json:"schema"`
	Ledger  string `json:"ledger"`
	Genesis string `json:"genesis"`
	Head    string `json:"head"`
	// Records is the number of records evaluated (those up to Until).
	Records int64 `json:"records"`
	// Verified says the ledger verified before it was tested; the command
	// refuses to test one that does not.
	Verified bool   `json:"verified"`
	Period   Period `json:"period"`
	// Passed is true when no control failed.
	Passed   bool      `json:"passed"`
	Controls []Control `json:"controls"`
}

// Period is the evaluated period; AsOf is the moment state-based
// controls (overdue rotation, review gap) are judged at.
type Period struct {
	Since string `json:"since"`
	Until string `json:"until"`
	AsOf  string `json:"as_of"`
}

// Control is one control statement and its outcome.
type Control struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Statement string   `json:"statement"`
	SOC2      []string `json:"soc2"`
	ISO27001  []string `json:"iso27001"`
	Status    string   `json:"status"`
	// Tested is the number of items (keys, exports, reviews, ceremonies…)
	// the control was tested on; zero makes it not applicable.
	Tested     int         `json:"tested"`
	Exceptions []Exception `json:"exceptions"`
	// Items lists what was tested, for a control whose every item the
	// reviewer is to see (KM-15: every signature made with a key).
	Items []Exception `json:"items,omitempty"`
}

// Exception is one finding against a control, with the records that
// show it.
type Exception struct {
	Message string `json:"message"`
	KeyID   string `json:"key_id,omitempty"`
	Records []Ref  `json:"records"`
}

// Ref names a record by its place and its digest.
type Ref struct {
	Seq    int64  `json:"seq"`
	Digest string `json:"digest"`
	Kind   string `json:"kind"`
	Time   string `json:"time"`
}

// Definition is a control of the catalogue, before it is tested.
type Definition struct {
	ID, Title, Statement string
	SOC2, ISO27001       []string
}

// Catalogue is the documented set of controls (docs/controls.md), in
// the order they are reported.
var Catalogue = []Definition{
	{"KM-01", "Key ownership and algorithm", "Every key has a named owner and a key type on the policy's approved list.",
		[]string{"CC6.1"}, []string{"A.5.9", "A.8.24"}},
	{"KM-02", "Owner is a member", "Every key's owner is a member of the roster (by name, e-mail, or a trailing \"(member)\").",
		[]string{"CC6.1", "CC6.3"}, []string{"A.5.9", "A.5.18"}},
	{"KM-03", "Rotation period set", "Every key has a rotation period, within the policy's maximum for its type.",
		[]string{"CC6.1"}, []string{"A.8.24"}},
	{"KM-04", "Rotation on time", "Every key is rotated within its rotation period: none is overdue as of the period's end, none was rotated late.",
		[]string{"CC6.1"}, []string{"A.8.24"}},
	{"KM-05", "Exports under dual control", "Every export was approved by at least one member other than its operator.",
		[]string{"CC6.1", "CC6.7"}, []string{"A.5.14", "A.8.24"}},
	{"KM-06", "Exports expire before retirement", "No export is valid (expires) past the retirement of the key it carries.",
		[]string{"CC6.7", "C1.2"}, []string{"A.5.14", "A.8.24"}},
	{"KM-07", "Access reviewed on cadence", "Access is reviewed (review.signed) at least once every review cadence of the policy (default 92 days).",
		[]string{"CC6.2", "CC6.3"}, []string{"A.5.18"}},
	{"KM-08", "Destruction evidenced", "Every destruction records the HSM's evidence: objects destroyed, and a fresh session finds nothing by id or label.",
		[]string{"CC6.5", "C1.2"}, []string{"A.7.14", "A.8.10", "A.8.24"}},
	{"KM-09", "Backups accounted for at destruction", "A destroyed key has no backup outstanding: every backup of it is destroyed, each share attested.",
		[]string{"CC6.5", "C1.2"}, []string{"A.8.10", "A.8.13"}},
	{"KM-10", "Separation of duties", "No one both generated a key and approved its destruction, and no one approved their own step of a key's life.",
		[]string{"CC6.1", "CC6.3"}, []string{"A.5.3", "A.8.24"}},
	{"KM-11", "Ceremonies completed", "Every ceremony is closed: none was aborted, none is left open.",
		[]string{"CC6.1", "CC6.6"}, []string{"A.8.24"}},
	{"KM-12", "No restore after destruction", "No key is restored after its destruction.",
		[]string{"C1.2"}, []string{"A.8.10", "A.8.24"}},
	{"KM-13", "Labels unique", "No label is given to more than one key.",
		[]string{"CC6.1"}, []string{"A.5.9"}},
	{"KM-14", "Departed members", "A member removed from the roster acts and approves no more, and every backup share they held is re-issued (reshared) or the backup destroyed.",
		[]string{"CC6.2", "CC6.3"}, []string{"A.5.11", "A.5.18", "A.6.5"}},
	{"KM-15", "Signatures under dual control", "Every signature made with a key on the HSM (certificate, CRL, detached) was approved by at least one member other than its operator, and records the digest of what was signed and of every output.",
		[]string{"CC6.1", "CC8.1"}, []string{"A.8.24"}},
}
