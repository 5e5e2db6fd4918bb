// The sign ceremony: a key on the HSM signs something — a detached
// signature over a file, a certificate, a CRL. Every sub-kind follows the
// same steps: the script names what to sign; Plan builds the exact bytes
// to be signed (the TBS) and refuses what is wrong with them before
// anything is recorded; the intent carries the TBS's SHA-256 and every
// input's, so the approvals are bound to those bytes; the HSM signs them
// (hsm.Key.Signer: the private key never leaves the token); the outcome
// records every output file, written, read back and digested.

package ceremony

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"custos/hsm"
	"custos/internal/hint"
	"custos/internal/media"
	"custos/ledger"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// KindSign is a ceremony in which a key on the HSM signs.
const KindSign = "sign"

// Sub-kinds of a sign ceremony (facts.sign_kind).
const (
	SignDetached = "detached"
)

// SignPlan is a sign script's sign section: the key, why, and exactly one
// sub-kind.
type SignPlan struct {
	Key     string `yaml:"key,required"`
	Purpose string `yaml:"purpose,required"`

	Detached                *DetachedPlan `yaml:"detached"`
	RootCertificate         *CertPlan     `yaml:"root_certificate"`
	IntermediateCertificate *CertPlan     `yaml:"intermediate_certificate"`
	CRL                     *CRLPlan      `yaml:"crl"`
}

// DetachedPlan is a detached signature over a file: raw (signature) and,
// optionally, as an SSH signature (sshsig, what ssh-keygen -Y verify
// checks) under a namespace.
type DetachedPlan struct {
	File      string `yaml:"file,required"`
	Signature string `yaml:"signature"`
	SSHSig    string `yaml:"sshsig"`
	Namespace string `yaml:"namespace"`
	// RSAPadding is pkcs1v15 (the default) or pss, for an RSA key.
	RSAPadding string `yaml:"rsa_padding"`
}

// maxSignInput bounds a file to sign: it is read whole (an Ed25519
// signature needs the whole message in one C_Sign).
const maxSignInput = 64 << 20

// signWork is what Plan prepared and operate signs.
type signWork struct {
	kind      string
	key       *ledger.KeyState
	keyType   hsm.KeyType
	mechanism string
	tbs       []byte // the bytes the key signs (the file, for detached)
	tbsSHA256 string
	inputs    []any
	outputs   []any // {format, file}
	summary   map[string]any
	// readAloud are lines the plan shows to be read aloud (a CSR's key).
	readAloud []string

	// X.509 (signcert.go): pub is the signing key's public key; prepare
	// builds and lints the TBS with a serial (serial: the kind takes one
	// from the HSM's RNG); build signs it with the HSM's signer and returns
	// the TBS signed and the output; sig is the signature in an output.
	pub     crypto.PublicKey
	serial  bool
	prepare func(serial []byte) error
	build   func(crypto.Signer) ([]byte, []byte, error)
	sig     func([]byte) []byte
}

// checkSignScript checks a sign script on its own.
func checkSignScript(s *Script) error {
	g := s.Sign
	bad := func(path, msg, fix string) error { return scriptErr(s.File, path, msg, fix) }
	n := 0
	for _, present := range []bool{g.Detached != nil, g.RootCertificate != nil, g.IntermediateCertificate != nil, g.CRL != nil} {
		if present {
			n++
		}
	}
	if n != 1 {
		return bad("sign", fmt.Sprintf("names %d sub-kinds", n), "exactly one of: detached, root_certificate, intermediate_certificate, crl")
	}
	if c := g.RootCertificate; c != nil {
		return checkCertPlan(s.File, "sign.root_certificate", c, false)
	}
	if c := g.IntermediateCertificate; c != nil {
		return checkCertPlan(s.File, "sign.intermediate_certificate", c, true)
	}
	if c := g.CRL; c != nil {
		return checkCRLPlan(s.File, c)
	}
	if d := g.Detached; d != nil {
		if d.Signature == "" && d.SSHSig == "" {
			return bad("sign.detached", "names no output", "give signature: FILE (raw), sshsig: FILE (ssh-keygen -Y), or both")
		}
		if d.SSHSig != "" && d.Namespace == "" {
			return bad("sign.detached.namespace", "required field is missing", "an SSH signature is made for a namespace, e.g. file or an application's domain")
		}
		if d.SSHSig == "" && d.Namespace != "" {
			return bad("sign.detached.namespace", "without sshsig", "remove it, or add sshsig: FILE")
		}
		switch d.RSAPadding {
		case "", "pkcs1v15", "pss":
		default:
			return bad("sign.detached.rsa_padding", fmt.Sprintf("unknown padding %q", d.RSAPadding), "pkcs1v15 or pss")
		}
		if d.Signature != "" && d.Signature == d.SSHSig {
			return bad("sign.detached.sshsig", "the same file as signature", "name two files")
		}
	}
	return nil
}

