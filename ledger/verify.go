package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"custos/sign"
)

// Options are the trust roots an auditor brings from outside the ledger.
type Options struct {
	// Genesis is the genesis digest from the signed minutes ("sha256:<hex>"
	// or bare hex). Without it only consistency is checked, not origin.
	Genesis string
	// TrustedHead is a head known earlier: a commit id (40 hex, in full)
	// or a record digest ("sha256:<hex>" or bare hex). The history must
	// still contain it. A value of neither form fails verification as an
	// argument (check "trusted-head", seq 0), never as a rollback.
	TrustedHead string
	// Workers verifying signatures; default: the number of CPUs.
	Workers int
	// Each, when set, is handed every record and its digest as the
	// replay reaches it, oldest first, so that a reader of every record
	// (the report) reads the ledger once. It may see a record whose
	// signatures are still being checked, and after a failure it may see
	// records again: use what it saw only when the Result is OK.
	Each func(rec *Record, digest string)
	// Now is the verifier's clock (default: time.Now): a record dated
	// later than Now plus ClockMargin fails.
	Now time.Time

	exactFrom int64 // from this seq on, read every commit's tree
}

// Failure names the first record that fails, the check and why.
type Failure struct {
	Seq    int64  `json:"seq"`
	Commit string `json:"commit"`
	Check  string `json:"check"`
	Reason string `json:"reason"`
}

func (f *Failure) String() string {
	where := "ledger"
	if f.Seq > 0 {
		where = fmt.Sprintf("record %d", f.Seq)
	}
	if f.Commit != "" {
		where += fmt.Sprintf(" (commit %.12s)", f.Commit)
	}
	return fmt.Sprintf("%s: %s: %s", where, f.Check, f.Reason)
}

// IntentInfo describes an open intent at the head: not a failure, resume
// settles it.
type IntentInfo struct {
	Seq      int64  `json:"seq"`
	Kind     string `json:"kind"`
	Ceremony string `json:"ceremony"`
	KeyID    string `json:"key_id,omitempty"`
}

// Result is the outcome of Verify.
type Result struct {
	OK                 bool        `json:"ok"`
	Ledger             string      `json:"ledger,omitempty"`
	Records            int64       `json:"records"`
	Head               string      `json:"head,omitempty"`
	HeadCommit         string      `json:"head_commit,omitempty"`
	Genesis            string      `json:"genesis,omitempty"`
	OriginChecked      bool        `json:"origin_checked"`
	TrustedHeadChecked bool        `json:"trusted_head_checked"`
	Note               string      `json:"note,omitempty"`
	OpenIntent         *IntentInfo `json:"open_intent,omitempty"`
	Failure            *Failure    `json:"failure,omitempty"`
	// Checked is the history verify checked: "refs/heads/main at <commit>",
	// the one git log and a clone show (a copy where git would show
	// another is refused).
	Checked string `json:"checked,omitempty"`
	// Findings are what the copy holds beside that history and git could
	// show (another branch, notes, a HEAD not on main at the same commit,
	// an alternate object store): reported, not failures.
	Findings []string `json:"findings,omitempty"`
}

// Err is nil when the ledger verified, else an error naming the failure.
func (r *Result) Err() error {
	if r.Failure == nil {
		return nil
	}
	if r.Checked != "" {
		return fmt.Errorf("ledger does not verify: %s (checked %s)", r.Failure, r.Checked)
	}
	return fmt.Errorf("ledger does not verify: %s", r.Failure)
}

// NoteConsistencyOnly is the note of a Result made without Options.Genesis.
const NoteConsistencyOnly = "consistency only, origin not checked: give --genesis with the digest from the signed minutes"

// Verify checks the ledger in dir: every commit and record, oldest first,
// with signatures checked by a pool of workers (docs/performance.md says
// how). The Result names the first failing record.
func Verify(dir string, opts Options) Result {
	res := verify(dir, opts)
	if f := res.Failure; f != nil && f.Seq > 0 {
		// The fast path reads each commit's new record through the head's
		// records/ tree and checks each commit's tree by its hash, without
		// reading it. Everything before the failure is proven; from the
		// failure on, re-check reading every tree so that a tampered head
		// cannot shift the blame and the reason names what differs.
		opts.exactFrom = f.Seq
		res = verify(dir, opts)
	}
	return res
}

