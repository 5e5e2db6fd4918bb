package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"custos/internal/hint"
	"custos/ledger"
)

func init() {
	subcommands = append(subcommands, newInitCmd, newVerifyCmd, newLogCmd)
}

func newInitCmd() *cobra.Command {
	var rosterPath string
	var keys []string
	cmd := &cobra.Command{
		Use:   "init LEDGER --roster ROSTER.yaml --key NAME=REF …",
		Short: "create a ledger: the genesis record, signed by every founding member",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := keySyntax("init", keys); err != nil {
				return err
			}
			if rosterPath == "" {
				return hint.With(fmt.Errorf("init: --roster is required"), "write the founding roster in a YAML file (see docs/ledger-format.md)")
			}
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return hint.With(fmt.Errorf("init: ledger directory %s exists and is not empty", dir), "choose a new directory; custos init never writes over anything")
			}
			data, err := os.ReadFile(rosterPath)
			if err != nil {
				return fmt.Errorf("init: roster: %w", err)
			}
			rf, err := ledger.ParseRoster(rosterPath, data)
			if err != nil {
				return err
			}
			signers, done, err := openSigners("init", keys)
			if err != nil {
				return err
			}
			defer done()
			var opts []ledger.CreateOption
			if rf.Ledger != "" {
				opts = append(opts, ledger.WithLedgerID(rf.Ledger))
			}
			if rf.Ceremony != "" {
				opts = append(opts, ledger.WithCeremony(rf.Ceremony))
			}
			digest, err := ledger.Create(dir, &rf.Roster, &rf.Policy, signers, time.Now(), opts...)
			if err != nil {
				return fmt.Errorf("init: %w", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "ledger created in %s\n", dir)
			if len(rf.Defaulted) > 0 {
				fmt.Fprintf(out, "policy: no rule of the roster covers %s: each needs one officer's approval (the default; write count: 0 to waive one)\n", strings.Join(rf.Defaulted, ", "))
			}
			if len(rf.Unmet) > 0 {
				fmt.Fprintf(out, "policy: warning: the roster has no officer, so %s need no approval at all; add an officer and a rule with a roster change\n", strings.Join(rf.Unmet, ", "))
			}
			fmt.Fprintf(out, "genesis digest: %s\n", digest)
			fmt.Fprintf(out, "genesis words:  %s\n", strings.Join(ledger.Words(digest), " "))
			fmt.Fprintln(out, "write the digest into the signed minutes; auditors check it with custos verify --genesis")
			return nil
		},
	}
	cmd.Flags().StringVar(&rosterPath, "roster", "", "founding roster and policy (YAML)")
	cmd.Flags().StringArrayVar(&keys, "key", nil, "NAME=REF: a founding member's key (OpenSSH key file); repeat for every member")
	return cmd
}

func newVerifyCmd() *cobra.Command {
	var opts ledger.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify LEDGER [--genesis DIGEST] [--trusted-head HEAD] [--json]",
		Short: "verify every signature, the record chain, the policy and the lifecycle of a ledger",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := trustRoots(cmd, &opts); err != nil {
				return err
			}
			res := ledger.VerifyPath(args[0], opts) // a directory or a git bundle
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.Encode(res)
			} else if res.OK {
				fmt.Fprintf(out, "ok: %d records, ledger %s\n", res.Records, res.Ledger)
				fmt.Fprintf(out, "head: %s (commit %s)\n", res.Head, res.HeadCommit)
				fmt.Fprintf(out, "head words: %s\n", strings.Join(ledger.Words(res.Head), " "))
				fmt.Fprintf(out, "checked: %s, the history git log and a clone show\n", res.Checked)
				if res.OriginChecked {
					fmt.Fprintln(out, "origin: the genesis digest matches")
				} else {
					fmt.Fprintf(out, "note: %s\n", res.Note)
				}
				if res.TrustedHeadChecked {
					fmt.Fprintln(out, "trusted head: still in the history")
				} else {
					fmt.Fprintln(out, "note: freshness not checked: give --trusted-head with the last head you know (minutes, an earlier audit) to detect a rollback or truncation")
				}
				fmt.Fprintln(out, "not checked: what the HSMs hold now, real-world time (records carry the workstation clock), custody of shares and exported copies")
				for _, f := range res.Findings {
					fmt.Fprintf(out, "found: %s\n", f)
				}
				if oi := res.OpenIntent; oi != nil {
					fmt.Fprintf(out, "open intent: record %d %s (ceremony %s) — run custos resume\n", oi.Seq, oi.Kind, oi.Ceremony)
				}
			}
			if err := res.Err(); err != nil {
				if res.Failure != nil && res.Failure.Seq == 0 {
					return hint.With(err, "give the path of a ledger (a clone made with git clone) or of a bundle made with custos bundle")
				}
				return hint.With(err, "the ledger cannot be trusted past the named record; compare with a copy you trust")
			}
			return nil
		},
	}
	trustFlags(cmd, &opts)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// trustRoots checks and normalizes --genesis and --trusted-head, when
