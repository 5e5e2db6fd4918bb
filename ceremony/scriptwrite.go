// Writing a ceremony script: the inverse of ParseScript, for front ends
// that build a script from choices (the TUI's form) rather than read one.
// The written file stays the reviewable artefact: it is the same YAML
// custos run reads, and it is checked with the same strict decoder before
// it is written.

package ceremony

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MarshalText writes a period as ParseScript reads it: years or months
// when it is a whole number of them, else days.
func (d Duration) MarshalText() ([]byte, error) {
	switch {
	case d.Days <= 0:
		return nil, nil
	case d.Days%365 == 0:
		return []byte(fmt.Sprintf("%dy", d.Days/365)), nil
	case d.Days%30 == 0:
		return []byte(fmt.Sprintf("%dm", d.Days/30)), nil
	}
	return []byte(fmt.Sprintf("%dd", d.Days)), nil
}

// MarshalText writes a date as YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// MarshalScript writes s as YAML in the order of its fields, leaving out
// empty ones, headed by the comment lines given (without "# "). The
// result is decoded back with ParseScript: what it returns is a script
// custos run accepts on its own (the ledger is checked later, by Plan).
func MarshalScript(s *Script, comments ...string) ([]byte, error) {
	n, err := scriptNode(reflect.ValueOf(s).Elem())
	if err != nil {
		return nil, err
	}
	var head []string
	for _, c := range comments {
		head = append(head, "# "+c)
	}
	n.HeadComment = strings.Join(head, "\n")
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("ceremony script: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("ceremony script: %w", err)
	}
	if _, err := ParseScript("the script written", buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteScriptFile writes a script to path, never over a file (O_EXCL), and
// returns it as read back from its bytes.
func WriteScriptFile(path string, data []byte) (*Script, error) {
	s, err := ParseScript(path, data)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("ceremony script %s: already exists; custos never writes over a file", path)
		}
		return nil, fmt.Errorf("ceremony script: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("ceremony script %s: %w", path, err)
	}
	return s, nil
}

// scriptNode is v as a YAML node: structs by their yaml tags in field
// order, maps with sorted keys, empty values left out by the caller.
func scriptNode(v reflect.Value) (*yaml.Node, error) {
	if m, ok := v.Interface().(interface{ MarshalText() ([]byte, error) }); ok {
		b, err := m.MarshalText()
		if err != nil {
			return nil, err
		}
		return yamlScalar(string(b), v.Kind() == reflect.String), nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		return scriptNode(v.Elem())
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		t := v.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			fv := v.Field(i)
			if name == "" || name == "-" || fv.IsZero() || (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() == 0 {
				continue
			}
			c, err := scriptNode(fv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			n.Content = append(n.Content, yamlScalar(name, true), c)
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			c, err := scriptNode(v.MapIndex(k))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, yamlScalar(k.String(), true), c)
		}
		return n, nil
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Type().Elem().Kind() == reflect.String {
			n.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			c, err := scriptNode(v.Index(i))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case reflect.String:
		return yamlScalar(v.String(), true), nil
	case reflect.Bool:
		return yamlScalar(strconv.FormatBool(v.Bool()), false), nil
	case reflect.Int, reflect.Int64:
		return yamlScalar(strconv.FormatInt(v.Int(), 10), false), nil
	}
	return nil, fmt.Errorf("cannot write a %s in a script", v.Type())
}

// scalar is a plain scalar; text that would read back as another type
// (true, 12, a date) is quoted by the encoder when tagged !!str.
func yamlScalar(s string, str bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: s}
	if str {
		n.Tag = "!!str"
	}
	return n
}
