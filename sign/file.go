package sign

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// Passphrase returns the passphrase of an encrypted key file. The caller of
// Passphrase zeroes the returned slice when done with it.
type Passphrase func(path string) ([]byte, error)

// ErrPassphrase is returned (wrapped) when a key file's passphrase is wrong.
var ErrPassphrase = errors.New("wrong passphrase")

// LoadFile reads an OpenSSH private key file. An encrypted file asks
// passphrase for its passphrase; a nil passphrase makes that an error. The
// passphrase and the file's bytes are zeroed after use.
func LoadFile(path string, passphrase Passphrase) (Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer clear(pem)
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == nil {
			return nil, fmt.Errorf("key file %s is encrypted and no passphrase can be asked", path)
		}
		pass, perr := passphrase(path)
		if perr != nil {
			return nil, fmt.Errorf("passphrase for %s: %w", path, perr)
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(pem, pass)
		clear(pass)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("key file %s: %w", path, ErrPassphrase)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("key file %s is not an openssh private key: %w", path, err)
	}
	return fromSSH(s), nil
}
