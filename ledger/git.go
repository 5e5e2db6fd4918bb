package ledger

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/pjbgf/sha1cd"

	"custos/sign"
)

const branchRef = plumbing.ReferenceName("refs/heads/main")

// hashObject is git's object id of content of type typ that this package
// made itself (to write it, or to compute the id a commit must name).
// Blobs are hashed with collision detection: their content carries facts
// anyone could have written. A tree this package encodes is names it
// chose and ids of objects it hashed: nobody can place the near-collision
// blocks of a SHA-1 collision in it, so plain SHA-1 serves (collision
// detection costs 2.5 times as much, and verify hashes a tree per record:
// about 4% of verify's time at 10k records). Trees read from disk are
// always checked with collision detection (objectID).
func hashObject(typ plumbing.ObjectType, content []byte) plumbing.Hash {
	if typ == plumbing.TreeObject {
		var hdr [32]byte
		b := append(append(hdr[:0], "tree "...), strconv.AppendInt(nil, int64(len(content)), 10)...)
		h := sha1.New()
		h.Write(append(b, 0))
		h.Write(content)
		var sum plumbing.Hash
		copy(sum[:], h.Sum(nil))
		return sum
	}
	h, _ := objectID(typ, content)
	return h
}

// objectID is git's object id of content of type typ, hashed with SHA-1
// collision detection (as git itself does): collided reports that the
// content is one half of a SHA-1 collision attack (SHAttered), whose
// other half has the same id and could be shown by git in its place.
func objectID(typ plumbing.ObjectType, content []byte) (id plumbing.Hash, collided bool) {
	var hdr [32]byte
	b := append(append(hdr[:0], typ.String()...), ' ')
	b = append(strconv.AppendInt(b, int64(len(content)), 10), 0)
	return sha1Checked(b, content)
}

// sha1Checked is the SHA-1 of the parts, in order, and whether collision
// detection found them to be crafted for a collision.
func sha1Checked(parts ...[]byte) (sum plumbing.Hash, collided bool) {
	h := sha1cd.New()
	for _, p := range parts {
		h.Write(p)
	}
	out, collided := h.(sha1cd.CollisionResistantHash).CollisionResistantSum(sum[:0])
	copy(sum[:], out)
	return sum, collided
}

// checkID checks that content, of type typ, is object h.
func checkID(h plumbing.Hash, typ plumbing.ObjectType, content []byte) error {
	id, collided := objectID(typ, content)
	return idError(h, id, collided)
}

// idError is the error, if any, of object h whose content hashes to id.
func idError(h, id plumbing.Hash, collided bool) error {
	switch {
	case collided:
		return fmt.Errorf("git object %s is a SHA-1 collision attack: its content is crafted so that another object has the same id", h)
	case id != h:
		return fmt.Errorf("git object %s is corrupt: its content does not match its id", h)
	}
	return nil
}

// readObject reads an object and checks that its content hashes to its
// id: a ledger whose object files were edited in place is caught here.
func readObject(st objectSource, h plumbing.Hash, typ plumbing.ObjectType) ([]byte, error) {
	o, err := st.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return nil, fmt.Errorf("git object %s: %w", h, err)
	}
	return objectContent(o, h, typ)
}

// readTree reads and parses tree h.
func readTree(st objectSource, h plumbing.Hash) ([]treeEntry, error) {
	b, err := readObject(st, h, plumbing.TreeObject)
	if err != nil {
		return nil, err
	}
	return parseTree(b)
}

// objectSource is where objects are read from: go-git's storage, or
// verify's objectReader.
type objectSource interface {
	EncodedObject(plumbing.ObjectType, plumbing.Hash) (plumbing.EncodedObject, error)
}

// objectContent is o's content, checked to be of type typ and to hash to
// its id h.
func objectContent(o plumbing.EncodedObject, h plumbing.Hash, typ plumbing.ObjectType) ([]byte, error) {
	if o.Type() != typ {
		return nil, fmt.Errorf("git object %s is a %s, want a %s", h, o.Type(), typ)
	}
	if o.Size() < 0 || o.Size() > maxObjectSize {
		return nil, fmt.Errorf("git object %s declares %d bytes, more than the %d a ledger object may take", h, o.Size(), maxObjectSize)
	}
	r, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("git object %s: %w", h, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, o.Size()+1))
	if err != nil {
		return nil, fmt.Errorf("git object %s: %w", h, err)
	}
	if int64(len(b)) != o.Size() {
		return nil, fmt.Errorf("git object %s is corrupt: %d bytes, its header says %d", h, len(b), o.Size())
	}
	if err := checkID(h, typ, b); err != nil {
		return nil, err
	}
	return b, nil
}

