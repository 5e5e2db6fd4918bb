// Package strictyaml decodes YAML into Go structs strictly: unknown fields,
// duplicate keys, wrong types and several documents are errors, and every
// error names the file, the YAML path and the line ("gen.yaml: key.lable
// (line 7): unknown field; did you mean \"label\"?").
//
// Ceremony scripts, roster files and every other YAML file custos reads go
// through this one decoder, so that a typo can never be silently ignored
// and every file speaks the same dialect: no anchors or aliases, strings
// must be strings ("yes" is not true, 007 is not a string), one document.
// It sits on go.yaml.in/yaml/v3, the maintained continuation of
// gopkg.in/yaml.v3, for parsing only.
package strictyaml

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/hbollon/go-edlib"
	"go.yaml.in/yaml/v3"

	"custos/internal/termtext"
)

// Error is a decoding error at one place of a document.
type Error struct {
	File string
	Path string // e.g. "key.label" or "members[2].roles[0]"
	Line int
	Msg  string
	Err  error // the cause Msg tells of, if any (Unwrap returns it)
}

// Unwrap returns the cause of the error, or nil.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	where := e.Path
	if where == "" {
		where = "document"
	}
	if e.Line > 0 {
		where += fmt.Sprintf(" (line %d)", e.Line)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, where, e.Msg)
}

// Checker is implemented by a document type that checks itself as a whole
// once decoded (a rule that spans fields, or one that needs a later field).
// An *Error it returns with Path set and File empty is placed in the
// document: Decode fills in the file and the line of that path.
type Checker interface {
	CheckYAML() error
}

// Decode parses data (named file in errors) into v, a pointer to a struct.
// Struct fields are matched by their `yaml:"name"` tag (fields without a tag
// are not decoded); a field tagged `yaml:"name,required"` must be present.
// If v implements Checker, its CheckYAML runs last.
func Decode(file string, data []byte, v any) error {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &Error{File: file, Msg: "empty document"}
		}
		return &Error{File: file, Msg: "not valid yaml: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return &Error{File: file, Line: extra.Line, Msg: "more than one yaml document"}
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("strictyaml: decode target must be a non-nil pointer")
	}
	d := decoder{file: file, lines: map[string]int{}}
	node := &doc
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	if err := d.value(node, "", rv.Elem()); err != nil {
		return err
	}
	c, ok := v.(Checker)
	if !ok {
		return nil
	}
	err := c.CheckYAML()
	var e *Error
	if errors.As(err, &e) && e.File == "" {
		e.File = file
		if e.Line == 0 {
			e.Line = d.lines[e.Path]
		}
	}
	return err
}

type decoder struct {
	file  string
	lines map[string]int // the line of every path decoded, for Checker errors
}

func (d *decoder) errf(n *yaml.Node, path, format string, args ...any) error {
	return &Error{File: d.file, Path: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *decoder) value(n *yaml.Node, path string, v reflect.Value) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return d.errf(n, path, "yaml anchors and aliases are not allowed")
	}
	d.lines[path] = n.Line
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		if n.Kind != yaml.ScalarNode {
			return d.errf(n, path, "want a single value, got %s", kindName(n))
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			return d.errf(n, path, "%v", err)
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Tag == "!!null" {
			return nil
		}
		nv := reflect.New(v.Type().Elem())
		if err := d.value(n, path, nv.Elem()); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	case reflect.Struct:
		return d.structValue(n, path, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.errf(n, path, "want a list, got %s", kindName(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			if err := d.value(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return d.errf(n, path, "want a mapping, got %s", kindName(n))
		}
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("strictyaml: map keys must be strings")
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			kp := join(path, k.Value)
			if err := d.key(k, path); err != nil {
				return err
			}
			if m.MapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key())).IsValid() {
				return d.errf(k, kp, "duplicate key")
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			if err := d.value(val, kp, ev); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return d.errf(n, path, "want a single value, got %s", kindName(n))
	}
	switch v.Kind() {
	case reflect.String:
		if n.Tag != "!!str" {
			return d.errf(n, path, "want a string, got %s %q (quote it)", strings.TrimPrefix(n.Tag, "!!"), n.Value)
		}
		if err := termtext.Plain(n.Value); err != nil {
			return d.errf(n, path, "%v", err)
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Tag != "!!bool" {
			return d.errf(n, path, "want true or false, got %q", n.Value)
		}
		b, _ := strconv.ParseBool(n.Value)
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, v.Type().Bits())
		if n.Tag != "!!int" || err != nil {
			return d.errf(n, path, "want a whole number, got %q", n.Value)
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, err := strconv.ParseUint(n.Value, 10, v.Type().Bits())
		if n.Tag != "!!int" || err != nil {
			return d.errf(n, path, "want a whole number ≥ 0, got %q", n.Value)
		}
		v.SetUint(i)
	default:
		return fmt.Errorf("strictyaml: unsupported field type %s at %s", v.Type(), path)
	}
	return nil
}

type fieldInfo struct {
	index    int
	required bool
}

func fields(t reflect.Type) (map[string]fieldInfo, []string) {
	m := map[string]fieldInfo{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		m[name] = fieldInfo{index: i, required: opts == "required"}
		names = append(names, name)
	}
	sort.Strings(names)
	return m, names
}

func (d *decoder) structValue(n *yaml.Node, path string, v reflect.Value) error {
	if n.Kind != yaml.MappingNode {
		return d.errf(n, path, "want a mapping, got %s", kindName(n))
	}
	fs, names := fields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kp := join(path, k.Value)
		if err := d.key(k, path); err != nil {
			return err
		}
		f, ok := fs[k.Value]
		if !ok {
			msg := "unknown field"
			if s := closest(k.Value, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				msg += "; known fields: " + strings.Join(names, ", ")
			}
			return d.errf(k, kp, "%s", msg)
		}
		if seen[k.Value] {
			return d.errf(k, kp, "duplicate key")
		}
		seen[k.Value] = true
		if err := d.value(val, kp, v.Field(f.index)); err != nil {
			return err
		}
	}
	for _, name := range names {
		if fs[name].required && !seen[name] {
			return d.errf(n, join(path, name), "required field is missing")
		}
	}
	return nil
}

// key checks a mapping key: a plain name, no anchor, no control character.
func (d *decoder) key(k *yaml.Node, path string) error {
	if k.Kind != yaml.ScalarNode || k.Anchor != "" {
		return d.errf(k, path, "a mapping key must be a plain name")
	}
	if err := termtext.Plain(k.Value); err != nil {
		return d.errf(k, path, "key %v", err)
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// closest returns the known name within edit distance 2 of s, if any
// (go-edlib's optimal string alignment distance).
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := edlib.OSADamerauLevenshteinDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}
