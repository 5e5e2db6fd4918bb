// The check values and digests of a run's outcome record, on the done
// screen, as the ledger recorded them: what the custodians write into the
// minutes and compare with custos log, the report or the HSM.

package tui

import (
	"fmt"
	"sort"
	"strings"

	"custos/ceremony"
	"custos/internal/termtext"
)

// outcomeSeen is the outcome record last read for the done screen, so the
// record is read once, not at every frame.
type outcomeSeen struct {
	seq   int64
	lines []string
}

// outcomeLines are the check values and digests of the run's outcome
// record (key.generated, key.exported, backup.split, key.destroyed …).
func (m *Model) outcomeLines() []string {
	r := m.run
	if r == nil || r.eng == nil || r.eng.Ledger == nil {
		return nil
	}
	var seq int64
	var kind string
	for _, s := range r.steps {
		if s.Kind == ceremony.StepOutcome {
			seq, kind = s.Seq, s.Record
		}
	}
	if seq == 0 {
		return nil
	}
	if m.outcome.seq == seq {
		return m.outcome.lines
	}
	rec, err := r.eng.Ledger.Record(seq)
	if err != nil {
		return []string{"  " + m.st.Bad.Render(fmt.Sprintf("record %d cannot be read: %v", seq, err))}
	}
	var names []string
	for k, v := range rec.Facts {
		if _, ok := v.(string); ok && (strings.Contains(k, "kcv") || strings.Contains(k, "sha256") || strings.Contains(k, "fingerprint")) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []string
	if len(names) > 0 {
		out = append(out, "", fmt.Sprintf("  Recorded in %s (record %d):", kind, seq))
		for _, k := range names {
			v := termtext.Printable(rec.Facts[k].(string))
			if l := fmt.Sprintf("    %s: %s", k, v); len(l) <= max(20, m.width) {
				out = append(out, l)
				continue
			}
			// whole, on a line of its own: a digest is never cut
			out = append(out, "    "+k+":", "      "+v)
		}
	}
	m.outcome = outcomeSeen{seq: seq, lines: out}
	return out
}
