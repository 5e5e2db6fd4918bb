package main

import (
	"bytes"
	"fmt"
	"testing"
)

// TestSpool: what is written comes back whole and in order, below the
// memory bound and past it (then from the temporary file).
func TestSpool(t *testing.T) {
	for _, n := range []int{0, 1000, spoolMemory/64 + 1000} {
		s := &spool{}
		var want bytes.Buffer
		for i := range n {
			line := fmt.Sprintf("{\"seq\":%d,\"pad\":\"%060d\"}\n", i, i)
			want.WriteString(line)
			if _, err := s.Write([]byte(line)); err != nil {
				t.Fatal(err)
			}
		}
		if (s.f != nil) != (want.Len() > spoolMemory) {
			t.Errorf("%d bytes: spooled to a file: %v", want.Len(), s.f != nil)
		}
		var got bytes.Buffer
		if _, err := s.WriteTo(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%d bytes written, %d read back, or not the same", want.Len(), got.Len())
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
