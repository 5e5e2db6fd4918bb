package ceremony

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"custos/ledger"
)

// seedRequest is a request file as custos run --request-out writes it.
func seedRequest(tb testing.TB) []byte {
	rec := &ledger.Record{Version: 1, Seq: 2, Prev: "sha256:" + strings.Repeat("ab", 32), Time: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
		Ledger: "ledger-1", Ceremony: "gen-1", Kind: "key.generate.intent", Actor: "alice", Facts: map[string]any{"key_id": "k1", "label": "root"}}
	d, err := rec.SigningDigest()
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "req.json")
	if err := WriteRequest(p, &Request{Record: rec, Digest: d, Summary: "generate root"}); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// oneLine: an error for bad input is one line that names the file.
func oneLine(t *testing.T, err error, path string) {
	t.Helper()
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error is not one line naming %s: %q", path, err)
	}
}

// FuzzReadRequest: any request file is read or refused with one line
// naming it; a request read is written back and reads as the same
// request (digest, summary, canonical record).
func FuzzReadRequest(f *testing.F) {
	good := seedRequest(f)
	f.Add(good)
	f.Add([]byte(strings.Replace(string(good), `"summary": "generate root"`, `"summary": "other"`, 1)))
	f.Add([]byte(strings.Replace(string(good), "alice", "mallory", 1)))
	f.Add([]byte(`{"custos_request":1,"digest":"sha256:00","summary":"","record":{}}`))
	f.Add([]byte(`{"custos_request":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, r2, ok := readWriteRead(t, data, ReadRequest, WriteRequest)
		if !ok {
			return
		}
		c1, _ := r.Record.Canonical()
		c2, _ := r2.Record.Canonical()
		if r2.Digest != r.Digest || r2.Summary != r.Summary || string(c1) != string(c2) {
			t.Fatalf("request changed through write and read: %q/%q, %s/%s", r.Summary, r2.Summary, c1, c2)
		}
	})
}

// readWriteRead reads data as a file with read; a file refused must be
// refused with one line naming it (ok false). A file read is written back
// with write and read again: both readings are returned.
func readWriteRead[T any](t *testing.T, data []byte, read func(string) (T, error), write func(string, T) error) (first, again T, ok bool) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "in.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	first, err := read(p)
	if err != nil {
		oneLine(t, err, p)
		return first, again, false
	}
	q := filepath.Join(dir, "out.json")
	if err := write(q, first); err != nil {
		t.Fatalf("a file read does not write back: %v", err)
	}
	again, err = read(q)
	if err != nil {
		t.Fatalf("a file written back does not read: %v", err)
	}
	return first, again, true
}

// FuzzReadApproval: any approval file is read or refused with one line
// naming it; an approval read is written back and reads the same.
func FuzzReadApproval(f *testing.F) {
	good, _ := json.MarshalIndent(ApprovalFile{Version: 1, Request: "sha256:" + strings.Repeat("cd", 32), Member: "bob",
		Signature: "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"}, "", "  ")
	f.Add(good)
	f.Add([]byte(`{"custos_approval":1,"request":"sha256:","member":"b","signature":""}`))
	f.Add([]byte(`{"custos_approval":1,"request":"sha1:","member":"b","extra":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b, ok := readWriteRead(t, data, ReadApproval, WriteApproval)
		if !ok {
			return
		}
		// File and Digest say where and as what bytes it was read: the
		// approval itself is the rest.
		a.File, b.File, a.Digest, b.Digest = "", "", "", ""
		if *a != *b {
			t.Fatalf("approval changed through write and read: %+v, %+v", a, b)
		}
	})
}

// FuzzLoadRecipientKey: a recipient key file (the RSA key a wrapped key
// is exported to) is read or refused with one error naming it; a key
// read is RSA of at least 3072 bits.
func FuzzLoadRecipientKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("not pem"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "recipient.pem")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := loadRecipientKey(p)
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if k.N.BitLen() < 3072 {
			t.Fatalf("accepted an RSA key of %d bits", k.N.BitLen())
		}
	})
}
