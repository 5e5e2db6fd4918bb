package ceremony

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"syscall"
	"time"

	"custos/hsm"
	"custos/internal/hint"
	"custos/internal/media"
	"custos/ledger"
)

// operate performs the HSM operation of the open intent and returns the
// outcome record to append.
func (e *Engine) operate(res *Result) (*ledger.Record, error) {
	switch e.Script.Kind {
	case KindGenerate, KindRotate:
		return e.generate(res)
	case KindExport:
		return e.export(res)
	case KindDestroy:
		return e.destroy(res)
	case KindBackup:
		return e.backup(res)
	case KindRestore:
		return e.restore(res)
	case KindReshare:
		return e.reshare(res)
	case KindSign:
		return e.signOp(res)
	}
	return nil, fmt.Errorf("no hsm operation for %s", e.Script.Kind)
}

// usageFor is the usage policy per key type: KEKs wrap, asymmetric root
// keys sign. Nothing more than the purpose needs.
func usageFor(t hsm.KeyType) hsm.Usage {
	if t.Secret() {
		return hsm.KEKUsage
	}
	return hsm.Usage{Sign: true, Verify: true}
}

func (e *Engine) generate(res *Result) (*ledger.Record, error) {
	k := e.Script.Key
	kt, err := hsm.ParseKeyType(k.Type)
	if err != nil {
		return nil, err
	}
	id, err := hex.DecodeString(e.plan.KeyID)
	if err != nil {
		return nil, fmt.Errorf("key id: %w", err)
	}
	ext := k.Exportable || k.Backup
	crashSoon("during-hsm")
	key, err := e.token.Generate(hsm.KeySpec{Label: k.Label, ID: id, Type: kt, Extractable: ext, WrapWithTrusted: ext, Usage: usageFor(kt)})
	if err != nil {
		return nil, err
	}
	e.say("generated %s key %q on token %s", kt, k.Label, e.token.Info().Label)
	return e.generatedRecord(key, e.opening)
}

// generatedRecord is the key.generated outcome for a key found on the HSM,
// used by generate and by resume; intent is the ceremony's opening, whose
// facts name the public key files to write.
func (e *Engine) generatedRecord(key *hsm.Key, intent *ledger.Record) (*ledger.Record, error) {
	kf, err := key.Facts()
	if err != nil {
		return nil, err
	}
	facts, err := ledger.FactsOf(kf)
	if err != nil {
		return nil, err
	}
	out, _ := intent.Facts["public_key_out"].(map[string]any)
	files, err := writePublicKey(key, out)
	if err != nil {
		return nil, err
	}
	if len(files) > 0 {
		facts["public_key_files"] = files
		for _, f := range files {
			f := f.(map[string]any)
			e.say("wrote the public key (%s) to %s and read it back (sha256 %s)", f["format"], f["file"], f["sha256"])
		}
	}
	facts["key_id"] = kf.ID
	facts["hsm"] = hsmFacts(e.token)
	return e.Ledger.Draft("key.generated", e.plan.Ceremony, e.actor(), facts, e.now()), nil
}

func (e *Engine) actor() string { return e.Script.Operator }

func (e *Engine) export(res *Result) (*ledger.Record, error) {
	x, pub := e.Script.Export, e.recipient
	if _, err := os.Lstat(x.Output); err == nil {
		return nil, hint.With(fmt.Errorf("%s: export.output: %s already exists", e.Script.File, x.Output), "custos never writes over a file; choose a new output path")
	}
	id, _ := hex.DecodeString(e.plan.KeyID)
	// Only the security officer can mark a key trusted: the approved
	// recipient key becomes the one key allowed to wrap this key out. It
	// is a session object where the token allows it (gone if the process
	// dies) and is destroyed on every path.
	wrapper, err := e.asSO(func() (*hsm.Key, error) {
		return e.token.ImportTrustedRSAPublic("custos-export-"+e.plan.KeyID[:8], exportWrapperID(e.plan.KeyID), pub)
	})
	removed := false
	if wrapper != nil {
		defer func() {
			if !removed {
				e.token.Destroy(wrapper)
			}
		}()
	}
	if err != nil {
		return nil, err
	}
	// Handles found before the logins changed may be stale: find the key now.
	target, err := e.token.FindKey(id, "")
	if err != nil {
		return nil, err
	}
	w, werr := e.token.Wrap(wrapper, target, e.Ledger.State().Policy.ExportOAEPHashes()...)
	_, derr := e.token.Destroy(wrapper)
	removed = derr == nil
	if derr != nil && werr == nil {
		werr = fmt.Errorf("remove the trusted wrapping key: %w", derr)
	}
	if werr != nil {
		return nil, werr
	}
	sum, err := writeOutput(x.Output, w.Blob)
	if err != nil {
		return nil, fmt.Errorf("%s: export.output: %w", e.Script.File, err)
	}
	res.Output = x.Output
	e.say("wrapped key %q for %s with %s into %s", e.plan.Label, x.Recipient, w.Mechanism, x.Output)
	facts := map[string]any{
		"key_id": e.plan.KeyID, "recipient": x.Recipient, "mechanism": w.Mechanism,
		"output": x.Output, "output_sha256": sum, "output_bytes": int64(len(w.Blob)),
		"trusted_wrapping_key_removed": true, "hsm": hsmFacts(e.token),
	}
	if w.OAEPHash != "" {
		facts["oaep_hash"] = w.OAEPHash
	}
	return e.Ledger.Draft("key.exported", e.plan.Ceremony, e.actor(), facts, e.now()), nil
}

