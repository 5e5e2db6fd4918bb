package gitobj

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseCommit: any bytes give a commit or an error, never a panic;
// an unsigned commit's payload is the whole commit.
func FuzzParseCommit(f *testing.F) {
	dir := history(f, 2)
	f.Add([]byte(gitCmd(f, dir, "cat-file", "commit", "HEAD")))
	f.Add([]byte("tree " + strings.Repeat("0", 40) + "\nauthor a <a> 0 +0000\ncommitter a <a> 0 +0000\ngpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n -----END SSH SIGNATURE-----\n\nrecord 1\n"))
	f.Add([]byte("tree " + strings.Repeat("0", 40) + "\nparent x\n\nmsg"))
	f.Add([]byte("tree " + strings.Repeat("0", 40) + "\ngpgsig a\n b\n c\nencoding x\n\nm"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommit(b)
		if err != nil {
			return
		}
		if len(c.Sig) == 0 && !bytes.Contains(b, []byte("\ngpgsig")) && !bytes.HasPrefix(b, []byte("gpgsig")) && !bytes.Equal(c.Payload, b) {
			t.Fatalf("unsigned commit %q has payload %q", b, c.Payload)
		}
	})
}
