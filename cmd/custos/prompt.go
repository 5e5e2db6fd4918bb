package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// readSecret reads a PIN or passphrase from the terminal with echo off.
// Secrets are never taken from the command line or the environment; the
// caller zeroes the result.
func readSecret(what string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%s is needed but there is no terminal to ask", what)
	}
	defer tty.Close()
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("cannot ask the %s: /dev/tty is not a terminal", what)
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprintf(tty, "%s: ", what)
	line, err := bufio.NewReaderSize(tty, 1024).ReadSlice('\n')
	fmt.Fprintln(tty)
	if err != nil {
		clear(line)
		return nil, errors.New("nothing read from the terminal")
	}
	secret := make([]byte, len(line)-1)
	copy(secret, line)
	clear(line)
	return secret, nil
}
