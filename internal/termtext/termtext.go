// Package termtext makes text from a ledger or a request file safe to
// print on a terminal. Such text is written by someone else: a control
// character could move the cursor, erase the line that names the key, or
// change colours, and a bidirectional override could make one key id read
// as another, on the screen of the person about to approve or audit it.
package termtext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Printable returns s with every control character (C0, DEL, C1), every
// bidirectional control and every invalid UTF-8 byte shown escaped, as
// \x1b or \u202e. A backslash is left as it is, so text without such
// characters comes back unchanged; an escape in the output is always one
// of these forms.
func Printable(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafe(r):
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Lines is Printable for multi-line text: line breaks are kept.
func Lines(s string) string {
	parts := strings.Split(s, "\n")
	for i, p := range parts {
		parts[i] = Printable(p)
	}
	return strings.Join(parts, "\n")
}

func clean(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unsafe)
}

func unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x061c:
		return true // bidirectional marks, embeddings, overrides, isolates
	}
	return false
}

// Plain is nil for text fit to record and show to others: none of the
// characters Printable would escape, other than line breaks and tabs.
// Otherwise it names the first one. Scripts and rosters hold their text
// to it as they are read.
func Plain(s string) error {
	if r, ok := control(s); ok {
		return fmt.Errorf("holds the control character %U: text here is recorded and shown to others, and must be plain", r)
	}
	return nil
}

// control returns the first character of s that Plain refuses
// (utf8.RuneError for invalid UTF-8).
func control(s string) (rune, bool) {
	if !utf8.ValidString(s) {
		return utf8.RuneError, true
	}
	for _, r := range s {
		if r != '\n' && r != '\t' && unsafe(r) {
			return r, true
		}
	}
	return 0, false
}
