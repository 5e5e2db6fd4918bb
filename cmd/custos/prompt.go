package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"
)

// readSecret reads a PIN or passphrase from the terminal with echo off
// (golang.org/x/term). Secrets are never taken from the command line or
// the environment; the caller zeroes the result.
func readSecret(what string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%s is needed but there is no terminal to ask", what)
	}
	defer tty.Close()
	fd := int(tty.Fd())
	if !term.IsTerminal(fd) {
		return nil, fmt.Errorf("cannot ask the %s: /dev/tty is not a terminal", what)
	}
	fmt.Fprintf(tty, "%s: ", what)
	secret, err := term.ReadPassword(fd)
	fmt.Fprintln(tty)
	if err != nil {
		clear(secret)
		return nil, errors.New("nothing read from the terminal")
	}
	return secret, nil
}
