package main

import (
	"errors"

	"custos/ceremony"
	"custos/internal/hint"
	"custos/sign"
)

// openSigner resolves a member's key reference — a path to an OpenSSH
// private key file, or a pkcs11: URI naming a key on a token — to a signer.
// Passphrases and PINs are asked on the terminal (or read from the URI's
// pin-source), never taken from the command line. The returned func
// releases the signer (closes a token session).
func openSigner(ref string) (sign.Signer, func(), error) {
	s, done, err := ceremony.OpenSigner(ref, ttyPrompt{})
	if err != nil {
		if errors.Is(err, sign.ErrPassphrase) {
			return nil, nil, hint.With(err, "type the passphrase of that key file again")
		}
		return nil, nil, err
	}
	return s, done, nil
}
