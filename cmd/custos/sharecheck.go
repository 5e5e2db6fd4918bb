package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"custos/ceremony"
	"custos/internal/hint"
	"custos/ledger"
)

func init() { subcommands = append(subcommands, newShareCheckCmd) }

// newShareCheckCmd is the periodic share check: a holder shows their share
// intact and theirs, and signs share.verified. No HSM is involved.
func newShareCheckCmd() *cobra.Command {
	var ledgerDir, backup, holder, identity, passSource string
	var keys []string
	cmd := &cobra.Command{
		Use:   "share-check SHARE --ledger LEDGER --backup ID --holder NAME --key NAME=REF … [--identity KEYFILE | --passphrase-source file:PATH]",
		Short: "a holder proves their backup share intact and theirs (recorded as share.verified)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ledgerDir == "" || backup == "" || holder == "" {
				return hint.With(fmt.Errorf("share-check: --ledger, --backup and --holder are required"), "custos log LEDGER lists the backups (backup.split)")
			}
			l, err := ledger.Open(ledgerDir)
			if err != nil {
				return err
			}
			signers, done, err := openSigners("share-check", keys)
			if err != nil {
				return err
			}
			defer done()
			// The share is read once, from the holder's own medium, and
			// opened in memory (with their key or passphrase, for an age
			// file).
			data, err := ceremony.ReadShareFile(args[0])
			if err != nil {
				return fmt.Errorf("share-check: %w", err)
			}
			defer clear(data)
			_, err = ceremony.CheckShareHeld(l, ceremony.ShareCheckOptions{Backup: backup, Holder: holder, Share: data, ShareName: args[0],
				Identity: identity, PassphraseSource: passSource, Signers: signers, Prompt: ttyPrompt{}, Progress: cmd.OutOrStdout()})
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&ledgerDir, "ledger", "", "the ledger")
	f.StringVar(&backup, "backup", "", "the backup id")
	f.StringVar(&holder, "holder", "", "the member who holds the share")
	f.StringVar(&identity, "identity", "", "the holder's OpenSSH private key, to open an age-encrypted share file")
	f.StringVar(&passSource, "passphrase-source", "", "file:PATH holding the passphrase of a share encrypted to one (asked at the terminal when absent)")
	f.StringArrayVar(&keys, "key", nil, "NAME=REF: the holder's signing key (and approvers', if the policy asks)")
	return cmd
}
