package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// subcommands are registered by the files of this package in init
// functions, one file per command family, so each stays independent.
var subcommands []func() *cobra.Command

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "custos",
		Short:         "dual-control key ceremonies on a PKCS#11 HSM, recorded in a signed git ledger",
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       versionString(),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				if near := cmd.SuggestionsFor(args[0]); len(near) > 0 {
					return fmt.Errorf("unknown command %q; did you mean %s?", args[0], strings.Join(near, " or "))
				}
				return fmt.Errorf("unknown command %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if rootRun != nil {
				return rootRun(cmd, args)
			}
			return cmd.Help()
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	for _, f := range subcommands {
		root.AddCommand(f())
	}
	root.SetVersionTemplate("custos {{.Version}}\n")
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usage(suggestFlag(c, err)) })
	usageArgs(root)
	return root
}

// usageArgs makes the argument checks of cmd and its subcommands return
// usage errors (exit status 2).
func usageArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error { return usage(check(c, args)) }
	}
	for _, c := range cmd.Commands() {
		usageArgs(c)
	}
}