type verifier struct {
	obj   *objectReader // for the sequential stage only
	opts  Options
	state *State

	mu      sync.Mutex
	fail    *Failure
	failSeq atomic.Int64
	jobs    chan job
	wg      sync.WaitGroup
	hint    []plumbing.Hash // blob id of each record at the head, by seq-1
	// records/ after the last commit checked: its entries and those of the
	// two folders on the last record's path.
	top, mid, leaf encTree
	d1, d2         string
	derived        map[string]plumbing.Hash // expected blob ids of derived files
	keys           memTree                  // keys/ as the replay writes it
	keysTree       plumbing.Hash
	badSig         map[plumbing.Hash]error  // commits whose signature the walk refused
	walkKeys       map[string]ssh.PublicKey // signature keys the walk met, by blob
	history        []plumbing.Hash          // the commits of the history, newest first
}

// inHistory reports whether commit h is one of the history checked.
func (v *verifier) inHistory(h plumbing.Hash) bool {
	return !h.IsZero() && slices.Contains(v.history, h)
}

type job struct {
	seq    int64
	commit plumbing.Hash
	check  string
	fn     func() error
}

func (v *verifier) failAt(seq int64, commit, check, format string, args ...any) {
	v.failf(&Failure{Seq: seq, Commit: commit, Check: check, Reason: fmt.Sprintf(format, args...)})
}

func (v *verifier) failf(f *Failure) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fail == nil || f.Seq < v.fail.Seq {
		v.fail = f
		v.failSeq.Store(f.Seq)
	}
}

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

func verify(dir string, opts Options) (res Result) {
	if opts.Genesis == "" {
		res.Note = NoteConsistencyOnly
	} else if opts.Genesis = NormalizeDigest(opts.Genesis); opts.Genesis == "" {
		res.Failure = &Failure{Check: "genesis", Reason: "the genesis digest given is not a record digest (sha256: and 64 hex)"}
		return res
	}
	if opts.TrustedHead != "" {
		h, err := NormalizeHead(opts.TrustedHead)
		if err != nil {
			res.Failure = &Failure{Check: "trusted-head", Reason: err.Error()}
			return res
		}
		opts.TrustedHead = h
	}
	repo, err := openGitRepo(dir)
	if err != nil {
		var r *refusal
		if !errors.As(err, &r) {
			r = &refusal{"repository", err.Error()}
		}
		res.Failure = &Failure{Check: r.check, Reason: r.reason}
		return res
	}
	head := repo.main
	res.Checked = repo.checked()
	// Objects are read by verify's own readers, loose and packed, from the
	// repository's object stores (its alternates included), each checked
	// against its id.
	obj := repo.objectReader()
	defer obj.close()
	v := &verifier{obj: obj, opts: opts, state: newState(), jobs: make(chan job, 512),
		derived: map[string]plumbing.Hash{}, badSig: map[plumbing.Hash]error{}, walkKeys: map[string]ssh.PublicKey{}}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	v.state.notAfter = now.Add(ClockMargin)
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	v.wg.Add(workers)
	for range workers {
		go v.worker()
	}
	found := v.walk(head, &res)
	close(v.jobs)
	v.wg.Wait()
	res.Records = v.state.Seq
	res.Ledger, res.Genesis, res.Head = v.state.LedgerID, v.state.Genesis, v.state.Head
	res.HeadCommit = head.String()
	res.Findings = append(repo.findings, repo.otherRefs(obj, v.inHistory)...)
	if v.fail == nil && opts.TrustedHead != "" && !found {
		v.failAt(v.state.Seq, head.String(), "trusted-head",
			"the history of %d records does not contain the trusted head %s: the ledger was rolled back, truncated or rewritten", v.state.Seq, opts.TrustedHead)
	}
	res.Failure = v.fail
	if v.fail == nil {
		res.OK = true
		res.OriginChecked = opts.Genesis != ""
		res.TrustedHeadChecked = opts.TrustedHead != ""
		if oi := v.state.OpenIntent; oi != nil {
			res.OpenIntent = &IntentInfo{Seq: oi.Seq, Kind: oi.Kind, Ceremony: oi.Ceremony, KeyID: factString(oi.Facts, "key_id")}
		}
	}
	return res
}