// planSign resolves the key, reads the inputs, builds the TBS and fills
// the plan's steps.
func (e *Engine) planSign(p *Plan) error {
	s := e.Script
	g := s.Sign
	ks, err := e.lookupKey(g.Key, "sign.key", keyUse{})
	if err != nil {
		return err
	}
	kt := hsm.KeyType(ks.Type)
	if kt.Secret() {
		return hint.With(fmt.Errorf("%s: sign.key: key %q is a %s secret key and signs nothing", s.File, ks.Label, ks.Type), "name a key pair (rsa, ec or ed25519)")
	}
	e.target = ks
	p.KeyID, p.Label = ks.ID, ks.Label
	w := &signWork{key: ks, keyType: kt}
	switch {
	case g.Detached != nil:
		err = e.planDetached(w)
	case g.RootCertificate != nil:
		err = e.planCert(w, g.RootCertificate, false)
	case g.IntermediateCertificate != nil:
		err = e.planCert(w, g.IntermediateCertificate, true)
	case g.CRL != nil:
		err = e.planCRL(w)
	}
	if err != nil {
		return err
	}
	for i, o := range w.outputs {
		f := o.(map[string]any)["file"].(string)
		if err := refuseOutput(f); err != nil {
			return hint.With(fmt.Errorf("%s: sign: output %d: %w", s.File, i+1, err), "custos never writes over a file; choose a new output path")
		}
	}
	e.signing = w
	var outs []string
	for _, o := range w.outputs {
		m := o.(map[string]any)
		outs = append(outs, fmt.Sprintf("%s (%s)", m["file"], m["format"]))
	}
	p.Steps = append([]string{
		fmt.Sprintf("record the intent to sign with key %q (%s): %s, purpose %q", ks.Label, ks.Type, w.kind, g.Purpose),
	}, w.steps()...)
	p.Steps = append(p.Steps, w.readAloud...)
	tbs := "TBS sha256 " + w.tbsSHA256
	if w.serial {
		tbs = "the TBS linted by zlint, its serial drawn from the HSM's RNG, its sha256 in the intent"
	}
	p.Steps = append(p.Steps,
		fmt.Sprintf("sign inside the HSM with %s; %s", w.mechanism, tbs),
		"write "+strings.Join(outs, ", ")+", read them back, record their SHA-256",
		"witnesses co-sign the closing checkpoint")
	return nil
}

// steps says what the plan checked of the TBS, for the plan.
func (w *signWork) steps() []string {
	var out []string
	for _, in := range w.inputs {
		m := in.(map[string]any)
		out = append(out, fmt.Sprintf("input %s (%s): sha256 %s", m["file"], m["role"], m["sha256"]))
	}
	return out
}

