// The sign pages of the new-ceremony form for what a CA key issues: an
// issuing CA's certificate from its CSR, and a CRL. Both name the issuer's
// certificate (the key's own, which the plan checks); the rest is an
// issuing CA's profile, or the CRL's number, updates and revocations.

package tui

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"charm.land/huh/v2"

	"custos/ceremony"
)

// issuerField asks for the issuer's certificate (PEM, the key's own).
func issuerField(v *formValues) huh.Field {
	return huh.NewInput().Key("certissuer").Title("Issuer certificate").
		Description("PEM, the certificate of the key that signs; the plan checks its key is this one").
		Value(&v.certIssuer).Validate(func(p string) error {
		if strings.TrimSpace(p) == "" {
			return errors.New("required")
		}
		return ceremony.CheckCertificate(strings.TrimSpace(p))
	})
}

// dateField is a YYYY-MM-DD answer.
func dateField(key, title string, v *string) huh.Field {
	return huh.NewInput().Key(key).Title(title).Description("YYYY-MM-DD").Value(v).Validate(func(s string) error {
		if _, err := time.Parse(time.DateOnly, strings.TrimSpace(s)); err != nil {
			return errors.New("want a date like 2027-01-31")
		}
		return nil
	})
}

// issuedCertGroups are the pages of an issuing CA's certificate: why, the
// CSR and the issuer, when it starts and how long it holds, the output.
// The subject is the CSR's; the profile an issuing CA's: a critical
// basicConstraints CA with path length 0, key usage cert_sign, crl_sign
// and digital_signature, linted against RFC 5280 (a script written by
// hand may choose otherwise, and name policies).
func (m *Model) issuedCertGroups(v *formValues) []*huh.Group {
	return []*huh.Group{
		huh.NewGroup(
			huh.NewInput().Key("purpose").Title("Purpose").Description("why the certificate is issued; recorded in the intent").Value(&v.purpose).Validate(required),
			huh.NewInput().Key("certcsr").Title("CSR file").Description("PEM CERTIFICATE REQUEST from the issuing CA's operator; its self-signature must verify").
				Value(&v.certCSR).Validate(func(p string) error {
				if strings.TrimSpace(p) == "" {
					return errors.New("required")
				}
				return ceremony.CheckCSR(strings.TrimSpace(p))
			}),
			issuerField(v),
		),
		huh.NewGroup(
			dateField("certnotbefore", "Valid from", &v.certNotBefore),
			huh.NewSelect[string]().Key("certvalidity").Title("Validity").Description("an issuing CA lives shorter than its root").
				Options(huh.NewOptions("1y", "2y", "3y", "5y", "10y")...).Value(&v.certValidity),
			newPath("Certificate file", "PEM, a new file", &v.certOutput).Key("certoutput"),
		),
	}
}

// crlGroups are the pages of a CRL: why, the issuer, its number, this and
// next update, the certificates revoked, the output.
func (m *Model) crlGroups(v *formValues) []*huh.Group {
	return []*huh.Group{
		huh.NewGroup(
			huh.NewInput().Key("purpose").Title("Purpose").Description("why the CRL is signed; recorded in the intent").Value(&v.purpose).Validate(required),
			issuerField(v),
			huh.NewInput().Key("crlnumber").Title("CRL number").Description("one more than the last this key signed (offered from the ledger)").
				Value(&v.crlNumber).Validate(func(s string) error {
				if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil || n < 0 {
					return errors.New("a whole number, 0 or more")
				}
				return nil
			}),
		),
		huh.NewGroup(
			dateField("crlthis", "This update", &v.crlThis),
			huh.NewInput().Key("crlnext").Title("Next update").Description("YYYY-MM-DD, after this update").Value(&v.crlNext).Validate(func(s string) error {
				next, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
				if err != nil {
					return errors.New("want a date like 2027-03-01")
				}
				if this, err := time.Parse(time.DateOnly, strings.TrimSpace(v.crlThis)); err == nil && !next.After(this) {
					return errors.New("the next update must come after this update")
				}
				return nil
			}),
		),
		huh.NewGroup(
			huh.NewText().Key("crlrevoked").Title("Revoked certificates").
				Description("one a line: SERIAL DATE [REASON], e.g. 3a:9f:01:c4 2026-11-30 key_compromise; none for an empty CRL").
				Lines(3).Value(&v.crlRevoked).Validate(func(s string) error {
				_, err := revokedList(s)
				return err
			}),
			newPath("CRL file", "PEM, a new file", &v.certOutput).Key("certoutput"),
		),
	}
}

