// Package canonical is the canonical JSON encoding of the ledger's records
// and derived files, whose bytes are what digests and signatures cover:
// Marshal and Write encode, ParseJSON reads any strict JSON, and Parse
// accepts only the exact canonical bytes (docs/ledger-format.md).
package canonical

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Marshal returns the canonical JSON encoding of v: object keys sorted by
// their UTF-8 bytes, no insignificant whitespace, no HTML escaping, only
// the escapes JSON requires (\" \\ \b \f \n \r \t, other control characters
// as \u00xx), and integers only (a float, or an integer outside int64, is an
// error). v is anything encoding/json can marshal.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := Write(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write encodes the value kinds the decoder produces directly and
// everything else through encoding/json and back, so both paths agree.
func Write(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		return WriteString(b, x)
	case json.Number:
		n, err := canonicalInt(string(x))
		if err != nil {
			return err
		}
		b.WriteString(n)
	case int:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int32:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := Write(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case []string:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := WriteString(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := WriteString(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := Write(b, x[k]); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		b.WriteByte('}')
	case float32, float64:
		return errors.New("floating-point numbers are not allowed, use integers or strings")
	default:
		var raw bytes.Buffer
		enc := json.NewEncoder(&raw)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("canonical json: %w", err)
		}
		tree, err := ParseJSON(raw.Bytes())
		if err != nil {
			return fmt.Errorf("canonical json: %w", err)
		}
		return Write(b, tree)
	}
	return nil
}

func canonicalInt(s string) (string, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return "", fmt.Errorf("number %.40q is not an integer in int64 range", s)
	}
	return strconv.FormatInt(n, 10), nil
}

func WriteString(b *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return errors.New("string is not valid utf-8")
	}
	const hexd = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b.WriteString(s[start:i])
		start = i + 1
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteString(`\u00`)
			b.WriteByte(hexd[c>>4])
			b.WriteByte(hexd[c&0xf])
		}
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
	return nil
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

// ParseJSON decodes one JSON value strictly: valid UTF-8 only, no duplicate
// object keys, integers only, nothing after the value. Numbers come back as
// json.Number, objects as map[string]any, arrays as []any.
func ParseJSON(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid utf-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the json value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("json nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("unexpected end of json")
		}
		return nil, fmt.Errorf("invalid json: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("invalid json: %w", err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("invalid json: object key is not a string")
				}
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("duplicate object key %.40q", k)
				}
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("invalid json: %w", err)
			}
			return m, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("invalid json: %w", err)
			}
			return a, nil
		}
		return nil, fmt.Errorf("invalid json: unexpected %v", t)
	case json.Number:
		if _, err := canonicalInt(string(t)); err != nil {
			return nil, err
		}
		return t, nil
	case string, bool, nil:
		return t, nil
	}
	return nil, fmt.Errorf("invalid json token %T", tok)
}

// ErrNotCanonical is the error of Parse for input that is JSON,
// but not in canonical form.
var ErrNotCanonical = errors.New("not in canonical form (edited by hand?)")

// Parse decodes data only if it is exactly the canonical encoding
// of what it decodes to (Marshal(v) == data), into the values ParseJSON
// gives. It is a single pass with no re-encoding: verify reads every
// record through it.
func Parse(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid utf-8")
	}
	p := Parser{Data: data}
	return p.Parse()
}

// Parse decodes p.Data, which must be exactly a canonical encoding, and
// notes where its top-level "approvals" member is.
func (p *Parser) Parse() (any, error) {
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if p.i != len(p.Data) {
		return nil, ErrNotCanonical
	}
	return v, nil
}

// Parser is the single-pass parser of the canonical encoding.
type Parser struct {
	Data []byte
	i    int
	// where the top-level "approvals" member is, from the comma before it
	// to the end of its value (a record's signing bytes are the rest)
	ApStart, ApEnd int
}

func (p *Parser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("json nested too deeply")
	}
	if p.i >= len(p.Data) {
		return nil, ErrNotCanonical
	}
	switch c := p.Data[p.i]; {
	case c == '{':
		p.i++
		m := map[string]any{}
		if p.eat('}') {
			return m, nil
		}
		last := ""
		for first := true; ; first = false {
			keyStart := p.i
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			if !first && k <= last { // sorted by bytes, no duplicates
				return nil, ErrNotCanonical
			}
			last = k
			if !p.eat(':') {
				return nil, ErrNotCanonical
			}
			if m[k], err = p.value(depth + 1); err != nil {
				return nil, err
			}
			if depth == 0 && k == "approvals" && !first {
				p.ApStart, p.ApEnd = keyStart-1, p.i
			}
			if p.eat('}') {
				return m, nil
			}
			if !p.eat(',') {
				return nil, ErrNotCanonical
			}
		}
	case c == '[':
		p.i++
		a := []any{}
		if p.eat(']') {
			return a, nil
		}
		for {
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
			if p.eat(']') {
				return a, nil
			}
			if !p.eat(',') {
				return nil, ErrNotCanonical
			}
		}
	case c == '"':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		p.i++
		for p.i < len(p.Data) && p.Data[p.i] >= '0' && p.Data[p.i] <= '9' {
			p.i++
		}
		s := string(p.Data[start:p.i])
		if n, err := canonicalInt(s); err != nil || n != s {
			return nil, ErrNotCanonical
		}
		return json.Number(s), nil
	}
	for _, lit := range []struct {
		s string
		v any
	}{{"null", nil}, {"true", true}, {"false", false}} {
		if bytes.HasPrefix(p.Data[p.i:], []byte(lit.s)) {
			p.i += len(lit.s)
			return lit.v, nil
		}
	}
	return nil, ErrNotCanonical
}

func (p *Parser) eat(c byte) bool {
	if p.i < len(p.Data) && p.Data[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string escaped exactly as WriteString escapes it.
func (p *Parser) str() (string, error) {
	if !p.eat('"') {
		return "", ErrNotCanonical
	}
	start := p.i
	var b []byte // nil until the first escape
	for p.i < len(p.Data) {
		c := p.Data[p.i]
		switch {
		case c == '"':
			s := p.Data[start:p.i]
			p.i++
			if b != nil {
				return string(append(b, s...)), nil
			}
			return string(s), nil
		case c < 0x20:
			return "", ErrNotCanonical
		case c != '\\':
			p.i++
			continue
		}
		b = append(b, p.Data[start:p.i]...)
		if p.i+1 >= len(p.Data) {
			return "", ErrNotCanonical
		}
		e := p.Data[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\':
			b = append(b, e)
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'u': // \u00xx, lower-case hex, only for the other control characters
			h := p.Data[p.i:min(p.i+4, len(p.Data))]
			if len(h) != 4 || h[0] != '0' || h[1] != '0' || !isLowerHex(h[2]) || !isLowerHex(h[3]) {
				return "", ErrNotCanonical
			}
			v, _ := strconv.ParseUint(string(h), 16, 8)
			if v >= 0x20 || strings.IndexByte("\n\r\t\b\f", byte(v)) >= 0 {
				return "", ErrNotCanonical
			}
			b = append(b, byte(v))
			p.i += 4
		default:
			return "", ErrNotCanonical
		}
		start = p.i
	}
	return "", ErrNotCanonical
}

func isLowerHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
