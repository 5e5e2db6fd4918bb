package tui

import "charm.land/bubbles/v2/key"

// KeyMap is every key the TUI answers to. Screens show the subset that
// applies to them in the footer; ? shows all of them.
type KeyMap struct {
	Up, Down, PageUp, PageDown key.Binding
	Enter, Back, Toggle        key.Binding
	Ledger, Run, Verify, Home  key.Binding
	New                        key.Binding
	Attach, Continue, Retry    key.Binding
	File, Words, Write, Resume key.Binding
	Inventory, Filter, Minutes key.Binding
	Help, Quit                 key.Binding
}

// Keys is the one keymap.
var Keys = KeyMap{
	Up:        key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
	Down:      key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
	PageUp:    key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "page up")),
	PageDown:  key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "page down")),
	Enter:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "choose / go on")),
	Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back / cancel")),
	Toggle:    key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "tick a checklist item")),
	Ledger:    key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "ledger timeline")),
	Run:       key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "run a ceremony script (a path)")),
	New:       key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new ceremony: a form writes the script")),
	Verify:    key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "verify the ledger")),
	Home:      key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "home")),
	Attach:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "attach an approval file")),
	Continue:  key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "continue")),
	Retry:     key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "try again")),
	File:      key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "enter a share from a file")),
	Words:     key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "type a share card (masked)")),
	Write:     key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "write a request for approvers")),
	Resume:    key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "resume an interrupted ceremony")),
	Inventory: key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "the keys, each one's life")),
	Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter a list")),
	Minutes:   key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "verify against the minutes")),
	Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
	Quit:      key.NewBinding(key.WithKeys("ctrl+c", "q"), key.WithHelp("q", "quit")),
}

// All lists the bindings for the help screen, in reading order.
func (k KeyMap) All() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Enter, k.Back, k.Toggle,
		k.Home, k.Ledger, k.Inventory, k.Filter, k.New, k.Run, k.Verify, k.Minutes, k.Attach, k.Continue, k.Retry, k.File, k.Words, k.Write, k.Resume, k.Help, k.Quit}
}