// asSO runs f with the security officer logged in, then logs the user back
// in. Both PINs come from their pin-sources or are asked.
func (e *Engine) asSO(f func() (*hsm.Key, error)) (*hsm.Key, error) {
	u, err := hsm.ParseURI(e.Script.HSM)
	if err != nil {
		return nil, err
	}
	if err := e.token.Logout(); err != nil {
		return nil, err
	}
	so, err := e.readPIN(e.Script.SOPINSource, "security officer PIN of token "+e.token.Info().Label)
	if err != nil {
		return nil, err
	}
	err = e.token.LoginSO(so)
	clear(so)
	if err != nil {
		return nil, fmt.Errorf("security officer login: %w", err)
	}
	k, ferr := f()
	if err := e.token.Logout(); err != nil && ferr == nil {
		ferr = err
	}
	user, err := e.readPIN(u.PINSource, "user PIN of token "+e.token.Info().Label)
	if err != nil {
		return nil, err
	}
	err = e.token.Login(user)
	clear(user)
	if err != nil {
		return nil, err
	}
	return k, ferr
}

func (e *Engine) readPIN(source, what string) ([]byte, error) { return readPIN(source, what, e.Prompt) }

// readPIN reads a PIN from its pin-source, or asks it through p (an error
// when p is nil). The caller zeroes it.
func readPIN(source, what string, p Prompter) ([]byte, error) {
	if source != "" {
		return hsm.ReadPINSource(source)
	}
	if p == nil {
		p = NoPrompt{}
	}
	return p.Secret(what)
}

func (e *Engine) destroy(res *Result) (*ledger.Record, error) {
	id, _ := hex.DecodeString(e.plan.KeyID)
	key, err := e.token.FindKey(id, "")
	if err != nil {
		return nil, err
	}
	crashSoon("during-hsm")
	proof, err := e.token.Destroy(key)
	if err != nil {
		return nil, err
	}
	e.say("destroyed key %q; a fresh session finds nothing by id or label", e.plan.Label)
	return e.destroyedRecord(proof)
}

func (e *Engine) destroyedRecord(proof hsm.DestroyProof) (*ledger.Record, error) {
	pf, err := ledger.FactsOf(proof)
	if err != nil {
		return nil, err
	}
	facts := map[string]any{"key_id": e.plan.KeyID, "verification": pf, "hsm": hsmFacts(e.token)}
	return e.Ledger.Draft("key.destroyed", e.plan.Ceremony, e.actor(), facts, e.now()), nil
}

// loadRecipientKey reads an RSA public key from a PEM file (PUBLIC KEY,
// RSA PUBLIC KEY or CERTIFICATE).
func loadRecipientKey(path string) (*rsa.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s is not a PEM file", path)
	}
	var pub any
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		c, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			pub = c.PublicKey
		}
	default:
		return nil, fmt.Errorf("%s holds a %q, want a PUBLIC KEY or CERTIFICATE", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: recipient key must be RSA for RSA-OAEP wrapping", path)
	}
	if rk.N.BitLen() < 3072 {
		return nil, fmt.Errorf("%s: recipient key is RSA-%d, at least 3072 bits are required", path, rk.N.BitLen())
	}
	return rk, nil
}

// writeOutput writes data as a new file at path on its medium (package
// media: never over a file, never half-written under path, mode 0600,
// no hard links, so FAT and exFAT media work), then re-opens it from the
// medium and compares its SHA-256 with the one it returns — the digest
// the caller records. A medium that returns other bytes fails the step
// before anything is recorded, and the bad file is removed.
func writeOutput(path string, data []byte) (string, error) {
	sum, back, err := writeReadBack(path, data)
	clear(back)
	return sum, err
}

// writeReadBack is writeOutput that also returns the bytes read back
// from the medium (the caller zeroes them), for checks of their content.
func writeReadBack(path string, data []byte) (string, []byte, error) {
	sum := media.SHA256(data)
	if err := media.Write(path, data, media.Secret); err != nil {
		return "", nil, err
	}
	back, err := media.Check(path, sum)
	if err != nil {
		if os.Remove(path) == nil {
			return "", nil, fmt.Errorf("%w; the file was removed", err)
		}
		return "", nil, err
	}
	return sum, back, nil
}

// writeExclusive is writeOutput for outputs whose digest is not recorded.
func writeExclusive(path string, data []byte) error {
	_, err := writeOutput(path, data)
	return err
}

// crashEnv names the test hook that kills the process at a named point of
// a ceremony, so the fault tests can prove resume. It only ever kills this
// process; it cannot change what is recorded.
const crashEnv = "CUSTOS_TEST_CRASH_AT"

func crashPoint(name string) {
	if os.Getenv(crashEnv) == name {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Second)
	}
}

// crashSoon kills the process while the HSM operation runs: the signal
// is sent from another goroutine as the operation starts, so it lands
// during the call or, for a fast one, right after it — before its outcome
// can be recorded either way.
func crashSoon(name string) {
	if os.Getenv(crashEnv) == name {
		go syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
}
