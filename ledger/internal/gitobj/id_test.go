package gitobj

import (
	"crypto/sha1"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestCollisionDetected: objects are hashed with SHA-1 collision
// detection. The first 320 bytes of shattered-1.pdf (the SHAttered
// attack, shattered.io; rebuilt from the message words in the test data
// of github.com/pjbgf/sha1cd) collide with those of shattered-2.pdf.
func TestCollisionDetected(t *testing.T) {
	prefix, err := os.ReadFile(filepath.Join("testdata", "shattered-1-prefix.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if sha1.Sum(prefix) != [20]byte(plumbing.NewHash("f92d74e3874587aaf443d1db961d4e26dde13e9c")) {
		t.Fatal("not the SHAttered prefix")
	}
	sum, collided := sha1Checked(prefix)
	if !collided {
		t.Fatalf("SHAttered prefix: %s, no collision detected", sum)
	}
	if _, collided := sha1Checked(prefix[:len(prefix)-64]); collided {
		t.Fatal("a collision found in the shared prefix")
	}
	// as an object's content, wherever it lies
	content := append([]byte("x"), prefix...)
	id, _ := objectID(plumbing.BlobObject, content)
	if err := checkID(id, plumbing.BlobObject, content); err != nil {
		t.Fatalf("an honest object refused: %v", err)
	}
	// the error verify gives: git's own headers would move the crafted
	// blocks, so no stored object can carry this vector
	err = idError(sum, sum, collided)
	if err == nil || !strings.Contains(err.Error(), "SHA-1 collision") || !strings.Contains(err.Error(), sum.String()) {
		t.Fatalf("collision: %v", err)
	}
}
