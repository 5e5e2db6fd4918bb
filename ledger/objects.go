// The objects an open ledger reads: straight from its object directory
// through gitobj.Reader, the reader verify uses (loose objects inflated
// in place, no go-git object layer), and through go-git for what the
// directory does not hold (an object behind an alternate).

package ledger

import (
	"errors"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"

	"custos/ledger/internal/gitobj"
)

// objects reads a ledger's objects, one read at a time (a Reader is not
// safe for concurrent use, and a Ledger may be read from several
// goroutines).
type objects struct {
	mu   sync.Mutex
	fast *gitobj.Reader // nil: the objects directory was not found
	slow gitobj.Source
}

// objs returns l's object reader, made on first use.
func (l *Ledger) objs() *objects {
	if l.obj != nil {
		return l.obj
	}
	o := &objects{slow: l.repo.Storer}
	if _, common, err := l.dirs(); err == nil {
		o.fast = gitobj.NewReader(filepath.Join(common, "objects"))
		runtime.AddCleanup(o, func(r *gitobj.Reader) { r.Close() }, o.fast)
	}
	l.obj = o
	return o
}

// forgetObjects drops the object reader, so that the next read sees
// packs written since it was made (a sync fetches a pack into the ledger,
// then reads its commits and trees to bring the work tree along).
func (l *Ledger) forgetObjects() {
	if o := l.obj; o != nil && o.fast != nil {
		o.mu.Lock()
		o.fast.Close()
		o.fast = nil
		o.mu.Unlock()
	}
	l.obj = nil
}

// src is where the ledger's trees are read from (a gitobj.Source).
func (l *Ledger) src() gitobj.Source { return l.objs() }

// read reads object h of type typ, checked against its id.
func (l *Ledger) read(h plumbing.Hash, typ plumbing.ObjectType) ([]byte, error) {
	o := l.objs()
	if o.fast != nil {
		o.mu.Lock()
		b, err := o.fast.Read(h, typ)
		o.mu.Unlock()
		if !errors.Is(err, plumbing.ErrObjectNotFound) {
			return b, err
		}
	}
	return gitobj.Read(o.slow, h, typ)
}

// EncodedObject reads tree h (the walks of a tree read only trees).
func (o *objects) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	if o.fast != nil {
		o.mu.Lock()
		obj, err := o.fast.EncodedObject(t, h)
		o.mu.Unlock()
		if !errors.Is(err, plumbing.ErrObjectNotFound) {
			return obj, err
		}
	}
	return o.slow.EncodedObject(t, h)
}
