package shamir

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"custos/internal/hint"
)

func TestCommitCheck(t *testing.T) {
	shares := split(t, randomSecret(t, 32), 3, 5, testMeta)
	other := split(t, randomSecret(t, 32), 3, 5, testMeta) // same ids, another split
	cs, err := CommitAll(shares)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range shares {
		if err := Check(s, cs[i]); err != nil {
			t.Fatalf("share %d: %v", i+1, err)
		}
		// Another index's commitment, or the same index of another split.
		for j := range shares {
			if j != i && Check(s, cs[j]) == nil {
				t.Fatalf("share %d accepted against commitment %d", i+1, j+1)
			}
		}
		err := Check(other[i], cs[i])
		if !errors.Is(err, ErrCommitment) || hint.Of(err) == "" {
			t.Fatalf("share of another split: %v", err)
		}
		want := `shamir: check share ` + string(rune('1'+i)) + ` of backup "backup-1": share does not match its commitment`
		if err.Error() != want {
			t.Errorf("message %q, want %q", err, want)
		}
		assertNoValue(t, err.Error(), other[i], s)
	}
	// Same share, fresh salts: unrelated commitments.
	a, _ := CommitAll(shares[:1])
	b, _ := CommitAll(shares[:1])
	if a[0].Salt == b[0].Salt || a[0].Digest == b[0].Digest {
		t.Fatal("two commitments of one share share a salt or digest")
	}
	// The commitment covers every field, not just the value.
	moved := *shares[0]
	moved.Index = 2
	moved.Checksum = moved.Sum()
	if Check(&moved, cs[0]) == nil {
		t.Fatal("a share relabelled to another index matches the commitment")
	}
	// A damaged share is refused by its checksum before the commitment.
	damaged := *shares[0]
	damaged.Value = bytes.Clone(shares[0].Value)
	damaged.Value[0] ^= 1
	if err := Check(&damaged, cs[0]); !errors.Is(err, ErrChecksum) {
		t.Fatalf("damaged: %v", err)
	}
	if err := Check(nil, cs[0]); err == nil {
		t.Fatal("nil share checked")
	}
	// Commit on an invalid share leaves the digest zero; Check never accepts.
	bad := *shares[0]
	bad.Version = 9
	if c := Commit(&bad, cs[0].Salt); c.Digest != ([32]byte{}) {
		t.Fatal("invalid share got a digest")
	}
	if _, err := CommitAll([]*Share{shares[0], &damaged}); err == nil || !strings.Contains(err.Error(), "commit share 2") {
		t.Fatalf("CommitAll with a damaged share: %v", err)
	}
}

func TestCommitmentText(t *testing.T) {
	s := split(t, randomSecret(t, 32), 2, 3, testMeta)[0]
	salt, err := newSalt()
	if err != nil {
		t.Fatal(err)
	}
	c := Commit(s, salt)
	str := c.String()
	if len(str) != len("sha256:")+64+1+64 || !strings.HasPrefix(str, "sha256:") {
		t.Fatalf("String = %q", str)
	}
	assertNoValue(t, str, s)
	back, err := ParseCommitment(str)
	if err != nil || back != c {
		t.Fatalf("ParseCommitment: %v", err)
	}
	// In a JSON record it is a string and comes back equal.
	type record struct {
		Commitments []Commitment `json:"commitments"`
	}
	j, err := json.Marshal(record{[]Commitment{c}})
	if err != nil || !bytes.Contains(j, []byte(`"`+str+`"`)) {
		t.Fatalf("json %s, %v", j, err)
	}
	var r record
	if err := json.Unmarshal(j, &r); err != nil || r.Commitments[0] != c {
		t.Fatalf("json back: %v", err)
	}
	if c.IsZero() || !(Commitment{}).IsZero() {
		t.Fatal("IsZero")
	}
	for _, bad := range []string{
		"", "sha256:", "sha1:" + str[7:], strings.ToUpper(str), str + "0", str[:len(str)-1],
		strings.Replace(str, ":", "", 2), "sha256:" + strings.Repeat("g", 64) + ":" + strings.Repeat("0", 64),
	} {
		if _, err := ParseCommitment(bad); err == nil {
			t.Errorf("ParseCommitment(%q) accepted", bad)
		}
		var c Commitment
		if err := json.Unmarshal([]byte(`"`+bad+`"`), &c); err == nil {
			t.Errorf("json %q accepted", bad)
		}
	}
}
