// The sign pages of the new-ceremony form, by a key pair of the ledger
// (ceremony.KeysFor(KindSign)): a detached signature over a file, or the
// key's own root certificate. The key, what it signs and the file are
// asked first (kindGroups), so the outputs offered are named after them.
// Also the enrolment's page for the HSM's certification.

package tui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/huh/v2"

	"custos/ceremony"
	"custos/internal/ids"
	"custos/ledger"
)

// signGroups are the pages after the key and the file: why, the padding
// of an RSA key, and the outputs.
func (m *Model) signGroups(v *formValues) []*huh.Group {
	st := m.led.State()
	switch v.signWhat {
	case ceremony.SignRootCertificate:
		return m.rootCertGroups(v)
	case ceremony.SignIntermediateCertificate:
		return m.issuedCertGroups(v)
	case ceremony.SignCRL:
		return m.crlGroups(v)
	}
	first := []huh.Field{
		huh.NewInput().Key("purpose").Title("Purpose").Description("why " + v.signFile + " is signed; recorded in the intent").Value(&v.purpose).Validate(required),
	}
	if isRSA(st, v.key) {
		if v.padding == "" {
			v.padding = "pkcs1v15"
		}
		first = append(first, huh.NewSelect[string]().Key("padding").Title("RSA padding").Description("of the raw signature").
			Options(huh.NewOption("PKCS#1 v1.5", "pkcs1v15"), huh.NewOption("PSS (SHA-256, salt 32)", "pss")).Value(&v.padding))
	} else {
		v.padding = ""
	}
	output := func(p string) error {
		if strings.TrimSpace(p) == "" {
			return nil
		}
		return ceremony.CheckOutputFree(p)
	}
	return []*huh.Group{
		huh.NewGroup(first...),
		huh.NewGroup(
			huh.NewInput().Key("signature").Title("Raw signature file").Description("DER ECDSA, PKCS#1 / PSS or raw Ed25519; a new file, or blank for none").
				Value(&v.signature).Validate(output),
			huh.NewInput().Key("sshsig").Title("SSH signature file").Description("armored, for ssh-keygen -Y verify; a new file, or blank for none").
				Value(&v.sshsig).Validate(func(p string) error {
				if strings.TrimSpace(p) == "" {
					if strings.TrimSpace(v.signature) == "" {
						return errors.New("name at least one output: a raw signature, an SSH signature, or both")
					}
					return nil
				}
				if p == v.signature {
					return errors.New("the same file as the raw signature: name two files")
				}
				return output(p)
			}),
			huh.NewInput().Key("namespace").Title("SSH signature namespace").Description("what ssh-keygen -Y verify -n checks, e.g. file or release@example.org").
				Value(&v.namespace).Validate(func(s string) error {
				if strings.TrimSpace(v.sshsig) != "" && strings.TrimSpace(s) == "" {
					return errors.New("an SSH signature is made for a namespace")
				}
				return nil
			}),
		),
	}
}

// rootCertGroups are the pages of a root certificate: why, the subject,
// when it starts and how long it holds, the output. The rest is a root's
// profile: a critical basicConstraints CA, key usage cert_sign, crl_sign
// and digital_signature, linted against RFC 5280 (a script written by
// hand may choose otherwise).
func (m *Model) rootCertGroups(v *formValues) []*huh.Group {
	return []*huh.Group{
		huh.NewGroup(
			huh.NewInput().Key("purpose").Title("Purpose").Description("why the certificate is made; recorded in the intent").Value(&v.purpose).Validate(required),
			huh.NewInput().Key("certcn").Title("Common name").Description("the subject's CN, e.g. Example Root CA 2026").Value(&v.certCN).Validate(required),
			huh.NewInput().Key("certorg").Title("Organization").Description("optional, the subject's O").Value(&v.certOrg),
			huh.NewInput().Key("certcountry").Title("Country").Description("optional, two letters, e.g. NL").Value(&v.certCountry).Validate(func(s string) error {
				if s = strings.TrimSpace(s); s != "" && (len(s) != 2 || strings.ToUpper(s) != s) {
					return errors.New("two capital letters (ISO 3166), e.g. NL")
				}
				return nil
			}),
		),
		huh.NewGroup(
			huh.NewInput().Key("certnotbefore").Title("Valid from").Description("YYYY-MM-DD").Value(&v.certNotBefore).Validate(func(s string) error {
				_, err := time.Parse(time.DateOnly, s)
				if err != nil {
					return errors.New("want a date like 2027-01-31")
				}
				return nil
			}),
			huh.NewSelect[string]().Key("certvalidity").Title("Validity").Description("a root lives long; its key's rotation is a new root").
				Options(huh.NewOptions("5y", "10y", "15y", "20y", "25y")...).Value(&v.certValidity),
			newPath("Certificate file", "PEM, a new file", &v.certOutput).Key("certoutput"),
		),
	}
}

// prefillRootCert starts a root certificate's answers from its key.
func (m *Model) prefillRootCert(v *formValues) {
	if v.certNotBefore == "" {
		v.certNotBefore = m.opts.Now().UTC().Format(time.DateOnly)
	}
	if v.certValidity == "" {
		v.certValidity = "20y"
	}
	if v.certOutput == "" {
		v.certOutput = freeOutput(m.wsPath(v.key), ".crt.pem")
	}
}

