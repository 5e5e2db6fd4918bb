package hsm

import (
	"encoding/json"
	"testing"
)

// TestUsageFlags: Attributes carries Usage's flags in JSON as it always
// did (inlined, in the same order, the same names), and a key's facts
// read back into the same Usage.
func TestUsageFlags(t *testing.T) {
	a := Attributes{Token: true, NeverExtractable: true, Usage: Usage{Sign: true, Unwrap: true, Derive: true}}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"token":true,"private":false,"sensitive":false,"extractable":false,"wrap_with_trusted":false,"trusted":false,` +
		`"modifiable":false,"local":false,"always_sensitive":false,"never_extractable":true,` +
		`"sign":true,"verify":false,"encrypt":false,"decrypt":false,"wrap":false,"unwrap":true,"derive":true}`
	if string(b) != want {
		t.Fatalf("attributes as JSON:\n%s\nwant\n%s", b, want)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if got := UsageFromFacts(m); got != a.Usage {
		t.Fatalf("usage from facts %+v, want %+v", got, a.Usage)
	}
	if len(a.asMap()) != 17 || !a.asMap()["unwrap"] || a.asMap()["wrap"] {
		t.Fatalf("asMap %v", a.asMap())
	}
	for _, f := range usageFlags {
		var u Usage
		*f.of(&u) = true
		if b, _ := json.Marshal(u); string(b) == "{}" || UsageFromFacts(map[string]any{f.name: true}) != u {
			t.Fatalf("flag %s does not round-trip", f.name)
		}
	}
}
