//go:build !unix

package ledger

import (
	"bytes"
	"os"
)

// readLoose reads the file at path into buf[:0]; false when it cannot be
// opened.
func readLoose(path string, buf []byte) ([]byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, false, nil
	}
	defer f.Close()
	b := bytes.NewBuffer(buf[:0])
	_, err = b.ReadFrom(f)
	return b.Bytes(), true, err
}
