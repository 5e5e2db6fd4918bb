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
	"gopkg.in/yaml.v3"

	"custos/internal/strictyaml"
	"custos/internal/termtext"
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
	return nil
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

// ParseRoster reads a roster file strictly: unknown or duplicate fields,
// wrong types and anchors are errors, and every error names the file and
// the YAML path ("roster.yaml: members[1].key: not an ssh public key").
func ParseRoster(file string, data []byte) (*RosterFile, error) {
	// The walk below keeps its own messages, but its errors are the
	// strictyaml errors of every other YAML file custos reads.
	fail := func(path string, n *yaml.Node, format string, args ...any) error {
		e := &strictyaml.Error{File: file, Path: path, Msg: fmt.Sprintf(format, args...)}
		if n != nil {
			e.Line = n.Line
		}
		return e
	}
	// KnownFields is set for completeness; the walk below does the
	// strict checking so that errors can name their path.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, fail("", nil, "not valid yaml: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fail("", &extra, "more than one yaml document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	w := &walker{fail: fail}
	out := &RosterFile{Policy: Policy{}}
	type keyAt struct {
		pub  ssh.PublicKey
		path string
		n    *yaml.Node
	}
	var keys []keyAt
	err := w.mapping(root, "", map[string]func(*yaml.Node, string) error{
		"ledger": func(n *yaml.Node, p string) error {
			s, err := w.str(n, p)
			if err == nil && !validID(s) {
				return fail(p, n, "%q is not a valid ledger id", s)
			}
			out.Ledger = s
			return err
		},
		"ceremony": func(n *yaml.Node, p string) error {
			s, err := w.str(n, p)
			if err == nil && !validID(s) {
				return fail(p, n, "%q is not a valid ceremony id", s)
			}
			out.Ceremony = s
			return err
		},
		"members": func(n *yaml.Node, p string) error {
			return w.seq(n, p, func(e *yaml.Node, ep string) error {
				var m Member
				err := w.mapping(e, ep, map[string]func(*yaml.Node, string) error{
					"name":  func(n *yaml.Node, p string) (err error) { m.Name, err = w.str(n, p); return },
					"email": func(n *yaml.Node, p string) (err error) { m.Email, err = w.str(n, p); return },
					"roles": func(n *yaml.Node, p string) (err error) { m.Roles, err = w.strs(n, p); return },
					"key": func(n *yaml.Node, p string) error {
						s, err := w.str(n, p)
						if err != nil {
							return err
						}
						pub, err := sign.ParsePublicKey(s)
						if err != nil {
							return fail(p, n, "not an ssh public key")
						}
						m.Key = sign.AuthorizedKey(pub) // drop the comment
						keys = append(keys, keyAt{pub, p, n})
						return nil
					},
				}, "name", "roles", "key")
				out.Roster.Members = append(out.Roster.Members, m)
				return err
			})
		},
		"policy": func(n *yaml.Node, p string) error {
			return w.mapping(n, p, map[string]func(*yaml.Node, string) error{
				"approvals": func(n *yaml.Node, p string) error {
					out.Policy.Approvals = map[string]Requirement{}
					return w.anyMapping(n, p, func(k string, v *yaml.Node, kp string) error {
						var r Requirement
						err := w.mapping(v, kp, map[string]func(*yaml.Node, string) error{
							"roles":         func(n *yaml.Node, p string) (err error) { r.Roles, err = w.strs(n, p); return },
							"count":         func(n *yaml.Node, p string) (err error) { r.Count, err = w.integer(n, p); return },
							"self_approval": func(n *yaml.Node, p string) (err error) { r.SelfApproval, err = w.boolean(n, p); return },
						}, "count")
						out.Policy.Approvals[k] = r
						return err
					})
				},
				"algorithms": func(n *yaml.Node, p string) (err error) { out.Policy.Algorithms, err = w.strs(n, p); return },
				"generator_may_approve_destruction": func(n *yaml.Node, p string) (err error) {
					out.Policy.GeneratorMayApproveDestruction, err = w.boolean(n, p)
					return
				},
				"member_rsa_min_bits": func(n *yaml.Node, p string) error {
					i, err := w.integer(n, p)
					if err == nil && (i == 0 || validRSAMinBits(i) != nil) {
						return fail(p, n, "%d is out of range %d..16384", i, sign.MinRSAMinBits)
					}
					out.Policy.MemberKeyRSAMinBits = i
					return err
				},
				"rotation": func(n *yaml.Node, p string) error {
					out.Policy.Rotation = map[string]string{}
					return w.anyMapping(n, p, func(k string, v *yaml.Node, kp string) (err error) {
						out.Policy.Rotation[k], err = w.str(v, kp)
						return
					})
				},
			})
		},
	}, "members")
	if err != nil {
		return nil, err
	}
	// Keys are judged here, where their line is known, once the policy's
	// RSA minimum (which may follow the members) has been read.
	for _, k := range keys {
		if err := sign.CheckMemberKey(k.pub, out.Policy.RSAMinBits()); err != nil {
			return nil, &strictyaml.Error{File: file, Path: k.path, Line: k.n.Line, Msg: err.Error(), Err: err}
		}
	}
	if out.Policy.Approvals == nil {
		out.Policy.Approvals = map[string]Requirement{}
	}
	// A kind with a default requirement keeps it unless a rule of the file
	// covers it: leaving a kind out must not waive its approvals ("count:
	// 0" waives them, in so many words). Defaults never lock a small
	// roster: one it cannot meet is left out.
	for k, r := range DefaultApprovals() {
		switch {
		case out.Policy.covers(k):
		case Validate(&out.Roster, &Policy{Algorithms: DefaultAlgorithms, Approvals: map[string]Requirement{k: r}, MemberKeyRSAMinBits: out.Policy.MemberKeyRSAMinBits}) != nil:
			out.Unmet = append(out.Unmet, k)
		default:
			out.Policy.Approvals[k] = r
			out.Defaulted = append(out.Defaulted, k)
		}
	}
	slices.Sort(out.Defaulted)
	slices.Sort(out.Unmet)
	if out.Policy.Algorithms == nil {
		out.Policy.Algorithms = slices.Clone(DefaultAlgorithms)
	}
	if err := Validate(&out.Roster, &out.Policy); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

type walker struct {
	fail func(path string, n *yaml.Node, format string, args ...any) error
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func (w *walker) mapping(n *yaml.Node, path string, fields map[string]func(*yaml.Node, string) error, required ...string) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return w.fail(path, n, "yaml anchors and aliases are not allowed")
	}
	if n.Kind != yaml.MappingNode {
		return w.fail(path, n, "must be a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			return w.fail(path, k, "mapping key must be a plain name")
		}
		if seen[k.Value] {
			return w.fail(p, k, "field is given twice")
		}
		seen[k.Value] = true
		f, ok := fields[k.Value]
		if !ok {
			known := slices.Sorted(maps.Keys(fields))
			return w.fail(p, k, "unknown field (known: %s)", strings.Join(known, ", "))
		}
		if v.Kind == yaml.AliasNode || v.Anchor != "" {
			return w.fail(p, v, "yaml anchors and aliases are not allowed")
		}
		if err := f(v, p); err != nil {
			return err
		}
	}
	for _, r := range required {
		if !seen[r] {
			return w.fail(join(path, r), n, "missing")
		}
	}
	return nil
}

