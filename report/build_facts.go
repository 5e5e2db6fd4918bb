// Small readers of a record's facts for the builder: values by path,
// holders, HSMs, check values, approvers, flattened facts and times.

package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"custos/ledger"
)

// --- facts helpers ---

func lookup(f map[string]any, path string) any {
	var v any = f
	for p := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(f map[string]any, path string) string {
	s, _ := lookup(f, path).(string)
	return s
}

func num(f map[string]any, path string) (int64, bool) {
	switch n := lookup(f, path).(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), true
	}
	return 0, false
}

// holders are the share holders of a backup.split: objects with a member
// (the outcome) or plain names (the intent).
func holders(f map[string]any) []string {
	out := []string{}
	a, _ := f["holders"].([]any)
	for _, h := range a {
		switch x := h.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			if m, ok := x["member"].(string); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

func hsmRef(f map[string]any) HSMRef {
	return HSMRef{Manufacturer: str(f, "hsm.manufacturer"), Model: str(f, "hsm.model"),
		Serial: str(f, "hsm.serial"), Label: str(f, "hsm.label")}
}

// checkValue is the first check value a generation recorded, named by its
// fact so a reader finds it in the record.
func checkValue(f map[string]any) string {
	for _, n := range []string{"kcv_aes_cmac", "kcv", "check_value", "spki_sha256", "ssh_fingerprint"} {
		if s := str(f, n); s != "" {
			return n + ":" + s
		}
	}
	return ""
}

func approvers(rec *ledger.Record) []string {
	out := make([]string, 0, len(rec.Approvals))
	for _, a := range rec.Approvals {
		out = append(out, a.Member)
	}
	return out
}

// carried maps the approvers whose approval came as a file to the file's
// SHA-256; nil when every approval was given in the room.
func carried(rec *ledger.Record) map[string]string {
	var out map[string]string
	for _, a := range rec.Approvals {
		if a.Carried != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[a.Member] = a.Carried
		}
	}
	return out
}

// approvalList names approvers and how each approval came: "bob (in the
// room), carol (carried: approval file sha256:…)".
func approvalList(names []string, carried map[string]string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		if d, ok := carried[n]; ok {
			parts[i] = n + " (carried: approval file " + shortDigest(d) + ")"
		} else {
			parts[i] = n + " (in the room)"
		}
	}
	return strings.Join(parts, ", ")
}

// flatten turns facts into rows, sorted by name: a scalar is one row
// (dotted Name, Label its last part); an object, or a list of objects,
// heads rows one Depth deeper (list entries are labelled #1, #2, …); a
// list of scalars is one row of values joined by ", ". No row holds
// JSON. The roster and policy of genesis and roster records are left
// out: the roster history and policy sections show them.
func flatten(f map[string]any) []Fact {
	out := []Fact{}
	var walk func(name, label string, depth int, v any)
	walk = func(name, label string, depth int, v any) {
		switch x := v.(type) {
		case map[string]any:
			if name != "" {
				out = append(out, Fact{Name: name, Label: label, Depth: depth})
				depth++
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				if name == "" && (k == "roster" || k == "policy") {
					continue
				}
				n := k
				if name != "" {
					n = name + "." + k
				}
				walk(n, k, depth, x[k])
			}
		case []any:
			parts := make([]string, 0, len(x))
			nested := false
			for _, e := range x {
				s, ok := scalar(e)
				nested = nested || !ok
				parts = append(parts, factValue(s))
			}
			if !nested {
				out = append(out, Fact{Name: name, Label: label, Depth: depth, Value: strings.Join(parts, ", ")})
				return
			}
			out = append(out, Fact{Name: name, Label: label, Depth: depth})
			for i, e := range x {
				walk(name+"."+strconv.Itoa(i+1), "#"+strconv.Itoa(i+1), depth+1, e)
			}
		default:
			s, _ := scalar(x)
			out = append(out, Fact{Name: name, Label: label, Depth: depth, Value: factValue(s), Note: factNote(label, s)})
		}
	}
	walk("", "", 0, f)
	return out
}

// factValue shortens an SSH signature (a checkpoint's witness, an
// approval) to what a reader can use: verify checked it.
func factValue(s string) string {
	if strings.HasPrefix(s, "-----BEGIN SSH SIGNATURE-----") {
		return fmt.Sprintf("SSH signature (%d bytes, checked by custos verify)", len(s))
	}
	return s
}

// factNote says why a value that a reviewer would question is recorded.
func factNote(label, value string) string {
	if label == "oaep_hash" && strings.EqualFold(value, "sha-1") {
		return "acceptable: in RSA-OAEP, SHA-1 serves only as the mask-generation and label hash, where no collision resistance is needed, and OAEP with SHA-1 is still secure (NIST SP 800-56B allows it); SoftHSM offers only SHA-1 for OAEP, the policy's export_oaep allowed it (verify checks), and the export recorded it as such"
	}
	return ""
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int:
		return strconv.Itoa(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case nil:
		return "null", true
	}
	return "", false
}

func remarshal(v any, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func addOnce(s []string, v string) []string {
	if v == "" || slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(ledger.TimeLayout)
}

var typeBits = regexp.MustCompile(`^(?:aes|rsa|ec-p)-?([0-9]+)$`)

// bitsOf is the key size of a Custos key type ("rsa-3072", "ec-p384", "aes-256").
func bitsOf(typ string) int {
	if typ == "ed25519" {
		return 256
	}
	if m := typeBits.FindStringSubmatch(typ); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}
