package ledger

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"custos/ledger/internal/canonical"
)

// This file is the ledger's state machine as a table: one kindSpec per
// record kind, its facts given by a type of facts.go, read by the writer (Append) and by verify through the same
// replay (State.authorize and State.apply). docs/ledger-format.md prints
// the same table; a kind not in it is refused by both.

// factType is the JSON type a fact must have.
type factType int

const (
	fString factType = iota + 1
	fInt
	fBool
	fObject
	fList
	fNames // a list of member names
)

// fact is one fact a kind may carry: its type and whether it must be there.
type fact struct {
	t   factType
	req bool
}

// keyNeed is what a kind needs of the key its facts.key_id names.
type keyNeed int

const (
	keyNone       keyNeed = iota // the kind names no key
	keyNew                       // a new key id
	keyGenerating                // the key's generation intent is open
	keyActive                    // an active key
	keyRestorable                // active or destroyed, with a backup of it
	keyLive                      // any key that is not destroyed or aborted
	keyMade                      // any key that was made, destroyed or not
)

// kindSpec is one row of the table.
type kindSpec struct {
	// opens: the first record of a ceremony. intent: it opens an intent
	// that only its outcome (settledBy) or ceremony.aborted may follow.
	opens, intent bool
	settledBy     string
	// roles the actor must hold one of (in the roster in force).
	roles []string
	key   keyNeed
	// set is the key state afterwards ("" unchanged).
	set string
	// facts the kind may carry; any other fact is refused.
	facts map[string]fact
	// bind lists the facts an outcome must carry with the value its
	// intent (the record its approvals covered) carried.
	bind []string
	// hsm: the record acts on an HSM and must name an enrolled one that,
	// for a key already made, holds the key.
	hsm bool

	required []string // the facts marked req, sorted (set by init)
}

func init() {
	for k, s := range kinds {
		for _, f := range slices.Sorted(maps.Keys(s.facts)) {
			if s.facts[f].req {
				s.required = append(s.required, f)
			}
		}
		kinds[k] = s
	}
}

var (
	operators = []string{"custodian"}
	officers  = []string{"officer"}
	anyone    = []string{"custodian", "officer"} // never an auditor or a witness alone
	// witnessRoles may co-sign a checkpoint as a witness.
	witnessRoles = []string{"custodian", "officer", "witness"}
)

