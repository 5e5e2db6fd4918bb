package ledger

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"

	"custos/ledger/internal/gitobj"
	"custos/sign"
)

// forge commits rec as the next record without any of Append's checks,
// signed by signer: what an attacker holding a member's key could do.
func (f *fixture) forge(t *testing.T, rec *Record, signer sign.Signer, edit func([]gitobj.TreeEntry) []gitobj.TreeEntry, parents ...plumbing.Hash) plumbing.Hash {
	t.Helper()
	canon, err := rec.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeRecord(canon)
	if err != nil {
		t.Fatal(err)
	}
	digest := digestOf(canon)
	next := f.l.state.clone()
	_ = next.apply(dec, digest) // the attacker does not care
	_, tree, err := f.l.writeTree(f.l.repo.Storer, next, rec.Seq, append(canon, '\n'))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		tree = f.editTree(t, tree, edit)
	}
	email := rec.Actor + "@custos.ledger"
	if m := f.l.state.Roster.Member(rec.Actor); m != nil {
		email = m.commitEmail()
	}
	c := commitObject(dec, digest, email, tree, f.l.head)
	if len(parents) > 0 {
		c.ParentHashes = parents
	}
	return f.commitSigned(t, c, signer)
}

func (f *fixture) editTree(t *testing.T, tree plumbing.Hash, edit func([]gitobj.TreeEntry) []gitobj.TreeEntry) plumbing.Hash {
	b, err := gitobj.Read(f.l.repo.Storer, tree, plumbing.TreeObject)
	if err != nil {
		t.Fatal(err)
	}
	es, _ := gitobj.ParseTree(b)
	h, err := gitobj.Write(f.l.repo.Storer, plumbing.TreeObject, gitobj.EncodeTree(edit(es)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (f *fixture) commitSigned(t *testing.T, c *object.Commit, signer sign.Signer) plumbing.Hash {
	t.Helper()
	payload, _ := gitobj.Payload(c)
	sig, err := signer.Sign(namespaceGit, payload)
	if err != nil {
		t.Fatal(err)
	}
	c.PGPSignature = string(sig)
	raw, _ := gitobj.EncodeCommit(c)
	h, err := gitobj.Write(f.l.repo.Storer, plumbing.CommitObject, raw)
	if err != nil {
		t.Fatal(err)
	}
	f.setHead(t, h)
	return h
}

func (f *fixture) setHead(t *testing.T, h plumbing.Hash) {
	if err := f.l.repo.Storer.SetReference(plumbing.NewHashReference(branchRef, h)); err != nil {
		t.Fatal(err)
	}
}

// commits returns the commit ids oldest first.
func (f *fixture) commits(t *testing.T) []plumbing.Hash {
	var out []plumbing.Hash
	for _, s := range strings.Fields(gitCmd(t, f.dir, "rev-list", "--reverse", "HEAD")) {
		out = append(out, plumbing.NewHash(s))
	}
	return out
}

// rechain re-creates the commits in order on top of base, each re-signed
// by its author (every member's key is at the attacker's disposal here).
func (f *fixture) rechain(t *testing.T, base plumbing.Hash, order []plumbing.Hash, editTree func(i int, es []gitobj.TreeEntry) []gitobj.TreeEntry) {
	t.Helper()
	parent := base
	for i, h := range order {
		c, err := object.GetCommit(f.l.repo.Storer, h)
		if err != nil {
			t.Fatal(err)
		}
		n := &object.Commit{Author: c.Author, Committer: c.Committer, Message: c.Message, TreeHash: c.TreeHash}
		if !parent.IsZero() {
			n.ParentHashes = []plumbing.Hash{parent}
		}
		if editTree != nil {
			n.TreeHash = f.editTree(t, c.TreeHash, func(es []gitobj.TreeEntry) []gitobj.TreeEntry { return editTree(i, es) })
		}
		parent = f.commitSigned(t, n, f.signers[c.Author.Name])
	}
}

func expectFailure(t *testing.T, dir string, opts Options, seq int64, check, reason string) {
	t.Helper()
	res := Verify(dir, opts)
	if res.OK || res.Failure == nil {
		t.Fatalf("tampered ledger verified: %+v", res)
	}
	f := res.Failure
	if f.Seq != seq || (check != "" && f.Check != check) || !strings.Contains(f.Reason, reason) {
		t.Fatalf("failure = %v; want record %d, check %q, reason containing %q", res.Err(), seq, check, reason)
	}
	if msg := res.Err().Error(); !strings.Contains(msg, "record ") {
		t.Fatalf("message does not name the record: %s", msg)
	}
}

// copyFixture copies base's ledger byte for byte (objects as they are, so
// a case can edit them in place) for one case to tamper with.
func copyFixture(t *testing.T, base *fixture) *fixture {
	t.Helper()
	f := *base
	f.dir = filepath.Join(t.TempDir(), "ledger")
	if err := os.CopyFS(f.dir, os.DirFS(base.dir)); err != nil {
		t.Fatal(err)
	}
	f.open(t)
	return &f
}

func TestTamper(t *testing.T) {
	base := newFixture(t)
	base.story(t) // 10 records
	head := mustVerify(t, base.dir, Options{})
	clone := func(t *testing.T) *fixture { return copyFixture(t, base) }
	alice := func(f *fixture) sign.Signer { return f.signers["alice"] }

	t.Run("edited record", func(t *testing.T) {
		f := clone(t)
		p := filepath.Join(f.dir, "records", "00", "00", "000003.json")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(strings.Replace(string(b), "ec-p384", "ec-p256", 1)), 0o644)
		gitCmd(t, f.dir, "-c", "user.name=alice", "-c", "user.email=alice@custos.ledger", "commit", "-qam", "fix type")
		expectFailure(t, f.dir, Options{}, 11, "tree", "records/00/00/000003.json was changed")
	})
	// Record 5's commit made again, edited; the later commits re-signed on
	// top of it. These commits are ones the walk cannot summarize: they
	// are read again and checked in full in their turn.
	remake := func(t *testing.T, edit func(f *fixture, c *object.Commit) (signer sign.Signer)) *fixture {
		f := clone(t)
		cs := f.commits(t)
		c, err := object.GetCommit(f.l.repo.Storer, cs[4])
		if err != nil {
			t.Fatal(err)
		}
		n := &object.Commit{Author: c.Author, Committer: c.Committer, Message: c.Message, TreeHash: c.TreeHash, ParentHashes: c.ParentHashes}
		var h plumbing.Hash
		if signer := edit(f, n); signer != nil {
			h = f.commitSigned(t, n, signer)
		} else {
			raw, _ := gitobj.EncodeCommit(n)
			if h, err = gitobj.Write(f.l.repo.Storer, plumbing.CommitObject, raw); err != nil {
				t.Fatal(err)
			}
		}
		f.rechain(t, h, cs[5:], nil)
		return f
	}
	t.Run("unsigned commit", func(t *testing.T) {
		f := remake(t, func(*fixture, *object.Commit) sign.Signer { return nil })
		expectFailure(t, f.dir, Options{}, 5, "signature", "commit is not signed")
	})
	t.Run("signature not a signature", func(t *testing.T) {
		f := remake(t, func(_ *fixture, c *object.Commit) sign.Signer {
			c.PGPSignature = "-----BEGIN SSH SIGNATURE-----\nbm90IGEgc2lnbmF0dXJl\n-----END SSH SIGNATURE-----\n"
			return nil
		})
		expectFailure(t, f.dir, Options{}, 5, "signature", "malformed ssh signature")
	})
	t.Run("extra commit header", func(t *testing.T) {
		f := remake(t, func(f *fixture, c *object.Commit) sign.Signer {
			c.Encoding = "ISO-8859-1"
			return f.signers[c.Author.Name]
		})
		expectFailure(t, f.dir, Options{}, 5, "commit", `unexpected commit header "encoding"`)
	})
	t.Run("commit signature altered", func(t *testing.T) {
		// Record 5's commit as written, but one byte of its signature
		// changed; the later commits re-signed on top of it.
		f := clone(t)
		cs := f.commits(t)
		c, err := object.GetCommit(f.l.repo.Storer, cs[4])
		if err != nil {
			t.Fatal(err)
		}
		sig, err := sshsig.Unarmor([]byte(c.PGPSignature))
		if err != nil {
			t.Fatal(err)
		}
		sig.Signature.Blob[7] ^= 1
		n := &object.Commit{Author: c.Author, Committer: c.Committer, Message: c.Message, TreeHash: c.TreeHash,
			ParentHashes: c.ParentHashes, PGPSignature: string(sshsig.Armor(sig))}
		raw, _ := gitobj.EncodeCommit(n)
		h, err := gitobj.Write(f.l.repo.Storer, plumbing.CommitObject, raw)
		if err != nil {
			t.Fatal(err)
		}
		f.rechain(t, h, cs[5:], nil)
		expectFailure(t, f.dir, Options{}, 5, "signature", "commit signature by "+c.Author.Name+" does not verify")
	})
	t.Run("edited record in place", func(t *testing.T) {
		f := clone(t)
		// Rewrite history from record 3 on with the edited record: every
		// later commit re-signed, but the digests no longer chain.
		cs := f.commits(t)
		var blob plumbing.Hash
		f.rechain(t, cs[1], cs[2:], func(i int, es []gitobj.TreeEntry) []gitobj.TreeEntry {
			if blob.IsZero() {
				b, _ := gitobj.Read(f.l.repo.Storer, f.recordBlobs(t, cs[2])[2], plumbing.BlobObject)
				blob, _ = gitobj.Write(f.l.repo.Storer, plumbing.BlobObject, []byte(strings.Replace(string(b), "ec-p384", "ec-p256", 1)))
			}
			return f.withFile(t, es, recordFile(3), blob)
		})
		expectFailure(t, f.dir, Options{}, 3, "commit", "Custos-Record")
	})
	t.Run("edited derived file", func(t *testing.T) {
		f := clone(t)
		cs := f.commits(t)
		f.rechain(t, cs[8], cs[9:], func(i int, es []gitobj.TreeEntry) []gitobj.TreeEntry {
			for j := range es {
				if es[j].Name == fileRoster {
					es[j].Hash, _ = gitobj.Write(f.l.repo.Storer, plumbing.BlobObject, []byte(`{"members":[]}`+"\n"))
				}
			}
			return es
		})
		expectFailure(t, f.dir, Options{}, 10, "derived", "roster.json differs")
	})
	t.Run("edited key file", func(t *testing.T) {
		f := clone(t)
		cs := f.commits(t)
		f.rechain(t, cs[8], cs[9:], func(i int, es []gitobj.TreeEntry) []gitobj.TreeEntry {
			h, _ := gitobj.Write(f.l.repo.Storer, plumbing.BlobObject, []byte(`{"state":"active"}`))
			return f.withFile(t, es, keyPath(f.l.State().Keys["root-2026"]), h)
		})
		expectFailure(t, f.dir, Options{}, 10, "derived", "keys/ differs")
	})
	t.Run("deleted middle commit", func(t *testing.T) {
		f := clone(t)
		cs := f.commits(t)
		f.rechain(t, cs[3], cs[5:], nil)
		expectFailure(t, f.dir, Options{}, 5, "tree", "adds 2 files")
	})
	t.Run("truncated tail", func(t *testing.T) {
		f := clone(t)
		cs := f.commits(t)
		f.setHead(t, cs[6])
		mustVerify(t, f.dir, Options{}) // stock consistency cannot tell
		expectFailure(t, f.dir, Options{TrustedHead: head.HeadCommit}, 7, "trusted-head", "rolled back, truncated or rewritten")
		expectFailure(t, f.dir, Options{TrustedHead: head.Head}, 7, "trusted-head", "does not contain")
		// the same head in every form a person may copy it: bare hex, upper case
		bare := strings.TrimPrefix(head.Head, "sha256:")
		expectFailure(t, f.dir, Options{TrustedHead: bare}, 7, "trusted-head", "does not contain")
		expectFailure(t, f.dir, Options{TrustedHead: strings.ToUpper(head.HeadCommit)}, 7, "trusted-head", "does not contain")
		// and the ledger as it was passes with each of them
		for _, th := range []string{head.Head, bare, strings.ToUpper(bare), head.HeadCommit, strings.ToUpper(head.HeadCommit), " " + head.HeadCommit + "\n"} {
			if res := Verify(base.dir, Options{TrustedHead: th}); !res.OK || !res.TrustedHeadChecked {
				t.Fatalf("--trusted-head %q: %v", th, res.Err())
			}
		}
		// a value of neither form is not a rollback
		for _, th := range []string{"abc", head.HeadCommit[:12], head.HeadCommit + "0", "sha256:" + head.HeadCommit, "g" + bare[1:]} {
			res := Verify(base.dir, Options{TrustedHead: th})
			if res.OK || res.Failure.Seq != 0 || res.Failure.Check != "trusted-head" || strings.Contains(res.Failure.Reason, "rolled back") {
				t.Fatalf("--trusted-head %q: %+v", th, res.Failure)
			}
		}
	})
	t.Run("history rewritten and re-signed by a member", func(t *testing.T) {
		f := clone(t)
		cs := f.commits(t)
		f.setHead(t, cs[4])
		f.open(t)
		f.add(t, "key.export.intent", "exp-evil", "bob", map[string]any{"key_id": "root-2026", "recipient": "evil"}, "dave")
		f.add(t, "key.exported", "exp-evil", "bob", map[string]any{"key_id": "root-2026"})
		mustVerify(t, f.dir, Options{})
		expectFailure(t, f.dir, Options{TrustedHead: head.HeadCommit}, 7, "trusted-head", "does not contain")
	})
	t.Run("reordered records", func(t *testing.T) {
		f := clone(t)
		cs := f.commits(t)
		order := append([]plumbing.Hash{cs[5], cs[4]}, cs[6:]...)
		f.rechain(t, cs[3], order, nil)
		expectFailure(t, f.dir, Options{}, 5, "tree", "")
	})
	t.Run("record replayed from another ledger", func(t *testing.T) {
		f := clone(t)
		rec := f.l.Draft("hsm.enrolled", "x", "alice", map[string]any{"hsm": freshHSM()}, t0.Add(time38))
		rec.Ledger = "another-ledger"
		f.forge(t, rec, alice(f), nil)
		expectFailure(t, f.dir, Options{}, 11, "chain", "another ledger")
	})
	t.Run("commit signed by a non-member", func(t *testing.T) {
		f := clone(t)
		rec := f.l.Draft("hsm.enrolled", "x", "alice", map[string]any{"hsm": freshHSM()}, t0.Add(time38))
		f.forge(t, rec, sshKey(t, t.TempDir(), "mallory"), nil)
		expectFailure(t, f.dir, Options{}, 11, "signature", "not a member")
	})
	t.Run("principal is not the committer", func(t *testing.T) {
		f := clone(t)
		rec := f.l.Draft("hsm.enrolled", "x", "alice", map[string]any{"hsm": freshHSM()}, t0.Add(time38))
		f.forge(t, rec, f.signers["bob"], nil)
		expectFailure(t, f.dir, Options{}, 11, "signature", "signed by member bob")
	})
	t.Run("approval copied from another record", func(t *testing.T) {
		f := clone(t)
		var old *Record
		for r, err := range f.l.Records() {
			if err != nil {
				t.Fatal(err)
			}
			if r.Seq == 3 {
				old = r
			}
		}
		rec := f.l.Draft("key.generate.intent", "g2", "alice", map[string]any{"key_id": "k2", "label": "k2", "type": "aes-256", "hsm": testHSM}, t0.Add(time38))
		rec.Approvals = old.Approvals
		f.forge(t, rec, alice(f), nil)
		expectFailure(t, f.dir, Options{}, 11, "approval", "approval by carol does not verify")
	})
	forgeWith := func(t *testing.T, actor string, approvers ...string) *fixture {
		f := clone(t)
		rec := f.l.Draft("key.generate.intent", "g2", actor, map[string]any{"key_id": "k2", "label": "k2", "type": "aes-256", "hsm": testHSM}, t0.Add(time38))
		for _, a := range approvers {
			ap, _ := Approve(rec, a, f.signers[a])
			rec.Approvals = append(rec.Approvals, ap)
		}
		f.forge(t, rec, f.signers[actor], nil)
		return f
	}
	t.Run("approval by the operator", func(t *testing.T) {
		f := forgeWith(t, "carol", "carol")
		expectFailure(t, f.dir, Options{}, 11, "policy", "may not approve their own")
	})
	t.Run("approval by the wrong role", func(t *testing.T) {
		f := forgeWith(t, "alice", "bob")
		expectFailure(t, f.dir, Options{}, 11, "policy", "holds none of the roles")
	})
	t.Run("too few approvals", func(t *testing.T) {
		f := forgeWith(t, "alice")
		expectFailure(t, f.dir, Options{}, 11, "policy", "0 of 1 required approvals")
	})
	t.Run("use of a destroyed key", func(t *testing.T) {
		f := clone(t)
		rec := f.l.Draft("key.export.intent", "x", "bob", map[string]any{"key_id": "root-2026", "recipient": "p", "recipient_key_spki_sha256": "00", "hsm": testHSM}, t0.Add(time38))
		ap, _ := Approve(rec, "carol", f.signers["carol"])
		rec.Approvals = []Approval{ap}
		f.forge(t, rec, f.signers["bob"], nil)
		expectFailure(t, f.dir, Options{}, 11, "lifecycle", "destroyed")
	})
	t.Run("merge commit", func(t *testing.T) {
		f := clone(t)
		cs := f.commits(t)
		rec := f.l.Draft("hsm.enrolled", "x", "alice", map[string]any{"hsm": freshHSM()}, t0.Add(time38))
		f.forge(t, rec, alice(f), nil, cs[9], cs[8])
		expectFailure(t, f.dir, Options{}, 11, "history", "merge commit")
	})
	t.Run("extra unknown file", func(t *testing.T) {
		f := clone(t)
		rec := f.l.Draft("hsm.enrolled", "x", "alice", map[string]any{"hsm": freshHSM()}, t0.Add(time38))
		f.forge(t, rec, alice(f), func(es []gitobj.TreeEntry) []gitobj.TreeEntry {
			h, _ := gitobj.Write(f.l.repo.Storer, plumbing.BlobObject, []byte("hello"))
			return append(es, gitobj.TreeEntry{Name: "notes.txt", Mode: filemode.Regular, Hash: h})
		})
		expectFailure(t, f.dir, Options{}, 11, "tree", `unknown file "notes.txt"`)
	})
	t.Run("repeated entry in an old folder", func(t *testing.T) {
		// A second records/00/00/000003.json, with other content, just
		// before the real one: every entry the last commit had is still
		// there, but git would show either copy.
		f := clone(t)
		rec := f.l.Draft("hsm.enrolled", "x", "alice", map[string]any{"hsm": freshHSM()}, t0.Add(time38))
		f.forge(t, rec, alice(f), func(es []gitobj.TreeEntry) []gitobj.TreeEntry {
			return f.editDir(t, es, []string{dirRecords, "00", "00"}, func(leaf []gitobj.TreeEntry) []gitobj.TreeEntry {
				h, _ := gitobj.Write(f.l.repo.Storer, plumbing.BlobObject, []byte("{}\n"))
				i := slices.IndexFunc(leaf, func(e gitobj.TreeEntry) bool { return e.Name == "000003.json" })
				return slices.Insert(leaf, i, gitobj.TreeEntry{Name: "000003.json", Mode: filemode.Regular, Hash: h})
			})
		})
		expectFailure(t, f.dir, Options{}, 11, "tree", "records/00/00/: not in git's canonical form")
		// the stock path of the auditor guide refuses it too
		out, err := exec.Command("git", "-C", f.dir, "fsck", "--strict", "--no-dangling", "--no-progress").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "duplicateEntries") {
			t.Fatalf("git fsck --strict: %v\n%s", err, out)
		}
	})
	t.Run("folder mode zero-padded", func(t *testing.T) {
		f := clone(t)
		rec := f.l.Draft("hsm.enrolled", "x", "alice", map[string]any{"hsm": freshHSM()}, t0.Add(time38))
		f.forge(t, rec, alice(f), func(es []gitobj.TreeEntry) []gitobj.TreeEntry {
			return f.editDir(t, es, []string{dirRecords}, func(top []gitobj.TreeEntry) []gitobj.TreeEntry {
				return top // re-encoded below with "040000" modes
			})
		})
		expectFailure(t, f.dir, Options{}, 11, "tree", "not in git's canonical form")
	})
	t.Run("record not in canonical form", func(t *testing.T) {
		f := clone(t)
		rec := f.l.Draft("hsm.enrolled", "x", "alice", map[string]any{"hsm": freshHSM()}, t0.Add(time38))
		canon, _ := rec.Canonical()
		f.forge(t, rec, alice(f), func(es []gitobj.TreeEntry) []gitobj.TreeEntry {
			h, _ := gitobj.Write(f.l.repo.Storer, plumbing.BlobObject, append([]byte("{ "), append(canon[1:], '\n')...))
			return f.withFile(t, es, recordFile(11), h)
		})
		expectFailure(t, f.dir, Options{}, 11, "record", "records/00/00/000011.json: record: not in canonical form")
	})
	t.Run("forged genesis", func(t *testing.T) {
		// The same members make a second ledger: consistent, but not the
		// one the minutes describe.
		g := &fixture{dir: filepath.Join(t.TempDir(), "l"), signers: base.signers, now: t0}
		st := base.l.State()
		if _, err := Create(g.dir, &st.Roster, &st.Policy, g.signers, t0, WithLedgerID("test-ledger")); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, g.dir, Options{})
		expectFailure(t, g.dir, Options{Genesis: st.Genesis}, 1, "origin", "not the ledger the minutes describe")
		mustVerify(t, base.dir, Options{Genesis: strings.TrimPrefix(st.Genesis, "sha256:")})
	})
	t.Run("corrupt object", func(t *testing.T) {
		f := clone(t)
		cs := f.commits(t)
		// Overwrite record 4's blob object file in place, keeping its name.
		rb := f.recordBlobs(t, cs[3])
		id := rb[3].String()
		p := filepath.Join(f.dir, ".git", "objects", id[:2], id[2:])
		other := filepath.Join(f.dir, ".git", "objects", rb[2].String()[:2], rb[2].String()[2:])
		data, err := os.ReadFile(other)
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, 0o644)
		os.WriteFile(p, data, 0o644)
		res := Verify(f.dir, Options{})
		if res.OK || !strings.Contains(res.Err().Error(), "corrupt") || res.Failure.Seq != 4 {
			t.Fatalf("corrupt object: %v", res.Err())
		}
	})
}

