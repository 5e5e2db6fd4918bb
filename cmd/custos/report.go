package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"custos/internal/hint"
	"custos/internal/media"
	"custos/internal/termtext"
	"custos/ledger"
	"custos/report"
)

func init() {
	subcommands = append(subcommands, newInventoryCmd, newReportCmd, newBundleCmd)
}

// period is the --since/--until window of log and report.
type period struct{ since, until time.Time }

func parsePeriod(since, until string) (period, error) {
	var p period
	var err error
	if p.since, err = report.ParseBound(since, false); err != nil {
		return p, hint.With(fmt.Errorf("--since: %w", err), "give a date like 2026-01-01 or a time like 2026-01-01T00:00:00Z (UTC)")
	}
	if p.until, err = report.ParseBound(until, true); err != nil {
		return p, hint.With(fmt.Errorf("--until: %w", err), "give a date like 2026-12-31 (the whole day counts) or a time like 2026-12-31T23:59:59Z")
	}
	if !p.since.IsZero() && !p.until.IsZero() && p.until.Before(p.since) {
		return p, fmt.Errorf("--until %s is before --since %s", until, since)
	}
	return p, nil
}

// contains is report.Options.Contains, so log and report agree on the
// bounds (both inclusive).
func (p period) contains(t time.Time) bool {
	o := report.Options{Since: p.since, Until: p.until}
	return o.Contains(t)
}

// row writes one line of a table of text from a ledger, each cell with
// its control characters escaped (termtext): a cell cannot redraw the
// terminal or break the table with a tab or a line break.
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(w, "\t")
		}
		io.WriteString(w, termtext.Printable(c))
	}
	io.WriteString(w, "\n")
}

// ledgerDir is the directory of a ledger given as a directory or a git
// bundle (cloned to a temporary directory); done removes the clone.
func ledgerDir(path string) (dir string, done func(), err error) {
	if !ledger.IsBundle(path) {
		return path, func() {}, nil
	}
	return ledger.Unbundle(path)
}

// seenOnce checks that a record visitor saw records 1..N once each, in
// order, and keeps the visitor's first error.
type seenOnce struct {
	next int64
	ok   bool
	err  error
}

func once() *seenOnce { return &seenOnce{next: 1, ok: true} }

func (s *seenOnce) wrap(add func(*ledger.Record, string) error) func(*ledger.Record, string) {
	return func(rec *ledger.Record, digest string) {
		if rec.Seq != s.next {
			s.ok = false
			return
		}
		s.next++
		if s.err == nil {
			s.err = add(rec, digest)
		}
	}
}

// complete reports whether records 1..n were each seen once, without error.
func (s *seenOnce) complete(n int64) bool { return s.ok && s.err == nil && s.next-1 == n }

// readVerified verifies the ledger at path (a directory or a git bundle)
// and hands each record and its digest to add as verify replays it: one
// read of the ledger. It returns an error, and add's work must be thrown
// away, unless the ledger verified. Commands that list evidence on
// standard output (inventory, log) print nothing from a ledger that does
// not verify: a listing that looks clean would be taken for evidence.
func readVerified(name, path string, opts ledger.Options, add func(*ledger.Record, string) error) error {
	dir, done, err := ledgerDir(path)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer done()
	seen := once()
	opts.Each = seen.wrap(add)
	res := ledger.Verify(dir, opts)
	if err := res.Err(); err != nil {
		if res.Failure.Seq == 0 && res.Failure.Check == "repository" {
			return hint.With(fmt.Errorf("%s: %w", name, err), "give the path of a ledger (a clone made with git clone) or of a bundle made with custos bundle")
		}
		return hint.With(fmt.Errorf("%s: %w", name, err),
			"nothing is listed from a ledger that does not verify; custos report LEDGER -o FILE writes its evidence headed by the failure, for diagnosis")
	}
	if seen.err != nil {
		return fmt.Errorf("%s: %w", name, seen.err)
	}
	if !seen.complete(res.Records) {
		return fmt.Errorf("%s: verify did not hand over records 1 to %d once each", name, res.Records)
	}
	return nil
}