// rootCertPlan is the script's root_certificate section.
func rootCertPlan(v *formValues) (*ceremony.CertPlan, error) {
	nb, err := time.Parse(time.DateOnly, v.certNotBefore)
	if err != nil {
		return nil, fmt.Errorf("valid from: %w", err)
	}
	c := &ceremony.CertPlan{
		Sub:              &ceremony.NamePlan{CommonName: strings.TrimSpace(v.certCN)},
		NotBefore:        ceremony.Date{Time: nb},
		KeyUsage:         []string{"cert_sign", "crl_sign", "digital_signature"},
		BasicConstraints: &ceremony.BasicConstraintsPlan{CA: true},
		LintProfile:      "rfc5280",
		Output:           strings.TrimSpace(v.certOutput),
	}
	if err := c.Validity.UnmarshalText([]byte(v.certValidity)); err != nil {
		return nil, err
	}
	if o := strings.TrimSpace(v.certOrg); o != "" {
		c.Sub.Organization = []string{o}
	}
	if cc := strings.TrimSpace(v.certCountry); cc != "" {
		c.Sub.Country = []string{cc}
	}
	return c, nil
}

// signCertPlan is the script's sign section for a certificate or a CRL.
func signCertPlan(v *formValues) (*ceremony.SignPlan, error) {
	p := &ceremony.SignPlan{Key: v.key, Purpose: v.purpose}
	var err error
	switch v.signWhat {
	case ceremony.SignRootCertificate:
		p.RootCertificate, err = rootCertPlan(v)
	case ceremony.SignIntermediateCertificate:
		p.IntermediateCertificate, err = issuedCertPlan(v)
	case ceremony.SignCRL:
		p.CRL, err = crlPlan(v)
	default:
		return signPlan(v), nil
	}
	return p, err
}

// signPlan is the script's sign section the answers make.
func signPlan(v *formValues) *ceremony.SignPlan {
	d := &ceremony.DetachedPlan{File: v.signFile, Signature: strings.TrimSpace(v.signature), SSHSig: strings.TrimSpace(v.sshsig), RSAPadding: v.padding}
	if d.SSHSig != "" {
		d.Namespace = strings.TrimSpace(v.namespace)
	}
	return &ceremony.SignPlan{Key: v.key, Purpose: v.purpose, Detached: d}
}

// isRSA reports whether label names one of the ledger's RSA keys.
func isRSA(st *ledger.State, label string) bool {
	for _, ks := range ceremony.KeysFor(st, ceremony.KindSign) {
		if ks.Label == label {
			return strings.HasPrefix(ks.Type, "rsa-")
		}
	}
	return false
}

// freeOutput is file+ext, or file-2+ext …: the first a ceremony would
// not refuse as an output (custos never writes over a file).
func freeOutput(file, ext string) string {
	p := file + ext
	for i := 2; i < 1000 && ceremony.CheckOutputFree(p) != nil; i++ {
		p = file + "-" + strconv.Itoa(i) + ext
	}
	return p
}

// vocabField asks a new key's environment or classification: where the
// policy has words, one of them (required, Plan refuses others); where
// not, an optional word.
func vocabField(words []string, key, title, example string, v *string) huh.Field {
	if len(words) > 0 {
		return huh.NewSelect[string]().Key(key).Title(title).Description("the policy's words; one is required").
			Options(huh.NewOptions(words...)...).Height(min(len(words), 6) + 2).Value(v)
	}
	return huh.NewInput().Key(key).Title(title).Description("optional, one word, " + example + "; the policy names none").
		Value(v).Validate(func(s string) error {
		if s != "" && !ledger.VocabWord.MatchString(s) {
			return fmt.Errorf("%.40q is not one word of lower-case letters, digits and dashes", s)
		}
		return nil
	})
}

// idPart is s with every byte an id may not hold as a dash: a file name
// made into part of a ceremony id.
func idPart(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '.' || r == '_' || r == '-' || ids.Valid(string(r))) {
			return r
		}
		return '-'
	}, s)
}

// validationGroups ask an enrolment for the HSM's certification, as its
// certificate states it; none for a token without one (SoftHSM).
func (m *Model) validationGroups(v *formValues) []*huh.Group {
	return []*huh.Group{
		huh.NewGroup(
			huh.NewSelect[string]().Key("validprogram").Title("Certification").Description("as the HSM's certificate states it; recorded and shown by the report").
				Options(huh.NewOption("none — the token has no certificate", ""), huh.NewOption("FIPS 140-2", "fips-140-2"),
					huh.NewOption("FIPS 140-3", "fips-140-3"), huh.NewOption("Common Criteria", "common-criteria")).Value(&v.validProgram),
		),
		huh.NewGroup(
			huh.NewInput().Key("validcert").Title("Certificate number").Description("e.g. 4745").Value(&v.validCertificate).Validate(required),
			huh.NewInput().Key("validlevel").Title("Level").Description("1 to 4 for FIPS 140, EAL1 to EAL7(+) for Common Criteria").Value(&v.validLevel).Validate(required),
		).WithHideFunc(func() bool { return v.validProgram == "" }),
	}
}
