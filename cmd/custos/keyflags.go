package main

import (
	"fmt"
	"strings"

	"custos/ceremony"
	"custos/internal/hint"
)

// keySyntax checks the form of every --key before anything else happens
// (before a plan is made, a ledger read or a key opened): NAME=REF, each
// name once. A mistake here is a mistake on the command line (exit 2).
func keySyntax(cmdName string, keys []string) error {
	seen := map[string]bool{}
	for _, kv := range keys {
		name, ref, ok := strings.Cut(kv, "=")
		if !ok || name == "" || ref == "" {
			return usage(hint.With(fmt.Errorf("%s: --key %q is not NAME=REF", cmdName, ceremony.RedactURI(kv)),
				"name the member the key is for: --key alice=keys/alice or --key carol='pkcs11:token=…;object=…'"))
		}
		if seen[name] {
			return usage(fmt.Errorf("%s: --key %s given twice", cmdName, name))
		}
		seen[name] = true
	}
	return nil
}
