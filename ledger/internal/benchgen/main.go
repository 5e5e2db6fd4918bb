// Command benchgen makes a valid ledger of N records for benchmarks:
//
//	go run ./ledger/internal/benchgen N DIR
//
// Members' private keys are written to DIR.keys/ (OpenSSH format, mode
// 0600). Every record after the genesis has one commit signature and two
// approvals. Keys live ten records each, one after the other: generate
// (intent, outcome), three exports, destroy; so a ledger of N records
// holds about N/10 keys, each with a short history, as a real one would.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"custos/ledger"
	"custos/sign"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: benchgen N DIR")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n < 1 || n > 999999 {
		fmt.Fprintln(os.Stderr, "benchgen: error: N must be 1..999999")
		os.Exit(2)
	}
	if err := run(n, os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "benchgen: error: %v\n", err)
		os.Exit(1)
	}
}

func run(n int, dir string) error {
	keyDir := filepath.Clean(dir) + ".keys"
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return err
	}
	roles := map[string][]string{"alice": {"custodian"}, "bob": {"custodian"}, "carol": {"officer"}, "dave": {"officer"}}
	signers := map[string]sign.Signer{}
	roster := &ledger.Roster{}
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		block, err := ssh.MarshalPrivateKey(priv, name)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(filepath.Join(keyDir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("key file: %w", err)
		}
		pemBytes := pem.EncodeToMemory(block)
		_, werr := f.Write(pemBytes)
		clear(pemBytes)
		if cerr := f.Close(); werr != nil || cerr != nil {
			return fmt.Errorf("key file %s: write failed", name)
		}
		s, err := sign.FromCrypto(priv)
		if err != nil {
			return err
		}
		signers[name] = s
		sp, _ := ssh.NewPublicKey(pub)
		roster.Members = append(roster.Members, ledger.Member{Name: name, Roles: roles[name], Key: sign.AuthorizedKey(sp)})
	}
	policy := &ledger.Policy{
		Approvals:  map[string]ledger.Requirement{"*": {Roles: []string{"officer"}, Count: 2}},
		Algorithms: ledger.DefaultAlgorithms,
	}
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	genesis, err := ledger.Create(dir, roster, policy, signers, t)
	if err != nil {
		return err
	}
	l, err := ledger.Open(dir)
	if err != nil {
		return err
	}
	l.SkipWorktree()
	hsmFacts := map[string]any{"serial": "bench-0001", "model": "SoftHSM v2", "label": "bench"}
	for seq := 2; seq <= n; seq++ {
		t = t.Add(time.Minute)
		i := seq - 3
		id := fmt.Sprintf("key-%06d", i/10)
		facts := map[string]any{"key_id": id, "hsm": hsmFacts}
		actor, ceremony := "alice", fmt.Sprintf("c-%d", i/2)
		var kind string
		switch step := i % 10; {
		case i < 0:
			kind, ceremony, facts = "hsm.enrolled", "enrol", map[string]any{"hsm": hsmFacts}
		case step < 2:
			kind = []string{"key.generate.intent", "key.generated"}[step]
			facts["type"], facts["label"] = "ec-p256", id
			if step == 1 {
				facts["spki_sha256"] = fmt.Sprintf("%064x", i)
			}
		case step < 8:
			kind, actor = []string{"key.export.intent", "key.exported"}[step%2], "bob"
			facts["recipient"] = "partner-" + ceremony
			if step%2 == 0 {
				facts["recipient_key_spki_sha256"] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
			} else {
				facts["mechanism"], facts["output_sha256"] = "CKM_RSA_PKCS_OAEP", fmt.Sprintf("%064x", i)
				facts["oaep_hash"] = "sha-256"
			}
		default:
			kind = []string{"key.destroy.intent", "key.destroyed"}[step%2]
			if step%2 == 0 {
				facts["reason"] = "bench"
				facts["exports"] = ledger.ExportsOf(l.State().Keys[id])
			} else {
				facts["verification"] = map[string]any{"found_by_id": 0, "found_by_label": 0}
			}
		}
		rec := l.Draft(kind, ceremony, actor, facts, t)
		var apps []ledger.Approval
		for _, a := range []string{"carol", "dave"} {
			ap, err := ledger.Approve(rec, a, signers[a])
			if err != nil {
				return err
			}
			apps = append(apps, ap)
		}
		if _, err := l.Append(rec, signers[actor], apps); err != nil {
			return err
		}
		if seq%1000 == 0 {
			fmt.Fprintf(os.Stderr, "benchgen: %d records (%s)\n", seq, time.Since(start).Round(time.Second))
		}
	}
	if _, err := ledger.Open(dir); err != nil { // checks out the work tree
		return err
	}
	fmt.Printf("benchgen: %d records in %s, keys in %s\ngenesis %s\n", n, dir, keyDir, genesis)
	return nil
}
