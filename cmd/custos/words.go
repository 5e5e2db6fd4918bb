package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"custos/ledger"
)

func init() { subcommands = append(subcommands, newWordsCmd) }

// newWordsCmd prints a file's SHA-256 the way the minutes carry values: hex
// in groups of 4, and the ledger's words, numbered, to read aloud.
func newWordsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "words FILE...",
		Short: "print each file's SHA-256 as hex and as words, for the minutes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			for _, path := range args {
				f, err := os.Open(path)
				if err != nil {
					return fmt.Errorf("words: %w", err)
				}
				h := sha256.New()
				_, err = io.Copy(h, f)
				f.Close()
				if err != nil {
					return fmt.Errorf("words: %s: %w", path, err)
				}
				sum := hex.EncodeToString(h.Sum(nil))
				fmt.Fprintf(w, "%s\n  sha256: %s\n  words:  %s\n", path, groupsOf4(sum), numbered(ledger.Words(sum)))
			}
			return nil
		},
	}
}

func groupsOf4(h string) string {
	var g []string
	for len(h) > 4 {
		g, h = append(g, h[:4]), h[4:]
	}
	return strings.Join(append(g, h), " ")
}

func numbered(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = fmt.Sprintf("%d.%s", i+1, w)
	}
	return strings.Join(out, " ")
}
