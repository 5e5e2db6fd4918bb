// The X.509 sub-kinds of a sign ceremony: a self-signed root certificate,
// an intermediate certificate from a CSR, a CRL. crypto/x509 builds them;
// each is first made with a throwaway software key of the issuer key's
// type, only so that zlint can lint the exact TBS before the HSM signs
// anything (a lint error refuses the ceremony, naming the lint); the HSM
// then signs the same TBS, which must come out byte for byte the one
// linted and approved.

package ceremony

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"custos/hsm"
	"custos/internal/hint"
	"custos/internal/media"
	"custos/ledger"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
)

// The X.509 sub-kinds.
const (
	SignRootCertificate         = "root-certificate"
	SignIntermediateCertificate = "intermediate-certificate"
	SignCRL                     = "crl"
)

// CertPlan is a certificate template: a root's (root_certificate) or an
// intermediate's (intermediate_certificate, which also names the CSR and
// the issuer's certificate).
type CertPlan struct {
	// CSR and Issuer: intermediate only. Subject defaults to the CSR's.
	CSR    string    `yaml:"csr"`
	Issuer string    `yaml:"issuer"`
	Sub    *NamePlan `yaml:"subject"`

	NotBefore        Date                  `yaml:"not_before,required"`
	Validity         Duration              `yaml:"validity,required"`
	KeyUsage         []string              `yaml:"key_usage"`
	ExtKeyUsage      []string              `yaml:"ext_key_usage"`
	BasicConstraints *BasicConstraintsPlan `yaml:"basic_constraints"`
	Policies         []string              `yaml:"policies"`
	RSAPadding       string                `yaml:"rsa_padding"`
	LintProfile      string                `yaml:"lint_profile"`
	Output           string                `yaml:"output,required"`
}

// NamePlan is a distinguished name.
type NamePlan struct {
	CommonName         string   `yaml:"common_name,required"`
	Organization       []string `yaml:"organization"`
	OrganizationalUnit []string `yaml:"organizational_unit"`
	Country            []string `yaml:"country"`
	Province           []string `yaml:"province"`
	Locality           []string `yaml:"locality"`
}

func (n *NamePlan) name() pkix.Name {
	return pkix.Name{CommonName: n.CommonName, Organization: n.Organization, OrganizationalUnit: n.OrganizationalUnit,
		Country: n.Country, Province: n.Province, Locality: n.Locality}
}

// BasicConstraintsPlan is the basicConstraints extension (always critical).
type BasicConstraintsPlan struct {
	CA      bool `yaml:"ca"`
	PathLen *int `yaml:"path_len"`
}

// CRLPlan is a CRL: its number, this and next update, the revoked
// serials with their reasons, signed by the key of the issuer certificate.
type CRLPlan struct {
	Issuer      string        `yaml:"issuer,required"`
	Number      int64         `yaml:"number,required"`
	ThisUpdate  Date          `yaml:"this_update,required"`
	NextUpdate  Date          `yaml:"next_update,required"`
	Revoked     []RevokedPlan `yaml:"revoked"`
	RSAPadding  string        `yaml:"rsa_padding"`
	LintProfile string        `yaml:"lint_profile"`
	Output      string        `yaml:"output,required"`
}

// RevokedPlan is one revoked certificate of a CRL.
type RevokedPlan struct {
	Serial string `yaml:"serial,required"` // hex, colons allowed
	Date   Date   `yaml:"date,required"`
	Reason string `yaml:"reason"`
}

var keyUsages = map[string]x509.KeyUsage{
	"digital_signature": x509.KeyUsageDigitalSignature, "content_commitment": x509.KeyUsageContentCommitment,
	"key_encipherment": x509.KeyUsageKeyEncipherment, "data_encipherment": x509.KeyUsageDataEncipherment,
	"key_agreement": x509.KeyUsageKeyAgreement, "cert_sign": x509.KeyUsageCertSign, "crl_sign": x509.KeyUsageCRLSign,
}