const time38 = 38 * 60 * 1e9 // after the story's last record

// withFile sets the file at path to blob in a root tree.
func (f *fixture) withFile(t *testing.T, es []gitobj.TreeEntry, path string, blob plumbing.Hash) []gitobj.TreeEntry {
	t.Helper()
	es, err := putFile(f.l.repo.Storer, es, path, blob)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// editDir rewrites the folder at path (its names, from the root tree es)
// with edit and returns the new root entries. A folder edited to keep its
// entries is written with zero-padded folder modes ("040000"), as some
// tools do and git does not.
func (f *fixture) editDir(t *testing.T, es []gitobj.TreeEntry, path []string, edit func([]gitobj.TreeEntry) []gitobj.TreeEntry) []gitobj.TreeEntry {
	t.Helper()
	i := slices.IndexFunc(es, func(e gitobj.TreeEntry) bool { return e.Name == path[0] })
	b, err := gitobj.Read(f.l.repo.Storer, es[i].Hash, plumbing.TreeObject)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := gitobj.ParseTree(b)
	var raw []byte
	if len(path) > 1 {
		raw = gitobj.EncodeTree(f.editDir(t, sub, path[1:], edit))
	} else if n := edit(slices.Clone(sub)); len(n) == len(sub) {
		raw = bytes.ReplaceAll(gitobj.EncodeTree(n), []byte("40000 "), []byte("040000 "))
	} else {
		raw = gitobj.EncodeTree(n)
	}
	h, err := gitobj.Write(f.l.repo.Storer, plumbing.TreeObject, raw)
	if err != nil {
		t.Fatal(err)
	}
	out := slices.Clone(es)
	out[i].Hash = h
	return out
}

// recordBlobs returns the blob ids of the records at commit, oldest first.
func (f *fixture) recordBlobs(t *testing.T, commit plumbing.Hash) []plumbing.Hash {
	t.Helper()
	top, err := f.l.recordsDir(commit)
	if err != nil {
		t.Fatal(err)
	}
	var out []plumbing.Hash
	for e, err := range walkRecords(f.l.repo.Storer, top) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Hash)
	}
	return out
}

