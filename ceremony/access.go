package ceremony

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"custos/hsm"
	"custos/internal/hint"
	"custos/sign"
)

// Prompter asks a person for a secret (PIN or passphrase) without echo.
// The caller zeroes the returned slice after use. Front ends implement it:
// the command line on the terminal, the TUI in a masked field.
type Prompter interface {
	Secret(prompt string) ([]byte, error)
}

// NoPrompt is a Prompter for non-interactive runs: every question is an error.
type NoPrompt struct{}

// Secret always fails, naming what was asked.
func (NoPrompt) Secret(prompt string) ([]byte, error) {
	return nil, hint.With(fmt.Errorf("%s is needed but there is no terminal to ask", prompt),
		"give a pin-source=file:PATH in the PKCS#11 URI, or run custos at a terminal")
}

// ModuleFromEnv is the environment variable naming the PKCS#11 module when a
// URI has no module-path.
const ModuleFromEnv = "CUSTOS_PKCS11_MODULE"

// openToken opens the token a PKCS#11 URI names (by label or serial, never
// by slot) and logs the user in. The PIN comes from the URI's pin-source, or
// is asked through p; it is zeroed right after login. Close the returned
// token when done.
func openToken(uri string, p Prompter) (*hsm.Token, error) {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return openTokenURI(u, p)
}

func openTokenURI(u *hsm.URI, p Prompter) (*hsm.Token, error) {
	if u.PINValue != "" {
		return nil, hint.With(errors.New("pkcs11 uri: pin-value puts a PIN where others can read it"),
			"use pin-source=file:PATH (a file of mode 0600), or leave it out to be asked")
	}
	if u.Token == "" && u.Serial == "" {
		return nil, hint.With(errors.New("pkcs11 uri: names no token"),
			"add token=LABEL or serial=SERIAL (slot ids change when tokens are initialised)")
	}
	path := u.ModulePath
	if path == "" {
		path = os.Getenv(ModuleFromEnv)
	}
	m, err := hsm.OpenModule(path)
	if err != nil {
		return nil, err
	}
	t, err := m.OpenToken(hsm.Selector{Label: u.Token, Serial: u.Serial})
	if err != nil {
		m.Close()
		return nil, err
	}
	pin, err := readPIN(u.PINSource, fmt.Sprintf("user PIN of token %q", t.Info().Label), p)
	if err != nil {
		t.Close()
		m.Close()
		return nil, err
	}
	err = t.Login(pin)
	clear(pin)
	if err != nil {
		t.Close()
		m.Close()
		return nil, err
	}
	return t, nil
}

// OpenSigner resolves a member's key reference: a path to an OpenSSH
// private key file, or a pkcs11: URI naming a private key on a token. The
// returned close function releases the token, if any.
func OpenSigner(ref string, p Prompter) (sign.Signer, func(), error) {
	if !strings.HasPrefix(ref, "pkcs11:") {
		var ask sign.Passphrase
		if p != nil {
			ask = func(path string) ([]byte, error) { return p.Secret("passphrase of " + path) }
		}
		s, err := sign.LoadFile(ref, ask)
		return s, func() {}, err
	}
	u, err := hsm.ParseURI(ref)
	if err != nil {
		return nil, nil, err
	}
	if u.Object == "" && u.ID == nil {
		return nil, nil, hint.With(fmt.Errorf("pkcs11 uri %s: names no key", u.Token),
			"add object=LABEL or id=%HEX to name the member's key")
	}
	t, err := openTokenURI(u, p)
	if err != nil {
		return nil, nil, err
	}
	closeAll := func() {
		t.Close()
		t.Module().Close()
	}
	k, err := t.FindKey(u.ID, u.Object)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	cs, err := k.Signer()
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	s, err := sign.FromCrypto(cs)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return s, closeAll, nil
}
