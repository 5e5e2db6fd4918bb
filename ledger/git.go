// The commit custos writes for a record: its branch, its message, its
// headers, and the signer that signs it as stock git would. The git
// object layer itself is package ledger/internal/gitobj.

package ledger

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"custos/sign"
)

// branchRef is the ledger's branch.
const branchRef = plumbing.ReferenceName("refs/heads/main")

// gitSigner adapts a sign.Signer to go-git's Signer (Sign(io.Reader)),
// signing commits in namespace "git" as git's gpg.format=ssh does.
type gitSigner struct{ s sign.Signer }

func (g gitSigner) Sign(message io.Reader) ([]byte, error) {
	msg, err := io.ReadAll(message)
	if err != nil {
		return nil, err
	}
	return g.s.Sign(namespaceGit, msg)
}

// commitMessage is the commit message of rec: a readable summary line and
// trailers. It is a function of the record so verify can recompute it.
func commitMessage(rec *Record, digest string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s by %s, ceremony %s", rec.Kind, rec.Actor, rec.Ceremony)
	if id := factString(rec.Facts, "key_id"); id != "" && validID(id) {
		fmt.Fprintf(&b, ", key %s", id)
	}
	fmt.Fprintf(&b, "\n\nCustos-Seq: %d\nCustos-Record: %s\n", rec.Seq, digest)
	for _, a := range rec.Approvals {
		fmt.Fprintf(&b, "Approved-by: %s\n", a.Member)
	}
	return b.String()
}

// commitObject is the unsigned commit of rec.
func commitObject(rec *Record, digest string, email string, tree plumbing.Hash, parent plumbing.Hash) *object.Commit {
	who := object.Signature{Name: rec.Actor, Email: email, When: rec.Time.UTC().In(time.FixedZone("", 0))}
	c := &object.Commit{Author: who, Committer: who, Message: commitMessage(rec, digest), TreeHash: tree}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	return c
}
