package report

import (
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"custos/ledger"
)

// Benchmarks of the inventory and the report: open (replay) + Build, and
// open + Build + render HTML. With CUSTOS_BENCH_LEDGER set to a ledger
// made by scripts/bench-ledger (1k, 10k, 100k records) they run on it;
// otherwise on ledgers of 100 and 400 records made here, so the µs/record
// metric shows whether time grows linearly with the records.
//
//	CUSTOS_BENCH_LEDGER=/tmp/bench-10k go test -run - -bench . -benchtime 3x ./report

func benchLedgers(b *testing.B) map[string]string {
	if dir := os.Getenv("CUSTOS_BENCH_LEDGER"); dir != "" {
		return map[string]string{"env": dir}
	}
	out := map[string]string{}
	for _, n := range []int{100, 400} {
		f := newFixture(b)
		for i := 0; f.l.State().Seq < int64(n); i++ {
			id := fmt.Sprintf("k%d", i)
			cer := "gen-" + id
			f.add("key.generate.intent", cer, "alice", map[string]any{"key_id": id, "label": id, "type": "aes-256", "owner": "o",
				"purpose": "p", "rotation_days": 90, "hsm": hsmFacts}, "bob")
			f.add("key.generated", cer, "alice", map[string]any{"key_id": id, "kcv_aes_cmac": "010203", "hsm": hsmFacts})
			f.add("key.export.intent", "exp-"+id, "alice", map[string]any{"key_id": id, "recipient": "r", "hsm": hsmFacts}, "bob", "carol")
			f.add("key.exported", "exp-"+id, "alice", map[string]any{"key_id": id, "recipient": "r", "output_sha256": "00", "hsm": hsmFacts})
		}
		out[fmt.Sprintf("%d", f.l.State().Seq)] = f.dir
	}
	return out
}

func BenchmarkInventory(b *testing.B) { benchBuild(b, false) }

func BenchmarkReport(b *testing.B) { benchBuild(b, true) }

// benchBuild opens each ledger and builds its report, rendering it as
// HTML too when render is set.
func benchBuild(b *testing.B, render bool) {
	for name, dir := range benchLedgers(b) {
		b.Run(name, func(b *testing.B) {
			var n int64
			for b.Loop() {
				l, err := ledger.Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				r, err := Build(l, Options{Now: time.Now()})
				if err != nil {
					b.Fatal(err)
				}
				if render {
					if err := Render(io.Discard, r, "html"); err != nil {
						b.Fatal(err)
					}
				}
				n = r.Records
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(int64(b.N)*n), "µs/record")
		})
	}
}
