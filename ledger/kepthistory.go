// A key's history in the kept state: the bytes the key file holds
// (appendEvent's), read back without reflection.

package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"custos/ledger/internal/canonical"
)

// historyJSON is ks's history as a JSON array, as its key file holds it.
func historyJSON(ks *KeyState) json.RawMessage {
	h := ks.histJSON
	if len(h) == 0 {
		for i, ev := range ks.History {
			h = appendEvent(h, i > 0, ev)
		}
	}
	out := make([]byte, 0, len(h)+2)
	out = append(append(append(out, '['), h...), ']')
	return out
}

// eventKinds share one string per kind among the events read back.
var eventKinds = func() map[string]string {
	m := map[string]string{}
	for k := range kinds {
		m[k] = k
	}
	return m
}()

// parseHistory reads a history written by historyJSON. Events as
// appendEvent writes them, with no escape in their strings, are read
// directly; anything else through verify's canonical parser, and what is
// not a list of events is an error (the kept state is then replayed).
func parseHistory(raw []byte) ([]KeyEvent, error) {
	if evs, ok := scanHistory(raw); ok {
		return evs, nil
	}
	p := canonical.Parser{Data: raw}
	v, err := p.Parse()
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("not a list")
	}
	out := make([]KeyEvent, 0, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok || len(m) != 3 {
			return nil, errors.New("an event is not {kind, seq, time}")
		}
		seq, ok := factInt(m, "seq")
		kind, ok1 := m["kind"].(string)
		t, ok2 := m["time"].(string)
		if !ok || !ok1 || !ok2 {
			return nil, errors.New("an event is not {kind, seq, time}")
		}
		out = append(out, KeyEvent{Seq: seq, Kind: kind, Time: t})
	}
	return out, nil
}

// scanHistory reads [{"kind":"K","seq":N,"time":"T"},…] with K and T free
// of escapes; false for anything else.
func scanHistory(b []byte) ([]KeyEvent, bool) {
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, false
	}
	b = b[1 : len(b)-1]
	str := func(prefix string) (string, bool) {
		rest, ok := bytes.CutPrefix(b, []byte(prefix))
		i := bytes.IndexByte(rest, '"')
		if !ok || i < 0 || bytes.ContainsFunc(rest[:i], func(r rune) bool { return r == '\\' || r < 0x20 || r == utf8.RuneError }) {
			return "", false
		}
		s, known := eventKinds[string(rest[:i])]
		if !known {
			s = string(rest[:i])
		}
		b = rest[i+1:]
		return s, true
	}
	var out []KeyEvent
	for len(b) > 0 {
		var ev KeyEvent
		var ok bool
		if ev.Kind, ok = str(`{"kind":"`); !ok {
			return nil, false
		}
		rest, ok := bytes.CutPrefix(b, []byte(`,"seq":`))
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if !ok || j == 0 || (j > 1 && rest[0] == '0') {
			return nil, false
		}
		n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
		if err != nil {
			return nil, false
		}
		ev.Seq, b = n, rest[j:]
		if ev.Time, ok = str(`,"time":"`); !ok {
			return nil, false
		}
		if b, ok = bytes.CutPrefix(b, []byte("}")); !ok {
			return nil, false
		}
		out = append(out, ev)
		if len(b) > 0 {
			if b, ok = bytes.CutPrefix(b, []byte(",")); !ok || len(b) == 0 {
				return nil, false
			}
		}
	}
	return out, true
}
