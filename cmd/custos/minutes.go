package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"custos/ceremony"
	"custos/internal/hint"
	"custos/internal/media"
	"custos/ledger"
	"custos/minutes"
)

func init() {
	subcommands = append(subcommands, newMinutesCmd)
}

func newMinutesCmd() *cobra.Command {
	var out, format, paper, ledgerDir, id, scriptFile string
	var opts ledger.Options
	cmd := &cobra.Command{
		Use: "minutes SCRIPT --ledger LEDGER -o FILE | minutes LEDGER --ceremony ID [-o FILE] [--script FILE]",
		Short: "the paper minutes of a ceremony: before it, the script as a checklist to initial; " +
			"after it, the same filled from the ledger, ending with the checkpoint the witnesses sign",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format == "" {
				format = "html"
				if strings.HasSuffix(strings.ToLower(out), ".md") {
					format = "md"
				}
			}
			if !slices.Contains(minutes.Formats, format) {
				return usage(fmt.Errorf("minutes: --format %q is not one of %s", format, strings.Join(minutes.Formats, ", ")))
			}
			if !slices.Contains(minutes.Papers, paper) {
				return usage(fmt.Errorf("minutes: --paper %q is not one of %s", paper, strings.Join(minutes.Papers, ", ")))
			}
			if out != "" {
				if _, err := os.Lstat(out); err == nil {
					return hint.With(fmt.Errorf("minutes: %s already exists", out), "custos never writes over a file; choose a new name")
				}
			}
			afterwards := id != "" || isLedger(args[0])
			var d *minutes.Doc
			var err error
			if afterwards {
				if id == "" {
					return usage(hint.With(fmt.Errorf("minutes: %s is a ledger: --ceremony is required", args[0]), "name the ceremony, as custos log shows it"))
				}
				if ledgerDir != "" {
					return usage(fmt.Errorf("minutes: --ledger goes with a script; the ledger is the argument here"))
				}
				if err := trustRoots(cmd, &opts); err != nil {
					return err
				}
				d, err = ledgerMinutes(args[0], id, scriptFile, opts)
			} else {
				if out == "" {
					return usage(hint.With(fmt.Errorf("minutes: -o is required"), "name the file to print, e.g. -o minutes.html"))
				}
				if scriptFile != "" {
					return usage(fmt.Errorf("minutes: --script checks a script against a ledger's record: give the ledger and --ceremony"))
				}
				if ledgerDir == "" {
					return usage(hint.With(fmt.Errorf("minutes: --ledger is required with a script"), "the plan, the approvals and the keys come from the ledger the ceremony runs on"))
				}
				d, err = scriptMinutes(args[0], ledgerDir)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if d.ScriptCheck != "" {
				fmt.Fprintln(w, d.ScriptCheck)
			}
			if out == "" {
				return nil
			}
			d.Paper = paper
			var b bytes.Buffer
			if err := minutes.Render(&b, d, format); err != nil {
				return fmt.Errorf("minutes: %w", err)
			}
			if err := media.Write(out, b.Bytes(), media.Public); err != nil {
				return fmt.Errorf("minutes: %w", err)
			}
			what := "checklist"
			if d.Filled {
				what = "minutes"
			}
			fmt.Fprintf(w, "%s of ceremony %s written to %s (%s, %s)\n", what, orMade(d.Ceremony), out, format, paper)
			if !d.Filled {
				fmt.Fprintf(w, "script SHA-256: %s\n", strings.Join(d.ScriptSHA256.Hex, " "))
			} else if d.Checkpoint != nil {
				fmt.Fprintf(w, "checkpoint: %s\n", strings.Join(d.Checkpoint.Hex, " "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "file to write (.html, or .md for Markdown); never over an existing file")
	f.StringVar(&format, "format", "", "html or md (default: from the file name, else html)")
	f.StringVar(&paper, "paper", "a4", "paper for the print stylesheet: a4 or letter")
	f.StringVar(&ledgerDir, "ledger", "", "with a SCRIPT: the ledger the ceremony is to run on")
	f.StringVar(&id, "ceremony", "", "with a LEDGER: the ceremony id (custos log shows them)")
	f.StringVar(&scriptFile, "script", "", "with a LEDGER: check this script file against the script_sha256 its opening recorded")
	trustFlags(cmd, &opts)
	return cmd
}

func orMade(id string) string {
	if id == "" {
		return "(id made when it runs)"
	}
	return id
}

// isLedger: a directory or a git bundle, not a script.
func isLedger(path string) bool {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return true
	}
	return ledger.IsBundle(path)
}

// scriptMinutes plans the script against the ledger, as custos run
// --dry-run does (nothing is touched), and makes its checklist.
func scriptMinutes(script, dir string) (*minutes.Doc, error) {
	s, err := ceremony.LoadScript(script)
	if err != nil {
		return nil, err
	}
	l, err := ledger.Open(dir)
	if err != nil {
		return nil, err
	}
	// The plan only: no card is delivered (each holder says where theirs
	// goes when the ceremony runs).
	e := &ceremony.Engine{Ledger: l, Script: s, Cards: planOnly{}}
	defer e.Close()
	p, err := e.Plan()
	if err != nil {
		return nil, err
	}
	return minutes.FromPlan(s, p, l.State()), nil
}

// ledgerMinutes verifies the ledger and makes the minutes of ceremony id
// from its records; with script, the script file's SHA-256 must be the
// one the opening recorded.
func ledgerMinutes(path, id, script string, opts ledger.Options) (*minutes.Doc, error) {
	var sum string
	if script != "" {
		data, err := os.ReadFile(script)
		if err != nil {
			return nil, fmt.Errorf("minutes: --script: %w", err)
		}
		h := sha256.Sum256(data)
		sum = hex.EncodeToString(h[:])
	}
	dir, done, err := ledgerDir(path)
	if err != nil {
		return nil, fmt.Errorf("minutes: %w", err)
	}
	defer done()
	var recs []minutes.Entry
	var ids []string
	seen := map[string]bool{}
	err = readVerified("minutes", dir, opts, func(rec *ledger.Record, digest string) error {
		if !seen[rec.Ceremony] {
			seen[rec.Ceremony] = true
			ids = append(ids, rec.Ceremony)
		}
		if rec.Ceremony == id {
			recs = append(recs, minutes.Entry{Rec: rec, Digest: digest})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, hint.With(fmt.Errorf("minutes: ledger %s has no ceremony %q", path, id), "ceremonies: "+shortList(ids, 12))
	}
	l, err := ledger.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("minutes: %w", err)
	}
	d, err := minutes.FromLedger(l.State(), id, recs)
	if err != nil {
		return nil, fmt.Errorf("minutes: %w", err)
	}
	if script != "" {
		rec, _ := recs[0].Rec.Facts["script_sha256"].(string)
		name := filepath.Base(script)
		switch {
		case rec == "":
			return nil, fmt.Errorf("minutes: --script: the opening of ceremony %s (record %d) carries no script_sha256 to check %s against", id, recs[0].Rec.Seq, name)
		case rec != sum:
			return nil, hint.With(fmt.Errorf("minutes: --script: %s has SHA-256 %s, but ceremony %s recorded %s (record %d): it is not the script that ran",
				name, sum, id, rec, recs[0].Rec.Seq), "find the script that was printed and signed; compare with sha256sum")
		}
		d.ScriptCheck = fmt.Sprintf("script %s matches the SHA-256 recorded by ceremony %s (record %d)", name, id, recs[0].Rec.Seq)
	}
	return d, nil
}

// shortList joins at most n names, then says how many more.
func shortList(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more (custos log)", len(s)-n)
}

// planOnly is the card sink of a plan that is never run.
type planOnly struct{}

func (planOnly) Where(string, int, int, error) (string, error) {
	return "", errors.New("minutes deliver no cards")
}
func (planOnly) Show(string, []byte) error { return errors.New("minutes deliver no cards") }
