package minutes

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzMarkdownCell: text from a ledger cannot end a table cell, break a
// line, open HTML or leave a control character in the Markdown minutes.
func FuzzMarkdownCell(f *testing.F) {
	for _, s := range []string{"a|b", "x\ny", "<script>", "`code`", "\x1b[2J", "\\|", "**bold**"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := mdCell(s)
		if strings.ContainsAny(c, "\n\r<>`\x1b") {
			t.Fatalf("mdCell(%q) = %q", s, c)
		}
		for i := 0; i < len(c); i++ {
			if c[i] == '|' && (i == 0 || c[i-1] != '\\' || escaped(c[:i-1])) {
				t.Fatalf("mdCell(%q) = %q: a bare | at %d", s, c, i)
			}
		}
	})
}

// escaped: the backslash that ends s is itself escaped.
func escaped(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// TestRenderBlankAndFilled: a checklist has boxes where a filled one has
// values, and text from the ledger is escaped in HTML.
func TestRenderBlankAndFilled(t *testing.T) {
	sum := digestValue("script SHA-256", "sha256:"+strings.Repeat("ab", 32))
	d := &Doc{Kind: "generate", Ceremony: "c<1>", Operator: "alice", ScriptSHA256: &sum,
		Steps:  []Step{{N: 1, What: "do <b>it</b>", Who: "alice"}},
		Values: []Value{blank("key id", "")}, Signatures: []Signature{{Role: "operator", Name: "alice"}}}
	var h, m bytes.Buffer
	if err := Render(&h, d, "html"); err != nil {
		t.Fatal(err)
	}
	if err := Render(&m, d, "md"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h.String(), "<b>it</b>") || !strings.Contains(h.String(), "do &lt;b&gt;it&lt;/b&gt;") {
		t.Error("html: step text not escaped")
	}
	if !strings.Contains(h.String(), "abab abab") || len(sum.Words) != 32 {
		t.Error("html: digest not in groups of 4 with 32 words")
	}
	if !strings.Contains(h.String(), `class="blank"`) || !strings.Contains(m.String(), "________") {
		t.Error("blank value has no box to write in")
	}
	if !strings.Contains(h.String(), "size: A4") {
		t.Error("no @page size")
	}
	d.Paper = "letter"
	h.Reset()
	Render(&h, d, "html")
	if !strings.Contains(h.String(), "size: letter") || !strings.Contains(h.String(), "break-inside: avoid") {
		t.Error("letter: no @page size or break-inside")
	}
	if err := Render(&h, d, "pdf"); err == nil {
		t.Error("format pdf accepted")
	}
}
