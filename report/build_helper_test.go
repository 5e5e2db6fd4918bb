package report

import (
	"fmt"

	"custos/ledger"
)

// Build (for the tests) reads every record of l up to the period's end, once, and returns
// the report. Records are taken from the ledger as opened (chain and rules
// checked by ledger.Open, signatures only by ledger.Verify: pass its result
// in opts.Verify).
func Build(l *ledger.Ledger, opts Options) (*Report, error) {
	b := NewBuilder(opts)
	for rec, err := range l.Records() {
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		d, err := rec.Digest()
		if err != nil {
			return nil, fmt.Errorf("report: record %d: %w", rec.Seq, err)
		}
		if err := b.Add(rec, d); err != nil {
			return nil, err
		}
	}
	return b.Finish(nil), nil
}
