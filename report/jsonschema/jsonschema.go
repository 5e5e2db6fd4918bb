// Package jsonschema is a small validator for the subset of JSON Schema
// (2020-12) that docs/report-schema.json uses: type, properties, required,
// additionalProperties, items, enum, const, pattern, minimum, minLength and
// $ref to "#/$defs/…". Anything else in a schema is an error, so the schema
// cannot silently use a keyword this validator ignores.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Schema is a parsed schema document.
type Schema struct {
	root map[string]any
}

var known = map[string]bool{
	"$schema": true, "$id": true, "$defs": true, "$ref": true, "title": true, "description": true,
	"type": true, "properties": true, "required": true, "additionalProperties": true, "items": true,
	"enum": true, "const": true, "pattern": true, "minimum": true, "minLength": true,
}

// Parse reads a schema and refuses keywords this validator does not know.
func Parse(data []byte) (*Schema, error) {
	var root map[string]any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&root); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if err := checkKeywords(root, "#"); err != nil {
		return nil, err
	}
	return &Schema{root: root}, nil
}

func checkKeywords(s map[string]any, at string) error {
	for k, v := range s {
		if !known[k] {
			return fmt.Errorf("schema: %s: keyword %q is not supported", at, k)
		}
		switch k {
		case "properties", "$defs":
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("schema: %s/%s: want an object", at, k)
			}
			for n, sub := range m {
				sm, ok := sub.(map[string]any)
				if !ok {
					return fmt.Errorf("schema: %s/%s/%s: want a schema object", at, k, n)
				}
				if err := checkKeywords(sm, at+"/"+k+"/"+n); err != nil {
					return err
				}
			}
		case "items", "additionalProperties":
			if sm, ok := v.(map[string]any); ok {
				if err := checkKeywords(sm, at+"/"+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Validate checks a JSON document against the schema and returns every
// violation, each naming its JSON path.
func (s *Schema) Validate(doc []byte) []string {
	var v any
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return []string{"document: " + err.Error()}
	}
	if _, err := d.Token(); err != io.EOF {
		return []string{"document: data after the JSON value"}
	}
	var errs []string
	s.validate(s.root, v, "$", &errs)
	return errs
}

func (s *Schema) resolve(ref string) map[string]any {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		return nil
	}
	defs, _ := s.root["$defs"].(map[string]any)
	m, _ := defs[name].(map[string]any)
	return m
}

func typeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

func (s *Schema) validate(sch map[string]any, v any, path string, errs *[]string) {
	fail := func(format string, a ...any) { *errs = append(*errs, path+": "+fmt.Sprintf(format, a...)) }
	if ref, ok := sch["$ref"].(string); ok {
		r := s.resolve(ref)
		if r == nil {
			fail("unresolvable $ref %q", ref)
			return
		}
		s.validate(r, v, path, errs)
	}
	if t, ok := sch["type"]; ok {
		var types []string
		switch x := t.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok {
					types = append(types, s)
				}
			}
		}
		got := typeOf(v)
		if !slices.Contains(types, got) && !(got == "integer" && slices.Contains(types, "number")) {
			fail("type %s, want %s", got, strings.Join(types, " or "))
			return
		}
	}
	if e, ok := sch["enum"].([]any); ok {
		found := false
		for _, x := range e {
			if fmt.Sprint(x) == fmt.Sprint(v) && typeOf(x) == typeOf(v) {
				found = true
			}
		}
		if !found {
			fail("%v is not one of %v", v, e)
		}
	}
	if c, ok := sch["const"]; ok && (fmt.Sprint(c) != fmt.Sprint(v) || typeOf(c) != typeOf(v)) {
		fail("%v is not %v", v, c)
	}
	if str, ok := v.(string); ok {
		if p, ok := sch["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			if err != nil {
				fail("bad pattern %q: %v", p, err)
			} else if !re.MatchString(str) {
				fail("%q does not match %s", str, p)
			}
		}
		if n, ok := sch["minLength"].(json.Number); ok {
			if m, _ := n.Int64(); int64(len([]rune(str))) < m {
				fail("shorter than %d", m)
			}
		}
	}
	if num, ok := v.(json.Number); ok {
		if n, ok := sch["minimum"].(json.Number); ok {
			a, _ := num.Float64()
			b, _ := n.Float64()
			if a < b {
				fail("%v is less than %v", num, n)
			}
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := sch["properties"].(map[string]any)
		if req, ok := sch["required"].([]any); ok {
			for _, r := range req {
				if name, _ := r.(string); name != "" {
					if _, has := obj[name]; !has {
						fail("missing required property %q", name)
					}
				}
			}
		}
		names := make([]string, 0, len(obj))
		for k := range obj {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if ps, ok := props[k].(map[string]any); ok {
				s.validate(ps, obj[k], path+"."+k, errs)
				continue
			}
			switch ap := sch["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("property %q is not allowed", k)
				}
			case map[string]any:
				s.validate(ap, obj[k], path+"."+k, errs)
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if is, ok := sch["items"].(map[string]any); ok {
			for i, e := range arr {
				s.validate(is, e, fmt.Sprintf("%s[%d]", path, i), errs)
			}
		}
	}
}