var extKeyUsages = map[string]x509.ExtKeyUsage{
	"server_auth": x509.ExtKeyUsageServerAuth, "client_auth": x509.ExtKeyUsageClientAuth,
	"code_signing": x509.ExtKeyUsageCodeSigning, "email_protection": x509.ExtKeyUsageEmailProtection,
	"time_stamping": x509.ExtKeyUsageTimeStamping, "ocsp_signing": x509.ExtKeyUsageOCSPSigning,
}

// crlReasons are RFC 5280's reason codes (7 is unused).
var crlReasons = map[string]int{
	"unspecified": 0, "key_compromise": 1, "ca_compromise": 2, "affiliation_changed": 3, "superseded": 4,
	"cessation_of_operation": 5, "certificate_hold": 6, "remove_from_crl": 8, "privilege_withdrawn": 9, "aa_compromise": 10,
}

func names[V any](m map[string]V) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// checkCertPlan checks a certificate template on its own.
func checkCertPlan(file, path string, c *CertPlan, intermediate bool) error {
	bad := func(p, msg, fix string) error { return scriptErr(file, path+"."+p, msg, fix) }
	if intermediate {
		if c.CSR == "" {
			return bad("csr", "required field is missing", "the CSR file (PEM) of the intermediate CA")
		}
		if c.Issuer == "" {
			return bad("issuer", "required field is missing", "the issuing CA's certificate (PEM), whose key signs")
		}
	} else {
		if c.CSR != "" || c.Issuer != "" {
			return bad("csr", "not allowed in a root certificate", "a root is self-signed from its template alone")
		}
		if c.Sub == nil {
			return bad("subject", "required field is missing", "name the root, e.g. subject: {common_name: Example Root CA, organization: [Example]}")
		}
	}
	for i, u := range c.KeyUsage {
		if _, ok := keyUsages[u]; !ok {
			return bad(fmt.Sprintf("key_usage[%d]", i), fmt.Sprintf("unknown key usage %q", u), "one of: "+names(keyUsages))
		}
	}
	for i, u := range c.ExtKeyUsage {
		if _, ok := extKeyUsages[u]; !ok {
			return bad(fmt.Sprintf("ext_key_usage[%d]", i), fmt.Sprintf("unknown extended key usage %q", u), "one of: "+names(extKeyUsages))
		}
	}
	for i, p := range c.Policies {
		if _, err := x509.ParseOID(p); err != nil {
			return bad(fmt.Sprintf("policies[%d]", i), fmt.Sprintf("%q is not an OID", p), "dotted decimal, e.g. 2.5.29.32.0 (any policy)")
		}
	}
	if b := c.BasicConstraints; b != nil && b.PathLen != nil && (*b.PathLen < 0 || !b.CA) {
		return bad("basic_constraints.path_len", "needs ca: true and a length of 0 or more", "")
	}
	if err := checkPadding(c.RSAPadding); err != nil {
		return bad("rsa_padding", err.Error(), "pkcs1v15 or pss")
	}
	if _, err := lintRegistry(c.LintProfile); err != nil {
		return bad("lint_profile", err.Error(), "rfc5280 (the default) or webpki")
	}
	return nil
}

func checkPadding(p string) error {
	switch p {
	case "", "pkcs1v15", "pss":
		return nil
	}
	return fmt.Errorf("unknown padding %q", p)
}

func checkCRLPlan(file string, c *CRLPlan) error {
	bad := func(p, msg, fix string) error { return scriptErr(file, "sign.crl."+p, msg, fix) }
	if c.Number < 0 {
		return bad("number", "must be 0 or more", "")
	}
	if !c.NextUpdate.After(c.ThisUpdate.Time) {
		return bad("next_update", "is not after this_update", "")
	}
	for i, r := range c.Revoked {
		if field, err := r.check(); err != nil {
			fix := "the certificate's serial in hex, e.g. 3a:9f:…"
			if field == "reason" {
				fix = "one of: " + names(crlReasons)
			}
			return bad(fmt.Sprintf("revoked[%d].%s", i, field), err.Error(), fix)
		}
	}
	if err := checkPadding(c.RSAPadding); err != nil {
		return bad("rsa_padding", err.Error(), "pkcs1v15 or pss")
	}
	if _, err := lintRegistry(c.LintProfile); err != nil {
		return bad("lint_profile", err.Error(), "rfc5280 (the default) or webpki")
	}
	return nil
}

