// Command custos guides key custodians through dual-control key ceremonies
// on a PKCS#11 HSM and records every step in a signed git ledger.
//
// This file is deliberately thin: it builds the command tree and turns an
// error into the two-line "custos: error: …" / "custos: hint: …" form.
package main

import (
	"errors"
	"fmt"
	"os"

	"custos/internal/hint"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the exit status; it is also the
// entry point the testscript tests use.
func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "custos: error: %v\n", err)
		if h := hint.Of(err); h != "" {
			fmt.Fprintf(os.Stderr, "custos: hint: %s\n", h)
		}
		if errors.As(err, new(usageError)) {
			return 2
		}
		if n := exitStatus(err); n != 0 {
			return n
		}
		return 1
	}
	return 0
}

// usageError is a mistake on the command line (an unknown flag, a wrong
// number of arguments, a flag value of the wrong form): exit status 2.
// Anything else that fails exits 1.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}