func newInventoryCmd() *cobra.Command {
	var asJSON bool
	var until string
	var opts ledger.Options
	cmd := &cobra.Command{
		Use:   "inventory LEDGER [--json] [--until DATE] [--genesis DIGEST] [--trusted-head HEAD]",
		Short: "every key in a ledger that verifies: type, HSM, owner, purpose, creation and approvals, exports, rotation, state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePeriod("", until)
			if err != nil {
				return fmt.Errorf("inventory: %w", err)
			}
			if err := trustRoots(cmd, &opts); err != nil {
				return err
			}
			b := report.NewBuilder(report.Options{Until: p.until, InventoryOnly: true})
			if err := readVerified("inventory", args[0], opts, b.Add); err != nil {
				return err
			}
			r := b.Finish(nil)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(r.Inventory)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tLABEL\tTYPE\tHSM\tOWNER\tCREATED\tBY\tAPPROVED\tEXPORTS\tROTATION DUE\tSTATE")
			for _, k := range r.Inventory {
				created, creator, approved := "-", "-", "-"
				if k.Created != nil {
					created, creator = k.Created.Time, k.Created.By
					if len(k.Created.ApprovedBy) > 0 {
						approved = strings.Join(k.Created.ApprovedBy, ",")
					}
				}
				due := "-"
				if k.RotationDue != "" {
					due = k.RotationDue[:10]
					if k.Overdue {
						due += " OVERDUE"
					}
				}
				state := k.Disposition
				if d := k.Destroyed; d != nil {
					state += fmt.Sprintf(" %s by %s", d.Time, d.By)
				}
				if k.Compromised != nil {
					state += " COMPROMISED"
				}
				for _, bk := range k.Backups {
					if len(bk.ReshareDue) > 0 {
						state += fmt.Sprintf(" re-share due (%s: %s)", bk.BackupID, strings.Join(bk.ReshareDue, ", "))
					}
				}
				if rt := k.Retirement; rt != nil {
					state += " retire-on " + rt.RetireOn
					if k.RetireOverdue {
						state += " OVERDUE"
					}
				}
				row(tw, k.ID, dash(k.Label), dash(k.Type), dash(strings.TrimSpace(k.HSM.Model+" "+k.HSM.Serial)), dash(k.Owner),
					created, creator, approved, fmt.Sprint(len(k.Exports)), due, state)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			// The HSMs the keys live on, with the validation their
			// enrolment recorded.
			fmt.Fprintln(out)
			tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HSM SERIAL\tMANUFACTURER\tMODEL\tTOKEN\tVALIDATION\tENROLLED\tBY\tAPPROVED")
			for _, h := range r.HSMs {
				val := "none recorded"
				if v := h.Validation; v != nil {
					val = v.Program + " certificate " + dash(v.Certificate)
					if v.Level != "" {
						val += " level " + v.Level
					}
				}
				row(tw, dash(h.Serial), dash(h.Manufacturer), dash(h.Model), dash(h.Label), val, h.Enrolled.Time, h.Enrolled.By,
					dash(strings.Join(h.Enrolled.ApprovedBy, ",")))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the inventory as JSON (the inventory of docs/report-schema.json)")
	cmd.Flags().StringVar(&until, "until", "", "the inventory as it stood at this date or time")
	trustFlags(cmd, &opts)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newReportCmd() *cobra.Command {
	var out, format, since, until string
	var opts ledger.Options
	cmd := &cobra.Command{
		Use:   "report LEDGER -o FILE [--format html|md|json|pdf] [--since DATE] [--until DATE] [--genesis DIGEST] [--trusted-head HEAD]",
		Short: "write the evidence package for auditors: verdict, exceptions, each key's life, sign-off, then inventory, rotation calendar, ceremonies, roster, reviews, policy, controls",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return hint.With(errors.New("report: -o FILE is required"), "for example: custos report L -o report.html")
			}
			if format == "" {
				switch strings.ToLower(filepath.Ext(out)) {
				case ".json":
					format = "json"
				case ".md":
					format = "md"
				case ".pdf":
					format = "pdf"
				default:
					format = "html"
				}
			}
			if !slices.Contains(report.Formats, format) && format != "pdf" {
				return fmt.Errorf("report: --format %q is not one of html, md, json, pdf", format)
			}
			if err := refuseExisting(out); err != nil {
				return err
			}
			if format == "pdf" {
				// Refuse before reading the ledger when nothing can print.
				if _, err := findChromium(); err != nil {
					return hint.With(fmt.Errorf("report: %w", err), "install chromium (scripts/setup.sh does), or write HTML with -o FILE.html and print it from a browser to PDF")
				}
			}
			p, err := parsePeriod(since, until)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			if err := trustRoots(cmd, &opts); err != nil {
				return err
			}
			dir, done, err := ledgerDir(args[0])
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			defer done()
			// The report is built from the records as verify replays them
			// (one read of the ledger). When verify fails, it is built
			// again from the ledger as opened: a report is written for any
			// ledger whose records still read, and says FAIL first.
			ropts := report.Options{Since: p.since, Until: p.until}
			b, seen := report.NewBuilder(ropts), once()
			opts.Each = seen.wrap(b.Add)
			res := ledger.Verify(dir, opts)
			if !res.OK || !seen.complete(res.Records) {
				b = report.NewBuilder(ropts)
				if _, err := ledger.OpenEach(dir, b.Add); err != nil {
					if ferr := res.Err(); ferr != nil {
						return hint.With(fmt.Errorf("report: %w", ferr), fmt.Sprintf("no report was written: its records cannot be read (%v)", err))
					}
					return fmt.Errorf("report: %w", err)
				}
			}
			r := b.Finish(&res)
			if format == "pdf" {
				if err := writePDF(out, r); err != nil {
					return fmt.Errorf("report: %w", err)
				}
			} else if err := media.WriteWith(out, media.Public, func(w io.Writer) error { return report.Render(w, r, format) }); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "report written to %s (%s): %d keys, %d ceremonies, %d records in the period\n",
				out, format, len(r.Inventory), len(r.Ceremonies), r.Period.Records)
			if err := res.Err(); err != nil {
				return hint.With(fmt.Errorf("report: %w", err), "the report says FAIL; do not rely on the ledger past the named record")
			}
			if !res.OriginChecked {
				fmt.Fprintf(w, "note: %s\n", res.Note)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the report file to write (never over an existing one)")
	cmd.Flags().StringVar(&format, "format", "", "html, md, json or pdf (default: from the file name, else html); pdf needs headless Chromium")
	cmd.Flags().StringVar(&since, "since", "", "first day (or RFC 3339 time) of the period")
	cmd.Flags().StringVar(&until, "until", "", "last day (or RFC 3339 time) of the period")
	trustFlags(cmd, &opts)
	return cmd
}

// trustFlags adds --genesis and --trusted-head (see trustRoots).
func trustFlags(cmd *cobra.Command, opts *ledger.Options) {
	cmd.Flags().StringVar(&opts.Genesis, "genesis", "", "genesis digest from the signed minutes (checks origin)")
	cmd.Flags().StringVar(&opts.TrustedHead, "trusted-head", "", "a head known earlier: record digest (sha256:…) or full commit id")
}

func newBundleCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "bundle LEDGER -o FILE",
		Short: "write the ledger as a git bundle to carry across an air gap; custos verify reads it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return hint.With(errors.New("bundle: -o FILE is required"), "for example: custos bundle L -o /media/usb/ledger.bundle")
			}
			if _, err := os.Lstat(out); err == nil {
				return hint.With(fmt.Errorf("bundle: %s exists", out), "custos never writes over a file: choose a new name")
			}
			head, commit, err := ledger.WriteBundle(args[0], out)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "bundle written to %s\n", out)
			fmt.Fprintf(w, "head: %s (commit %s)\n", head, commit)
			fmt.Fprintf(w, "head words: %s\n", strings.Join(ledger.Words(head), " "))
			fmt.Fprintln(w, "check it at the other end with: custos verify BUNDLE --trusted-head <this head>")
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the bundle file to write (never over an existing one)")
	return cmd
}
