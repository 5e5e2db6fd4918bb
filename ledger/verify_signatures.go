// Verify's signature checks: the pool of workers that checks them, the
// walk's check of each commit's signature as it reads the history
// (summarize), and each record's checks of the commit's signer and of
// its approvals.

package ledger

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"custos/ledger/internal/gitobj"
	"custos/sign"
)

// job is a signature check for the workers: fn's error fails record seq
// (commit) with check.
type job struct {
	seq    int64
	commit plumbing.Hash
	check  string
	fn     func() error
}

// submit hands j to the workers.
func (v *verifier) submit(j job) { v.jobs <- j }

func (v *verifier) worker() {
	defer v.wg.Done()
	for j := range v.jobs {
		if s := v.failSeq.Load(); s != 0 && j.seq > s {
			continue
		}
		if err := j.fn(); err != nil {
			v.failf(&Failure{Seq: j.seq, Commit: j.commit.String(), Check: j.check, Reason: err.Error()})
		}
	}
}

// commitSum is what the walk keeps of a commit it found well formed
// (signed, no merge, no unknown header) and whose signature it checked
// by the key the signature names. The checks then need only compare:
// the key with the actor's, the payload with the one custos writes for
// the record, the tree with the replay's.
type commitSum struct {
	clean   bool
	root    bool          // no parent
	tree    plumbing.Hash // the commit's tree
	payload [32]byte      // SHA-256 of the signed payload
	key     ssh.PublicKey // the signature's key, shared by all its commits
}

// summarize keeps commit id's summary and has the workers check its
// signature; a commit it cannot summarize is read again and checked in
// full in its turn.
func (v *verifier) summarize(id plumbing.Hash, c *gitobj.Commit, signed *sync.WaitGroup) commitSum {
	if len(c.Parents) > 1 || len(c.Extra) > 0 || len(c.Sig) == 0 {
		return commitSum{}
	}
	parsed, err := sign.Parse(c.Sig)
	if err != nil || parsed.PublicKey == nil {
		return commitSum{}
	}
	blob := string(parsed.PublicKey.Marshal())
	key, ok := v.walkKeys[blob]
	if !ok {
		key = parsed.PublicKey
		v.walkKeys[blob] = key
	}
	signed.Add(1)
	payload := c.Payload
	// seq 0: a job the workers never skip
	v.submit(job{fn: func() error {
		defer signed.Done()
		if err := sign.VerifyParsed(key, namespaceGit, payload, parsed); err != nil {
			v.mu.Lock()
			v.badSig[id] = err
			v.mu.Unlock()
		}
		return nil
	}})
	return commitSum{clean: true, root: len(c.Parents) == 0, tree: c.Tree, payload: sha256.Sum256(c.Payload), key: key}
}

// checkSignatures checks that the commit of record seq (id) is signed by
// the record's actor (actorKey) and has the workers verify its signature
// and the record's approvals over signing, the digest approvals sign.
// With sum (the fast path), the walk already checked the signature by
// the key it names; c is the commit otherwise.
func (v *verifier) checkSignatures(seq int64, id plumbing.Hash, rec *Record, actorKey ssh.PublicKey, approvals []approvalCheck, signing string, c *gitobj.Commit, sum *commitSum) error {
	var signer ssh.PublicKey
	var parsed *sshsig.Signature
	if sum != nil {
		signer = sum.key
	} else {
		if len(c.Sig) == 0 {
			return fmt.Errorf("commit is not signed")
		}
		var err error
		if parsed, err = sign.Parse(c.Sig); err != nil {
			return fmt.Errorf("commit signature: %w", err)
		}
		signer = parsed.PublicKey
	}
	if k := signer; !sign.SameKey(k, actorKey) {
		who := "someone who is not a member"
		for _, m := range v.state.Roster.Members {
			if m.Key == sign.AuthorizedKey(k) {
				who = "member " + m.Name
			}
		}
		return fmt.Errorf("commit is signed by %s (%s), but the record's actor and committer is %s: the signature's principal must be the committer", who, sign.Fingerprint(k), rec.Actor)
	}
	if sum != nil {
		if err := v.badSig[id]; err != nil {
			return fmt.Errorf("commit signature by %s does not verify: %w", rec.Actor, err)
		}
	} else {
		payload := c.Payload
		v.submit(job{seq: seq, commit: id, check: "signature", fn: func() error {
			if err := sign.VerifyParsed(actorKey, namespaceGit, payload, parsed); err != nil {
				return fmt.Errorf("commit signature by %s does not verify: %w", rec.Actor, err)
			}
			return nil
		}})
	}
	for _, a := range approvals {
		v.submit(job{seq: seq, commit: id, check: a.check(), fn: func() error {
			if err := a.verify(signing); err != nil {
				return fmt.Errorf("%s does not verify over this %s (made for another or altered): %w", a.what(), a.over(), err)
			}
			return nil
		}})
	}
	return nil
}
