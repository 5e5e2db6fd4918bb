package jsonschema

import (
	"strings"
	"testing"
)

const schema = `{
  "type": "object",
  "required": ["a", "b"],
  "additionalProperties": false,
  "properties": {
    "a": {"type": "string", "pattern": "^x+$", "minLength": 2},
    "b": {"type": "array", "items": {"$ref": "#/$defs/n"}},
    "c": {"enum": ["p", "q"]},
    "d": {"const": "k"}
  },
  "$defs": {"n": {"type": "integer", "minimum": 1}}
}`

func TestValidate(t *testing.T) {
	s, err := Parse([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	for doc, want := range map[string]string{
		`{"a": "xx", "b": [1, 2], "c": "p", "d": "k"}`: "",
		`{"a": "xx"}`:                    `$: missing required property "b"`,
		`{"a": "xy", "b": []}`:           `$.a: "xy" does not match`,
		`{"a": "x", "b": []}`:            `$.a: shorter than 2`,
		`{"a": "xx", "b": [0]}`:          `$.b[0]: 0 is less than 1`,
		`{"a": "xx", "b": [1.5]}`:        `$.b[0]: type number, want integer`,
		`{"a": "xx", "b": [], "c": "r"}`: `$.c: r is not one of`,
		`{"a": "xx", "b": [], "d": "j"}`: `$.d: j is not k`,
		`{"a": "xx", "b": [], "e": 1}`:   `$: property "e" is not allowed`,
		`{"a": 1, "b": {}}`:              `$.a: type integer, want string`,
		`[1]`:                            `$: type array, want object`,
		`{"a": "xx", "b": []} trailing`:  `document: data after`,
		`{`:                              `document:`,
	} {
		errs := s.Validate([]byte(doc))
		got := strings.Join(errs, "\n")
		if want == "" && len(errs) > 0 || want != "" && !strings.Contains(got, want) {
			t.Errorf("%s: got %q, want %q", doc, got, want)
		}
	}
}

func TestUnknownKeyword(t *testing.T) {
	for _, bad := range []string{`{"type": "object", "oneOf": []}`, `{"properties": {"a": {"format": "date"}}}`, `{"items": {"anyOf": []}}`, `[`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
