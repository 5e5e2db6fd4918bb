package main

import (
	"fmt"
	"io"
	"strings"

	"custos/ceremony"
	"custos/internal/termtext"
	"custos/ledger"
	"custos/minutes"
)

// ceremonyEntries reads the records of ceremony id from l: a ceremony's
// records are contiguous (one ceremony holds the ledger from its plan to
// its close), from its first record on.
func ceremonyEntries(l *ledger.Ledger, id string) ([]minutes.Entry, error) {
	st := l.State()
	first, ok := st.CeremonyUsed(id)
	if !ok {
		return nil, fmt.Errorf("ceremony %s is not in the ledger", id)
	}
	var out []minutes.Entry
	for seq := first; seq <= st.Seq; seq++ {
		rec, err := l.Record(seq)
		if err != nil {
			return nil, err
		}
		if rec.Ceremony != id {
			break
		}
		d, err := rec.Digest()
		if err != nil {
			return nil, err
		}
		out = append(out, minutes.Entry{Rec: rec, Digest: d})
	}
	return out, nil
}

// printSummary says, after a ceremony, every approval the opening carries
// and how it came (a member in the room, or a file carried back), and the
// values for the minutes: what the printed checklist leaves blank.
func printSummary(w io.Writer, l *ledger.Ledger, id string, files []*ceremony.ApprovalFile) error {
	recs, err := ceremonyEntries(l, id)
	if err != nil {
		return err
	}
	d, err := minutes.FromLedger(l.State(), id, recs)
	if err != nil {
		return err
	}
	carried := map[string]string{}
	for _, f := range files {
		carried[f.Member] = f.File
	}
	open := recs[0].Rec
	if len(open.Approvals) == 0 {
		fmt.Fprintf(w, "approvals: none (the policy asks none for %s)\n", open.Kind)
	} else {
		fmt.Fprintf(w, "approvals of record %d (%s):\n", open.Seq, open.Kind)
		for _, a := range open.Approvals {
			how := "in the room"
			if a.Carried != "" {
				how = "carried as file " + carried[a.Member] + " (" + a.Carried + ")"
			}
			fmt.Fprintf(w, "  %s, %s\n", termtext.Printable(a.Member), termtext.Printable(how))
		}
	}
	fmt.Fprintln(w, "for the minutes (custos minutes prints them filled):")
	line := func(v *minutes.Value) {
		if v == nil || v.Blank {
			return
		}
		val := v.Plain
		if len(v.Hex) > 0 {
			val = strings.Join(v.Hex, " ")
		}
		fmt.Fprintf(w, "  %s: %s\n", v.Label, termtext.Printable(val))
		if len(v.Words) > 0 {
			fmt.Fprintf(w, "    words: %s\n", strings.Join(v.Words, " "))
		}
	}
	line(d.ScriptSHA256)
	line(d.Request)
	for i := range d.Values {
		line(&d.Values[i])
	}
	line(d.Checkpoint)
	for _, x := range d.Exceptions {
		fmt.Fprintf(w, "  exception: %s\n", termtext.Printable(x))
	}
	return nil
}
