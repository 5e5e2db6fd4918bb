package main

import (
	"bytes"
	"testing"
)

// TestRow: a table cell from a ledger cannot move the cursor, colour the
// terminal or add a column or a line.
func TestRow(t *testing.T) {
	var b bytes.Buffer
	row(&b, "kek\x1b[1A\x1b[2K", "pay\tments", "two\nlines", "k-\u202e1")
	if got, want := b.String(), "kek\\x1b[1A\\x1b[2K\tpay\\x09ments\ttwo\\x0alines\tk-\\u202e1\n"; got != want {
		t.Fatalf("row wrote %q, want %q", got, want)
	}
}
