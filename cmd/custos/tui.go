package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"custos/tui"
)

func init() {
	subcommands = append(subcommands, newTUICmd)
	rootRun = func(cmd *cobra.Command, args []string) error {
		if !isTerminal(os.Stdin) {
			return cmd.Help()
		}
		return runTUI("")
	}
}

// rootRun, when set, is what custos with no arguments does (root.go calls
// it): the TUI when stdin is a terminal.
var rootRun func(cmd *cobra.Command, args []string) error

func newTUICmd() *cobra.Command {
	return &cobra.Command{
		Use:   "tui [LEDGER]",
		Short: "the terminal UI: the ledger at a glance, its timeline, and ceremonies step by step",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			if !isTerminal(os.Stdin) {
				return fmt.Errorf("tui: standard input is not a terminal")
			}
			return runTUI(dir)
		},
	}
}

func runTUI(dir string) error {
	if dir != "" {
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
	}
	return tui.Run(tui.Options{Ledger: dir, Recent: recentLedgers(), NoColor: tui.NoColor(), Opened: rememberLedger}, os.Stdin, os.Stdout)
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// recentFile lists the ledgers opened on this workstation, newest first.
func recentFile() string {
	d, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "custos", "recent")
}

func recentLedgers() []string {
	p := recentFile()
	if p == "" {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// rememberLedger puts dir first in the recent list (ten at most). A
// failure to remember is not worth interrupting a custodian for.
func rememberLedger(dir string) {
	p := recentFile()
	if p == "" {
		return
	}
	list := []string{dir}
	for _, d := range recentLedgers() {
		if d != dir && len(list) < 10 {
			list = append(list, d)
		}
	}
	if os.MkdirAll(filepath.Dir(p), 0o700) != nil {
		return
	}
	tmp := p + ".tmp"
	if os.WriteFile(tmp, []byte(strings.Join(list, "\n")+"\n"), 0o600) == nil {
		os.Rename(tmp, p)
	}
}
