package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"custos/ceremony"
	"custos/internal/hint"
	"custos/internal/termtext"
	"custos/ledger"
	"custos/sign"
)

func init() {
	subcommands = append(subcommands, newRunCmd, newResumeCmd, newApproveCmd)
}

// ttyPrompt asks secrets on the terminal, echo off.
type ttyPrompt struct{}

func (ttyPrompt) Secret(what string) ([]byte, error) { return readSecret(what) }

// openSigners resolves every --key NAME=REF. The returned func releases
// them all.
func openSigners(cmdName string, keys []string) (map[string]sign.Signer, func(), error) {
	signers := map[string]sign.Signer{}
	var closers []func()
	done := func() {
		for _, c := range closers {
			c()
		}
	}
	for _, kv := range keys {
		name, ref, ok := strings.Cut(kv, "=")
		if !ok || name == "" || ref == "" {
			done()
			return nil, nil, hint.With(fmt.Errorf("%s: --key %q is not NAME=REF", cmdName, ceremony.RedactURI(kv)), "for example --key alice=keys/alice or --key carol='pkcs11:token=…;object=…'")
		}
		if _, dup := signers[name]; dup {
			done()
			return nil, nil, fmt.Errorf("%s: --key %s given twice", cmdName, name)
		}
		s, c, err := openSigner(ref)
		if err != nil {
			done()
			return nil, nil, fmt.Errorf("%s: key of %s: %w", cmdName, name, err)
		}
		closers = append(closers, c)
		signers[name] = s
	}
	return signers, done, nil
}

// checkKeys checks every --key against the ledger's roster before
// anything happens: "--key mallory=…: mallory is not a member …".
func checkKeys(l *ledger.Ledger, keys []string, signers map[string]sign.Signer) error {
	for _, kv := range keys {
		name, _, _ := strings.Cut(kv, "=")
		if err := ceremony.CheckSigner(l.State(), name, signers[name]); err != nil {
			return fmt.Errorf("--key %s=…: %w", name, err)
		}
	}
	return nil
}

func newRunCmd() *cobra.Command {
	var ledgerDir, requestOut, requestIn string
	var keys, approvals, cardTo []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "run SCRIPT.yaml --ledger LEDGER --key NAME=REF … [--dry-run] [--card-to NAME=DEST …]",
		Short: "run a ceremony script: plan, approvals, intent, HSM operation, outcome, checkpoint",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := keySyntax("run", keys); err != nil {
				return err
			}
			if ledgerDir == "" {
				return hint.With(fmt.Errorf("run: --ledger is required"), "name the ledger directory made by custos init")
			}
			if dryRun && (requestOut != "" || requestIn != "") {
				return fmt.Errorf("run: --dry-run cannot be combined with --request or --request-out")
			}
			s, err := ceremony.LoadScript(args[0])
			if err != nil {
				return err
			}
			l, err := ledger.Open(ledgerDir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			cards, err := newTTYCards(cardTo)
			if err != nil {
				return err
			}
			e := &ceremony.Engine{Ledger: l, Script: s, Prompt: ttyPrompt{}, Progress: out, OnInterrupt: onInterrupt, Cards: cards}
			defer e.Close()
			if requestIn != "" {
				if e.Request, err = ceremony.ReadRequest(requestIn); err != nil {
					return err
				}
			}
			for _, a := range approvals {
				af, err := ceremony.ReadApproval(a)
				if err != nil {
					return err
				}
				e.Approvals = append(e.Approvals, af)
			}
			if !dryRun {
				// Held from the plan shown to the close: a ceremony another
				// custos runs is waited for, not planned against half-way.
				unlock, err := e.Lock()
				if err != nil {
					return err
				}
				defer unlock()
			}
			plan, err := e.Plan()
			if err != nil {
				return err
			}
			fmt.Fprint(out, plan.String())
			if dryRun {
				fmt.Fprintln(out, "dry run: nothing was touched")
				return nil
			}
			if requestOut != "" {
				rec, err := e.Draft()
				if err != nil {
					return err
				}
				req, err := ceremony.NewRequest(rec, plan)
				if err != nil {
					return err
				}
				if err := ceremony.WriteRequest(requestOut, req); err != nil {
					return fmt.Errorf("run: --request-out: %w", err)
				}
				fmt.Fprintf(out, "request written to %s (digest %s)\n", requestOut, req.Digest)
				fmt.Fprintf(out, "words: %s\n", strings.Join(ledger.Words(req.Digest), " "))
				fmt.Fprintln(out, "nothing was recorded; carry the request to the approvers (custos approve)")
				return nil
			}
			if err := confirmDestroy(s, plan); err != nil {
				return err
			}
			signers, done, err := openSigners("run", keys)
			if err != nil {
				return err
			}
			defer done()
			if err := checkKeys(l, keys, signers); err != nil {
				return err
			}
			e.Signers = signers
			res, err := e.Run()
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "ceremony %s done; ledger head %s\n", res.Ceremony, res.Head)
			return printSummary(out, l, res.Ceremony, e.Approvals)
		},
	}
	f := cmd.Flags()
	f.StringVar(&ledgerDir, "ledger", "", "the ledger (a git repository made by custos init)")
	f.StringArrayVar(&keys, "key", nil, "NAME=REF: the key of a member present (operator, approvers, witnesses)")
	f.StringArrayVar(&approvals, "approval", nil, "an approval file made by custos approve (repeatable)")
	f.StringArrayVar(&cardTo, "card-to", nil, "NAME=DEST: where a holder's word card goes (a new file, a printer device, or screen); asked at the terminal otherwise")
	f.StringVar(&requestOut, "request-out", "", "write the request for approvers from elsewhere and stop")
	f.StringVar(&requestIn, "request", "", "the request the --approval files signed")
	f.BoolVar(&dryRun, "dry-run", false, "validate and show the plan; touch nothing")
	return cmd
}