var kinds = map[string]kindSpec{
	"ledger.genesis":  {opens: true, roles: anyone, facts: factsOf(GenesisFacts{})},
	"roster.changed":  {opens: true, roles: anyone, facts: factsOf(RosterFacts{})},
	"hsm.enrolled":    {opens: true, roles: operators, facts: factsOf(EnrolledFacts{})},
	"review.signed":   {opens: true, roles: officers, facts: factsOf(ReviewFacts{})},
	"key.compromised": {opens: true, roles: anyone, key: keyLive, facts: factsOf(CompromisedFacts{})},
	"share.verified":  {opens: true, roles: anyone, key: keyMade, facts: factsOf(ShareVerifiedFacts{})},

	"key.generate.intent": {opens: true, intent: true, settledBy: "key.generated", roles: operators, key: keyNew, set: KeyGenerating, hsm: true,
		facts: factsOf(GenerateIntentFacts{})},
	"key.generated": {roles: operators, key: keyGenerating, set: KeyActive, hsm: true, facts: factsOf(KeyFacts{}),
		bind: []string{"key_id", "label", "type", "hsm"}},
	"key.retirement.scheduled": {roles: operators, key: keyActive, facts: factsOf(RetirementFacts{})},

	"key.export.intent": {opens: true, intent: true, settledBy: "key.exported", roles: operators, key: keyActive, hsm: true,
		facts: factsOf(ExportIntentFacts{})},
	"key.exported": {roles: operators, key: keyActive, hsm: true, facts: factsOf(ExportedFacts{}),
		bind: []string{"key_id", "recipient", "output", "hsm"}},

	// A signature made with a key on the HSM (a certificate, a CRL, a
	// detached signature): the key is used, not changed.
	"key.sign.intent": {opens: true, intent: true, settledBy: "key.signed", roles: operators, key: keyActive, hsm: true,
		facts: factsOf(SignIntentFacts{})},
	"key.signed": {roles: operators, key: keyActive, hsm: true, facts: factsOf(SignedFacts{}),
		bind: []string{"key_id", "sign_kind", "mechanism", "tbs_sha256", "hsm"}},

	"key.destroy.intent": {opens: true, intent: true, settledBy: "key.destroyed", roles: operators, key: keyActive, hsm: true,
		facts: factsOf(DestroyIntentFacts{})},
	"backup.destroyed": {opens: true, roles: operators, key: keyMade, facts: factsOf(BackupDestroyedFacts{})},
	"key.destroyed": {roles: operators, key: keyActive, set: KeyDestroyed, hsm: true, facts: factsOf(DestroyedFacts{}),
		bind: []string{"key_id", "hsm"}},

	"backup.intent": {opens: true, intent: true, settledBy: "backup.split", roles: operators, key: keyActive, hsm: true,
		facts: factsOf(BackupIntentFacts{})},
	"backup.split": {roles: operators, key: keyActive, hsm: true, facts: factsOf(BackupSplitFacts{}),
		bind: []string{"key_id", "backup_id", "m", "n", "media", "hsm"}},

	// A reshare replaces a backup's shares with new ones, under the same
	// wrapping key: the HSM checks the rebuilt key, it need not hold the
	// backed-up key (which may be destroyed there, the backup outstanding).
	"backup.reshare.intent": {opens: true, intent: true, settledBy: "backup.reshared", roles: operators, key: keyMade, hsm: true,
		facts: factsOf(ReshareIntentFacts{})},
	"backup.reshared": {roles: operators, key: keyMade, hsm: true, facts: factsOf(ResharedFacts{}),
		bind: []string{"key_id", "backup_id", "m", "n", "hsm"}},

	"key.restore.intent": {opens: true, intent: true, settledBy: "key.restored", roles: operators, key: keyRestorable, hsm: true,
		facts: factsOf(RestoreIntentFacts{})},
	"key.restored": {roles: operators, key: keyRestorable, set: KeyActive, hsm: true, facts: factsOf(RestoredFacts{}),
		bind: []string{"key_id", "backup_id", "hsm"}},

	"ceremony.aborted": {key: keyNone, facts: factsOf(AbortedFacts{})},
	"ceremony.closed":  {facts: factsOf(ClosedFacts{})},
}

// KindRoles are the roles one of which the operator of a record kind must
// hold (nil for a kind not in the table).
func KindRoles(kind string) []string { return slices.Clone(kinds[kind].roles) }

// keyIdentity are the facts that describe a key itself. They are set by
// its generation (intent and outcome) and never change: a later record
// may repeat them, with the same value, or leave them out.
var keyIdentity = []string{"label", "type", "class", "id", "kcv_aes_cmac", "kcv_aes_ecb", "spki_sha256", "ssh_fingerprint", "owner", "purpose", "rotation_days"}

// checkValues are the facts that prove which key an HSM holds: a restore
// must show every one the generation recorded.
var checkValues = []string{"kcv_aes_cmac", "kcv_aes_ecb", "spki_sha256", "ssh_fingerprint"}

// checkFacts checks rec's facts against its kind's row: no unknown fact,
// every required one, each of its type.
func checkFacts(spec kindSpec, rec *Record) error {
	// In the record's order first (no sorting on the path every record
	// takes); sorted only to name the first problem.
	bad := false
	for k, v := range rec.Facts {
		if f, ok := spec.facts[k]; !ok || f.check(v) != nil {
			bad = true
			break
		}
	}
	if bad {
		for _, k := range slices.Sorted(maps.Keys(rec.Facts)) {
			f, ok := spec.facts[k]
			if !ok {
				return fmt.Errorf("facts.%s is not a fact of %s (its facts: %s)", k, rec.Kind, strings.Join(slices.Sorted(maps.Keys(spec.facts)), ", "))
			}
			if err := f.check(rec.Facts[k]); err != nil {
				return fmt.Errorf("facts.%s: %w", k, err)
			}
		}
	}
	for _, k := range spec.required {
		if _, has := rec.Facts[k]; !has {
			return fmt.Errorf("%s needs facts.%s", rec.Kind, k)
		}
	}
	return nil
}