// walk streams the first-parent history oldest first. It returns whether
// the trusted head was seen.
func (v *verifier) walk(head plumbing.Hash, res *Result) bool {
	// Read the history newest first. Each commit's signature is checked
	// by the workers as it is read, and a summary is kept (commitSum) so
	// that the checks, which go oldest first, need not read it again.
	var ids []plumbing.Hash
	var sums []commitSum
	var signed sync.WaitGroup
	var headTree plumbing.Hash
	for h := head; ; {
		c, err := v.obj.commit(h)
		if err != nil {
			v.failAt(0, h.String(), "history", "commit %s: %v", h, err)
			return false
		}
		if h == head {
			headTree = c.tree
		}
		ids = append(ids, h)
		sums = append(sums, v.summarize(h, c, &signed))
		if len(ids) > 999999 {
			v.failAt(0, h.String(), "history", "more than 999999 commits")
			return false
		}
		if len(c.parents) == 0 {
			break
		}
		h = c.parents[0]
	}
	v.history = ids
	// The head's records/ tree names each commit's new record; every
	// commit's tree is still checked by its hash.
	if root, err := readTree(v.obj, headTree); err == nil {
		if top, err := subdir(v.obj, root, dirRecords); err == nil {
			seq := int64(0)
			for e, err := range walkRecords(v.obj, top) {
				if seq++; err != nil || e.name != recordFile(seq) || e.mode != filemode.Regular {
					break
				}
				v.hint = append(v.hint, e.hash)
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
		o := v.obj.fork()
		for i := len(ids) - 1; i >= 0; i-- {
			seq := int64(len(ids) - i)
			if !v.fast(seq) {
				return
			}
			f := &fetched{}
			if !sums[i].clean {
				f.c, f.cErr = o.commit(ids[i])
			}
			if f.cErr == nil {
				f.rec, f.canon, f.signing, f.recErr = o.record(v.hint[seq-1])
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
			if f = <-pre; sums[i].clean {
				sum = &sums[i]
			}
		}
		digest, ok := v.commit(seq, ids[i], parent, f, sum)
		if !ok {
			break
		}
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
		f.c, f.cErr = v.obj.commit(id)
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
		case len(c.parents) > 1:
			return fail("history", "merge commit with %d parents: the history must be linear", len(c.parents))
		case parent.IsZero() && len(c.parents) != 0:
			return fail("history", "first commit has a parent")
		case len(c.extra) > 0:
			return fail("commit", "unexpected commit header %q", c.extra[0])
		}
		tree = c.tree
	}
	path := recordFile(seq)
	exact := !v.fast(seq)
	var entries map[string]treeEntry
	var recHash plumbing.Hash
	if exact {
		tb, err := v.obj.read(tree, plumbing.TreeObject)
		if err != nil {
			return fail("tree", "%v", err)
		}
		root, err := parseTreeExact(tb)
		if err != nil {
			return fail("tree", "root tree: %v", err)
		}
		entries = map[string]treeEntry{}
		for _, e := range root {
			switch e.name {
			case fileLedgerMD, fileSigners, fileRoster:
				if e.mode != filemode.Regular {
					return fail("tree", "%s is not a regular file", e.name)
				}
			case dirKeys, dirRecords:
				if e.mode != filemode.Dir {
					return fail("tree", "%s is not a directory", e.name)
				}
			default:
				return fail("tree", "unknown file %q in the ledger (only records/, keys/, roster.json, allowed_signers and LEDGER.md belong)", e.name)
			}
			entries[e.name] = e
		}
		recDir, ok := entries[dirRecords]
		if !ok {
			return fail("tree", "no records/ directory")
		}
		if recHash, err = v.checkRecordsExact(seq, recDir.hash); err != nil {
			return fail("tree", "%v", err)
		}
		f.rec, f.canon, f.signing, f.recErr = v.obj.record(recHash)
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
	want, err := payloadOf(commitObject(rec, digest, member.CommitEmail(), tree, parent))
	if err != nil {
		return fail("commit", "%v", err)
	}
	var signer ssh.PublicKey
	var parsed *sshsig.Signature
	if sum != nil {
		if sha256.Sum256(want) != sum.payload {
			// Verify re-reads from here and names the difference.
			return fail("commit", "commit differs from the one custos writes for the record")
		}
		signer = sum.key
	} else {
		c := f.c
		if !bytes.Equal(want, c.payload) {
			return fail("commit", "%s", diffCommit(want, c.payload))
		}
		if len(c.sig) == 0 {
			return fail("signature", "commit is not signed")
		}
		if parsed, err = sign.Parse(c.sig); err != nil {
			return fail("signature", "commit signature: %v", err)
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
		return fail("signature", "commit is signed by %s (%s), but the record's actor and committer is %s: the signature's principal must be the committer", who, sign.Fingerprint(k), rec.Actor)
	}
	if sum != nil {
		if err := v.badSig[id]; err != nil {
			return fail("signature", "commit signature by %s does not verify: %v", rec.Actor, err)
		}
	} else {
		payload := f.c.payload
		v.submit(job{seq: seq, commit: id, check: "signature", fn: func() error {
			if err := sign.VerifyParsed(actorKey, NamespaceGit, payload, parsed); err != nil {
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
	if err := v.state.apply(rec, digest); err != nil {
		return fail("lifecycle", "%v", err)
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
	if v.opts.Each != nil {
		v.opts.Each(rec, digest)
	}
	return digest, true
}

// fast reports whether commit seq is checked by its tree's hash, with its
// record found through the head's records/ tree, rather than by reading
// its tree.
func (v *verifier) fast(seq int64) bool {
	return (v.opts.exactFrom == 0 || seq < v.opts.exactFrom) && seq <= int64(len(v.hint))
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
func (v *verifier) summarize(id plumbing.Hash, c *rawCommit, signed *sync.WaitGroup) commitSum {
	if len(c.parents) > 1 || len(c.extra) > 0 || len(c.sig) == 0 {
		return commitSum{}
	}
	parsed, err := sign.Parse(c.sig)
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
	payload := c.payload
	// seq 0: a job the workers never skip
	v.submit(job{fn: func() error {
		defer signed.Done()
		if err := sign.VerifyParsed(key, NamespaceGit, payload, parsed); err != nil {
			v.mu.Lock()
			v.badSig[id] = err
			v.mu.Unlock()
		}
		return nil
	}})
	return commitSum{clean: true, root: len(c.parents) == 0, tree: c.tree, payload: sha256.Sum256(c.payload), key: key}
}

// fetched is a commit and its record, read and decoded.
type fetched struct {
	c       *rawCommit
	cErr    error
	rec     *Record
	canon   []byte
	signing string // the digest approvals sign
	recErr  error
}

// before returns the entries folders d1 and d1/d2 of records/ held after
// the last commit checked: none for a folder that record starts.
func (v *verifier) before(d1, d2 string) (mid, leaf []treeEntry) {
	switch {
	case d1 != v.d1:
		return nil, nil
	case d2 != v.d2:
		return v.mid.es, nil
	}
	return v.mid.es, v.leaf.es
}

// expectTree adds record seq (blob) to records/ as the last commit left
// it and returns the id of the tree the commit must have: those records
// and the derived files of the replay.
func (v *verifier) expectTree(seq int64, blob plumbing.Hash) plumbing.Hash {
	d1, d2, name := recordPath(seq)
	if d1 != v.d1 {
		v.mid.reset(nil)
	}
	if d1 != v.d1 || d2 != v.d2 {
		v.leaf.reset(nil)
	}
	v.d1, v.d2 = d1, d2
	v.leaf.set(treeEntry{name: name, mode: filemode.Regular, hash: blob})
	v.mid.set(treeEntry{name: d2, mode: filemode.Dir, hash: v.leaf.id()})
	v.top.set(treeEntry{name: d1, mode: filemode.Dir, hash: v.mid.id()})
	root := []treeEntry{
		{name: dirRecords, mode: filemode.Dir, hash: v.top.id()},
		{name: fileLedgerMD, mode: filemode.Regular, hash: v.derived[fileLedgerMD]},
		{name: fileSigners, mode: filemode.Regular, hash: v.derived[fileSigners]},
		{name: fileRoster, mode: filemode.Regular, hash: v.derived[fileRoster]},
	}
	if !v.keysTree.IsZero() {
		root = append(root, treeEntry{name: dirKeys, mode: filemode.Dir, hash: v.keysTree})
	}
	return hashObject(plumbing.TreeObject, encodeTree(root))
}

// checkRecordsExact reads records/ (tree top) of commit seq and checks
// that it is records/ of the previous commit plus record seq, naming what
// differs; it returns the new record's blob id.
func (v *verifier) checkRecordsExact(seq int64, top plumbing.Hash) (plumbing.Hash, error) {
	d1, d2, name := recordPath(seq)
	prevMid, prevLeaf := v.before(d1, d2)
	want := recordFile(seq)
	var levels [3][]treeEntry
	dir, h := dirRecords+"/", top
	for i, prev := range [][]treeEntry{v.top.es, prevMid, prevLeaf} {
		b, err := v.obj.read(h, plumbing.TreeObject)
		if err != nil {
			return h, fmt.Errorf("%s: %w", dir, err)
		}
		cur, err := parseTreeExact(b)
		if err != nil {
			return h, fmt.Errorf("%s: %w", dir, err)
		}
		open := []string{d1, d2, ""}[i]
		added, err := v.keeps(dir, prev, cur, open)
		if err != nil {
			return h, err
		}
		levels[i] = cur
		if i == 2 { // the record's folder: exactly one new file
			switch {
			case len(added) == 0:
				return h, fmt.Errorf("commit adds no record (one record per commit)")
			case len(added) > 1:
				return h, fmt.Errorf("commit adds %d files to %s (one record per commit)", len(added), dir)
			case added[0].name != name || added[0].mode != filemode.Regular:
				return h, fmt.Errorf("commit adds %s%s, want %s (records deleted, repeated or reordered)", dir, added[0].name, want)
			}
			h = added[0].hash
			continue
		}
		for _, a := range added {
			if a.name != open {
				return h, fmt.Errorf("commit adds %s%s, want %s (one record per commit; records deleted, repeated or reordered)", dir, a.name, want)
			}
		}
		next, ok := findEntry(cur, open)
		if !ok || next.mode != filemode.Dir {
			return h, fmt.Errorf("commit does not add %s (records deleted, repeated or reordered)", want)
		}
		dir, h = dir+open+"/", next.hash
	}
	v.top.reset(levels[0])
	v.mid.reset(levels[1])
	v.leaf.reset(levels[2])
	v.d1, v.d2 = d1, d2
	return h, nil
}

// keeps checks that tree cur (folder dir) holds every entry of prev
// unchanged, except that folder open may change, and returns the entries
// cur adds. A changed folder is searched for the record that changed.
func (v *verifier) keeps(dir string, prev, cur []treeEntry, open string) ([]treeEntry, error) {
	rest := map[string]treeEntry{}
	for _, e := range cur {
		rest[e.name] = e
	}
	for _, p := range prev {
		c, ok := rest[p.name]
		delete(rest, p.name)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s%s was deleted", dir, treeKey(p))
		case c == p || (p.name == open && c.mode == p.mode):
		case c.mode == filemode.Dir && p.mode == filemode.Dir:
			ps, err1 := readTree(v.obj, p.hash)
			cs, err2 := readTree(v.obj, c.hash)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("%s%s/: %w", dir, p.name, err)
			}
			added, err := v.keeps(dir+p.name+"/", ps, cs, "")
			if err == nil && len(added) > 0 {
				err = fmt.Errorf("%s%s was added to a folder of earlier records", dir+p.name+"/", treeKey(added[0]))
			}
			if err == nil {
				err = fmt.Errorf("%s%s/ was changed", dir, p.name)
			}
			return nil, err
		default:
			return nil, fmt.Errorf("%s%s was changed: a committed record is never changed", dir, p.name)
		}
	}
	var added []treeEntry
	for _, e := range cur {
		if _, ok := rest[e.name]; ok {
			added = append(added, e)
		}
	}
	return added, nil
}

func findEntry(es []treeEntry, name string) (treeEntry, bool) {
	for _, e := range es {
		if e.name == name {
			return e, true
		}
	}
	return treeEntry{}, false
}

// replayDerived brings the expected blob ids of the derived files up to
// the replay.
func (v *verifier) replayDerived() error {
	s := v.state
	if v.derived[fileLedgerMD].IsZero() {
		v.derived[fileLedgerMD] = hashObject(plumbing.BlobObject, s.ledgerMD())
	}
	if s.dirty.roster {
		rb, err := s.rosterFile()
		if err != nil {
			return err
		}
		v.derived[fileRoster] = hashObject(plumbing.BlobObject, rb)
		v.derived[fileSigners] = hashObject(plumbing.BlobObject, s.signersFile())
	}
	if len(s.dirty.keys) > 0 {
		for id := range s.dirty.keys {
			k := s.Keys[id]
			v.keys.put(strings.TrimPrefix(keyPath(k), dirKeys+"/"), hashObject(plumbing.BlobObject, keyFile(k)))
		}
		v.keysTree = v.keys.id()
	}
	s.dirty = dirtySet{}
	return nil
}

// memTree is a folder of blob ids whose tree id is recomputed only along
// the paths that changed.
type memTree struct {
	t     encTree
	dirs  map[string]*memTree // the folders' contents
	dirty []string            // folders changed since the last id
	hash  plumbing.Hash       // zero when something below changed
}

func (t *memTree) put(path string, blob plumbing.Hash) {
	t.hash = plumbing.ZeroHash
	dir, rest, nested := strings.Cut(path, "/")
	if !nested {
		t.t.set(treeEntry{name: path, mode: filemode.Regular, hash: blob})
		return
	}
	if t.dirs == nil {
		t.dirs = map[string]*memTree{}
	}
	sub := t.dirs[dir]
	switch {
	case sub == nil:
		sub = &memTree{}
		t.dirs[dir] = sub
		t.dirty = append(t.dirty, dir)
	case !sub.hash.IsZero(): // not yet listed as changed
		t.dirty = append(t.dirty, dir)
	}
	sub.put(rest, blob)
}

func (t *memTree) id() plumbing.Hash {
	if t.hash.IsZero() {
		for _, d := range t.dirty {
			t.t.set(treeEntry{name: d, mode: filemode.Dir, hash: t.dirs[d].id()})
		}
		t.dirty = t.dirty[:0]
		t.hash = t.t.id()
	}
	return t.hash
}

// checkDerived compares the derived files of a commit with the replay.
func (v *verifier) checkDerived(entries map[string]treeEntry) error {
	for _, name := range []string{fileLedgerMD, fileRoster, fileSigners} {
		e, ok := entries[name]
		if !ok {
			return fmt.Errorf("%s is missing", name)
		}
		if e.hash != v.derived[name] {
			return fmt.Errorf("%s differs from the replay of the records (edited by hand?)", name)
		}
	}
	e, ok := entries[dirKeys]
	switch {
	case ok && v.keysTree.IsZero():
		return fmt.Errorf("keys/ exists but no record created a key")
	case !ok && !v.keysTree.IsZero():
		return fmt.Errorf("keys/ is missing")
	case ok && e.hash != v.keysTree:
		return fmt.Errorf("keys/ differs from the replay of the records (a key file edited, added or removed)")
	}
	return nil
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

func trimLine(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// NormalizeHead turns a head given as a trust root into the form verify
// compares: "sha256:<hex>" for a record digest (64 hex, with or without
// "sha256:"), or a commit id (40 hex), lower case. A commit id must be
// given in full: an abbreviation names a commit only as long as nobody
// makes another with the same prefix, and a trust root must not be one a
// forger can match. The error says what the value is not.
func NormalizeHead(s string) (string, error) {
	if d := NormalizeDigest(s); d != "" {
		return d, nil
	}
	t := strings.ToLower(strings.TrimSpace(s))
	if b, err := hex.DecodeString(t); err == nil && len(b) == 20 {
		return t, nil
	}
	what := "is not a record digest (sha256: and 64 hex) or commit id (40 hex)"
	switch {
	case t == "":
		return "", fmt.Errorf("an empty value %s", what)
	case strings.HasPrefix(t, "sha256:"):
		what = "is not a record digest: sha256: must be followed by 64 hex digits"
	case isHex(t) && len(t) >= 7 && len(t) < 40: // what git log --oneline shows
		what = "is not a record digest or commit id: a commit id must be given in full (40 hex), not abbreviated"
	}
	return "", fmt.Errorf("%q %s", trimLine(s), what)
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return s != ""
}

// NormalizeDigest turns "sha256:<hex>" or bare hex into "sha256:<hex>";
// it returns "" for anything else.
func NormalizeDigest(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "sha256:")
	if b, err := hex.DecodeString(s); err != nil || len(b) != 32 {
		return ""
	}
	return "sha256:" + s
}
