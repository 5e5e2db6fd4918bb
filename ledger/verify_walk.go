// Verify's walk of the history: each commit read once, its signature
// handed to the workers, and each commit and its record checked in turn,
// always in the same order: history, tree (the fast path by the tree's
// hash, the exact path by reading it), record, chain and policy (the
// state machine's), the commit itself, signatures, lifecycle, derived
// files.

package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"custos/ledger/internal/gitobj"
)

// walk streams the first-parent history oldest first. It returns whether
// the trusted head was seen.
func (v *verifier) walk(head plumbing.Hash, res *Result) bool {
	// Read the history newest first. Each commit's signature is checked
	// by the workers as it is read, and a summary is kept (commitSum) so
	// that the checks, which go oldest first, need not read it again.
	var ids []plumbing.Hash
	var sums summaries
	var signed sync.WaitGroup
	var headTree plumbing.Hash
	for h := head; ; {
		c, err := v.obj.Commit(h)
		if err != nil {
			v.failAt(0, h.String(), "history", "commit %s: %v", h, err)
			return false
		}
		if h == head {
			headTree = c.Tree
		}
		ids = append(ids, h)
		sums.add(v.summarize(h, c, &signed))
		if len(ids) > 999999 {
			v.failAt(0, h.String(), "history", "more than 999999 commits")
			return false
		}
		if len(c.Parents) == 0 {
			break
		}
		h = c.Parents[0]
	}
	v.history = ids
	// The head's records/ tree names each commit's new record; every
	// commit's tree is still checked by its hash.
	if root, err := gitobj.ReadTree(v.obj, headTree); err == nil {
		if top, err := subdir(v.obj, root, dirRecords); err == nil {
			seq := int64(0)
			for e, err := range walkRecords(v.obj, top) {
				if seq++; err != nil || e.Name != recordFile(seq) || e.Mode != filemode.Regular {
					break
				}
				v.hint = append(v.hint, e.Hash)
			}
		}
	}
	trusted, genesis := v.opts.TrustedHead, v.opts.Genesis // normalized by verify
	// A second reader fetches and decodes the records of the fast path
	// (and any commit the walk could not summarize) ahead of the checks,
	// on the other core; the checks read nothing themselves until the
	// fast path ends, so the two never read at the same time.
	signed.Wait() // the oldest commits' checks are the last to finish
	pre := make(chan *fetched, 256)
	stop, stopped := make(chan struct{}), make(chan struct{})
	defer func() { // the reader is done before the storage closes
		close(stop)
		<-stopped
	}()
	go func() {
		defer close(stopped)
		defer close(pre)
		o := v.obj.Fork()
		for i := len(ids) - 1; i >= 0; i-- {
			seq := int64(len(ids) - i)
			if !v.fast(seq) {
				return
			}
			f := &fetched{}
			if !sums.at(i).clean {
				f.c, f.cErr = o.Commit(ids[i])
			}
			if f.cErr == nil {
				f.rec, f.canon, f.signing, f.recErr = readStored(o, v.hint[seq-1])
			}
			select {
			case pre <- f:
			case <-stop:
				return
			}
		}
	}()
	found := false
	for i := len(ids) - 1; i >= 0; i-- {
		seq := int64(len(ids) - i)
		if s := v.failSeq.Load(); s != 0 && seq > s {
			break
		}
		var parent plumbing.Hash
		if i+1 < len(ids) {
			parent = ids[i+1]
		}
		var f *fetched
		var sum *commitSum
		if v.fast(seq) {
			if f = <-pre; sums.at(i).clean {
				sum = sums.at(i)
			}
		}
		digest, ok := v.commit(seq, ids[i], parent, f, sum)
		if !ok {
			break
		}
		sums.done(i)
		if trusted != "" && (trusted == ids[i].String() || trusted == digest) {
			found = true
		}
		if seq == 1 && genesis != "" && digest != genesis {
			v.failAt(1, ids[i].String(), "origin", "genesis digest is %s, the minutes say %s: this is not the ledger the minutes describe", digest, genesis)
			break
		}
	}
	return found
}

// summaries are the walk's commit summaries, newest first, in chunks, so
// that the checks, which go oldest first, free them as they go: the
// summaries (about 80 bytes a commit) and the replayed state (which grows
// as they shrink) are not both whole at once.
type summaries struct{ chunks [][]commitSum }

const sumChunk = 4096

func (s *summaries) add(c commitSum) {
	if n := len(s.chunks); n == 0 || len(s.chunks[n-1]) == sumChunk {
		s.chunks = append(s.chunks, make([]commitSum, 0, sumChunk))
	}
	s.chunks[len(s.chunks)-1] = append(s.chunks[len(s.chunks)-1], c)
}

func (s *summaries) at(i int) *commitSum { return &s.chunks[i/sumChunk][i%sumChunk] }

// done frees the chunk of summary i once i, the last of it to be checked
// (the checks go from the end of the chunk to its start), is checked.
func (s *summaries) done(i int) {
	if i%sumChunk == 0 {
		s.chunks[i/sumChunk] = nil
	}
}

