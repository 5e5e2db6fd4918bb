// Small readers of a record's facts for the builder: values by path,
// holders, HSMs, check values, approvers, flattened facts and times.

package report

import (
	"encoding/json"
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

// flatten turns facts into dotted name = value pairs, sorted. The roster
// and policy of genesis and roster records are left out: the roster
// history and policy sections show them.
func flatten(f map[string]any) []Fact {
	out := []Fact{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				if prefix == "" && (k == "roster" || k == "policy") {
					continue
				}
				name := k
				if prefix != "" {
					name = prefix + "." + k
				}
				walk(name, x[k])
			}
		case []any:
			parts := make([]string, 0, len(x))
			for _, e := range x {
				if s, ok := scalar(e); ok {
					parts = append(parts, s)
				} else {
					b, _ := json.Marshal(e)
					parts = append(parts, string(b))
				}
			}
			out = append(out, Fact{prefix, strings.Join(parts, ", ")})
		default:
			s, _ := scalar(x)
			out = append(out, Fact{prefix, s})
		}
	}
	walk("", f)
	return out
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