// writeObject stores content as an object of type typ unless an object
// with its id is already there (as git does: the derived files rarely
// change).
func writeObject(st storer.EncodedObjectStorer, typ plumbing.ObjectType, content []byte) (plumbing.Hash, error) {
	if h := hashObject(typ, content); st.HasEncodedObject(h) == nil {
		return h, nil
	}
	o := st.NewEncodedObject()
	o.SetType(typ)
	o.SetSize(int64(len(content)))
	w, err := o.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(o)
}

// treeEntry is one entry of a git tree.
type treeEntry struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
}

// encodeTree encodes entries (sorted as git sorts them) into tree content.
func encodeTree(es []treeEntry) []byte {
	if !slices.IsSortedFunc(es, compareEntries) {
		slices.SortFunc(es, compareEntries)
	}
	n := 0
	for _, e := range es {
		n += len(e.name) + 28
	}
	b := make([]byte, 0, n)
	for _, e := range es {
		b = appendTreeEntry(b, e)
	}
	return b
}

// encTree is a tree kept with its encoding, so that a changed id, or an
// entry that sorts last (a ledger grows at its end), patches the encoding
// instead of redoing it. A name must keep its mode.
type encTree struct {
	es  []treeEntry // sorted as git sorts them
	enc []byte      // nil when it must be redone
	at  []int       // where each entry's id starts in enc
}

// reset makes the tree es (sorted).
func (t *encTree) reset(es []treeEntry) {
	t.es, t.enc, t.at = es, nil, t.at[:0]
}

// set adds e, or changes the id of the entry named e.name.
func (t *encTree) set(e treeEntry) {
	i, found := slices.BinarySearchFunc(t.es, e, compareEntries)
	switch {
	case found:
		t.es[i] = e
		if t.enc != nil {
			copy(t.enc[t.at[i]:], e.hash[:])
		}
	case i == len(t.es) && t.enc != nil:
		t.es = append(t.es, e)
		t.enc = appendTreeEntry(t.enc, e)
		t.at = append(t.at, len(t.enc)-len(e.hash))
	default:
		t.es = slices.Insert(t.es, i, e)
		t.enc = nil
	}
}

func (t *encTree) id() plumbing.Hash {
	if t.enc == nil {
		t.at = t.at[:0]
		for _, e := range t.es {
			t.enc = appendTreeEntry(t.enc, e)
			t.at = append(t.at, len(t.enc)-len(e.hash))
		}
	}
	return hashObject(plumbing.TreeObject, t.enc)
}

// compareEntries orders tree entries as git does: by name, a folder's
// name compared as if it ended in "/".
func compareEntries(a, b treeEntry) int {
	n := min(len(a.name), len(b.name))
	if c := strings.Compare(a.name[:n], b.name[:n]); c != 0 {
		return c
	}
	next := func(e treeEntry) int {
		switch {
		case len(e.name) > n:
			return int(e.name[n])
		case e.mode == filemode.Dir:
			return '/'
		}
		return 0
	}
	return next(a) - next(b)
}

func appendTreeEntry(b []byte, e treeEntry) []byte {
	switch e.mode {
	case filemode.Regular:
		b = append(b, "100644"...)
	case filemode.Dir:
		b = append(b, "40000"...)
	default:
		b = strconv.AppendUint(b, uint64(e.mode), 8)
	}
	b = append(b, ' ')
	b = append(b, e.name...)
	b = append(b, 0)
	return append(b, e.hash[:]...)
}

func treeKey(e treeEntry) string {
	if e.mode == filemode.Dir {
		return e.name + "/"
	}
	return e.name
}

// parseTree decodes tree content without trusting it.
func parseTree(b []byte) ([]treeEntry, error) {
	var out []treeEntry
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp < 0 {
			return nil, errors.New("malformed tree entry")
		}
		mode, err := strconv.ParseUint(string(b[:sp]), 8, 32)
		if err != nil {
			return nil, errors.New("malformed tree entry mode")
		}
		b = b[sp+1:]
		nul := bytes.IndexByte(b, 0)
		if nul < 0 || len(b) < nul+1+20 {
			return nil, errors.New("truncated tree entry")
		}
		var h plumbing.Hash
		copy(h[:], b[nul+1:nul+21])
		out = append(out, treeEntry{name: string(b[:nul]), mode: filemode.FileMode(mode), hash: h})
		b = b[nul+21:]
	}
	return out, nil
}