func newResumeCmd() *cobra.Command {
	var ledgerDir, hsmURI, pinSource string
	var keys []string
	cmd := &cobra.Command{
		Use:   "resume --ledger LEDGER --key NAME=REF … [--pin-source file:PATH] [--hsm URI]",
		Short: "settle an interrupted ceremony: look at the HSM and record what really happened",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := keySyntax("resume", keys); err != nil {
				return err
			}
			if ledgerDir == "" {
				return hint.With(fmt.Errorf("resume: --ledger is required"), "name the ledger of the interrupted ceremony")
			}
			if pinSource != "" && !strings.HasPrefix(pinSource, "file:") {
				return usage(hint.With(fmt.Errorf("resume: --pin-source %q is not file:PATH", pinSource), "name the file that holds the user PIN: --pin-source file:/media/alice/pin"))
			}
			if pinSource != "" && hsmURI != "" {
				return usage(fmt.Errorf("resume: --pin-source goes with the token found from the ledger; with --hsm give pin-source in the URI"))
			}
			l, err := ledger.Open(ledgerDir)
			if err != nil {
				return err
			}
			signers, done, err := openSigners("resume", keys)
			if err != nil {
				return err
			}
			defer done()
			if err := checkKeys(l, keys, signers); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			res, err := ceremony.Resume(l, ceremony.ResumeOptions{HSM: hsmURI, PINSource: pinSource, Signers: signers, Prompt: ttyPrompt{}, Progress: out, OnInterrupt: onInterrupt})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "ceremony %s: %s settled as %s\n", res.Ceremony, res.Intent, res.Outcome)
			if res.Reason != "" {
				fmt.Fprintf(out, "reason: %s\n", res.Reason)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&ledgerDir, "ledger", "", "the ledger")
	f.StringArrayVar(&keys, "key", nil, "NAME=REF: the key of the operator (or another custodian)")
	f.StringVar(&hsmURI, "hsm", "", "PKCS#11 URI of the token (default: the token the ceremony recorded, with the module its enrolment recorded)")
	f.StringVar(&pinSource, "pin-source", "", "file:PATH holding the token's user PIN (default: asked at the terminal)")
	return cmd
}

