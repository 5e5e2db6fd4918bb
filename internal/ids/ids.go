// Package ids is the one rule for the ids Custos names things by: ledger,
// ceremony, key, backup ids and key labels, in records, scripts, share
// files and cards alike.
//
// An id is 1 to 64 bytes of ASCII letters, digits, '.', '_' and '-',
// beginning with a letter or a digit; as a regular expression,
//
//	^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$
//
// Valid checks it by hand (it runs several times per record of a ledger
// verify); FuzzValid holds it to the expression.
package ids

// MaxLen is the longest id, in bytes.
const MaxLen = 64

// Rule says the rule in words, for a hint.
const Rule = "use 1 to 64 letters, digits, '.', '_' or '-', beginning with a letter or a digit"

// Valid reports whether s is an id.
func Valid(s string) bool {
	if s == "" || len(s) > MaxLen || !alnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' }
