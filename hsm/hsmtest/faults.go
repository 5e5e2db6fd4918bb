package hsmtest

import (
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"

	"custos/hsm"
)

// Mutating are the PKCS#11 calls that change what a token holds (or, for
// C_WrapKey, let a key out, or, for C_Login and C_Logout, change who may
// act in the session): the calls Faults counts and can make fail.
var Mutating = []string{"C_InitToken", "C_InitPIN", "C_CreateObject", "C_CopyObject", "C_DestroyObject",
	"C_SetAttributeValue", "C_GenerateKey", "C_GenerateKeyPair", "C_WrapKey", "C_UnwrapKey", "C_Login", "C_Logout"}

// Mode is how an injected fault behaves.
type Mode int

const (
	// Before: the call fails without reaching the token.
	Before Mode = iota + 1
	// After: the call reaches the token and acts, then reports an error
	// (as a network HSM may, when the reply is lost).
	After
	// CrashBefore and CrashAfter: the process dies before the call, or
	// right after it acted. Simulated: every session opened through
	// Faults is closed (as the OS does for a dead process: its session
	// objects and its login go), the call panics with Crash, and from
	// then on every call fails, so deferred clean-up cannot reach the
	// token (as after a SIGKILL).
	CrashBefore
	CrashAfter
)

func (m Mode) String() string {
	return map[Mode]string{Before: "fail-before", After: "fail-after", CrashBefore: "crash-before", CrashAfter: "crash-after"}[m]
}

// Modes lists every Mode.
var Modes = []Mode{Before, After, CrashBefore, CrashAfter}

// Crash is the value a simulated crash panics with.
type Crash struct{ Point string }

// Point names the n-th (from 1) call of a PKCS#11 function.
type Point struct {
	Call string
	N    int
}

func (p Point) String() string { return fmt.Sprintf("%s#%d", p.Call, p.N) }

// Faults counts the mutating calls made through the module and injects
// one fault at a chosen point. Install it with Install; it applies to
// tokens opened afterwards.
type Faults struct {
	mu     sync.Mutex
	counts map[string]int
	seen   []Point
	at     Point
	mode   Mode
	fired  bool
	dead   bool
	// sessions opened through Faults and not yet closed
	sessions map[pkcs11.SessionHandle]bool
}

// NewFaults injects mode at point at (a zero Point injects nothing and
// only counts).
func NewFaults(at Point, mode Mode) *Faults {
	return &Faults{counts: map[string]int{}, at: at, mode: mode, sessions: map[pkcs11.SessionHandle]bool{}}
}

// Install makes the module go through f until the returned undo is called.
func (f *Faults) Install() (undo func()) {
	return hsm.WrapForTest(func(ctx hsm.PKCS11) hsm.PKCS11 { return &faultCtx{PKCS11: ctx, f: f} })
}

// Seen lists the mutating calls made so far, in order.
func (f *Faults) Seen() []Point {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Point(nil), f.seen...)
}

// Fired reports whether the fault was injected.
func (f *Faults) Fired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

// errInjected is the error injected faults report.
var errInjected = pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)

// enter counts a call and says what to do: fail before it (errBefore),
// fail after it (after), or go on.
func (f *Faults) enter(call string) (errBefore error, after bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED), false
	}
	f.counts[call]++
	p := Point{call, f.counts[call]}
	f.seen = append(f.seen, p)
	if f.fired || p != f.at {
		return nil, false
	}
	f.fired = true
	switch f.mode {
	case Before:
		return errInjected, false
	case CrashBefore:
		return errCrash, false
	}
	return nil, true
}

// errCrash tells mutate to crash.
var errCrash = fmt.Errorf("crash")

// crash ends the simulated process: its sessions close, the call panics.
func (f *Faults) crash(ctx hsm.PKCS11, call string) {
	f.mu.Lock()
	f.dead = true
	for sh := range f.sessions {
		ctx.CloseSession(sh)
	}
	clear(f.sessions)
	p := fmt.Sprintf("%s#%d %s", call, f.counts[call], f.mode)
	f.mu.Unlock()
	panic(Crash{Point: p})
}

// alive fails every call once the simulated process has died.
func (f *Faults) alive() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED)
	}
	return nil
}

type faultCtx struct {
	hsm.PKCS11
	f *Faults
}

// mutate runs one mutating call through the fault plan.
func mutate[T any](c *faultCtx, call string, do func() (T, error)) (T, error) {
	var zero T
	errBefore, after := c.f.enter(call)
	if errBefore == errCrash {
		c.f.crash(c.PKCS11, call)
	}
	if errBefore != nil {
		return zero, errBefore
	}
	v, err := do()
	switch {
	case after && c.f.mode == CrashAfter:
		c.f.crash(c.PKCS11, call)
	case after && err == nil:
		return zero, errInjected
	}
	return v, err
}