// parseTreeExact is parseTree for verify's exact checks: the tree must be
// encoded as git writes it, entries in git's order, none repeated, modes
// without zero padding. Otherwise two tools could show different files
// for the same tree (git takes one of two entries of the same name).
func parseTreeExact(b []byte) ([]treeEntry, error) {
	es, err := parseTree(b)
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(es); i++ {
		if es[i-1].name == es[i].name || compareEntries(es[i-1], es[i]) > 0 {
			return nil, fmt.Errorf("not in git's canonical form: %q is out of order or repeated", es[i].name)
		}
	}
	if !bytes.Equal(encodeTree(es), b) {
		return nil, errors.New("not in git's canonical form: a mode is not written as git writes it")
	}
	return es, nil
}

// rawCommit is a commit as stored: the signed payload is the raw commit
// without its gpgsig header, exactly as git computes it.
type rawCommit struct {
	tree    plumbing.Hash
	parents []plumbing.Hash
	sig     []byte // armored signature, "" when unsigned
	payload []byte
	extra   []string // headers other than tree/parent/author/committer/gpgsig
}

func parseCommit(raw []byte) (*rawCommit, error) {
	c := &rawCommit{}
	var payload bytes.Buffer
	payload.Grow(len(raw))
	rest := raw
	inSig := false
	var sig bytes.Buffer
	for {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, errors.New("commit has no message separator")
		}
		line := rest[:nl+1]
		rest = rest[nl+1:]
		if inSig && len(line) > 0 && line[0] == ' ' {
			sig.Write(line[1:])
			continue
		}
		inSig = false
		if len(line) == 1 { // blank line: message follows
			payload.Write(line)
			payload.Write(rest)
			break
		}
		key, val, _ := bytes.Cut(line[:len(line)-1], []byte(" "))
		switch string(key) {
		case "tree":
			h, ok := parseHash(val)
			if !ok || !c.tree.IsZero() {
				return nil, errors.New("commit has a malformed or repeated tree header")
			}
			c.tree = h
		case "parent":
			h, ok := parseHash(val)
			if !ok {
				return nil, errors.New("commit has a malformed parent header")
			}
			c.parents = append(c.parents, h)
		case "gpgsig":
			if sig.Len() > 0 {
				return nil, errors.New("commit has two signatures")
			}
			sig.Write(val)
			sig.WriteByte('\n')
			inSig = true
			continue
		case "author", "committer":
		default:
			c.extra = append(c.extra, string(key))
		}
		payload.Write(line)
	}
	if c.tree.IsZero() {
		return nil, errors.New("commit has no tree")
	}
	c.sig = sig.Bytes()
	c.payload = payload.Bytes()
	return c, nil
}

func parseHash(b []byte) (plumbing.Hash, bool) {
	if len(b) != 40 {
		return plumbing.ZeroHash, false
	}
	h := plumbing.NewHash(string(b))
	return h, h.String() == string(b)
}

// gitSigner adapts a sign.Signer to go-git's Signer (Sign(io.Reader)),
// signing commits in namespace "git" as git's gpg.format=ssh does.
type gitSigner struct{ s sign.Signer }

func (g gitSigner) Sign(message io.Reader) ([]byte, error) {
	msg, err := io.ReadAll(message)
	if err != nil {
		return nil, err
	}
	return g.s.Sign(NamespaceGit, msg)
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

// payloadOf is the encoding of c without signature: what the actor signs.
func payloadOf(c *object.Commit) ([]byte, error) {
	var o bufObject
	err := c.EncodeWithoutSignature(&o)
	return o.buf.Bytes(), err
}

// encodeCommit is the full encoding of c, signature included.
func encodeCommit(c *object.Commit) ([]byte, error) {
	var o bufObject
	err := c.Encode(&o)
	return o.buf.Bytes(), err
}

// bufObject is an object that go-git encodes into a buffer, read without
// a copy (verify encodes the commit it expects for every record).
type bufObject struct {
	plumbing.MemoryObject
	buf bytes.Buffer
}

func (o *bufObject) Writer() (io.WriteCloser, error) { return o, nil }
func (o *bufObject) Write(p []byte) (int, error)     { return o.buf.Write(p) }
func (o *bufObject) Close() error                    { return nil }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
