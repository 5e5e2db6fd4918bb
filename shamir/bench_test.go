package shamir

import (
	"strings"
	"testing"
)

func BenchmarkSplit3of5(b *testing.B) {
	secret := randomSecret(b, 32)
	for b.Loop() {
		if _, err := Split(secret, 3, 5, testMeta); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCombine3of5(b *testing.B) {
	shares := split(b, randomSecret(b, 32), 3, 5, testMeta)
	for b.Loop() {
		if _, err := Combine(shares[1:4]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseText(b *testing.B) {
	text, _ := split(b, randomSecret(b, 32), 3, 5, testMeta)[0].Text()
	for b.Loop() {
		if _, err := ParseText(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseWords(b *testing.B) {
	words, _ := split(b, randomSecret(b, 32), 3, 5, testMeta)[0].Words()
	in := []byte(strings.Join(words, " "))
	for b.Loop() {
		if _, err := ParseWords(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	s := split(b, randomSecret(b, 32), 3, 5, testMeta)[0]
	salt, _ := newSalt()
	c := Commit(s, salt)
	for b.Loop() {
		if err := Check(s, c); err != nil {
			b.Fatal(err)
		}
	}
}
