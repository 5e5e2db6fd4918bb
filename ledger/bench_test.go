package ledger

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkVerify verifies the ledger named by CUSTOS_BENCH_LEDGER (made by
// scripts/bench-ledger), or a small one made here.
func BenchmarkVerify(b *testing.B) {
	dir := os.Getenv("CUSTOS_BENCH_LEDGER")
	if dir == "" {
		f := newFixture(b)
		for i := range 20 {
			id := map[string]any{"key_id": fmt.Sprintf("k-%d", i)}
			f.add(b, "key.generate.intent", fmt.Sprintf("gen-%d", i), "alice", map[string]any{"key_id": id["key_id"], "type": "ec-p384"}, "carol")
			f.add(b, "key.generated", fmt.Sprintf("gen-%d", i), "alice", id)
			f.add(b, "ceremony.closed", fmt.Sprintf("gen-%d", i), "alice", map[string]any{})
			f.add(b, "key.destroy.intent", fmt.Sprintf("des-%d", i), "alice", id, "carol", "dave")
			f.add(b, "key.destroyed", fmt.Sprintf("des-%d", i), "alice", id)
			f.add(b, "ceremony.closed", fmt.Sprintf("des-%d", i), "alice", map[string]any{})
		}
		dir = f.dir
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
