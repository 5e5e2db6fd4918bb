package hsm

import (
	"bytes"
	"encoding/asn1"
	"math/big"
	"testing"
)

// FuzzRawToDER holds the r‖s to DER conversion of a token's ECDSA output
// to encoding/asn1's encoding of the same two integers, and refuses an
// odd length or a zero r or s.
func FuzzRawToDER(f *testing.F) {
	f.Add(bytes.Repeat([]byte{0x81}, 64))
	f.Add(append(make([]byte, 63), 1))
	f.Add(append(append(make([]byte, 31), 0x7f), bytes.Repeat([]byte{0xff}, 32)...))
	f.Add(make([]byte, 96))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, sig []byte) {
		der, err := rawToDER(sig)
		if len(sig) == 0 || len(sig)%2 != 0 {
			if err == nil {
				t.Fatalf("length %d accepted", len(sig))
			}
			return
		}
		n := len(sig) / 2
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		if r.Sign() == 0 || s.Sign() == 0 {
			if err == nil {
				t.Fatalf("zero r or s accepted: %x", sig)
			}
			return
		}
		if err != nil {
			t.Fatalf("%x: %v", sig, err)
		}
		want, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(der, want) {
			t.Fatalf("%x: got %x, encoding/asn1 %x", sig, der, want)
		}
	})
}

// BenchmarkRawToDER is the conversion alone (it was 3 µs, 20 allocations
// with encoding/asn1 over big.Ints).
func BenchmarkRawToDER(b *testing.B) {
	sig := bytes.Repeat([]byte{0x81}, 64)
	for i := 0; i < b.N; i++ {
		if _, err := rawToDER(sig); err != nil {
			b.Fatal(err)
		}
	}
}
