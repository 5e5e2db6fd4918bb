package tui

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"custos/internal/termtext"
)

// factLines renders facts as "key: value" lines, maps nested, every value
// whole (escaped, hex in blocks of four): a record's facts are what
// custodians read aloud and compare.
func factLines(f map[string]any, indent string) []string {
	var out []string
	ks := make([]string, 0, len(f))
	for k := range f {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		switch v := f[k].(type) {
		case map[string]any:
			out = append(out, indent+k+":")
			out = append(out, factLines(v, indent+"  ")...)
		case []any:
			var parts []string
			simple := true
			for _, e := range v {
				if _, ok := e.(map[string]any); ok {
					simple = false
				}
				b, _ := json.Marshal(e)
				parts = append(parts, factValue(strings.Trim(string(b), `"`)))
			}
			if simple {
				out = append(out, indent+k+": "+strings.Join(parts, ", "))
			} else {
				out = append(out, indent+k+":")
				for _, e := range v {
					if mm, ok := e.(map[string]any); ok {
						out = append(out, factLines(mm, indent+"  - ")...)
					}
				}
			}
		default:
			lead := fmt.Sprintf("%s%s: ", indent, k)
			out = append(out, lead+hexRows(len(lead), termtext.Printable(fmt.Sprint(v))))
		}
	}
	return out
}

func factValue(s string) string { return termtext.HexGroups(termtext.Printable(s)) }