// revokedList reads the revoked certificates, a line each.
func revokedList(s string) ([]ceremony.RevokedPlan, error) {
	var out []ceremony.RevokedPlan
	for i, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, err := ceremony.ParseRevoked(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// prefillIssued starts an issued certificate's or a CRL's answers: today,
// the issuer's certificate where the root form writes it, the CRL's next
// number, an output beside the key's other files.
func (m *Model) prefillIssued(v *formValues) {
	today := m.opts.Now().UTC()
	if v.certIssuer == "" {
		if p := m.wsPath(v.key) + ".crt.pem"; fileExists(p) {
			v.certIssuer = p
		}
	}
	if v.signWhat == ceremony.SignCRL {
		if v.crlNumber == "" {
			v.crlNumber = strconv.FormatInt(ceremony.NextCRLNumber(m.led, v.key), 10)
		}
		if v.crlThis == "" {
			v.crlThis = today.Format(time.DateOnly)
		}
		if v.crlNext == "" {
			v.crlNext = today.AddDate(0, 3, 0).Format(time.DateOnly)
		}
		if v.certOutput == "" {
			v.certOutput = freeOutput(m.wsPath(v.key)+"-crl-"+v.crlNumber, ".crl.pem")
		}
		return
	}
	if v.certNotBefore == "" {
		v.certNotBefore = today.Format(time.DateOnly)
	}
	if v.certValidity == "" {
		v.certValidity = "5y"
	}
	if v.certOutput == "" {
		v.certOutput = freeOutput(m.wsPath(v.key)+"-issued", ".crt.pem")
	}
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// issuedCertPlan is the script's intermediate_certificate section.
func issuedCertPlan(v *formValues) (*ceremony.CertPlan, error) {
	nb, err := time.Parse(time.DateOnly, strings.TrimSpace(v.certNotBefore))
	if err != nil {
		return nil, fmt.Errorf("valid from: %w", err)
	}
	c := &ceremony.CertPlan{
		CSR:              strings.TrimSpace(v.certCSR),
		Issuer:           strings.TrimSpace(v.certIssuer),
		NotBefore:        ceremony.Date{Time: nb},
		KeyUsage:         []string{"cert_sign", "crl_sign", "digital_signature"},
		BasicConstraints: &ceremony.BasicConstraintsPlan{CA: true, PathLen: new(int)},
		LintProfile:      "rfc5280",
		Output:           strings.TrimSpace(v.certOutput),
	}
	if err := c.Validity.UnmarshalText([]byte(v.certValidity)); err != nil {
		return nil, err
	}
	return c, nil
}

// crlPlan is the script's crl section.
func crlPlan(v *formValues) (*ceremony.CRLPlan, error) {
	this, err := time.Parse(time.DateOnly, strings.TrimSpace(v.crlThis))
	if err != nil {
		return nil, fmt.Errorf("this update: %w", err)
	}
	next, err := time.Parse(time.DateOnly, strings.TrimSpace(v.crlNext))
	if err != nil {
		return nil, fmt.Errorf("next update: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.crlNumber), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("CRL number: %w", err)
	}
	revoked, err := revokedList(v.crlRevoked)
	if err != nil {
		return nil, err
	}
	return &ceremony.CRLPlan{Issuer: strings.TrimSpace(v.certIssuer), Number: n, ThisUpdate: ceremony.Date{Time: this},
		NextUpdate: ceremony.Date{Time: next}, Revoked: revoked, LintProfile: "rfc5280", Output: strings.TrimSpace(v.certOutput)}, nil
}
