package hsm

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadPINSource: a PIN file of any content gives the PIN (1 to 1024
// bytes, the content less one trailing "\n" or "\r\n") or an error that
// names the file and never carries its content.
func FuzzReadPINSource(f *testing.F) {
	for _, s := range []string{"1234\n", "1234\r\n", "1234", "", "\n", "\r\n", "12\n34\n", strings.Repeat("9", 1024), strings.Repeat("9", 1025), "pin-secret-7\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "pin")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		pin, err := ReadPINSource("file:" + p)
		want := bytes.TrimSuffix(data, []byte("\n"))
		if bytes.HasSuffix(data, []byte("\r\n")) {
			want = data[:len(data)-2]
		}
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error does not name the file: %v", err)
			}
			if len(want) >= 4 && strings.Contains(err.Error(), string(want)) {
				t.Fatalf("error carries the file's content: %v", err)
			}
			if len(data) <= 1024 && len(want) > 0 {
				t.Fatalf("a PIN of %d bytes refused: %v", len(want), err)
			}
			return
		}
		if !bytes.Equal(pin, want) || len(pin) == 0 || len(data) > 1024 {
			t.Fatalf("PIN %q from a file of %q", pin, data)
		}
	})
}
