// Package tui is Custos's terminal user interface: the screens custodians
// and officers use at the workstation during a ceremony.
//
// It drives ceremony.Engine — the same engine the scripts use — and never
// touches the HSM or git itself. Every engine call runs inside a tea.Cmd so
// the screen stays alive; when the engine needs a PIN or passphrase it asks
// through a Prompter whose answer is typed into a masked field that is
// never echoed and is zeroed as soon as it has been handed over.
//
// Screens: Home (the ledger at a glance), Keys (the key list and each
// key's whole life), Ledger (timeline, records, verify), Run (script,
// plan, people, what is signed, one screen per step, progress) and the
// secret prompt that can appear over any of them. Keys live in one keymap
// (keys.go), styles in one place (styles.go). Every value people read
// aloud is shown whole (readout.go): hex in blocks of four, digest words
// numbered, long lines wrapped, never cut.
package tui
