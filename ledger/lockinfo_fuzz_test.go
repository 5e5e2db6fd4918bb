package ledger

import (
	"testing"
	"time"
)

// FuzzParseLockInfo: custos.lock, as any process (or a damaged disk) may
// have left it, is read or refused; a lock read encodes and reads back as
// the same lock.
func FuzzParseLockInfo(f *testing.F) {
	f.Add(LockInfo{PID: 4242, Host: "ws-1", Ceremony: "gen-1", Since: time.Date(2026, 3, 1, 9, 0, 0, 5, time.UTC), Start: "12345"}.encode())
	f.Add([]byte("custos ledger lock\npid: 1\nhost: h\nsince: 2026-03-01T09:00:00Z\n"))
	f.Add([]byte("custos ledger lock\npid: -1\n"))
	f.Add([]byte("not a lock"))
	f.Fuzz(func(t *testing.T, data []byte) {
		i, err := parseLockInfo(data)
		if err != nil {
			return
		}
		j, err := parseLockInfo(i.encode())
		if err != nil {
			t.Fatalf("a lock read does not read back once encoded: %v (%+v)", err, i)
		}
		if j.PID != i.PID || j.Host != i.Host || j.Start != i.Start || !j.Since.Equal(i.Since) || j.Ceremony != i.Ceremony {
			t.Fatalf("lock changed through encode: %+v, %+v", i, j)
		}
	})
}
