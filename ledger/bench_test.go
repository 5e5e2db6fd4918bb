package ledger

import (
	"os"
	"testing"
)

// BenchmarkVerify verifies the ledger named by CUSTOS_BENCH_LEDGER (made by
// scripts/bench-ledger), or a small one made here.
func BenchmarkVerify(b *testing.B) {
	dir := os.Getenv("CUSTOS_BENCH_LEDGER")
	if dir == "" {
		f := newFixture(b)
		for range 20 {
			f.story(b)
			f.l.state.Keys = map[string]*KeyState{} // reuse the key id
		}
		b.Skip("set CUSTOS_BENCH_LEDGER to a ledger made by scripts/bench-ledger")
	}
	var n int64
	for b.Loop() {
		res := Verify(dir, Options{})
		if !res.OK {
			b.Fatal(res.Err())
		}
		n = res.Records
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(int64(b.N)*n), "µs/record")
}