func TestMalformedLedgers(t *testing.T) {
	dir := t.TempDir()
	if res := Verify(dir, Options{}); res.OK || res.Failure.Check != "repository" {
		t.Fatalf("empty dir: %+v", res)
	}
	gitCmd(t, dir, "init", "-q", "-b", "main")
	if res := Verify(dir, Options{}); res.OK || !strings.Contains(res.Err().Error(), "no branch") {
		t.Fatalf("empty repo: %+v", res)
	}
	os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o644)
	gitCmd(t, dir, "add", "x")
	gitCmd(t, dir, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "x")
	res := Verify(dir, Options{})
	if res.OK || res.Failure.Seq != 1 || !strings.Contains(res.Err().Error(), "unknown file") {
		t.Fatalf("plain repo: %v", res.Err())
	}
	if _, err := Open(dir); err == nil {
		t.Fatal("opened a plain repo as a ledger")
	}
}

// TestLayoutAcrossFolders checks the records/12/34/123456.json layout on a
// ledger spanning three folders: stock git sees no folder over 100
// entries, Records and Record read across folders, and tampering is named
// by its path when it crosses a folder boundary.
func TestLayoutAcrossFolders(t *testing.T) {
	base := newFixture(t)
	for i := 2; i <= 230; i++ {
		base.review(t, fmt.Sprintf("p%d", i))
	}
	mustVerify(t, base.dir, Options{})
	// stock git finds nothing to warn about (trees once had zero-padded
	// folder modes, which transfer.fsckObjects refuses)
	if out, err := exec.Command("git", "-C", base.dir, "fsck", "--strict", "--no-progress", "--no-dangling").CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("git fsck --strict: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(base.dir, "records", "00", "02", "000230.json")); err != nil {
		t.Fatalf("work tree: %v", err)
	}
	// Stock git's view of the head: every folder, and how many entries each holds.
	perDir := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(gitCmd(t, base.dir, "ls-tree", "-r", "-t", "--name-only", "HEAD", "records")), "\n") {
		perDir[filepath.Dir(line)]++
	}
	if perDir["records"] != 1 || perDir["records/00"] != 3 || perDir["records/00/00"] != 99 || perDir["records/00/01"] != 100 || perDir["records/00/02"] != 31 {
		t.Fatalf("records/ layout: %v", perDir)
	}
	seq := int64(0)
	for rec, err := range base.l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		if seq++; rec.Seq != seq {
			t.Fatalf("Records yields seq %d at position %d", rec.Seq, seq)
		}
	}
	if rec, err := base.l.Record(150); err != nil || rec.Seq != 150 {
		t.Fatalf("Record(150) = %v, %v", rec, err)
	}
	clone := func(t *testing.T) *fixture { return copyFixture(t, base) }
	t.Run("record in an older folder edited", func(t *testing.T) {
		f := clone(t)
		p := filepath.Join(f.dir, "records", "00", "01", "000150.json")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(strings.Replace(string(b), `"ok"`, `"ko"`, 1)), 0o644)
		gitCmd(t, f.dir, "-c", "user.name=alice", "-c", "user.email=alice@custos.ledger", "commit", "-qam", "fix")
		expectFailure(t, f.dir, Options{}, 231, "tree", "records/00/01/000150.json was changed")
	})
	t.Run("commit deleted at a folder boundary", func(t *testing.T) {
		f := clone(t)
		cs := f.commits(t)
		f.rechain(t, cs[198], cs[200:], nil) // drops commit 200, the first of records/00/02/
		expectFailure(t, f.dir, Options{}, 200, "tree", "commit adds 2 files to records/00/02/")
	})
	t.Run("file added to an older folder", func(t *testing.T) {
		f := clone(t)
		rec := f.l.Draft("hsm.enrolled", "x", "alice", map[string]any{"hsm": freshHSM()}, f.now.Add(time.Hour))
		f.forge(t, rec, f.signers["alice"], func(es []gitobj.TreeEntry) []gitobj.TreeEntry {
			h, _ := gitobj.Write(f.l.repo.Storer, plumbing.BlobObject, []byte("hello"))
			return f.withFile(t, es, "records/00/00/notes.txt", h)
		})
		expectFailure(t, f.dir, Options{}, 231, "tree", "records/00/00/notes.txt was added")
	})
}
