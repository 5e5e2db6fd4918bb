package termtext

import (
	"fmt"
	"strings"
)

// HexGroups writes a value for reading aloud: each hex part (between
// colons) in blocks of four digits separated by spaces, other parts (a
// "sha256:" prefix) kept in front. A value without hex comes back as is.
func HexGroups(s string) string {
	parts := strings.Split(s, ":")
	grouped := false
	for i, p := range parts {
		if !IsHex(p) {
			continue
		}
		grouped = true
		var b strings.Builder
		for j := 0; j < len(p); j += 4 {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(p[j:min(len(p), j+4)])
		}
		parts[i] = b.String()
	}
	if !grouped {
		return s
	}
	return strings.Join(parts, ": ")
}

// IsHex reports whether s is at least eight hex digits: a digest, check
// value or id worth grouping.
func IsHex(s string) bool {
	if len(s) < 8 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Numbered writes words for reading aloud, each after its number
// ("1 music", "2 customer", …), every one padded to width cells so that
// rows of them line up.
func Numbered(words []string) []string {
	w := 0
	for _, x := range words {
		w = max(w, len(x))
	}
	n := len(fmt.Sprint(len(words)))
	out := make([]string, len(words))
	for i, x := range words {
		out[i] = fmt.Sprintf("%*d %-*s", n, i+1, w, x)
	}
	return out
}
