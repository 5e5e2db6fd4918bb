package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"custos/controls"
	"custos/internal/hint"
	"custos/ledger"
)

func init() { subcommands = append(subcommands, newCheckCmd) }

func newCheckCmd() *cobra.Command {
	var asJSON bool
	var since, until string
	var opts ledger.Options
	cmd := &cobra.Command{
		Use:   "check LEDGER [--since DATE] [--until DATE] [--json] [--genesis DIGEST] [--trusted-head HEAD]",
		Short: "test a ledger that verifies against the key-management controls (docs/controls.md); exits non-zero when one fails",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePeriod(since, until)
			if err != nil {
				return fmt.Errorf("check: %w", err)
			}
			if p.until.IsZero() && p.since.After(time.Now()) {
				return hint.With(fmt.Errorf("check: --since %s is in the future: the period would be judged as of now, before it begins", since),
					"give --until as well to judge the period as of its end")
			}
			if err := trustRoots(cmd, &opts); err != nil {
				return err
			}
			// Controls are tested only on a ledger that verifies: the
			// records are those verify replayed, handed over as it goes.
			c := controls.New(controls.Options{Since: p.since, Until: p.until})
			if err := readVerified("check", args[0], opts, c.Add); err != nil {
				return err
			}
			r := c.Finish(true)
			if r.Records == 0 {
				return hint.With(fmt.Errorf("check: %s has no record up to --until %s: its genesis is later", args[0], until),
					"give an --until on or after the genesis (custos log LEDGER shows its time)")
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(r); err != nil {
					return fmt.Errorf("check: %w", err)
				}
			} else {
				fmt.Fprintf(out, "ledger %s verifies: %d records, head %s; controls tested over %s\n", args[0], r.Records, r.Head, periodText(r.Period))
				if err := controls.WriteTable(out, r); err != nil {
					return fmt.Errorf("check: %w", err)
				}
			}
			if r.Passed {
				return nil
			}
			errw := cmd.ErrOrStderr()
			fails := controls.Failures(r)
			for _, f := range fails {
				fmt.Fprintf(errw, "custos: check: %s\n", f)
			}
			return hint.With(fmt.Errorf("check: %d of %d controls fail", len(fails), len(r.Controls)),
				"each exception names its records: custos log LEDGER shows them; docs/controls.md says what each control asks")
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (docs/check-schema.json)")
	cmd.Flags().StringVar(&since, "since", "", "first day (or RFC 3339 time) of the period")
	cmd.Flags().StringVar(&until, "until", "", "last day (or RFC 3339 time) of the period; overdue rotations and reviews are judged then (default: now)")
	trustFlags(cmd, &opts)
	return cmd
}

func periodText(p controls.Period) string {
	since, until := p.Since, p.Until
	if since == "" {
		since = "the genesis"
	}
	if until == "" {
		until = "now"
	}
	return strings.Join([]string{since, "to", until, "(as of " + p.AsOf + ")"}, " ")
}
