package main

import (
	"errors"
	"fmt"
	"os"

	"custos/ceremony"
)

// onInterrupt tells the person at the terminal what a held stop signal
// does: the step in progress is finished first; a second one exits now.
func onInterrupt(in ceremony.Interrupt) {
	name := ceremony.SignalName(in.Signal)
	if in.Second {
		fmt.Fprintf(os.Stderr, "custos: %s again: exiting now; run custos resume to settle the ceremony\n", name)
		return
	}
	fmt.Fprintf(os.Stderr, "custos: %s: finishing the current step — the HSM is working; the ceremony stops at the next step boundary (again within %s: exit at once)\n",
		name, ceremony.ExitWindow)
}

// exitStatus is 128+n for a ceremony stopped by signal n, as the shell
// reports a process ended by it; 0 when err is no such stop.
func exitStatus(err error) int {
	var ie *ceremony.InterruptedError
	if errors.As(err, &ie) {
		return ie.ExitCode()
	}
	return 0
}