func (f fact) check(v any) error {
	switch f.t {
	case fString:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("must be a string")
		}
	case fInt:
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("must be an integer")
		}
		if _, err := n.Int64(); err != nil {
			return fmt.Errorf("must be an integer")
		}
	case fBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("must be true or false")
		}
	case fObject:
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("must be an object")
		}
	case fList:
		if _, ok := v.([]any); !ok {
			return fmt.Errorf("must be a list")
		}
	case fNames:
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("must be a list of member names")
		}
		seen := map[string]bool{}
		for i, e := range l {
			s, ok := e.(string)
			if !ok || !validName(s) {
				return fmt.Errorf("[%d] is not a member name", i)
			}
			if seen[s] {
				return fmt.Errorf("[%d]: %s is listed twice", i, s)
			}
			seen[s] = true
		}
	}
	return nil
}

// sameFact reports whether two fact values (as decoded from canonical
// JSON: string, json.Number, bool, nil, []any, map[string]any) are equal,
// as their canonical encodings would be; other values are compared by
// their canonical encoding.
func sameFact(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameFact(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, has := y[k]
			if !has || !sameFact(v, w) {
				return false
			}
		}
		return true
	}
	return canonEqual(a, b)
}

func canonEqual(a, b any) bool {
	ca, err1 := canonical.Marshal(a)
	cb, err2 := canonical.Marshal(b)
	return err1 == nil && err2 == nil && string(ca) == string(cb)
}

// hsmSerial is the serial of the HSM a record's facts.hsm names.
func hsmSerial(facts map[string]any) string {
	h, _ := facts["hsm"].(map[string]any)
	s, _ := h["serial"].(string)
	return s
}

// factNames reads a list of member names (checked by checkFacts).
func factNames(facts map[string]any, k string) []string {
	l, _ := facts[k].([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func factInt(facts map[string]any, k string) (int64, bool) {
	n, ok := facts[k].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// PeriodDays reads a policy rotation period ("90d", "2w", "12m", "5y"), any
// form Validate accepts, in days: a month is 30 days, a year 365 (as in
// ceremony scripts). It is 0 for anything else.
func PeriodDays(p string) int64 {
	if !periodRe.MatchString(p) {
		return 0
	}
	var n int64
	for _, c := range p[:len(p)-1] {
		n = n*10 + int64(c-'0')
	}
	switch p[len(p)-1] {
	case 'w':
		n *= 7
	case 'm':
		n *= 30
	case 'y':
		n *= 365
	}
	return n
}

// knownKind reports whether kind is a record kind of the ledger's table.
func knownKind(kind string) bool {
	_, ok := kinds[kind]
	return ok
}

// checkPolicyKind says why a key of policy.approvals names no record kind:
// a kind must be in the table, a pattern ("key.*", "*") must match one.
func checkPolicyKind(kind string) error {
	if pre, ok := strings.CutSuffix(kind, "*"); ok {
		for k := range kinds {
			if strings.HasPrefix(k, pre) {
				return nil
			}
		}
		return fmt.Errorf("the pattern %q matches no record kind", kind)
	}
	if knownKind(kind) {
		return nil
	}
	family, _, _ := strings.Cut(kind, ".")
	var near []string
	for k := range kinds {
		if strings.HasPrefix(k, family+".") {
			near = append(near, k)
		}
	}
	slices.Sort(near)
	if len(near) == 0 {
		return fmt.Errorf("%q is not a record kind", kind)
	}
	return fmt.Errorf("%q is not a record kind (%s.* kinds: %s)", kind, family, strings.Join(near, ", "))
}

// takesApprovals reports whether records of kind carry approvals: those
// that open a ceremony. Outcomes and closes are the operator's alone.
func takesApprovals(kind string) bool { return kinds[kind].opens }

// openedBy names, for an outcome kind, the intent whose approvals cover it.
func openedBy(kind string) string {
	for k, spec := range kinds {
		if spec.settledBy == kind {
			return fmt.Sprintf(" (the approvals are given to its intent, %s)", k)
		}
	}
	return ""
}
