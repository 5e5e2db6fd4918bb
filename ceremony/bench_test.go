package ceremony

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custos/hsm/hsmtest"
	"custos/ledger"
	"custos/sign"
)

// newTestLedger founds a ledger with alice (custodian) and bob (officer),
// ed25519 keys in memory, and the default approvals policy.
func newTestLedger(tb testing.TB) (*ledger.Ledger, map[string]sign.Signer) {
	tb.Helper()
	signers := map[string]sign.Signer{}
	roster := &ledger.Roster{}
	for _, m := range []struct{ name, role string }{{"alice", "custodian"}, {"bob", "officer"}} {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		s, err := sign.FromCrypto(priv)
		if err != nil {
			tb.Fatal(err)
		}
		signers[m.name] = s
		roster.Members = append(roster.Members, ledger.Member{Name: m.name, Roles: []string{m.role},
			Key: strings.TrimSuffix(sign.AuthorizedKey(s.PublicKey()), "")})
	}
	policy := &ledger.Policy{Approvals: ledger.DefaultApprovals(), Algorithms: ledger.DefaultAlgorithms}
	dir := filepath.Join(tb.TempDir(), "L")
	if _, err := ledger.Create(dir, roster, policy, signers, time.Now()); err != nil {
		tb.Fatal(err)
	}
	l, err := ledger.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return l, signers
}

// BenchmarkGenerateCeremony runs whole generate ceremonies (intent,
// AES-256 generation on SoftHSM, outcome, checkpoint) and reports the
// engine's own time per recorded step: everything but the HSM operation.
func BenchmarkGenerateCeremony(b *testing.B) {
	l, signers := newTestLedger(b)
	tk := hsmtest.NewToken(b, hsmtest.Label("bench"))
	pin := filepath.Join(b.TempDir(), "pin")
	writePIN(b, pin, tk.UserPIN)
	uri := fmt.Sprintf("pkcs11:token=%s?module-path=%s&pin-source=file:%s", tk.Label, hsmtest.ModulePath(), pin)
	var hsmTime, total time.Duration
	steps := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := &Script{File: "bench.yaml", Kind: KindGenerate, HSM: uri, Operator: "alice",
			Key: &KeyPlan{Label: fmt.Sprintf("k%d", i), Type: "aes-256", Owner: "o", Purpose: "p"}}
		e := &Engine{Ledger: l, Script: s, Signers: signers}
		start := time.Now()
		if _, err := e.Run(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		hsmTime += e.hsmTime
		steps += 3 // intent, outcome, close
	}
	b.ReportMetric(float64((total-hsmTime).Microseconds())/1000/float64(steps), "engine-ms/step")
	b.ReportMetric(float64(hsmTime.Microseconds())/1000/float64(b.N), "hsm-ms/ceremony")
}
