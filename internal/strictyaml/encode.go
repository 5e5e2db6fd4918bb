package strictyaml

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Encode writes v (a pointer to a struct) as YAML that Decode reads back
// into the same value: fields by their yaml tags, in field order; empty
// values left out; maps with sorted keys; strings tagged as strings, so
// that text reading as another type (true, 12, a date) is quoted; a type
// with MarshalText written as its text. comments head the document, one
// "# " line each.
func Encode(v any, comments ...string) ([]byte, error) {
	n, err := node(reflect.ValueOf(v))
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
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// node is v as a YAML node: structs by their yaml tags in field
// order, maps with sorted keys, empty values left out by the caller.
func node(v reflect.Value) (*yaml.Node, error) {
	if m, ok := v.Interface().(interface{ MarshalText() ([]byte, error) }); ok {
		b, err := m.MarshalText()
		if err != nil {
			return nil, err
		}
		return yamlScalar(string(b), v.Kind() == reflect.String), nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		return node(v.Elem())
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		t := v.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			fv := v.Field(i)
			if name == "" || name == "-" || fv.IsZero() || (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() == 0 {
				continue
			}
			c, err := node(fv)
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
			c, err := node(v.MapIndex(k))
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
			c, err := node(v.Index(i))
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
	return nil, fmt.Errorf("cannot write a %s", v.Type())
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