func mutate0(c *faultCtx, call string, do func() error) error {
	_, err := mutate(c, call, func() (struct{}, error) { return struct{}{}, do() })
	return err
}

func (c *faultCtx) InitToken(slot uint, pin, label string) error {
	return mutate0(c, "C_InitToken", func() error { return c.PKCS11.InitToken(slot, pin, label) })
}

func (c *faultCtx) InitPIN(sh pkcs11.SessionHandle, pin string) error {
	return mutate0(c, "C_InitPIN", func() error { return c.PKCS11.InitPIN(sh, pin) })
}

func (c *faultCtx) CreateObject(sh pkcs11.SessionHandle, t []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	return mutate(c, "C_CreateObject", func() (pkcs11.ObjectHandle, error) { return c.PKCS11.CreateObject(sh, t) })
}

func (c *faultCtx) CopyObject(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, t []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	return mutate(c, "C_CopyObject", func() (pkcs11.ObjectHandle, error) { return c.PKCS11.CopyObject(sh, o, t) })
}

func (c *faultCtx) DestroyObject(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle) error {
	return mutate0(c, "C_DestroyObject", func() error { return c.PKCS11.DestroyObject(sh, o) })
}

func (c *faultCtx) SetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) error {
	return mutate0(c, "C_SetAttributeValue", func() error { return c.PKCS11.SetAttributeValue(sh, o, a) })
}

func (c *faultCtx) GenerateKey(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, t []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	return mutate(c, "C_GenerateKey", func() (pkcs11.ObjectHandle, error) { return c.PKCS11.GenerateKey(sh, m, t) })
}

func (c *faultCtx) GenerateKeyPair(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, pub, priv []*pkcs11.Attribute) (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error) {
	type pair struct{ a, b pkcs11.ObjectHandle }
	p, err := mutate(c, "C_GenerateKeyPair", func() (pair, error) {
		a, b, err := c.PKCS11.GenerateKeyPair(sh, m, pub, priv)
		return pair{a, b}, err
	})
	return p.a, p.b, err
}

func (c *faultCtx) WrapKey(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, w, k pkcs11.ObjectHandle) ([]byte, error) {
	return mutate(c, "C_WrapKey", func() ([]byte, error) { return c.PKCS11.WrapKey(sh, m, w, k) })
}

func (c *faultCtx) UnwrapKey(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, k pkcs11.ObjectHandle, b []byte, a []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	return mutate(c, "C_UnwrapKey", func() (pkcs11.ObjectHandle, error) { return c.PKCS11.UnwrapKey(sh, m, k, b, a) })
}

// C_Sign changes nothing on the token, but it is the act a signing
// ceremony is approved for: it fails and crashes like a mutating call.
func (c *faultCtx) Sign(sh pkcs11.SessionHandle, msg []byte) ([]byte, error) {
	return mutate(c, "C_Sign", func() ([]byte, error) { return c.PKCS11.Sign(sh, msg) })
}

// The calls that change nothing fail once the simulated process died.

func (c *faultCtx) OpenSession(slot, flags uint) (pkcs11.SessionHandle, error) {
	if err := c.f.alive(); err != nil {
		return 0, err
	}
	sh, err := c.PKCS11.OpenSession(slot, flags)
	if err == nil {
		c.f.mu.Lock()
		c.f.sessions[sh] = true
		c.f.mu.Unlock()
	}
	return sh, err
}

func (c *faultCtx) CloseSession(sh pkcs11.SessionHandle) error {
	c.f.mu.Lock()
	open := c.f.sessions[sh]
	delete(c.f.sessions, sh)
	dead := c.f.dead
	c.f.mu.Unlock()
	if dead && !open {
		return nil // closed with the simulated process
	}
	return c.PKCS11.CloseSession(sh)
}

func (c *faultCtx) Login(sh pkcs11.SessionHandle, u uint, pin string) error {
	return mutate0(c, "C_Login", func() error { return c.PKCS11.Login(sh, u, pin) })
}

func (c *faultCtx) Logout(sh pkcs11.SessionHandle) error {
	return mutate0(c, "C_Logout", func() error { return c.PKCS11.Logout(sh) })
}

func (c *faultCtx) FindObjectsInit(sh pkcs11.SessionHandle, t []*pkcs11.Attribute) error {
	if err := c.f.alive(); err != nil {
		return err
	}
	return c.PKCS11.FindObjectsInit(sh, t)
}

func (c *faultCtx) GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error) {
	if err := c.f.alive(); err != nil {
		return nil, err
	}
	return c.PKCS11.GetAttributeValue(sh, o, a)
}