// commit checks one commit and its record; it returns the record digest
// and false when verification cannot go on. With sum (the fast path), the
// commit itself is not read again: the walk checked its signature and
// kept its tree and a hash of its payload.
func (v *verifier) commit(seq int64, id, parent plumbing.Hash, f *fetched, sum *commitSum) (string, bool) {
	fail := func(check, format string, args ...any) (string, bool) {
		v.failAt(seq, id.String(), check, format, args...)
		return "", false
	}
	if f == nil {
		f = &fetched{}
		f.c, f.cErr = v.obj.Commit(id)
	}
	var tree plumbing.Hash
	if sum != nil {
		tree = sum.tree
		if parent.IsZero() && !sum.root {
			return fail("history", "first commit has a parent")
		}
	} else {
		if f.cErr != nil {
			return fail("history", "%v", f.cErr)
		}
		c := f.c
		switch {
		case len(c.Parents) > 1:
			return fail("history", "merge commit with %d parents: the history must be linear", len(c.Parents))
		case parent.IsZero() && len(c.Parents) != 0:
			return fail("history", "first commit has a parent")
		case len(c.Extra) > 0:
			return fail("commit", "unexpected commit header %q", c.Extra[0])
		}
		tree = c.Tree
	}
	path := recordFile(seq)
	exact := !v.fast(seq)
	var entries map[string]gitobj.TreeEntry
	var recHash plumbing.Hash
	if exact {
		var err error
		if entries, recHash, err = v.checkTreeExact(seq, tree); err != nil {
			return fail("tree", "%v", err)
		}
		f.rec, f.canon, f.signing, f.recErr = readStored(v.obj, recHash)
	} else {
		recHash = v.hint[seq-1]
	}
	if f.recErr != nil {
		return fail("record", "%s: %v", path, f.recErr)
	}
	rec, canon := f.rec, f.canon
	digest := digestOf(canon)
	signing := f.signing
	if rec.Seq != seq {
		return fail("chain", "%s holds seq %d, but it is commit %d of the history (records deleted, repeated or reordered)", path, rec.Seq, seq)
	}
	v.state.parentCommit = ""
	if !parent.IsZero() {
		v.state.parentCommit = parent.String()
	}
	actorKey, approvals, err := v.state.authorize(rec)
	if err != nil {
		check := "policy"
		if errors.As(err, new(chainError)) {
			check = "chain"
		}
		return fail(check, "%v", err)
	}
	// The commit must be exactly the one custos writes for this record:
	// author = committer = actor at the record's time, the message with
	// its trailers, this tree and parent.
	member := v.state.Roster.Member(rec.Actor)
	if rec.Seq == 1 {
		r, _, _ := parseRosterFacts(rec.Facts)
		member = r.Member(rec.Actor)
	}
	want, err := gitobj.Payload(commitObject(rec, digest, member.commitEmail(), tree, parent))
	if err != nil {
		return fail("commit", "%v", err)
	}
	if sum != nil && sha256.Sum256(want) != sum.payload {
		// Verify re-reads from here and names the difference.
		return fail("commit", "commit differs from the one custos writes for the record")
	}
	if sum == nil && !bytes.Equal(want, f.c.Payload) {
		return fail("commit", "%s", diffCommit(want, f.c.Payload))
	}
	if err := v.checkSignatures(seq, id, rec, actorKey, approvals, signing, f.c, sum); err != nil {
		return fail("signature", "%v", err)
	}
	if err := v.state.apply(rec, digest); err != nil {
		return fail("lifecycle", "%v", err)
	}
	if v.state.touchedCompact {
		v.compactSeq = seq // verify replays again, every key whole
		return "", false
	}
	if err := v.replayDerived(); err != nil {
		return fail("derived", "%v", err)
	}
	if exact {
		if err := v.checkDerived(entries); err != nil {
			return fail("derived", "%v", err)
		}
	} else if v.expectTree(seq, recHash) != tree {
		return fail("tree", "the commit's tree is not the previous records plus %s and the files derived from them", path)
	}
	if v.opts.Each != nil && seq >= v.opts.eachFrom {
		v.opts.Each(rec, digest)
	}
	if v.opts.EachCommit != nil && seq >= v.opts.eachFrom {
		v.opts.EachCommit(rec, digest, id.String())
	}
	return digest, true
}

// fast reports whether commit seq is checked by its tree's hash, with its
// record found through the head's records/ tree, rather than by reading
// its tree.
func (v *verifier) fast(seq int64) bool {
	return (v.opts.exactFrom == 0 || seq < v.opts.exactFrom) && seq <= int64(len(v.hint))
}

// fetched is a commit and its record, read and decoded.
type fetched struct {
	c       *gitobj.Commit
	cErr    error
	rec     *Record
	canon   []byte
	signing string // the digest approvals sign
	recErr  error
}

// diffCommit says how a commit differs from the one custos writes.
func diffCommit(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) && i < len(gl); i++ {
		if wl[i] != gl[i] {
			field, _, _ := strings.Cut(wl[i], " ")
			switch field {
			case "author", "committer":
				return fmt.Sprintf("%s is %q, want %q (author = committer = the record's actor at the record's time)", field, trimLine(gl[i]), trimLine(wl[i]))
			case "parent", "tree":
				return fmt.Sprintf("%s header differs", field)
			}
			return fmt.Sprintf("commit message or headers differ from the record at line %d: %q, want %q", i+1, trimLine(gl[i]), trimLine(wl[i]))
		}
	}
	return "commit differs from the record (length)"
}
