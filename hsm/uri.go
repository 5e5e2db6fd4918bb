package hsm

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// URI is an RFC 7512 PKCS#11 URI, e.g.
//
//	pkcs11:token=ceremony;object=root-2025;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/media/pin
//
// SlotID is parsed but Custos never selects a token by it (slot ids change
// when tokens are initialised). PINValue is parsed so callers can see it
// and refuse it: a PIN on the command line leaks into process lists and
// shell history.
type URI struct {
	Token        string
	Manufacturer string
	Model        string
	Serial       string
	Object       string
	ID           []byte // nil when absent
	Type         string // public, private, cert, secret-key, data, or ""
	SlotID       string // decimal, or ""
	ModulePath   string
	ModuleName   string
	PINSource    string
	PINValue     string
}

var (
	pathAttrs  = []string{"token", "manufacturer", "model", "serial", "object", "id", "type", "slot-id"}
	queryAttrs = []string{"module-path", "module-name", "pin-source", "pin-value"}
	uriTypes   = map[string]bool{"public": true, "private": true, "cert": true, "secret-key": true, "data": true}
)

func (u *URI) field(name string) *string {
	switch name {
	case "token":
		return &u.Token
	case "manufacturer":
		return &u.Manufacturer
	case "model":
		return &u.Model
	case "serial":
		return &u.Serial
	case "object":
		return &u.Object
	case "type":
		return &u.Type
	case "slot-id":
		return &u.SlotID
	case "module-path":
		return &u.ModulePath
	case "module-name":
		return &u.ModuleName
	case "pin-source":
		return &u.PINSource
	case "pin-value":
		return &u.PINValue
	}
	return nil
}

// ParseURI parses an RFC 7512 PKCS#11 URI. Errors name the attribute and
// the byte offset in s. Unknown attributes and repeated attributes are
// errors. A pin-value is parsed, never echoed in an error.
func ParseURI(s string) (*URI, error) {
	const scheme = "pkcs11:"
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return nil, fmt.Errorf("pkcs11 uri: does not start with %q", scheme)
	}
	u := &URI{}
	path, query, hasQuery := strings.Cut(s[len(scheme):], "?")
	seen := map[string]bool{}
	parse := func(part string, base int, sep string, allowed []string, where string) error {
		if part == "" {
			return nil
		}
		off := base
		for _, a := range strings.Split(part, sep) {
			name, raw, ok := strings.Cut(a, "=")
			if !ok {
				return fmt.Errorf("pkcs11 uri: %s attribute %q at offset %d: missing \"=\"", where, truncate(name), off)
			}
			if !contains(allowed, name) {
				return fmt.Errorf("pkcs11 uri: unknown %s attribute %q at offset %d", where, truncate(name), off)
			}
			if seen[name] {
				return fmt.Errorf("pkcs11 uri: attribute %q at offset %d: repeated", name, off)
			}
			seen[name] = true
			voff := off + len(name) + 1
			val, bad := pctDecode(raw)
			if bad >= 0 {
				return fmt.Errorf("pkcs11 uri: attribute %q at offset %d: bad percent-encoding", name, voff+bad)
			}
			switch name {
			case "id":
				u.ID = val
				if len(u.ID) == 0 {
					u.ID = nil
				}
			case "type":
				if !uriTypes[string(val)] {
					return fmt.Errorf("pkcs11 uri: attribute \"type\" at offset %d: %q is not one of public, private, cert, secret-key, data", voff, truncate(string(val)))
				}
				u.Type = string(val)
			case "slot-id":
				if _, err := strconv.ParseUint(string(val), 10, 64); err != nil || strings.HasPrefix(string(val), "+") {
					return fmt.Errorf("pkcs11 uri: attribute \"slot-id\" at offset %d: not a decimal number", voff)
				}
				u.SlotID = string(val)
			default:
				*u.field(name) = string(val)
			}
			off += len(a) + 1
		}
		return nil
	}
	if err := parse(path, len(scheme), ";", pathAttrs, "path"); err != nil {
		return nil, err
	}
	if hasQuery {
		if err := parse(query, len(scheme)+len(path)+1, "&", queryAttrs, "query"); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// pctDecode decodes %XX escapes; bad is the offset of a bad escape or -1.
func pctDecode(s string) (out []byte, bad int) {
	out = make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(s) {
			return nil, i
		}
		h, ok1 := unhex(s[i+1])
		l, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return nil, i
		}
		out = append(out, h<<4|l)
		i += 2
	}
	return out, -1
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// pctEncode escapes every byte outside the RFC 3986 unreserved set, plus
// keep (extra bytes safe in this position, such as '/' in a query).
func pctEncode(b []byte, keep string) string {
	const hexd = "0123456789ABCDEF"
	var sb strings.Builder
	for _, c := range b {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || (c < 0x80 && strings.IndexByte(keep, c) >= 0) {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hexd[c>>4])
		sb.WriteByte(hexd[c&15])
	}
	return sb.String()
}

