// The canonical encoding of records, as the ledger's API offers it; the
// encoder and its single-pass parser are in package ledger/internal/canonical.

package ledger

import "custos/ledger/internal/canonical"

// Canonical returns the canonical JSON encoding of v: object keys sorted by
// their UTF-8 bytes, no insignificant whitespace, no HTML escaping, only
// the escapes JSON requires (\" \\ \b \f \n \r \t, other control characters
// as \u00xx), and integers only (a float, or an integer outside int64, is an
// error). v is anything encoding/json can marshal.
func Canonical(v any) ([]byte, error) { return canonical.Marshal(v) }