// check says which field of a revoked certificate is wrong (its serial,
// or a reason RFC 5280 does not name), and why.
func (r RevokedPlan) check() (field string, err error) {
	if _, err := parseSerial(r.Serial); err != nil {
		return "serial", err
	}
	if _, ok := crlReasons[r.Reason]; r.Reason != "" && !ok {
		return "reason", fmt.Errorf("unknown reason %q", r.Reason)
	}
	return "", nil
}

func parseSerial(s string) (*big.Int, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil || len(b) == 0 || len(b) > 20 {
		return nil, fmt.Errorf("%q is not a serial of 1 to 20 bytes in hex", s)
	}
	return new(big.Int).SetBytes(b), nil
}

// placeholderSerial is the serial Plan lints with; Draft draws the real
// one from the HSM's RNG and lints again.
var placeholderSerial = []byte{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// issuerCert reads the issuer certificate and checks that its public key
// is the signing key's, as the ledger recorded it.
func (e *Engine) issuerCert(path, field string, w *signWork) (*x509.Certificate, error) {
	data, c, err := readCert(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", e.Script.File, field, err)
	}
	spki, _, err := hsm.Fingerprints(c.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", e.Script.File, field, err)
	}
	if want, _ := w.key.Facts["spki_sha256"].(string); spki != want {
		return nil, hint.With(fmt.Errorf("%s: %s: the certificate's public key (sha256 %s) is not key %q's (%s)", e.Script.File, field, spki, w.key.Label, want),
			"name the certificate of the key that signs")
	}
	w.inputs = append(w.inputs, map[string]any{"role": "issuer", "file": path, "sha256": media.SHA256(data), "bytes": int64(len(data))})
	return c, nil
}

// planCert prepares a root or intermediate certificate.
func (e *Engine) planCert(w *signWork, c *CertPlan, intermediate bool) error {
	s := e.Script
	field := "sign.root_certificate"
	w.kind = SignRootCertificate
	if intermediate {
		field, w.kind = "sign.intermediate_certificate", SignIntermediateCertificate
	}
	algo, mech := sigAlgorithm(w.keyType, c.RSAPadding)
	if c.RSAPadding != "" && !strings.HasPrefix(string(w.keyType), "rsa") {
		return scriptErr(s.File, field+".rsa_padding", fmt.Sprintf("a %s key has no padding", w.keyType), "remove it")
	}
	w.mechanism = mech
	tmpl := &x509.Certificate{
		SignatureAlgorithm: algo,
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotBefore.UTC().AddDate(0, 0, c.Validity.Days).Add(-time.Second),
	}
	for _, u := range c.KeyUsage {
		tmpl.KeyUsage |= keyUsages[u]
	}
	for _, u := range c.ExtKeyUsage {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, extKeyUsages[u])
	}
	for _, p := range c.Policies {
		oid, _ := x509.ParseOID(p)
		tmpl.Policies = append(tmpl.Policies, oid)
	}
	if b := c.BasicConstraints; b != nil {
		tmpl.BasicConstraintsValid, tmpl.IsCA = true, b.CA
		if b.PathLen != nil {
			tmpl.MaxPathLen = *b.PathLen
			tmpl.MaxPathLenZero = *b.PathLen == 0
		} else {
			tmpl.MaxPathLen = -1
		}
	}
	var pub crypto.PublicKey
	var parent *x509.Certificate
	summary := map[string]any{}
	if intermediate {
		data, csr, err := readCSR(c.CSR)
		if err != nil {
			return fmt.Errorf("%s: %s.csr: %w", s.File, field, err)
		}
		spki, sshFP, err := hsm.Fingerprints(csr.PublicKey)
		if err != nil {
			return fmt.Errorf("%s: %s.csr: %w", s.File, field, err)
		}
		w.inputs = append(w.inputs, map[string]any{"role": "csr", "file": c.CSR, "sha256": media.SHA256(data), "bytes": int64(len(data)), "spki_sha256": spki})
		summary["csr_spki_sha256"], summary["csr_ssh_fingerprint"] = spki, sshFP
		w.readAloud = append(w.readAloud, fmt.Sprintf("the CSR's public key: SPKI sha256 %s — read aloud: %s", spki, strings.Join(ledger.Words(spki), " ")))
		pub = csr.PublicKey
		if c.Sub != nil {
			tmpl.Subject = c.Sub.name()
		} else {
			tmpl.RawSubject = csr.RawSubject
		}
		if parent, err = e.issuerCert(c.Issuer, field+".issuer", w); err != nil {
			return err
		}
	} else {
		tmpl.Subject = c.Sub.name()
		parent = tmpl
	}
	w.summary = summary
	w.prepare = func(serial []byte) error {
		tmpl.SerialNumber = new(big.Int).SetBytes(serial)
		if !intermediate {
			pub = w.pub // the signing key's own, read from the token at Draft
			tmpl.SubjectKeyId = subjectKeyID(pub)
			tmpl.AuthorityKeyId = tmpl.SubjectKeyId
		}
		// The throwaway key cannot match the parent's public key: the
		// copy linted is issued under a parent without one (the TBS uses
		// the parent's name and key id only).
		lp := *parent
		lp.PublicKey = nil
		if !intermediate {
			lp = *tmpl
		}
		tk, err := throwaway(w.keyType)
		if err != nil {
			return err
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, &lp, pub, tk)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", s.File, field, err)
		}
		zc, err := zx509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("%s: %s: zlint cannot read the certificate: %w", s.File, field, err)
		}
		// The copy is signed by the throwaway key; the certificate the
		// HSM signs is self-signed, checked after signing.
		zc.SelfSigned = !intermediate
		reg, err := lintRegistry(c.LintProfile)
		if err != nil {
			return err
		}
		if errs := lintErrors(zlint.LintCertificateEx(zc, reg)); len(errs) > 0 {
			return lintRefusal(s.File, field, errs)
		}
		lc, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		w.tbs = lc.RawTBSCertificate
		w.tbsSHA256 = media.SHA256(w.tbs)
		spki, _, _ := hsm.Fingerprints(pub)
		w.summary["serial"] = hex.EncodeToString(serial)
		w.summary["subject"] = lc.Subject.String()
		w.summary["issuer"] = lc.Issuer.String()
		w.summary["not_before"] = lc.NotBefore.Format(time.RFC3339)
		w.summary["not_after"] = lc.NotAfter.Format(time.RFC3339)
		w.summary["subject_spki_sha256"] = spki
		return nil
	}
	w.build = func(signer crypto.Signer) ([]byte, []byte, error) {
		p := parent
		if !intermediate {
			p = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, p, pub, signer)
		if err != nil {
			return nil, nil, err
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, err
		}
		// A root is checked against its own key, an intermediate against
		// its issuer's (CheckSignatureFrom also wants the issuer a CA).
		if intermediate {
			err = cert.CheckSignatureFrom(p)
		} else {
			err = cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("the HSM's signature does not verify: %w", err)
		}
		return cert.RawTBSCertificate, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
	}
	w.sig = func(out []byte) []byte {
		b, _ := pem.Decode(out)
		c, _ := x509.ParseCertificate(b.Bytes)
		return c.Signature
	}
	w.outputs = []any{map[string]any{"format": "pem-certificate", "file": c.Output}}
	w.serial = true
	if intermediate {
		// Linted now, with a placeholder serial, so a dry run refuses a
		// bad template; Draft lints again with the serial drawn.
		return w.prepare(placeholderSerial)
	}
	return nil
}

