package tui

import (
	"os"

	"charm.land/lipgloss/v2"
)

// Styles are every style the TUI uses, in one place. Meaning is never
// carried by colour alone: every coloured state also has a word or a mark,
// so the screens read the same with NO_COLOR.
type Styles struct {
	Title    lipgloss.Style
	Heading  lipgloss.Style
	Dim      lipgloss.Style
	OK       lipgloss.Style
	Warn     lipgloss.Style
	Bad      lipgloss.Style
	Selected lipgloss.Style
	Actor    lipgloss.Style
	Key      lipgloss.Style
	Footer   lipgloss.Style
}

// NoColor reports whether the environment asks for no colour
// (https://no-color.org: any non-empty NO_COLOR).
func NoColor() bool { return os.Getenv("NO_COLOR") != "" }

// NewStyles returns the palette; with noColor only bold and reverse video
// are used.
func NewStyles(noColor bool) Styles {
	s := lipgloss.NewStyle
	if noColor {
		return Styles{
			Title:    s().Bold(true),
			Heading:  s().Bold(true),
			Dim:      s(),
			OK:       s(),
			Warn:     s().Bold(true),
			Bad:      s().Bold(true),
			Selected: s().Reverse(true),
			Actor:    s().Bold(true),
			Key:      s().Bold(true),
			Footer:   s(),
		}
	}
	return Styles{
		Title:    s().Bold(true).Foreground(lipgloss.Color("12")),
		Heading:  s().Bold(true).Foreground(lipgloss.Color("14")),
		Dim:      s().Foreground(lipgloss.Color("8")),
		OK:       s().Foreground(lipgloss.Color("10")),
		Warn:     s().Bold(true).Foreground(lipgloss.Color("11")),
		Bad:      s().Bold(true).Foreground(lipgloss.Color("9")),
		Selected: s().Reverse(true),
		Actor:    s().Bold(true).Foreground(lipgloss.Color("13")),
		Key:      s().Bold(true).Foreground(lipgloss.Color("12")),
		Footer:   s().Foreground(lipgloss.Color("8")),
	}
}
