// The linting of a sign ceremony's X.509 sub-kinds: which zlint lints
// run, the throwaway software key that signs the copy they read, and how
// their errors refuse the ceremony.

package ceremony

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"custos/hsm"
	"custos/internal/hint"

	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// Lint profiles: rfc5280, the default, runs zlint's lints of the IETF
// profiles (RFC 5280 and the RFCs it leans on), right for a private PKI;
// webpki runs every lint, the CA/Browser Forum's and the root programs'
// too, for a PKI browsers are to trust.
func lintRegistry(profile string) (lint.Registry, error) {
	switch profile {
	case "webpki":
		return lint.GlobalRegistry(), nil
	case "", "rfc5280":
		return lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: lint.SourceList{
			lint.RFC3279, lint.RFC5280, lint.RFC5480, lint.RFC5891, lint.RFC8813}})
	}
	return nil, fmt.Errorf("unknown lint profile %q", profile)
}

// sigAlgorithm is the X.509 signature algorithm the key signs with.
func sigAlgorithm(kt hsm.KeyType, padding string) (x509.SignatureAlgorithm, string) {
	switch kt {
	case hsm.Ed25519:
		return x509.PureEd25519, "CKM_EDDSA (Ed25519)"
	case hsm.ECP256:
		return x509.ECDSAWithSHA256, "CKM_ECDSA over SHA-256"
	case hsm.ECP384:
		return x509.ECDSAWithSHA384, "CKM_ECDSA over SHA-384"
	}
	if padding == "pss" {
		return x509.SHA256WithRSAPSS, "CKM_RSA_PKCS_PSS (SHA-256, MGF1-SHA-256, salt 32)"
	}
	return x509.SHA256WithRSA, "CKM_RSA_PKCS (PKCS#1 v1.5, SHA-256)"
}

// throwaway is a software key of the issuer key's type: it signs the
// copy that is linted, never anything kept.
func throwaway(kt hsm.KeyType) (crypto.Signer, error) {
	switch kt {
	case hsm.Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case hsm.ECP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case hsm.ECP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	}
	// The TBS names the algorithm, not the issuer key's size.
	return rsa.GenerateKey(rand.Reader, 2048)
}

// lintErrors names the lints that found an error (or worse).
func lintErrors(rs *zlint.ResultSet) []string {
	var out []string
	for name, r := range rs.Results {
		if r.Status == lint.Error || r.Status == lint.Fatal {
			d := name
			if r.Details != "" {
				d += " (" + r.Details + ")"
			}
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

func lintRefusal(file, what string, errs []string) error {
	return hint.With(fmt.Errorf("%s: %s: zlint finds errors, nothing is signed: %s", file, what, strings.Join(errs, "; ")),
		"correct the template; each lint is described at https://github.com/zmap/zlint")
}