// subjectKeyID is RFC 7093's method 1: the leftmost 160 bits of the
// SHA-256 of the subject public key (the BIT STRING's bytes).
func subjectKeyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20]
}

// planCRL prepares a CRL.
func (e *Engine) planCRL(w *signWork) error {
	s := e.Script
	c := s.Sign.CRL
	w.kind = SignCRL
	if c.RSAPadding != "" && !strings.HasPrefix(string(w.keyType), "rsa") {
		return scriptErr(s.File, "sign.crl.rsa_padding", fmt.Sprintf("a %s key has no padding", w.keyType), "remove it")
	}
	algo, mech := sigAlgorithm(w.keyType, c.RSAPadding)
	w.mechanism = mech
	issuer, err := e.issuerCert(c.Issuer, "sign.crl.issuer", w)
	if err != nil {
		return err
	}
	tmpl := &x509.RevocationList{
		SignatureAlgorithm: algo,
		Number:             big.NewInt(c.Number),
		ThisUpdate:         c.ThisUpdate.UTC(),
		NextUpdate:         c.NextUpdate.UTC(),
	}
	var revoked []any
	for _, r := range c.Revoked {
		n, _ := parseSerial(r.Serial)
		ent := x509.RevocationListEntry{SerialNumber: n, RevocationTime: r.Date.UTC()}
		if r.Reason != "" {
			ent.ReasonCode = crlReasons[r.Reason]
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, ent)
		revoked = append(revoked, map[string]any{"serial": hex.EncodeToString(n.Bytes()), "date": r.Date.String(), "reason": r.Reason})
	}
	w.summary = map[string]any{"number": c.Number, "this_update": c.ThisUpdate.String(), "next_update": c.NextUpdate.String(),
		"issuer": issuer.Subject.String()}
	if len(revoked) > 0 {
		w.summary["revoked"] = revoked
	}
	w.prepare = func([]byte) error {
		tk, err := throwaway(w.keyType)
		if err != nil {
			return err
		}
		lp := *issuer
		lp.PublicKey = tk.Public()
		der, err := x509.CreateRevocationList(rand.Reader, tmpl, &lp, tk)
		if err != nil {
			return fmt.Errorf("%s: sign.crl: %w", s.File, err)
		}
		zc, err := zx509.ParseRevocationList(der)
		if err != nil {
			return fmt.Errorf("%s: sign.crl: zlint cannot read the CRL: %w", s.File, err)
		}
		reg, err := lintRegistry(c.LintProfile)
		if err != nil {
			return err
		}
		if errs := lintErrors(zlint.LintRevocationListEx(zc, reg)); len(errs) > 0 {
			return lintRefusal(s.File, "sign.crl", errs)
		}
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			return err
		}
		w.tbs = rl.RawTBSRevocationList
		w.tbsSHA256 = media.SHA256(w.tbs)
		return nil
	}
	w.build = func(signer crypto.Signer) ([]byte, []byte, error) {
		der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer, signer)
		if err != nil {
			return nil, nil, err
		}
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, nil, err
		}
		if err := rl.CheckSignatureFrom(issuer); err != nil {
			return nil, nil, err
		}
		return rl.RawTBSRevocationList, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
	}
	w.sig = func(out []byte) []byte {
		b, _ := pem.Decode(out)
		rl, _ := x509.ParseRevocationList(b.Bytes)
		return rl.Signature
	}
	w.outputs = []any{map[string]any{"format": "pem-crl", "file": c.Output}}
	return w.prepare(nil)
}

// signX509 signs a certificate or CRL on the HSM: the TBS must be the one
// approved.
func (e *Engine) signX509(signer crypto.Signer) ([][]byte, string, error) {
	w := e.signing
	crashSoon("during-hsm")
	tbs, out, err := w.build(signer)
	if err != nil {
		return nil, "", err
	}
	if media.SHA256(tbs) != w.tbsSHA256 {
		return nil, "", errors.New("the TBS signed is not the one approved; the output is not written")
	}
	return [][]byte{out}, media.SHA256(w.sig(out)), nil
}

// drawSerial draws a certificate's serial from the HSM's RNG (16 bytes,
// positive, no leading zero byte), or takes the one a carried request
// names so that the approved TBS is rebuilt.
func (e *Engine) drawSerial() ([]byte, error) {
	if e.Request != nil {
		sum, _ := e.Request.Record.Facts["summary"].(map[string]any)
		s, _ := sum["serial"].(string)
		b, err := hex.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("request %s names no certificate serial", e.Request.File)
		}
		return b, nil
	}
	b, err := e.token.Random(16)
	if err != nil {
		return nil, err
	}
	b[0] = b[0]&0x7f | 0x40
	return b, nil
}
