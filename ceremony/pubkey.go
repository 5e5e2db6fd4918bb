package ceremony

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/crypto/ssh"

	"custos/hsm"
	"custos/internal/media"
)

// PublicKeyOut names the files a generate (or rotate) ceremony writes the
// new key pair's public key to, for those who will use the key: the
// certificate tooling, a relying party, the minutes. Either or both.
type PublicKeyOut struct {
	PEM string `yaml:"pem"` // SubjectPublicKeyInfo, PEM "PUBLIC KEY"
	SSH string `yaml:"ssh"` // OpenSSH authorized_keys line (EC, Ed25519, RSA)
}

// publicKeyFacts is where the intent records the paths, so that resume
// writes the same files.
func (o *PublicKeyOut) facts() map[string]any {
	f := map[string]any{}
	if o.PEM != "" {
		f["pem"] = o.PEM
	}
	if o.SSH != "" {
		f["ssh"] = o.SSH
	}
	return f
}

// checkPublicKeyOut is the plan's check: a key pair, and files that do not
// exist yet (an output is never written over).
func checkPublicKeyOut(file string, k *KeyPlan) error {
	o := k.PublicKey
	if o == nil {
		return nil
	}
	if o.PEM == "" && o.SSH == "" {
		return scriptErr(file, "key.public_key", "names no file", "give pem: PATH, ssh: PATH or both")
	}
	if kt, err := hsm.ParseKeyType(k.Type); err == nil && kt.Secret() {
		return scriptErr(file, "key.public_key", fmt.Sprintf("a %s key is secret: it has no public key", k.Type), "remove public_key, or generate a key pair")
	}
	for field, p := range map[string]string{"pem": o.PEM, "ssh": o.SSH} {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			return scriptErr(file, "key.public_key."+field, p+" already exists", "custos never writes over a file; choose a new path")
		}
	}
	return nil
}

// publicKeyForms encodes pub as the files want it.
func publicKeyForms(pub crypto.PublicKey, label string) (pemForm, sshForm []byte, err error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("public key: %w", err)
	}
	pemForm = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("public key in OpenSSH form: %w", err)
	}
	line := bytes.TrimRight(ssh.MarshalAuthorizedKey(sp), "\n")
	sshForm = append(append(line, ' '), label+"\n"...)
	return pemForm, sshForm, nil
}

// writePublicKey writes the public key of key to the files the intent
// names (facts "public_key_out"), reads each back, and returns what the
// outcome records of each: format, file and SHA-256. A file already there
// with exactly these bytes was written before an interruption and is
// taken as it is; one with other bytes is an error for people to settle.
func writePublicKey(key *hsm.Key, out map[string]any) ([]any, error) {
	if len(out) == 0 {
		return nil, nil
	}
	pub, err := key.PublicKey()
	if err != nil {
		return nil, err
	}
	pemForm, sshForm, err := publicKeyForms(pub, key.Label)
	if err != nil {
		return nil, err
	}
	var files []any
	for _, f := range []struct {
		format string
		data   []byte
	}{{"pem", pemForm}, {"ssh", sshForm}} {
		path, _ := out[f.format].(string)
		if path == "" {
			continue
		}
		sum := media.SHA256(f.data)
		if have, err := os.ReadFile(path); err == nil {
			if !bytes.Equal(have, f.data) {
				return nil, fmt.Errorf("public key file %s is there with other content (sha256 %s, this key's is %s): settle it by hand", path, media.SHA256(have), sum)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("public key file: %w", err)
		} else {
			// A public key: a leftover partial write of it is no secret
			// and is removed, so that resume can write it whole.
			os.Remove(media.IncompleteName(path))
			if err := media.Write(path, f.data, media.Public); err != nil {
				return nil, fmt.Errorf("public key file: %w", err)
			}
			if _, err := media.Check(path, sum); err != nil {
				return nil, fmt.Errorf("public key file: %w", err)
			}
		}
		files = append(files, map[string]any{"format": f.format, "file": path, "sha256": sum})
	}
	return files, nil
}
