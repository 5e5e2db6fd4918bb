// Package gitobj is the ledger's git object layer: git's object ids
// (SHA-1 with collision detection), the encoding of trees and commits,
// a reader of a repository's object stores (loose objects, packs through
// a compact index, alternates) that checks every object against its id
// and bounds every read, and the writing of objects: loose ones durably,
// or one pack. It knows git, not ledgers: what a ledger's trees and
// commits must hold is package ledger's. A copy of a ledger comes from
// anyone, so nothing here trusts what it reads: bad input is an error
// naming the object or file, never a panic, a hang or an unbounded
// allocation.
package gitobj

import (
	"crypto/sha1"
	"fmt"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/pjbgf/sha1cd"
)

// Limits on what is read.
const (
	MaxObjectSize = 32 << 20 // a commit, tree or record (inflated)
	MaxLooseFile  = MaxObjectSize + 1<<20
)

// Hash is git's object id of content of type typ that the caller made
// itself (to write it, or to compute the id a commit must name). Blobs
// are hashed with collision detection: their content carries facts
// anyone could have written. A tree the caller encodes is names it chose
// and ids of objects it hashed: nobody can place the near-collision
// blocks of a SHA-1 collision in it, so plain SHA-1 serves (collision
// detection costs 2.5 times as much, and verify hashes a tree per record:
// about 4% of verify's time at 10k records). Trees read from disk are
// always checked with collision detection (objectID).
func Hash(typ plumbing.ObjectType, content []byte) plumbing.Hash {
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

// ParseHash parses an object id written in full (40 lower-case hex).
func ParseHash(b []byte) (plumbing.Hash, bool) {
	if len(b) != 40 {
		return plumbing.ZeroHash, false
	}
	h := plumbing.NewHash(string(b))
	return h, h.String() == string(b)
}
