package ledger

import (
	"slices"
	"testing"
)

// FuzzKeptHistory: a history written for the kept state reads back as
// the same events, whatever its strings hold (the direct reading or the
// canonical parser's); any other bytes are refused or read as events
// that write back to the same bytes — never a panic.
func FuzzKeptHistory(f *testing.F) {
	f.Add(int64(3), "key.generated", "2026-01-01T00:02:00Z", int64(4), "key.exported", []byte(`[{"kind":"key.generated","seq":3,"time":"t"}]`))
	f.Add(int64(0), "k\"\\\x01é", "t\u2028", int64(1<<62), "", []byte(`[]`))
	f.Add(int64(7), "a", "b", int64(8), "c", []byte(`[{"kind":"a","seq":07,"time":"b"}]`))
	f.Fuzz(func(t *testing.T, s1 int64, k1, t1 string, s2 int64, k2 string, raw []byte) {
		if s1 >= 0 && s2 >= 0 {
			evs := []KeyEvent{{Seq: s1, Kind: k1, Time: t1}, {Seq: s2, Kind: k2, Time: t1}}
			ks := &KeyState{History: evs}
			got, err := parseHistory(historyJSON(ks))
			if err != nil || !slices.Equal(got, evs) {
				if !validUTF8(k1, t1, k2) {
					return // canonical JSON holds only valid UTF-8
				}
				t.Fatalf("%v read back as %v (%v)", evs, got, err)
			}
		}
		got, err := parseHistory(raw)
		if err != nil {
			return
		}
		if back := historyJSON(&KeyState{History: got}); string(back) != string(raw) {
			t.Fatalf("%q read as %v, which writes %q", raw, got, back)
		}
	})
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		for _, r := range s {
			if r == 0xFFFD {
				return false
			}
		}
	}
	return true
}
