package strictyaml

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

type key struct {
	Label string   `yaml:"label,required"`
	Type  string   `yaml:"type"`
	Bits  int      `yaml:"bits"`
	Tags  []string `yaml:"tags"`
	Plain bool     `yaml:"backup"`
}

type script struct {
	Kind    string            `yaml:"kind,required"`
	Key     *key              `yaml:"key"`
	Members []key             `yaml:"members"`
	Extra   map[string]string `yaml:"extra"`
}

func TestDecodeOK(t *testing.T) {
	var s script
	err := Decode("s.yaml", []byte("kind: generate\nkey:\n  label: kek\n  bits: 256\n  backup: true\n  tags: [a, b]\nextra: {x: y}\n"), &s)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != "generate" || s.Key.Label != "kek" || s.Key.Bits != 256 || !s.Key.Plain || len(s.Key.Tags) != 2 || s.Extra["x"] != "y" {
		t.Fatalf("decoded %+v %+v", s, s.Key)
	}
}

func TestDecodeErrorsNamePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"kind: g\nkey:\n  lable: x\n", `s.yaml: key.lable (line 3): unknown field; did you mean "label"?`},
		{"kind: g\nmembers:\n  - label: a\n  - label: b\n    bits: many\n", `s.yaml: members[1].bits (line 5): want a whole number, got "many"`},
		{"kind: g\nkey:\n  type: aes\n", `s.yaml: key.label (line 3): required field is missing`},
		{"kind: g\nkey:\n  label: \"kek\\e[2K\"\n", `s.yaml: key.label (line 3): holds the control character U+001B: text here is recorded and shown to others, and must be plain`},
		{"kind: g\nextra: {x: \"a\\u202eb\"}\n", `s.yaml: extra.x (line 2): holds the control character U+202E: text here is recorded and shown to others, and must be plain`},
		{"key:\n  label: a\n", `s.yaml: kind (line 1): required field is missing`},
		{"kind: g\nkind: h\n", `s.yaml: kind (line 2): duplicate key`},
		{"kind: 12\n", `s.yaml: kind (line 1): want a string, got int "12" (quote it)`},
		{"kind: g\nkey: [1]\n", `s.yaml: key (line 2): want a mapping, got a list`},
		{"kind: g\nkey:\n  label: a\n  backup: yes please\n", `s.yaml: key.backup (line 4): want true or false, got "yes please"`},
		{"", `s.yaml: document: empty document`},
		{"kind: g\n---\nkind: h\n", `s.yaml: document (line 2): more than one yaml document`},
		{"kind: [\n", `s.yaml: document: not valid yaml`},
		{"a: &x g\nkind: *x\n", `s.yaml: a (line 1): unknown field`},
		{"zzzzzz: 1\n", `s.yaml: zzzzzz (line 1): unknown field; known fields: extra, key, kind, members`},
		{"kind: &x g\n", `s.yaml: kind (line 1): yaml anchors and aliases are not allowed`},
		{"key: &k {label: a}\n", `s.yaml: key (line 1): yaml anchors and aliases are not allowed`},
		{"extra: {[a]: b}\n", `s.yaml: extra (line 1): a mapping key must be a plain name`},
		{"? [kind]\n: g\n", `s.yaml: document (line 1): a mapping key must be a plain name`},
		{"extra: {\"a\\e[2Kb\": c}\n", `s.yaml: extra (line 1): key holds the control character U+001B`},
	} {
		var s script
		err := Decode("s.yaml", []byte(tc.in), &s)
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("input %q:\n got %v\nwant %s", tc.in, err, tc.want)
		}
	}
}

// checked is a document with a rule over the whole of it.
type checked struct {
	Members []struct {
		Label string `yaml:"label"`
	} `yaml:"members"`
	Kind string `yaml:"kind"`
}

func (c *checked) CheckYAML() error {
	for i, m := range c.Members {
		if m.Label == c.Kind {
			return &Error{Path: fmt.Sprintf("members[%d].label", i), Msg: "same as the kind"}
		}
	}
	return nil
}

// A Checker's error is placed in the document: file and line filled in.
func TestCheckerErrorsArePlaced(t *testing.T) {
	var c checked
	err := Decode("c.yaml", []byte("members:\n  - label: a\n  - label: g\nkind: g\n"), &c)
	var e *Error
	if !errors.As(err, &e) || err.Error() != "c.yaml: members[1].label (line 3): same as the kind" {
		t.Fatalf("err = %v", err)
	}
	if err := Decode("c.yaml", []byte("members:\n  - label: a\nkind: g\n"), &c); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("kind: generate\nkey:\n  label: kek\n  bits: 256\n")
	f.Add("members:\n - {label: a, tags: [x]}\nextra: {a: b}\n")
	f.Add("kind: &a x\nkey: *a\n")
	f.Fuzz(func(t *testing.T, in string) {
		var s script
		err := Decode("f.yaml", []byte(in), &s)
		if err != nil && !strings.HasPrefix(err.Error(), "f.yaml: ") {
			t.Fatalf("error does not name the file: %v", err)
		}
		_ = fmt.Sprint(s)
	})
}