func newApproveCmd() *cobra.Command {
	var keys []string
	var output, ledgerPath string
	var yes bool
	cmd := &cobra.Command{
		Use:   "approve REQUEST --ledger LEDGER --key NAME=REF -o SIGNATURE [--yes]",
		Short: "sign a ceremony request carried from the workstation (shows what it signs, checks the key against the roster, asks y/N)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := keySyntax("approve", keys); err != nil {
				return err
			}
			if output == "" {
				return hint.With(fmt.Errorf("approve: -o is required"), "name the signature file to carry back")
			}
			if len(keys) != 1 {
				return hint.With(fmt.Errorf("approve: give exactly one --key NAME=REF, the approver's"), "each approver signs with their own key")
			}
			if ledgerPath == "" {
				return hint.With(fmt.Errorf("approve: --ledger is required: the approver's key is checked against its roster"),
					"give your copy of the ledger: a clone (custos sync keeps it current) or a bundle made with custos bundle")
			}
			if _, err := os.Lstat(output); err == nil {
				return hint.With(fmt.Errorf("approve: %s already exists", output), "custos never writes over a file; choose a new name")
			}
			req, err := ceremony.ReadRequest(args[0])
			if err != nil {
				return err
			}
			dir, cleanup, err := ledgerDir(ledgerPath)
			if err != nil {
				return fmt.Errorf("approve: %w", err)
			}
			defer cleanup()
			l, err := ledger.Open(dir)
			if err != nil {
				return fmt.Errorf("approve: %w", err)
			}
			r := req.Record
			if st := l.State(); r.Ledger != st.LedgerID {
				return hint.With(fmt.Errorf("approve: request %s is for ledger %s, not for %s (ledger %s)", termtext.Printable(args[0]), termtext.Printable(r.Ledger), ledgerPath, st.LedgerID),
					"give the ledger the request was written on")
			}
			// Everything shown comes from the file, written by someone
			// else: it is printed with control characters escaped, so it
			// cannot redraw the screen, and the summary is marked as not
			// part of what is signed.
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "request %s\nthe requester's summary (not signed):\n%s", termtext.Printable(args[0]), termtext.Lines(req.Summary))
			if !strings.HasSuffix(req.Summary, "\n") {
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "what you sign: record %d (%s) of ledger %s, ceremony %s, by %s at %s\n", r.Seq, termtext.Printable(r.Kind), termtext.Printable(r.Ledger),
				termtext.Printable(r.Ceremony), termtext.Printable(r.Actor), r.Time.Format("2006-01-02 15:04:05Z"))
			for _, line := range ceremony.Readable(r.Facts) {
				fmt.Fprintf(out, "  %s\n", termtext.Printable(line))
			}
			fmt.Fprintf(out, "digest: %s\nwords:  %s\n", req.Digest, strings.Join(ledger.Words(req.Digest), " "))
			signers, done, err := openSigners("approve", keys)
			if err != nil {
				return err
			}
			defer done()
			var name string
			for n := range signers {
				name = n
			}
			if err := ceremony.CheckSigner(l.State(), name, signers[name]); err != nil {
				return fmt.Errorf("approve: --key %s=…: %w", name, err)
			}
			if err := confirmSign(yes, fmt.Sprintf("record %d (%s) as %s", r.Seq, r.Kind, name)); err != nil {
				return err
			}
			a, err := ceremony.SignRequest(req, name, signers[name])
			if err != nil {
				return err
			}
			if err := ceremony.WriteApproval(output, a); err != nil {
				return fmt.Errorf("approve: %w", err)
			}
			fmt.Fprintf(out, "approved by %s: %s\n", name, output)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keys, "key", nil, "NAME=REF: the approver's key")
	cmd.Flags().StringVarP(&output, "output", "o", "", "signature file to write")
	cmd.Flags().StringVar(&ledgerPath, "ledger", "", "your copy of the ledger (a clone or a bundle): the key is checked against its roster")
	cmd.Flags().BoolVar(&yes, "yes", false, "sign without asking y/N (for scripts; read what is shown first)")
	return cmd
}
