// Values to read aloud, whole: hex in blocks of four, digest words
// numbered, and every body line too wide for the terminal wrapped onto
// the next, never cut.

package tui

import (
	"regexp"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"custos/internal/termtext"
	"custos/ledger"
)

// wrapAll wraps every line wider than w at its spaces (hard only where
// one word is wider than a line; never at a hyphen, so an id stays in
// one piece), each continuation indented two more than the line it
// continues. Long hex in a line (an id, a serial, a digest) is grouped
// in blocks of four first. A line break in a line starts a new one.
func wrapAll(lines []string, w int) []string {
	var out []string
	for _, l := range lines {
		for _, l := range strings.Split(l, "\n") {
			out = append(out, wrapLine(groupHexIn(l), w)...)
		}
	}
	return out
}

var longHex = regexp.MustCompile(`\b(sha256:)?[0-9a-f]{16,}\b`)

// groupHexIn groups every long hex value in a line of text.
func groupHexIn(l string) string {
	if !longHex.MatchString(l) {
		return l
	}
	return longHex.ReplaceAllStringFunc(l, termtext.HexGroups)
}

func wrapLine(l string, w int) []string {
	if ansi.StringWidth(l) <= w {
		return []string{l}
	}
	plain := ansi.Strip(l)
	ind := strings.Repeat(" ", min(w/2, len(plain)-len(strings.TrimLeft(plain, " "))+2))
	var out []string
	cur, curW := "", 0
	for i, word := range strings.Split(l, " ") {
		ww := ansi.StringWidth(word)
		switch {
		case i == 0:
			cur, curW = word, ww
		case curW+1+ww <= w:
			cur, curW = cur+" "+word, curW+1+ww
		default:
			out = append(out, cur)
			cur, curW = ind+word, len(ind)+ww
		}
		for curW > w { // one word wider than the line
			head := ansi.Truncate(cur, w, "")
			out = append(out, head)
			cur = ind + ansi.TruncateLeft(cur, ansi.StringWidth(head), "")
			curW = ansi.StringWidth(cur)
		}
	}
	return append(out, cur)
}

// field is one "name: value" line of a record or a key, the value whole,
// hex grouped.
func field(indent, name, v string) string {
	lead := indent + padRight(name+":", 11)
	return lead + hexRows(len(lead), termtext.Printable(v))
}

// hexRows is v with hex in blocks of four, eight blocks a row, each row
// after the first indented by col (a line break separates them).
func hexRows(col int, v string) string {
	g := termtext.HexGroups(v)
	if g == v {
		return v
	}
	var rows, row []string
	n := 0
	for _, t := range strings.Fields(g) {
		row = append(row, t)
		if !strings.HasSuffix(t, ":") {
			n++
		}
		if n == 8 {
			rows, row, n = append(rows, strings.Join(row, " ")), nil, 0
		}
	}
	if len(row) > 0 {
		rows = append(rows, strings.Join(row, " "))
	}
	return strings.Join(rows, "\n"+strings.Repeat(" ", col))
}

// wordRows are a digest's words, numbered, in as many columns of equal
// width as fit (8, 4, 2 or 1), after indent.
func (m *Model) wordRows(indent, digest string) []string {
	cells := termtext.Numbered(ledger.Words(digest))
	if len(cells) == 0 {
		return nil
	}
	cw := len(cells[0]) + 2
	cols := 1
	for _, c := range []int{8, 4, 2} {
		if len(indent)+c*cw <= max(20, m.width) {
			cols = c
			break
		}
	}
	var out []string
	for i := 0; i < len(cells); i += cols {
		out = append(out, strings.TrimRight(indent+strings.Join(cells[i:min(len(cells), i+cols)], "  "), " "))
	}
	return out
}

// digestLines are a digest's hex, grouped, and its numbered words.
func (m *Model) digestLines(indent, name, digest string) []string {
	out := []string{field(indent, name, digest)}
	if len(ledger.Words(digest)) > 0 {
		out = append(out, indent+"words (read aloud):")
		out = append(out, m.wordRows(indent+"  ", digest)...)
	}
	return out
}

func ansiStrip(s string) string { return ansi.Strip(s) }

func padRight(s string, n int) string {
	if len(s) >= n {
		return s + " "
	}
	return s + strings.Repeat(" ", n-len(s))
}