// String formats the URI; ParseURI(u.String()) gives back u. The id is
// always fully percent-encoded, as RFC 7512 recommends.
func (u *URI) String() string {
	var path, query []string
	for _, name := range pathAttrs {
		if name == "id" {
			if len(u.ID) > 0 {
				var sb strings.Builder
				for _, c := range u.ID {
					fmt.Fprintf(&sb, "%%%02X", c)
				}
				path = append(path, "id="+sb.String())
			}
			continue
		}
		if v := *u.field(name); v != "" {
			path = append(path, name+"="+pctEncode([]byte(v), ":@!$'()*+,"))
		}
	}
	for _, name := range queryAttrs {
		if v := *u.field(name); v != "" {
			query = append(query, name+"="+pctEncode([]byte(v), "/:@!$'()*+,"))
		}
	}
	s := "pkcs11:" + strings.Join(path, ";")
	if len(query) > 0 {
		s += "?" + strings.Join(query, "&")
	}
	return s
}

// Equal reports whether two URIs carry the same attributes.
func (u *URI) Equal(v *URI) bool {
	if !bytes.Equal(u.ID, v.ID) {
		return false
	}
	for _, names := range [][]string{pathAttrs, queryAttrs} {
		for _, n := range names {
			if n != "id" && *u.field(n) != *v.field(n) {
				return false
			}
		}
	}
	return true
}

// ReadPINSource reads a PIN from a pin-source: "file:/path", "file:///path"
// or a plain path. One trailing newline ("\n" or "\r\n") is removed. The
// caller zeroes the result. Errors name the file, never its content.
func ReadPINSource(src string) ([]byte, error) {
	path := src
	switch {
	case strings.HasPrefix(src, "file://"):
		path = strings.TrimPrefix(src, "file://")
	case strings.HasPrefix(src, "file:"):
		path = strings.TrimPrefix(src, "file:")
	case strings.Contains(src, ":") && !strings.HasPrefix(src, "/") && !strings.HasPrefix(src, "."):
		return nil, fmt.Errorf("pin-source %q: only file: sources are supported", truncate(src))
	}
	if path == "" {
		return nil, fmt.Errorf("pin-source %q: empty path", truncate(src))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pin file %s: %w", path, err)
	}
	defer f.Close()
	// A PIN is short; refuse to slurp a big file by mistake.
	buf := make([]byte, 1025)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		clear(buf)
		return nil, fmt.Errorf("pin file %s: %w", path, err)
	}
	if n > 1024 {
		clear(buf)
		return nil, fmt.Errorf("pin file %s: larger than 1024 bytes, not a pin", path)
	}
	pin := buf[:n]
	if bytes.HasSuffix(pin, []byte("\r\n")) {
		pin = pin[:len(pin)-2]
	} else if bytes.HasSuffix(pin, []byte("\n")) {
		pin = pin[:len(pin)-1]
	}
	if len(pin) == 0 {
		clear(buf)
		return nil, fmt.Errorf("pin file %s: empty", path)
	}
	return pin, nil
}