// refuseOutput fails if an output path, or a half-written one, exists.
func refuseOutput(path string) error {
	for _, p := range []string{path, media.IncompleteName(path)} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// readInput reads a file to sign, bounded.
func readInput(file, path string) ([]byte, error) {
	if err := statInput(file, path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// statInput checks a file to sign is a regular file within the bound.
func statInput(file, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxSignInput {
		return fmt.Errorf("%s: %s is not a regular file of at most %d MiB", file, path, maxSignInput>>20)
	}
	return nil
}

func (e *Engine) planDetached(w *signWork) error {
	s := e.Script
	d := s.Sign.Detached
	data, err := readInput(s.File+": sign.detached.file", d.File)
	if err != nil {
		return err
	}
	w.kind = SignDetached
	w.tbs = data
	w.tbsSHA256 = media.SHA256(data)
	w.inputs = []any{map[string]any{"role": "file", "file": d.File, "sha256": w.tbsSHA256, "bytes": int64(len(data))}}
	mech, err := detachedMechanism(w.keyType, d.RSAPadding)
	if err != nil {
		return fmt.Errorf("%s: sign.detached.rsa_padding: %w", s.File, err)
	}
	w.mechanism = mech
	if d.Signature != "" {
		w.outputs = append(w.outputs, map[string]any{"format": "raw", "file": d.Signature})
	}
	if d.SSHSig != "" {
		w.outputs = append(w.outputs, map[string]any{"format": "sshsig", "file": d.SSHSig, "namespace": d.Namespace, "hash": string(sshsig.HashSHA256)})
	}
	w.summary = map[string]any{"file": d.File}
	return nil
}

// detachedMechanism names how a key type signs a file.
func detachedMechanism(kt hsm.KeyType, padding string) (string, error) {
	switch {
	case kt == hsm.Ed25519:
		if padding != "" {
			return "", errors.New("an Ed25519 key has no padding")
		}
		return "CKM_EDDSA (Ed25519 over the file)", nil
	case kt == hsm.ECP256 || kt == hsm.ECP384:
		if padding != "" {
			return "", errors.New("an EC key has no padding")
		}
		return "CKM_ECDSA over SHA-256", nil
	case padding == "pss":
		return "CKM_RSA_PKCS_PSS (SHA-256, MGF1-SHA-256, salt 32)", nil
	}
	return "CKM_RSA_PKCS (PKCS#1 v1.5, SHA-256)", nil
}

// draftSign sets the intent's facts.
func (e *Engine) draftSign(facts map[string]any) error {
	w := e.signing
	if w == nil {
		return errors.New("sign: no plan")
	}
	if err := e.signReady(w); err != nil {
		return err
	}
	if w.prepare != nil {
		if err := e.prepareX509(w); err != nil {
			return err
		}
	}
	facts["key_id"] = w.key.ID
	facts["label"] = w.key.Label
	facts["sign_kind"] = w.kind
	facts["mechanism"] = w.mechanism
	facts["inputs"] = w.inputs
	facts["tbs_sha256"] = w.tbsSHA256
	facts["outputs"] = w.outputs
	facts["purpose"] = e.Script.Sign.Purpose
	if len(w.summary) > 0 {
		facts["summary"] = w.summary
	}
	return nil
}

// signOp is the HSM step: the inputs are read again and must be what the
// intent names (a file changed since the approvals is refused), the key
// signs on the token, the signature is checked against the key's public
// half, and the outputs are written.
func (e *Engine) signOp(res *Result) (*ledger.Record, error) {
	w, s := e.signing, e.Script
	for _, in := range w.inputs {
		m := in.(map[string]any)
		data, err := readInput(s.File, m["file"].(string))
		if err != nil {
			return nil, err
		}
		if got := media.SHA256(data); got != m["sha256"] {
			return nil, fmt.Errorf("%s: %s changed since the intent was approved (sha256 now %s, approved %s); nothing was signed", s.File, m["file"], got, m["sha256"])
		}
	}
	if want, _ := e.opening.Facts["tbs_sha256"].(string); media.SHA256(w.tbs) != want {
		return nil, errors.New("sign: the bytes to sign are not those the intent names; nothing was signed")
	}
	id, _ := hex.DecodeString(w.key.ID)
	key, err := e.token.FindKey(id, "")
	if err != nil {
		return nil, err
	}
	signer, err := key.Signer()
	if err != nil {
		return nil, err
	}
	spki, _, err := hsm.Fingerprints(signer.Public())
	if err != nil {
		return nil, err
	}
	if want, _ := w.key.Facts["spki_sha256"].(string); want != "" && spki != want {
		return nil, fmt.Errorf("token %q: key %s has public key sha256 %s, the ledger recorded %s: not signing", e.token.Info().Label, w.key.ID, spki, want)
	}
	var outs [][]byte
	var sigSum string
	switch w.kind {
	case SignDetached:
		outs, sigSum, err = e.signDetached(signer)
	default:
		outs, sigSum, err = e.signX509(signer)
	}
	if err != nil {
		return nil, err
	}
	var recorded []any
	for i, o := range w.outputs {
		m := o.(map[string]any)
		file := m["file"].(string)
		sum, err := writePublic(file, outs[i])
		if err != nil {
			return nil, fmt.Errorf("%s: sign: output %s: %w", s.File, file, err)
		}
		r := map[string]any{"format": m["format"], "file": file, "sha256": sum, "bytes": int64(len(outs[i]))}
		recorded = append(recorded, r)
		e.say("wrote %s (%s) and read it back (sha256 %s)", file, m["format"], sum)
		res.Output = file
	}
	facts := map[string]any{
		"key_id": w.key.ID, "hsm": hsmFacts(e.token), "sign_kind": w.kind, "mechanism": w.mechanism,
		"tbs_sha256": w.tbsSHA256, "signature_sha256": sigSum, "outputs": recorded,
	}
	if serial, _ := w.summary["serial"].(string); serial != "" {
		facts["serial"] = serial
	}
	return e.Ledger.Draft("key.signed", e.plan.Ceremony, e.actor(), facts, e.now()), nil
}

// writePublic writes an output that is no secret (mode 0644), read back.
func writePublic(path string, data []byte) (string, error) {
	sum := media.SHA256(data)
	if err := media.Write(path, data, media.Public); err != nil {
		return "", err
	}
	if _, err := media.Check(path, sum); err != nil {
		if os.Remove(path) == nil {
			return "", fmt.Errorf("%w; the file was removed", err)
		}
		return "", err
	}
	return sum, nil
}

// signDetached makes the raw signature and the SSH signature of the file,
// each in the HSM, and checks each against the public key before it is
// written.
func (e *Engine) signDetached(signer crypto.Signer) ([][]byte, string, error) {
	w, d := e.signing, e.Script.Sign.Detached
	digest := sha256.Sum256(w.tbs)
	var outs [][]byte
	var raw []byte
	if d.Signature != "" {
		var err error
		crashSoon("during-hsm")
		switch w.keyType {
		case hsm.Ed25519:
			raw, err = signer.Sign(nil, w.tbs, crypto.Hash(0))
		default:
			var opts crypto.SignerOpts = crypto.SHA256
			if d.RSAPadding == "pss" {
				opts = &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
			}
			raw, err = signer.Sign(nil, digest[:], opts)
		}
		if err != nil {
			return nil, "", err
		}
		if err := verifyDetached(signer.Public(), w.tbs, digest[:], raw, d.RSAPadding == "pss"); err != nil {
			return nil, "", fmt.Errorf("the HSM's signature does not verify against the key's public key: %w", err)
		}
		outs = append(outs, raw)
	}
	sigSum := media.SHA256(raw)
	if d.SSHSig != "" {
		ss, err := ssh.NewSignerFromSigner(signer)
		if err != nil {
			return nil, "", fmt.Errorf("ssh signer: %w", err)
		}
		crashSoon("during-hsm")
		sig, err := sshsig.Sign(bytes.NewReader(w.tbs), ss, sshsig.HashSHA256, d.Namespace)
		if err != nil {
			return nil, "", fmt.Errorf("ssh signature: %w", err)
		}
		if err := sshsig.Verify(bytes.NewReader(w.tbs), sig, ss.PublicKey(), sshsig.HashSHA256, d.Namespace); err != nil {
			return nil, "", fmt.Errorf("the HSM's SSH signature does not verify: %w", err)
		}
		armored := sshsig.Armor(sig)
		if raw == nil {
			sigSum = media.SHA256(sig.Signature.Blob)
		}
		outs = append(outs, armored)
	}
	return outs, sigSum, nil
}

// verifyDetached checks a raw signature with the standard library.
func verifyDetached(pub crypto.PublicKey, msg, digest, sig []byte, pss bool) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return errors.New("ed25519: bad signature")
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ecdsa: bad signature")
		}
	case *rsa.PublicKey:
		if pss {
			return rsa.VerifyPSS(k, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig)
	default:
		return fmt.Errorf("public key %T", pub)
	}
	return nil
}

// settleSign settles an open sign intent: a signature leaves nothing on
// the token, and what was written is not recorded, so the ceremony is
// aborted, naming any output file for the custodians to destroy (a
// signature the ledger does not record must not be used).
func settleSign(intent *ledger.Record, cause string) string {
	reason := cause + "; nothing was recorded as signed"
	outs, _ := intent.Facts["outputs"].([]any)
	for _, o := range outs {
		m, _ := o.(map[string]any)
		out, _ := m["file"].(string)
		if out == "" {
			continue
		}
		for _, p := range []string{out, media.IncompleteName(out)} {
			if _, err := os.Lstat(p); err == nil {
				reason += fmt.Sprintf("; the output file %s exists and must be destroyed by the custodians", p)
			}
		}
	}
	return reason
}

// signReady checks, before the intent, that the token holds the key the
// ledger names (its public key's fingerprint) and can sign with it by the
// mechanism planned, so a missing mechanism costs no record.
func (e *Engine) signReady(w *signWork) error {
	id, _ := hex.DecodeString(w.key.ID)
	key, err := e.token.FindKey(id, "")
	if err != nil {
		return err
	}
	signer, err := key.Signer()
	if err != nil {
		return fmt.Errorf("%s: hsm: %w", e.Script.File, err)
	}
	if strings.Contains(w.mechanism, "CKM_RSA_PKCS_PSS") {
		if err := key.CheckPSS(); err != nil {
			return fmt.Errorf("%s: hsm: %w", e.Script.File, err)
		}
	}
	pub := signer.Public()
	spki, _, err := hsm.Fingerprints(pub)
	if err != nil {
		return err
	}
	if want, _ := w.key.Facts["spki_sha256"].(string); spki != want {
		return fmt.Errorf("token %q: key %s has public key sha256 %s, the ledger recorded %s", e.token.Info().Label, w.key.ID, spki, want)
	}
	w.pub = pub
	return nil
}

// prepareX509 builds the final TBS at Draft: the serial drawn from the
// HSM's RNG, the whole linted.
func (e *Engine) prepareX509(w *signWork) error {
	var serial []byte
	if w.serial {
		var err error
		if serial, err = e.drawSerial(); err != nil {
			return err
		}
	}
	return w.prepare(serial)
}
