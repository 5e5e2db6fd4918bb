package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"custos/internal/strictyaml"
	"custos/ledger/internal/canonical"
	"custos/sign"
)

// Roles a member can hold.
var Roles = []string{"custodian", "officer", "auditor", "witness"}

// DefaultAlgorithms are the key types approved when a policy names none.
var DefaultAlgorithms = []string{"aes-256", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ed25519"}

// Member is one person of the roster.
type Member struct {
	Name  string   `json:"name"`
	Email string   `json:"email,omitempty"`
	Roles []string `json:"roles"`
	Key   string   `json:"key"` // OpenSSH public key, "type base64" without comment
}

// HasRole reports whether m holds any of roles.
func (m *Member) HasRole(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(m.Roles, r) {
			return true
		}
	}
	return false
}

// PublicKey parses the member's key.
func (m *Member) PublicKey() (ssh.PublicKey, error) { return sign.ParsePublicKey(m.Key) }

// commitEmail is the e-mail address of the member's commits.
func (m *Member) commitEmail() string {
	if m.Email != "" {
		return m.Email
	}
	return m.Name + "@custos.ledger"
}

// Roster is the list of members.
type Roster struct {
	Members []Member `json:"members"`
}

// Member returns the member called name, or nil.
func (r *Roster) Member(name string) *Member {
	for i := range r.Members {
		if r.Members[i].Name == name {
			return &r.Members[i]
		}
	}
	return nil
}

// Requirement is what a record kind needs: Count approvals by distinct
// members holding one of Roles; the operator (actor) counts only when
// SelfApproval is true.
type Requirement struct {
	Roles        []string `json:"roles"`
	Count        int      `json:"count"`
	SelfApproval bool     `json:"self_approval,omitempty"`
}

// Policy says who must agree, which algorithms are approved and how often
// keys rotate.
type Policy struct {
	// Approvals maps a record kind ("key.generate.intent"), a prefix
	// pattern ("key.*") or "*" to its requirement.
	Approvals  map[string]Requirement `json:"approvals"`
	Algorithms []string               `json:"algorithms"`
	// Rotation maps a key type to its rotation period ("90d", "1y", "5y"):
	// the longest a key of that type may live before it is rotated.
	Rotation map[string]string `json:"rotation,omitempty"`
	// GeneratorMayApproveDestruction lifts the default separation of
	// duties: unless set, the member who generated a key may not approve
	// its destruction ("no individual both generates and approves
	// deletion").
	GeneratorMayApproveDestruction bool `json:"generator_may_approve_destruction,omitempty"`
	// MemberKeyRSAMinBits is the smallest RSA member key accepted, in
	// bits; zero means sign.DefaultRSAMinBits. Left out of the encoding
	// when zero, so ledgers written before it encode as they did.
	MemberKeyRSAMinBits int `json:"member_rsa_min_bits,omitempty"`
	// ReviewCadence is the longest time allowed between two access
	// reviews (review.signed), a period like "92d" or "3m"; empty means
	// DefaultReviewCadence. Left out of the encoding when empty, so
	// ledgers written before it encode as they did.
	ReviewCadence string `json:"review_cadence,omitempty"`
	// Environments and Classifications are the words a key's environment
	// (production, staging, …) and classification (secret, internal, …)
	// are taken from: where a list is set, every new key names one of its
	// words, and verify refuses a generation that does not. Left out of
	// the encoding when empty, so ledgers written before them encode as
	// they did.
	Environments    []string `json:"environments,omitempty"`
	Classifications []string `json:"classifications,omitempty"`
	// ExportOAEP are the hashes an RSA-OAEP export may use ("sha-256",
	// "sha-1"), tried in this order; empty means DefaultExportOAEP. Left
	// out of the encoding when empty.
	ExportOAEP []string `json:"export_oaep,omitempty"`
}

// OAEPHashes are the RSA-OAEP hashes Custos knows.
var OAEPHashes = []string{"sha-256", "sha-1"}

// DefaultExportOAEP is the export hashes of a policy that names none:
// SHA-256, else SHA-1 (SoftHSM offers only SHA-1 for OAEP; in OAEP, SHA-1
// serves as the mask and label hash, where no collision resistance is
// needed, and NIST SP 800-56B allows it). A policy that writes
// export_oaep: [sha-256] refuses the fallback.
var DefaultExportOAEP = OAEPHashes

