package ceremony

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"custos/ledger"
)

// DefaultModules are the PKCS#11 modules tried, in order, when neither the
// ledger nor CUSTOS_PKCS11_MODULE names one: Debian's softhsm2 and opensc.
var DefaultModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
	"/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
	"/usr/lib/opensc-pkcs11.so",
}

// resumeURI is the PKCS#11 URI of the token an open intent used, found
// without the ceremony's script: the token by the intent's label and
// serial (facts.hsm), the module from the enrolment record of that serial
// (facts.module.path) when it exists there, else CUSTOS_PKCS11_MODULE, else
// the first of DefaultModules present. pinSource, when set, is the
// pin-source (file:PATH); otherwise the PIN is asked.
func resumeURI(l *ledger.Ledger, oi *ledger.Record, pinSource string) (string, error) {
	h, _ := oi.Facts["hsm"].(map[string]any)
	label, _ := h["label"].(string)
	serial, _ := h["serial"].(string)
	if label == "" && serial == "" {
		return "", fmt.Errorf("open intent %d (%s) names no HSM: give --hsm", oi.Seq, oi.Kind)
	}
	var attrs []string
	if label != "" {
		attrs = append(attrs, "token="+url.PathEscape(label))
	}
	if serial != "" {
		attrs = append(attrs, "serial="+url.PathEscape(serial))
	}
	var q []string
	if m := enrolledModule(l, serial); m != "" {
		q = append(q, "module-path="+m)
	} else if os.Getenv(ModuleFromEnv) == "" {
		for _, p := range DefaultModules {
			if _, err := os.Stat(p); err == nil {
				q = append(q, "module-path="+p)
				break
			}
		}
	}
	if pinSource != "" {
		q = append(q, "pin-source="+pinSource)
	}
	u := "pkcs11:" + strings.Join(attrs, ";")
	if len(q) > 0 {
		u += "?" + strings.Join(q, "&")
	}
	return u, nil
}

// enrolledModule is the module path the enrolment of serial recorded, when
// it recorded one and the file is still there.
func enrolledModule(l *ledger.Ledger, serial string) string {
	seq, ok := l.State().HSMs[serial]
	if !ok {
		return ""
	}
	rec, err := l.Record(seq)
	if err != nil {
		return ""
	}
	m, _ := rec.Facts["module"].(map[string]any)
	p, _ := m["path"].(string)
	if p == "" {
		return ""
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}
