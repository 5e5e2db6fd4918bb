package shamir

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"github.com/trustelem/zxcvbn"
	"golang.org/x/crypto/ssh"

	"custos/internal/hint"
)

// maxCiphertext bounds what the decrypt functions read: a share file is a
// few kilobytes.
const maxCiphertext = 1 << 20

// EncryptToSSH encrypts plaintext with age to the holder's SSH public key
// (an authorized_keys line, ssh-ed25519 or ssh-rsa) and returns the age
// file, ASCII-armored so it can be printed or checked by eye.
func EncryptToSSH(pubLine string, plaintext []byte) ([]byte, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pubLine))
	if err != nil {
		return nil, hint.With(fmt.Errorf("shamir: encrypt to ssh key: not an ssh public key line: %w", err),
			"give the holder's public key as in authorized_keys: \"ssh-ed25519 AAAA… comment\"")
	}
	var r age.Recipient
	switch t := pub.Type(); t {
	case ssh.KeyAlgoED25519:
		r, err = agessh.NewEd25519Recipient(pub)
	case ssh.KeyAlgoRSA:
		r, err = agessh.NewRSARecipient(pub)
	default:
		return nil, hint.With(fmt.Errorf("shamir: encrypt to ssh key: key type %s cannot receive an age file", t),
			"age encrypts to ssh-ed25519 and ssh-rsa keys only (not ECDSA or token keys): deliver this holder's share by passphrase or card (backup.delivery)")
	}
	if err != nil {
		return nil, fmt.Errorf("shamir: encrypt to ssh key: %w", err)
	}
	return encrypt(r, plaintext)
}

// The passphrase of a share: at least MinPassphraseLen characters, and
// no weaker than MinPassphraseScore on zxcvbn's scale of 0 to 4 (4: more
// than 10^10 guesses, against an attacker who has the age file and tries
// passphrases offline through scrypt).
const (
	MinPassphraseLen   = 12
	MinPassphraseScore = 4
	// maxPassphraseLen bounds what is read (and what zxcvbn is given).
	maxPassphraseLen = 256
)

// CheckPassphrase says why passphrase is too weak to protect a share, or
// nil. avoid lists words the passphrase must not lean on (the holder's
// name, the backup id, the key's label): zxcvbn counts them as guessed.
// The error never contains the passphrase.
func CheckPassphrase(passphrase []byte, avoid []string) error {
	n := len([]rune(string(passphrase)))
	switch {
	case n < MinPassphraseLen:
		return hint.With(fmt.Errorf("shamir: passphrase: %d characters, at least %d are needed", n, MinPassphraseLen),
			"use four or more unrelated words, or a longer sentence")
	case len(passphrase) > maxPassphraseLen:
		return fmt.Errorf("shamir: passphrase: longer than %d bytes", maxPassphraseLen)
	case !utf8.Valid(passphrase):
		return errors.New("shamir: passphrase: not valid UTF-8")
	}
	// zxcvbn takes a string: the copy cannot be wiped, as with age's
	// scrypt, which takes one too.
	r := zxcvbn.PasswordStrength(string(passphrase), avoid)
	if r.Score < MinPassphraseScore {
		return hint.With(fmt.Errorf("shamir: passphrase: too easy to guess (strength %d of 4, at least %d is needed)", r.Score, MinPassphraseScore),
			"avoid names, dates, keyboard runs and common phrases; four or more unrelated words are strong")
	}
	return nil
}

// AgeStanzas lists the recipient types of an age file's header ("scrypt",
// "ssh-ed25519", "ssh-rsa", "X25519" …), armored or binary, without
// decrypting anything: a passphrase file has the one stanza "scrypt".
func AgeStanzas(ciphertext []byte) ([]string, error) {
	if len(ciphertext) > maxCiphertext {
		return nil, fmt.Errorf("age file larger than %d bytes: not a share file", maxCiphertext)
	}
	var src io.Reader = bytes.NewReader(ciphertext)
	if bytes.HasPrefix(bytes.TrimLeft(ciphertext, " \t\r\n"), []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		src = armor.NewReader(bytes.NewReader(ciphertext))
	}
	hdr, err := age.ExtractHeader(src)
	if err != nil {
		return nil, fmt.Errorf("not an age file: %w", err)
	}
	var out []string
	for _, ln := range strings.Split(string(hdr), "\n") {
		if rest, ok := strings.CutPrefix(ln, "-> "); ok {
			t, _, _ := strings.Cut(rest, " ")
			out = append(out, t)
		}
	}
	return out, nil
}

// IsPassphraseFile reports whether an age file is encrypted to a
// passphrase (its one stanza is scrypt) rather than to a key.
func IsPassphraseFile(ciphertext []byte) bool {
	st, err := AgeStanzas(ciphertext)
	return err == nil && len(st) == 1 && st[0] == "scrypt"
}