// ExportOAEPHashes is the policy's RSA-OAEP export hashes, in order.
func (p *Policy) ExportOAEPHashes() []string {
	if len(p.ExportOAEP) == 0 {
		return DefaultExportOAEP
	}
	return p.ExportOAEP
}

// VocabWord is the form of a vocabulary word: an environment or a
// classification.
var VocabWord = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// checkVocabulary checks one of the policy's vocabularies.
func checkVocabulary(field string, words []string) error {
	if len(words) > 64 {
		return fmt.Errorf("policy.%s: %d words, at most 64", field, len(words))
	}
	for i, w := range words {
		if !VocabWord.MatchString(w) {
			return fmt.Errorf("policy.%s[%d]: %.40q is not one word of lower-case letters, digits and dashes", field, i, w)
		}
		if slices.Index(words, w) != i {
			return fmt.Errorf("policy.%s[%d]: %q is listed twice", field, i, w)
		}
	}
	return nil
}

// vocabularyRule says why value (a key's environment or classification,
// named path) is refused by the policy's vocabulary words, or nil: with no
// words any value, or none, is taken.
func vocabularyRule(path string, words []string, value string) error {
	if len(words) == 0 || slices.Contains(words, value) {
		return nil
	}
	if value == "" {
		return fmt.Errorf("%s is missing: the policy asks every new key for one of %s", path, strings.Join(words, ", "))
	}
	return fmt.Errorf("%s %.40q is not one of the policy's words (%s)", path, value, strings.Join(words, ", "))
}

// KeyVocabulary says why a new key's environment or classification is
// refused by the policy, or nil; at prefixes the names in the message
// ("facts." in a record, "key." in a script).
func (p *Policy) KeyVocabulary(at, environment, classification string) error {
	if err := vocabularyRule(at+"environment", p.Environments, environment); err != nil {
		return err
	}
	return vocabularyRule(at+"classification", p.Classifications, classification)
}

// DefaultReviewCadence is the review cadence of a policy that sets none:
// a quarter.
const DefaultReviewCadence = "92d"

// ReviewCadenceDays is the policy's review cadence in days.
func (p *Policy) ReviewCadenceDays() int64 {
	if p.ReviewCadence == "" {
		return PeriodDays(DefaultReviewCadence)
	}
	return PeriodDays(p.ReviewCadence)
}

// RSAMinBits is the smallest RSA member key the policy accepts.
func (p *Policy) RSAMinBits() int {
	if p.MemberKeyRSAMinBits == 0 {
		return sign.DefaultRSAMinBits
	}
	return p.MemberKeyRSAMinBits
}

// DefaultApprovals apply to the kinds a roster file's policy leaves
// uncovered: every intent touching key material and every roster change
// needs one officer other than the operator.
func DefaultApprovals() map[string]Requirement {
	one := Requirement{Roles: []string{"officer"}, Count: 1}
	return map[string]Requirement{
		"key.generate.intent": one, "key.export.intent": one, "key.destroy.intent": one,
		"key.restore.intent": one, "backup.intent": one, "roster.changed": one,
		"backup.destroyed":      one, // ends the key's recoverability
		"backup.reshare.intent": one, // hands the key's recoverability to new holders
	}
}

// Required returns the requirement for kind: the exact kind, else the
// longest matching "prefix.*" pattern, else "*", else no approvals.
func (p *Policy) Required(kind string) Requirement {
	r, _ := p.rule(kind)
	return r
}

// covers reports whether a rule of the policy applies to kind.
func (p *Policy) covers(kind string) bool {
	_, ok := p.rule(kind)
	return ok
}

func (p *Policy) rule(kind string) (Requirement, bool) {
	if r, ok := p.Approvals[kind]; ok {
		return r, true
	}
	if kind == "key.sign.intent" {
		// A signature with a key needs, unless a rule names
		// key.sign.intent itself, what the key's export needs: a policy
		// written before signing existed gives it no weaker quorum.
		return p.ruleOf("key.export.intent")
	}
	return p.ruleOf(kind)
}

func (p *Policy) ruleOf(kind string) (Requirement, bool) {
	if r, ok := p.Approvals[kind]; ok {
		return r, true
	}
	best, bestLen := Requirement{}, -1
	for pat, r := range p.Approvals {
		// A pattern covers the records that take approvals, those that
		// open a ceremony: "key.*" is every key intent, not key.generated,
		// which the operator records alone.
		if pre, ok := strings.CutSuffix(pat, "*"); ok && strings.HasPrefix(kind, pre) && len(pre) > bestLen && takesApprovals(kind) {
			best, bestLen = r, len(pre)
		}
	}
	return best, bestLen >= 0
}

