package controls

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"custos/internal/termtext"
)

// WriteTable prints the result: one line per control, then each
// exception under its control with the records that show it. Text from
// the ledger is escaped (termtext): it cannot redraw the terminal.
func WriteTable(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTROL\tSTATUS\tTESTED\tEXCEPTIONS\tTITLE\tSOC 2\tISO 27001")
	for _, c := range r.Controls {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", c.ID, strings.ToUpper(c.Status), c.Tested, len(c.Exceptions), c.Title,
			strings.Join(c.SOC2, ","), strings.Join(c.ISO27001, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range r.Controls {
		for _, e := range c.Items {
			fmt.Fprintf(w, "%s item: %s\n", c.ID, termtext.Printable(e.Message))
			for _, ref := range e.Records {
				fmt.Fprintf(w, "  record %d %s %s %s\n", ref.Seq, ref.Kind, ref.Time, ref.Digest)
			}
		}
		for _, e := range c.Exceptions {
			fmt.Fprintf(w, "%s exception: %s\n", c.ID, termtext.Printable(e.Message))
			for _, ref := range e.Records {
				fmt.Fprintf(w, "  record %d %s %s %s\n", ref.Seq, ref.Kind, ref.Time, ref.Digest)
			}
		}
	}
	_, err := fmt.Fprintln(w, Summary(r))
	return err
}

// Summary is the last line of the table: how many controls passed,
// failed and did not apply.
func Summary(r *Result) string {
	n := map[string]int{}
	for _, c := range r.Controls {
		n[c.Status]++
	}
	verdict := "all controls pass"
	if !r.Passed {
		verdict = "CONTROLS FAIL"
	}
	return fmt.Sprintf("%s: %d pass, %d fail, %d not applicable, over records 1 to %d of ledger %s (head %s)",
		verdict, n[Pass], n[Fail], n[NotApplicable], r.Records, r.Ledger, r.Head)
}

// Failures is one line per failing control, for standard error.
func Failures(r *Result) []string {
	var out []string
	for _, c := range r.Controls {
		if c.Status != Fail {
			continue
		}
		var seqs []string
		for _, e := range c.Exceptions {
			for _, ref := range e.Records {
				seqs = append(seqs, fmt.Sprint(ref.Seq))
			}
		}
		out = append(out, fmt.Sprintf("control %s (%s) fails: %d exception(s); records %s", c.ID, c.Title, len(c.Exceptions), strings.Join(seqs, ", ")))
	}
	return out
}
