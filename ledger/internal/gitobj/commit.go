// Commits: a stored commit parsed without trusting it, and go-git's
// encoding of a commit, with and without its signature.

package gitobj

import (
	"bytes"
	"errors"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Commit is a commit as stored: the signed payload is the raw commit
// without its gpgsig header, exactly as git computes it.
type Commit struct {
	Tree    plumbing.Hash
	Parents []plumbing.Hash
	Sig     []byte // armored signature, "" when unsigned
	Payload []byte
	Extra   []string // headers other than tree/parent/author/committer/gpgsig
}

// ParseCommit parses a stored commit without trusting it: its headers
// (one tree, parents, one signature) and its signed payload.
func ParseCommit(raw []byte) (*Commit, error) {
	c := &Commit{}
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
			h, ok := ParseHash(val)
			if !ok || !c.Tree.IsZero() {
				return nil, errors.New("commit has a malformed or repeated tree header")
			}
			c.Tree = h
		case "parent":
			h, ok := ParseHash(val)
			if !ok {
				return nil, errors.New("commit has a malformed parent header")
			}
			c.Parents = append(c.Parents, h)
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
			c.Extra = append(c.Extra, string(key))
		}
		payload.Write(line)
	}
	if c.Tree.IsZero() {
		return nil, errors.New("commit has no tree")
	}
	c.Sig = sig.Bytes()
	c.Payload = payload.Bytes()
	return c, nil
}

// Payload is the encoding of c without signature: what the actor signs.
func Payload(c *object.Commit) ([]byte, error) {
	var o bufObject
	err := c.EncodeWithoutSignature(&o)
	return o.buf.Bytes(), err
}

// EncodeCommit is the full encoding of c, signature included.
func EncodeCommit(c *object.Commit) ([]byte, error) {
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