func (w *walker) anyMapping(n *yaml.Node, path string, each func(k string, v *yaml.Node, p string) error) error {
	if n.Kind != yaml.MappingNode || n.Anchor != "" {
		return w.fail(path, n, "must be a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return w.fail(path, k, "mapping key must be a plain name")
		}
		p := join(path, k.Value)
		if seen[k.Value] {
			return w.fail(p, k, "given twice")
		}
		seen[k.Value] = true
		if v.Kind == yaml.AliasNode || v.Anchor != "" {
			return w.fail(p, v, "yaml anchors and aliases are not allowed")
		}
		if err := each(k.Value, v, p); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) seq(n *yaml.Node, path string, each func(*yaml.Node, string) error) error {
	if n.Kind != yaml.SequenceNode {
		return w.fail(path, n, "must be a list")
	}
	for i, e := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		if e.Kind == yaml.AliasNode || e.Anchor != "" {
			return w.fail(p, e, "yaml anchors and aliases are not allowed")
		}
		if err := each(e, p); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) str(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "") {
		return "", w.fail(path, n, "must be a string")
	}
	if err := termtext.Plain(n.Value); err != nil {
		return "", w.fail(path, n, "%v", err)
	}
	return n.Value, nil
}

func (w *walker) strs(n *yaml.Node, path string) ([]string, error) {
	out := []string{}
	err := w.seq(n, path, func(e *yaml.Node, p string) error {
		s, err := w.str(e, p)
		out = append(out, s)
		return err
	})
	return out, err
}

func (w *walker) integer(n *yaml.Node, path string) (int, error) {
	var i int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
		return 0, w.fail(path, n, "must be an integer")
	}
	return i, nil
}

func (w *walker) boolean(n *yaml.Node, path string) (bool, error) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		return false, w.fail(path, n, "must be true or false")
	}
	return b, nil
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