// EncryptToPassphrase encrypts plaintext with age under a passphrase the
// holder types (scrypt, age's default work factor), ASCII-armored. The
// caller checks the passphrase first (CheckPassphrase).
func EncryptToPassphrase(passphrase, plaintext []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("shamir: encrypt to passphrase: the passphrase is empty")
	}
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return nil, fmt.Errorf("shamir: encrypt to passphrase: %w", err)
	}
	return encrypt(r, plaintext)
}

func encrypt(r age.Recipient, plaintext []byte) ([]byte, error) {
	var out bytes.Buffer
	a := armor.NewWriter(&out)
	w, err := age.Encrypt(a, r)
	if err != nil {
		return nil, fmt.Errorf("shamir: age encrypt: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("shamir: age encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("shamir: age encrypt: %w", err)
	}
	if err := a.Close(); err != nil {
		return nil, fmt.Errorf("shamir: age armor: %w", err)
	}
	return out.Bytes(), nil
}

// DecryptWithSSHKey decrypts an age file (armored or binary) with the
// OpenSSH private key at keyPath. passphrase is asked only if the key file
// is encrypted; it may be nil for a key without one. The caller zeroes
// the result.
func DecryptWithSSHKey(keyPath string, passphrase func() ([]byte, error), ciphertext []byte) ([]byte, error) {
	pem, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("shamir: decrypt with ssh key: %w", err)
	}
	defer clear(pem)
	var id age.Identity
	id, err = agessh.ParseIdentity(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		if passphrase == nil {
			return nil, hint.With(fmt.Errorf("shamir: decrypt with ssh key %s: the key is passphrase-protected", keyPath),
				"give the key's passphrase")
		}
		if missing.PublicKey == nil {
			return nil, fmt.Errorf("shamir: decrypt with ssh key %s: encrypted key without a public key in it", keyPath)
		}
		// Keep what the callback returns so it is wiped after use.
		var given [][]byte
		defer func() {
			for _, p := range given {
				clear(p)
			}
		}()
		ask := func() ([]byte, error) {
			p, err := passphrase()
			given = append(given, p)
			return p, err
		}
		id, err = agessh.NewEncryptedSSHIdentity(missing.PublicKey, pem, ask)
		if err != nil {
			return nil, fmt.Errorf("shamir: decrypt with ssh key %s: %w", keyPath, err)
		}
	case err != nil:
		return nil, hint.With(fmt.Errorf("shamir: decrypt with ssh key %s: not a usable ed25519 or rsa private key: %w", keyPath, err),
			"give the OpenSSH private key file whose public key the share was encrypted to")
	}
	out, err := decrypt(ciphertext, id)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, hint.With(fmt.Errorf("shamir: decrypt with ssh key %s: the share file was not encrypted to this key", keyPath),
				"use the key of the holder named on the share file, or the wrong file was picked")
		}
		// age wraps the ssh error with %v, so only its text is left.
		if errors.Is(err, x509.IncorrectPasswordError) || strings.Contains(err.Error(), "decryption password incorrect") {
			return nil, fmt.Errorf("shamir: decrypt with ssh key %s: wrong passphrase for the key", keyPath)
		}
		return nil, fmt.Errorf("shamir: decrypt with ssh key %s: %w", keyPath, err)
	}
	return out, nil
}

// DecryptWithPassphrase decrypts an age file (armored or binary) encrypted
// with EncryptToPassphrase. The caller zeroes the result.
func DecryptWithPassphrase(passphrase, ciphertext []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("shamir: decrypt with passphrase: the passphrase is empty")
	}
	id, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return nil, fmt.Errorf("shamir: decrypt with passphrase: %w", err)
	}
	out, err := decrypt(ciphertext, id)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) || errors.Is(err, age.ErrIncorrectIdentity) {
			return nil, hint.With(errors.New("shamir: decrypt with passphrase: wrong passphrase, or the file was encrypted to an ssh key"),
				"check the passphrase (case, keyboard layout), or decrypt with the holder's ssh key")
		}
		return nil, fmt.Errorf("shamir: decrypt with passphrase: %w", err)
	}
	return out, nil
}

func decrypt(ciphertext []byte, id age.Identity) ([]byte, error) {
	if len(ciphertext) > maxCiphertext {
		return nil, fmt.Errorf("age file larger than %d bytes: not a share file", maxCiphertext)
	}
	var src io.Reader = bytes.NewReader(ciphertext)
	if bytes.HasPrefix(bytes.TrimLeft(ciphertext, " \t\r\n"), []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		src = armor.NewReader(bytes.NewReader(ciphertext))
	}
	r, err := age.Decrypt(src, id)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, maxCiphertext))
	if err != nil {
		clear(out)
		return nil, fmt.Errorf("age file damaged: %w", err)
	}
	return out, nil
}