// AlgorithmApproved reports whether the key type is on the approved list.
func (p *Policy) AlgorithmApproved(alg string) bool { return slices.Contains(p.Algorithms, alg) }

var (
	patternRe = regexp.MustCompile(`^(?:\*|[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*(?:\.\*)?)$`)
	periodRe  = regexp.MustCompile(`^[1-9][0-9]{0,3}[dwmy]$`)
	emailRe   = regexp.MustCompile(`^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$`)
)

// Validate checks the roster and policy together; errors name the field
// in roster-file terms ("members[1].key"). Every member key must pass
// sign.CheckMemberKey under the policy's RSA minimum.
func Validate(r *Roster, p *Policy) error {
	if len(r.Members) == 0 {
		return errors.New("members: the roster has no members")
	}
	if err := validRSAMinBits(p.MemberKeyRSAMinBits); err != nil {
		return err
	}
	names := map[string]bool{}
	keys := map[string]string{}
	for i := range r.Members {
		m := &r.Members[i]
		at := fmt.Sprintf("members[%d]", i)
		if !validName(m.Name) {
			return fmt.Errorf("%s.name: %q is not a valid member name (lower-case letters, digits, - and _, starting with a letter)", at, m.Name)
		}
		if names[m.Name] {
			return fmt.Errorf("%s.name: member %q is listed twice", at, m.Name)
		}
		names[m.Name] = true
		if m.Email != "" && !emailRe.MatchString(m.Email) {
			return fmt.Errorf("%s.email: %q is not an e-mail address", at, m.Email)
		}
		if len(m.Roles) == 0 {
			return fmt.Errorf("%s.roles: member %s has no role", at, m.Name)
		}
		for j, role := range m.Roles {
			if !slices.Contains(Roles, role) {
				return fmt.Errorf("%s.roles[%d]: unknown role %q (known: %s)", at, j, role, strings.Join(Roles, ", "))
			}
			if slices.Index(m.Roles, role) != j {
				return fmt.Errorf("%s.roles[%d]: role %q is listed twice", at, j, role)
			}
		}
		pub, err := sign.ParsePublicKey(m.Key)
		if err != nil {
			return fmt.Errorf("%s.key: not an ssh public key", at)
		}
		if m.Key != sign.AuthorizedKey(pub) {
			return fmt.Errorf("%s.key: key must be written as %q without comment", at, sign.AuthorizedKey(pub))
		}
		if err := sign.CheckMemberKey(pub, p.RSAMinBits()); err != nil {
			return fmt.Errorf("%s.key: %w", at, err)
		}
		if other, dup := keys[m.Key]; dup {
			return fmt.Errorf("%s.key: the same key is already the key of %s", at, other)
		}
		keys[m.Key] = m.Name
	}
	if len(p.Algorithms) == 0 {
		return errors.New("policy.algorithms: no approved algorithm")
	}
	for i, a := range p.Algorithms {
		if !slices.Contains(DefaultAlgorithms, a) {
			return fmt.Errorf("policy.algorithms[%d]: unknown algorithm %q (known: %s)", i, a, strings.Join(DefaultAlgorithms, ", "))
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(p.Approvals)) {
		req := p.Approvals[kind]
		at := "policy.approvals." + kind
		if !patternRe.MatchString(kind) {
			return fmt.Errorf("%s: %q is not a record kind or kind pattern", at, kind)
		}
		if err := checkPolicyKind(kind); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if req.Count > 0 && !strings.HasSuffix(kind, "*") && !takesApprovals(kind) {
			return fmt.Errorf("%s: %s is recorded without approvals%s: a rule for it could never be met", at, kind, openedBy(kind))
		}
		if req.Count < 0 || req.Count > 64 {
			return fmt.Errorf("%s.count: %d is out of range 0..64", at, req.Count)
		}
		if req.Count > 0 && len(req.Roles) == 0 {
			return fmt.Errorf("%s.roles: approvals need at least one role", at)
		}
		for j, role := range req.Roles {
			if !slices.Contains(Roles, role) {
				return fmt.Errorf("%s.roles[%d]: unknown role %q", at, j, role)
			}
		}
		// Refuse a policy nobody can satisfy: it would lock the ledger.
		n := 0
		for i := range r.Members {
			if r.Members[i].HasRole(req.Roles...) {
				n++
			}
		}
		if req.Count > 0 && n < req.Count {
			return fmt.Errorf("%s.count: %d approvals by %s cannot be met by this roster", at, req.Count, strings.Join(req.Roles, "/"))
		}
	}
	for _, t := range slices.Sorted(maps.Keys(p.Rotation)) {
		if !slices.Contains(DefaultAlgorithms, t) {
			return fmt.Errorf("policy.rotation.%s: unknown key type", t)
		}
		if !periodRe.MatchString(p.Rotation[t]) {
			return fmt.Errorf("policy.rotation.%s: %q is not a period like 90d, 12m or 5y", t, p.Rotation[t])
		}
	}
	if p.ReviewCadence != "" && !periodRe.MatchString(p.ReviewCadence) {
		return fmt.Errorf("policy.review_cadence: %q is not a period like 92d, 13w or 3m", p.ReviewCadence)
	}
	if err := checkVocabulary("environments", p.Environments); err != nil {
		return err
	}
	for i, h := range p.ExportOAEP {
		if !slices.Contains(OAEPHashes, h) {
			return fmt.Errorf("policy.export_oaep[%d]: unknown hash %.40q (known: %s)", i, h, strings.Join(OAEPHashes, ", "))
		}
		if slices.Index(p.ExportOAEP, h) != i {
			return fmt.Errorf("policy.export_oaep[%d]: %q is listed twice", i, h)
		}
	}
	return checkVocabulary("classifications", p.Classifications)
}

// validRSAMinBits checks policy.member_rsa_min_bits: unset (zero), or at
// least sign.MinRSAMinBits and at most 16384 (the largest key OpenSSH makes).
func validRSAMinBits(n int) error {
	if n != 0 && (n < sign.MinRSAMinBits || n > 16384) {
		return fmt.Errorf("policy.member_rsa_min_bits: %d is out of range %d..16384", n, sign.MinRSAMinBits)
	}
	return nil
}

// RosterFile is a parsed roster file for `custos init`.
type RosterFile struct {
	Ledger   string // optional ledger id; random when empty
	Ceremony string // ceremony id of the genesis; "genesis" when empty
	Roster   Roster
	Policy   Policy
	// Defaulted lists the kinds no rule of the file covered, given the
	// default requirement (DefaultApprovals), sorted; Unmet, those left
	// without any because the roster cannot meet the default (no officer).
	Defaulted, Unmet []string
}

// rosterDoc is a roster file as written: decoded by strictyaml, the one
// YAML dialect of every file custos reads, then checked as a whole.
type rosterDoc struct {
	Ledger   string      `yaml:"ledger"`
	Ceremony string      `yaml:"ceremony"`
	Members  []memberDoc `yaml:"members,required"`
	Policy   policyDoc   `yaml:"policy"`

	keys []ssh.PublicKey // parsed by CheckYAML, one per member
}

type memberDoc struct {
	Name  string   `yaml:"name,required"`
	Email string   `yaml:"email"`
	Roles []string `yaml:"roles,required"`
	Key   string   `yaml:"key,required"`
}

type policyDoc struct {
	Approvals                      map[string]requirementDoc `yaml:"approvals"`
	Algorithms                     []string                  `yaml:"algorithms"`
	GeneratorMayApproveDestruction bool                      `yaml:"generator_may_approve_destruction"`
	MemberRSAMinBits               *int                      `yaml:"member_rsa_min_bits"`
	Rotation                       map[string]string         `yaml:"rotation"`
	ReviewCadence                  string                    `yaml:"review_cadence"`
	Environments                   []string                  `yaml:"environments"`
	Classifications                []string                  `yaml:"classifications"`
	ExportOAEP                     []string                  `yaml:"export_oaep"`
}

type requirementDoc struct {
	Roles        []string `yaml:"roles"`
	Count        int      `yaml:"count,required"`
	SelfApproval bool     `yaml:"self_approval"`
}

// CheckYAML checks what needs the whole file: ids, member keys (judged
// against the policy's RSA minimum, which may follow the members).
func (d *rosterDoc) CheckYAML() error {
	at := func(path, format string, args ...any) error {
		return &strictyaml.Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if d.Ledger != "" && !validID(d.Ledger) {
		return at("ledger", "%q is not a valid ledger id", d.Ledger)
	}
	if d.Ceremony != "" && !validID(d.Ceremony) {
		return at("ceremony", "%q is not a valid ceremony id", d.Ceremony)
	}
	minBits := sign.DefaultRSAMinBits
	if b := d.Policy.MemberRSAMinBits; b != nil {
		if *b == 0 || validRSAMinBits(*b) != nil {
			return at("policy.member_rsa_min_bits", "%d is out of range %d..16384", *b, sign.MinRSAMinBits)
		}
		minBits = *b
	}
	for i, m := range d.Members {
		path := fmt.Sprintf("members[%d].key", i)
		pub, err := sign.ParsePublicKey(m.Key)
		if err != nil {
			return at(path, "not an ssh public key")
		}
		if err := sign.CheckMemberKey(pub, minBits); err != nil {
			return &strictyaml.Error{Path: path, Msg: err.Error(), Err: err}
		}
		d.keys = append(d.keys, pub)
	}
	return nil
}

// ParseRoster reads a roster file strictly: unknown or duplicate fields,
// wrong types and anchors are errors, and every error names the file and
// the YAML path ("roster.yaml: members[1].key: not an ssh public key").
func ParseRoster(file string, data []byte) (*RosterFile, error) {
	var d rosterDoc
	if err := strictyaml.Decode(file, data, &d); err != nil {
		return nil, err
	}
	out := &RosterFile{Ledger: d.Ledger, Ceremony: d.Ceremony}
	for i, m := range d.Members {
		out.Roster.Members = append(out.Roster.Members, Member{
			Name: m.Name, Email: m.Email, Roles: m.Roles,
			Key: sign.AuthorizedKey(d.keys[i]), // drop the comment
		})
	}
	p := &out.Policy
	p.Approvals = map[string]Requirement{}
	for k, r := range d.Policy.Approvals {
		p.Approvals[k] = Requirement(r)
	}
	p.Algorithms = d.Policy.Algorithms
	p.Rotation = d.Policy.Rotation
	p.GeneratorMayApproveDestruction = d.Policy.GeneratorMayApproveDestruction
	p.ReviewCadence = d.Policy.ReviewCadence
	p.Environments, p.Classifications = d.Policy.Environments, d.Policy.Classifications
	p.ExportOAEP = d.Policy.ExportOAEP
	if b := d.Policy.MemberRSAMinBits; b != nil {
		p.MemberKeyRSAMinBits = *b
	}
	// A kind with a default requirement keeps it unless a rule of the file
	// covers it: leaving a kind out must not waive its approvals ("count:
	// 0" waives them, in so many words). Defaults never lock a small
	// roster: one it cannot meet is left out.
	for k, r := range DefaultApprovals() {
		switch {
		case p.covers(k):
		case Validate(&out.Roster, &Policy{Algorithms: DefaultAlgorithms, Approvals: map[string]Requirement{k: r}, MemberKeyRSAMinBits: p.MemberKeyRSAMinBits}) != nil:
			out.Unmet = append(out.Unmet, k)
		default:
			p.Approvals[k] = r
			out.Defaulted = append(out.Defaulted, k)
		}
	}
	slices.Sort(out.Defaulted)
	slices.Sort(out.Unmet)
	if p.Algorithms == nil {
		p.Algorithms = slices.Clone(DefaultAlgorithms)
	}
	if err := Validate(&out.Roster, p); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

// rosterFacts and parseRosterFacts move roster and policy in and out of
// the facts of ledger.genesis and roster.changed records.
func rosterFacts(r *Roster, p *Policy) (map[string]any, error) {
	return FactsOf(map[string]any{"roster": r, "policy": p})
}

func parseRosterFacts(facts map[string]any) (*Roster, *Policy, error) {
	var r Roster
	var p Policy
	for k, dst := range map[string]any{"roster": &r, "policy": &p} {
		v, ok := facts[k]
		if !ok {
			return nil, nil, fmt.Errorf("facts.%s is missing", k)
		}
		b, err := canonical.Marshal(v)
		if err != nil {
			return nil, nil, fmt.Errorf("facts.%s: %w", k, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			return nil, nil, fmt.Errorf("facts.%s: %w", k, err)
		}
	}
	if err := Validate(&r, &p); err != nil {
		return nil, nil, fmt.Errorf("facts: %w", err)
	}
	return &r, &p, nil
}
