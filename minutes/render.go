package minutes

import (
	"bytes"
	_ "embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"strings"
	texttemplate "text/template"

	"custos/internal/termtext"
)

// Formats are the output formats of minutes.
var Formats = []string{"html", "md"}

// Papers are the paper sizes the print stylesheet is written for.
var Papers = []string{"a4", "letter"}

// Render writes d in format ("html" or "md") to w.
func Render(w io.Writer, d *Doc, format string) error {
	switch format {
	case "html":
		return htmlTmpl.Execute(w, d)
	case "md":
		var b bytes.Buffer
		if err := mdTmpl.Execute(&b, d); err != nil {
			return err
		}
		_, err := w.Write(b.Bytes())
		return err
	}
	return fmt.Errorf("minutes: format %q is not one of html, md", format)
}

// Title is the document's heading.
func (d *Doc) Title() string {
	c := d.Ceremony
	if c == "" {
		c = "(id made when it runs)"
	}
	if d.Filled {
		return fmt.Sprintf("Minutes of ceremony %s (%s)", c, d.Kind)
	}
	return fmt.Sprintf("Ceremony script %s (%s): checklist", c, d.Kind)
}

// PageSize is the CSS @page size.
func (d *Doc) PageSize() string {
	if d.Paper == "letter" {
		return "letter"
	}
	return "A4"
}

var funcs = map[string]any{
	"join":  strings.Join,
	"hex":   func(g []string) string { return strings.Join(g, " ") },
	"words": func(w []string) string { return strings.Join(w, " ") },
	"blanks": func(n int) []int {
		return make([]int, n)
	},
	"md":  mdCell,
	"pre": mdPre,
	"mdv": mdValue,
}

//go:embed minutes.html.tmpl
var htmlSource string

//go:embed minutes.md.tmpl
var mdSource string

var (
	htmlTmpl = htmltemplate.Must(htmltemplate.New("minutes").Funcs(funcs).Parse(htmlSource))
	mdTmpl   = texttemplate.Must(texttemplate.New("minutes.md").Funcs(funcs).Parse(mdSource))
)

// mdCell makes s safe inside a Markdown table cell or line: nothing in it
// can end the cell, start markup or HTML, or, on a terminal that shows
// the file, redraw the screen (termtext).
func mdCell(s string) string {
	if s == "" {
		return "–"
	}
	s = strings.NewReplacer(`\`, `\\`, "|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "`", "'",
		"*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "#", `\#`).Replace(s)
	return termtext.Printable(s)
}

// mdPre makes s safe as a line of an indented code block: one line, and
// nothing that redraws a terminal showing the file.
func mdPre(s string) string {
	return termtext.Printable(strings.NewReplacer("\n", " ", "\r", " ").Replace(s))
}

// mdValue is a value in a Markdown cell: hex groups in code, words after.
func mdValue(v Value) string {
	switch {
	case v.Blank:
		return "________________________________________"
	case len(v.Hex) > 0:
		s := "`" + strings.Join(v.Hex, " ") + "`"
		if len(v.Words) > 0 {
			s += "<br>" + mdCell(strings.Join(v.Words, " "))
		}
		return s
	}
	return mdCell(v.Plain)
}
