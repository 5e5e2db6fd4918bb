// The files a sign ceremony reads besides its script: an intermediate's
// CSR and an issuer's certificate, both PEM, both from outside (a CSR is
// the intermediate operator's). Each is read whole, at most maxPEMFile
// bytes, and parsed by crypto/x509; a CSR's self-signature must verify.

package ceremony

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"custos/internal/hint"
)

// maxPEMFile bounds a CSR or certificate file: a large chain is tens of
// KB; a path to a device or a huge file is refused, not read into memory.
const maxPEMFile = 1 << 20

// readPEM reads path, which must hold a PEM block of type want first.
// Its errors, and readCSR's and readCert's, never quote the file's
// content; the caller names the script's field they come from.
func readPEM(path, want string) ([]byte, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxPEMFile {
		return nil, nil, fmt.Errorf("%s is larger than %d bytes: not a PEM %s", path, maxPEMFile, want)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != want {
		return nil, nil, fmt.Errorf("%s holds no PEM %s", path, want)
	}
	return data, b.Bytes, nil
}

// readCSR reads a certificate request whose self-signature verifies.
func readCSR(path string) ([]byte, *x509.CertificateRequest, error) {
	data, der, err := readPEM(path, "CERTIFICATE REQUEST")
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, nil, hint.With(fmt.Errorf("its self-signature does not verify: %w", err), "ask the intermediate's operator for a new CSR")
	}
	return data, csr, nil
}

// readCert reads a certificate.
func readCert(path string) ([]byte, *x509.Certificate, error) {
	data, der, err := readPEM(path, "CERTIFICATE")
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return data, c, nil
}

// CheckCSR says why path is not a certificate request a sign ceremony
// would take (PEM, at most 1 MiB, its self-signature verifying), or nil:
// the TUI's form asks it of the CSR it is given.
func CheckCSR(path string) error {
	_, _, err := readCSR(path)
	return err
}

// CheckCertificate says why path is not a PEM certificate a sign ceremony
// would take as its issuer's, or nil.
func CheckCertificate(path string) error {
	_, _, err := readCert(path)
	return err
}

// ParseRevoked reads one revoked certificate of a CRL as the TUI's form
// takes it: "SERIAL DATE [REASON]", the serial in hex (colons allowed),
// the date YYYY-MM-DD, the reason one of RFC 5280's (key_compromise …).
func ParseRevoked(line string) (RevokedPlan, error) {
	f := strings.Fields(line)
	if len(f) < 2 || len(f) > 3 {
		return RevokedPlan{}, fmt.Errorf("%.60q: want SERIAL DATE [REASON]", line)
	}
	d, err := time.Parse(time.DateOnly, f[1])
	if err != nil {
		return RevokedPlan{}, fmt.Errorf("%.30q is not a date like 2026-11-30", f[1])
	}
	r := RevokedPlan{Serial: f[0], Date: Date{Time: d}}
	if len(f) == 3 {
		r.Reason = f[2]
	}
	if field, err := r.check(); err != nil {
		if field == "reason" {
			return RevokedPlan{}, fmt.Errorf("unknown reason %.40q: one of %s", r.Reason, names(crlReasons))
		}
		return RevokedPlan{}, err
	}
	return r, nil
}
