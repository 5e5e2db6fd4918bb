package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"custos/hint"
	"custos/sign"
)

// openSigner resolves a key reference to a signer. It is the one place
// where references are resolved: a path to an OpenSSH private key file
// today; `pkcs11:` URIs are added here. The returned func releases the
// signer (closes a token session) and must be called when done.
func openSigner(ref string) (sign.Signer, func(), error) {
	if strings.HasPrefix(ref, "pkcs11:") {
		return nil, nil, hint.With(fmt.Errorf("key reference %q: pkcs11 keys are not supported by this build yet", redactURI(ref)), "use a path to an OpenSSH private key file")
	}
	s, err := sign.LoadFile(ref, askPassphrase)
	if err != nil {
		if errors.Is(err, sign.ErrPassphrase) {
			return nil, nil, hint.With(err, "type the passphrase of that key file again")
		}
		return nil, nil, err
	}
	return s, func() {}, nil
}

// redactURI drops a URI's query (it may name a pin file) from messages.
func redactURI(ref string) string {
	if i := strings.IndexByte(ref, '?'); i >= 0 {
		return ref[:i] + "?…"
	}
	return ref
}

// askPassphrase reads a key file's passphrase from the terminal with echo
// off. Passphrases are never taken from the command line or environment.
func askPassphrase(path string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errors.New("no terminal to ask the passphrase on")
	}
	defer tty.Close()
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, errors.New("cannot read a passphrase: /dev/tty is not a terminal")
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprintf(tty, "passphrase for %s: ", path)
	line, err := bufio.NewReaderSize(tty, 1024).ReadSlice('\n')
	fmt.Fprintln(tty)
	if err != nil {
		clear(line)
		return nil, errors.New("no passphrase read from the terminal")
	}
	pass := make([]byte, len(line)-1)
	copy(pass, line)
	clear(line)
	return pass, nil
}
