// Writing a ceremony script: the inverse of ParseScript, for front ends
// that build a script from choices (the TUI's form) rather than read one.
// The written file stays the reviewable artefact: it is the same YAML
// custos run reads, and it is checked with the same strict decoder before
// it is written.

package ceremony

import (
	"fmt"

	"custos/internal/media"
	"custos/internal/strictyaml"
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
	b, err := strictyaml.Encode(s, comments...)
	if err != nil {
		return nil, fmt.Errorf("ceremony script: %w", err)
	}
	if _, err := ParseScript("the script written", b); err != nil {
		return nil, err
	}
	return b, nil
}

// WriteScriptFile writes a script to path, never over a file (O_EXCL), and
// returns it as read back from its bytes.
func WriteScriptFile(path string, data []byte) (*Script, error) {
	s, err := ParseScript(path, data)
	if err != nil {
		return nil, err
	}
	if err := media.Write(path, data, media.Public); err != nil {
		return nil, fmt.Errorf("ceremony script: %w", err)
	}
	return s, nil
}
