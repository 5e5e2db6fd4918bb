// Verify: the trust roots an auditor brings (Options), what a check
// finds (Result, Failure), and the verifier that replays a ledger with a
// pool of workers for the signatures. The walk of the history and the
// order of each record's checks are in verify_walk.go, the checks of each
// tree in verify_trees.go, the signature checks in verify_signatures.go;
// the policy every record must meet is the state machine's (state.go,
// machine*.go), which verify replays.

package ledger

import (
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

	"golang.org/x/crypto/ssh"

	"custos/ledger/internal/gitobj"
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
	// fullKeys: keep every key whole (no compactKey); eachFrom: hand Each
	// and EachCommit only the records from this seq on (a replay again
	// after a compact key was changed, whose earlier records were handed).
	fullKeys bool
	eachFrom int64

	// EachCommit is Each that is also handed the id of the commit that
	// holds the record (custos log --json names it), under the same terms.
	EachCommit func(rec *Record, digest, commit string)
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
	obj   *gitobj.Reader // for the sequential stage only
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
	top, mid, leaf gitobj.Tree
	d1, d2         string
	derived        map[string]plumbing.Hash // expected blob ids of derived files
	keys           gitobj.MemTree           // keys/ as the replay writes it
	keysTree       plumbing.Hash
	badSig         map[plumbing.Hash]error  // commits whose signature the walk refused
	walkKeys       map[string]ssh.PublicKey // signature keys the walk met, by blob
	history        []plumbing.Hash          // the commits of the history, newest first
	compactSeq     int64                    // the record that changed a compact key
}

// inHistory reports whether commit h is one of the history checked.
func (v *verifier) inHistory(h plumbing.Hash) bool {
	return !h.IsZero() && slices.Contains(v.history, h)
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
	defer obj.Close()
	v := &verifier{obj: obj, opts: opts, state: newState(), jobs: make(chan job, 512),
		derived: map[string]plumbing.Hash{}, badSig: map[plumbing.Hash]error{}, walkKeys: map[string]ssh.PublicKey{}}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	v.state.notAfter = now.Add(ClockMargin)
	v.state.compact = !opts.fullKeys
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
	if v.compactSeq > 0 && (v.fail == nil || v.fail.Seq >= v.compactSeq) {
		opts.fullKeys, opts.eachFrom = true, v.compactSeq
		return verify(dir, opts)
	}
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
