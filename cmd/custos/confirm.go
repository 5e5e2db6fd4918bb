package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"custos/ceremony"
	"custos/internal/hint"
)

// errNoTerminal: a question must be answered at a terminal and there is
// none (a script, a pipe, a CI job).
var errNoTerminal = errors.New("there is no terminal to ask")

// askLine asks a question on the terminal (/dev/tty, echo on: nothing
// asked this way is secret) and returns the line typed, without its end.
func askLine(question string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", errNoTerminal
	}
	defer tty.Close()
	if !term.IsTerminal(int(tty.Fd())) {
		return "", errNoTerminal
	}
	fmt.Fprint(tty, question)
	line, err := bufio.NewReaderSize(tty, 1024).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("nothing read from the terminal")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// confirmDestroy has the label of the key to destroy typed in full when
// the script does not carry it (destroy.confirm): the CLI asks as the TUI
// does. The engine refuses a destroy without it either way.
func confirmDestroy(s *ceremony.Script, p *ceremony.Plan) error {
	if s.Kind != ceremony.KindDestroy || s.Destroy == nil || s.Destroy.Confirm != "" {
		return nil
	}
	typed, err := askLine(fmt.Sprintf("type the label of the key to destroy (%s), in full: ", p.Label))
	if errors.Is(err, errNoTerminal) {
		return hint.With(fmt.Errorf("run: destroying key %q needs its label typed in full, and %w", p.Label, err),
			"write confirm: "+p.Label+" in the script's destroy section, or run custos at a terminal")
	}
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if typed != p.Label {
		return hint.With(fmt.Errorf("run: %q is not the label of the key to destroy; nothing was done", typed), "type the key's label in full: "+p.Label)
	}
	s.Destroy.Confirm = typed
	return nil
}

// confirmSign asks y/N before an approval is signed; --yes answers for
// scripts. Without a terminal and without --yes nothing is signed.
func confirmSign(yes bool, what string) error {
	if yes {
		return nil
	}
	a, err := askLine(fmt.Sprintf("sign %s? [y/N] ", what))
	if errors.Is(err, errNoTerminal) {
		return hint.With(fmt.Errorf("approve: nothing signed: %w to confirm", err), "read what is shown above, then run it again at a terminal, or add --yes where a script approves")
	}
	if err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(a)) {
	case "y", "yes":
		return nil
	}
	return errors.New("approve: not signed (answer y to sign)")
}