// given: a value of neither form is a mistake on the command line (exit
// 2), never a ledger that fails to verify.
func trustRoots(cmd *cobra.Command, opts *ledger.Options) error {
	if cmd.Flags().Changed("genesis") {
		g, ok, err := ledger.ParseDigest(opts.Genesis)
		if err != nil {
			return usage(hint.With(fmt.Errorf("--genesis: %w", err), "give the 32 genesis words as custos init printed them, or the digest"))
		}
		if !ok {
			return usage(hint.With(fmt.Errorf("--genesis: %q is not a record digest (sha256: and 64 hex)", opts.Genesis),
				"give the genesis digest as the signed minutes carry it, with or without sha256:, or its 32 words"))
		}
		opts.Genesis = g
	}
	if cmd.Flags().Changed("trusted-head") {
		d, ok, err := ledger.ParseDigest(opts.TrustedHead)
		if err != nil {
			return usage(hint.With(fmt.Errorf("--trusted-head: %w", err), "give the 32 head words as custos verify printed them, or the digest"))
		}
		if ok {
			opts.TrustedHead = d
		}
		h, err := ledger.NormalizeHead(opts.TrustedHead)
		if err != nil {
			return usage(hint.With(fmt.Errorf("--trusted-head: %w", err),
				"give the head digest (sha256:…) or the full commit id that custos verify, bundle or a checkpoint printed"))
		}
		opts.TrustedHead = h
	}
	return nil
}

func newLogCmd() *cobra.Command {
	var asJSON bool
	var since, until string
	var opts ledger.Options
	cmd := &cobra.Command{
		Use:   "log LEDGER [--json] [--since DATE] [--until DATE] [--genesis DIGEST] [--trusted-head HEAD]",
		Short: "the timeline of a ledger that verifies: seq, time, ceremony, kind, actor, approvers, key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePeriod(since, until)
			if err != nil {
				return fmt.Errorf("log: %w", err)
			}
			// The lines are made as verify replays the ledger (one read)
			// and printed only once it verified: a ledger that fails
			// prints an error, not a log that looks clean.
			buf := &spool{}
			defer buf.Close()
			tw := tabwriter.NewWriter(buf, 0, 4, 2, ' ', 0)
			if !asJSON {
				fmt.Fprintln(tw, "SEQ\tTIME\tCEREMONY\tKIND\tACTOR\tAPPROVERS\tKEY")
			}
			enc := json.NewEncoder(buf)
			enc.SetEscapeHTML(false)
			if err := trustRoots(cmd, &opts); err != nil {
				return err
			}
			// Each hands a record to readVerified's check of the order,
			// then EachCommit hands it again with its commit id: the line
			// is made then.
			lines := newLogLines()
			var pending *ledger.Record
			var emitErr error
			opts.EachCommit = func(rec *ledger.Record, d, commit string) {
				if rec != pending || emitErr != nil {
					return
				}
				e := lines.event(rec, d, commit)
				if !p.contains(rec.Time) {
					return
				}
				if asJSON {
					emitErr = enc.Encode(e)
					return
				}
				app := strings.Join(e.Approvers, ",")
				if app == "" {
					app = "-"
				}
				key := e.KeyID
				if key == "" {
					key = "-"
				}
				row(tw, fmt.Sprint(e.Seq), e.Time, e.Ceremony, e.Kind, e.Actor, app, key)
			}
			err = readVerified("log", args[0], opts, func(rec *ledger.Record, _ string) error {
				pending = rec
				return nil
			})
			if err == nil {
				err = emitErr
			}
			if err != nil {
				return err
			}
			if !asJSON {
				tw.Flush()
			}
			_, err = buf.WriteTo(cmd.OutOrStdout())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per record (JSON lines)")
	cmd.Flags().StringVar(&since, "since", "", "only records from this date (or RFC 3339 time) on")
	cmd.Flags().StringVar(&until, "until", "", "only records up to this date (the whole day) or time")
	trustFlags(cmd, &opts)
	return cmd
}

// spool holds what a command prints until it may print it (a log only
// once its ledger verified): in memory up to spoolMemory bytes, then in
// an unlinked temporary file, so that memory does not grow with the
// ledger. What it holds is what the command prints, never a secret.
type spool struct {
	mem bytes.Buffer
	f   *os.File
}

const spoolMemory = 4 << 20

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && s.mem.Len()+len(p) > spoolMemory {
		f, err := os.CreateTemp("", "custos-spool-*")
		if err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		os.Remove(f.Name()) // unlinked: gone with the process
		s.f = f
		if _, err := s.mem.WriteTo(f); err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
	}
	if s.f != nil {
		return s.f.Write(p)
	}
	return s.mem.Write(p)
}

// WriteTo copies what was spooled to w.
func (s *spool) WriteTo(w io.Writer) (int64, error) {
	if s.f == nil {
		return s.mem.WriteTo(w)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	return io.Copy(w, s.f)
}

func (s *spool) Close() error {
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}
