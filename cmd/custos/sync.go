package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"custos/ledger"
)

func init() {
	subcommands = append(subcommands, newSyncCmd, newPushCmd)
}

func newSyncCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sync LEDGER FROM",
		Short: "fetch the shared copy of the ledger (a clone or a bundle), verify it, and fast-forward; never merges",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, from := args[0], args[1]
			res, err := ledger.Sync(dir, from)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s verifies: %d records, head %s\n", from, res.Shared.Seq, res.Shared.Digest)
			switch res.Relation {
			case ledger.UpToDate:
				fmt.Fprintf(out, "already up to date: %s at %s\n", dir, res.Local)
			case ledger.Behind:
				fmt.Fprintf(out, "fast-forwarded %s by %d records: from %s to %s\n", dir, res.Gained, res.Local, res.Shared)
			case ledger.Ahead:
				fmt.Fprintf(out, "%s is ahead of %s by %d records (%s, the copy at %s): push or bundle it to the shared copy\n",
					dir, from, res.Local.Seq-res.Shared.Seq, res.Local, res.Shared)
			default:
				return errors.New("sync: unexpected result " + string(res.Relation))
			}
			return nil
		},
	}
}

func newPushCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "push LEDGER TO",
		Short: "fast-forward the shared copy TO (a bare repository or a clone) to this ledger; refused if TO has records this ledger lacks",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, to := args[0], args[1]
			res, err := ledger.Push(dir, to)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch res.Relation {
			case ledger.UpToDate:
				fmt.Fprintf(out, "already up to date: %s at %s\n", to, res.Local)
			case ledger.Empty:
				fmt.Fprintf(out, "pushed %d records to %s (a new copy)\n", res.Pushed, to)
			default:
				fmt.Fprintf(out, "pushed %d records to %s: from %s to %s\n", res.Pushed, to, res.Shared, res.Local)
			}
			where := "its work tree updated"
			if res.Bare {
				where = "a bare repository"
			}
			fmt.Fprintf(out, "%s verifies: %d records, head %s (%s)\n", to, res.Verified.Records, res.Verified.Head, where)
			return nil
		},
	}
}
