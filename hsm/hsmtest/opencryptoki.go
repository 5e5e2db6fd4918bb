package hsmtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"custos/hsm"
)

// opencryptoki's software token (swtok) is the second PKCS#11
// implementation the tests run on. Unlike SoftHSM2 its state is
// machine-global: version 3.8 (Debian 12) keeps ONE software token per
// machine, in /var/lib/opencryptoki/swtok (with a shared-memory image in
// /dev/shm), reached through the pkcsslotd daemon's socket. Hence:
//   - a process that uses it takes an exclusive lock (OCKLockFile) for the
//     rest of its life, so test processes (go test runs packages in
//     parallel) take turns;
//   - on first use the process wipes the store, so the token starts
//     uninitialised with opencryptoki's default SO PIN, whatever an
//     earlier run left;
//   - each test that asks for a token re-initialises that one token (all
//     objects go) with fresh random PINs, and holds it until it ends;
//     tests asking for a second token at once are skipped, with the reason.

// OCKName is the module's name in test tables and counts.
const OCKName = "opencryptoki"

// OCKCandidates are the usual locations of opencryptoki's PKCS#11 library.
var OCKCandidates = []string{
	"/usr/lib/x86_64-linux-gnu/opencryptoki/libopencryptoki.so",
	"/usr/lib/x86_64-linux-gnu/pkcs11/PKCS11_API.so",
	"/usr/lib/opencryptoki/libopencryptoki.so",
	"/usr/lib64/opencryptoki/libopencryptoki.so",
}

// Machine-global paths of opencryptoki 3.x (compiled into it).
const (
	OCKStore    = "/var/lib/opencryptoki/swtok"
	OCKShm      = "/dev/shm/var.lib.opencryptoki.swtok"
	OCKSocket   = "/var/run/pkcsslotd.socket"
	OCKPidFile  = "/var/run/pkcsslotd.pid"
	OCKLockFile = "/var/lib/opencryptoki/custos-test.lock"
	// ockDefaultSO is the SO PIN of a fresh opencryptoki token (its
	// documented default), changed at once by every re-initialisation.
	ockDefaultSO = "87654321"
)

// OCKModulePath returns the opencryptoki library, or "".
func OCKModulePath() string {
	for _, p := range OCKCandidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

var (
	ockPrep  sync.Mutex
	ockReady bool
	ockLock  *os.File
	// ockMu is held by the test using the token; ockHolder is that test.
	ockMu     sync.Mutex
	ockHolder testing.TB
	ockHeld   sync.Mutex // guards ockHolder
	ockSerial string
)

// ockPrepare, once per process (or again after ReleaseOCK): lock, wipe
// the store, make sure pkcsslotd runs.
func ockPrepare() error {
	ockPrep.Lock()
	defer ockPrep.Unlock()
	if ockReady {
		return nil
	}
	if err := ockPrepareOnce(); err != nil {
		return err
	}
	ockReady = true
	return nil
}

// ReleaseOCK gives up the machine-wide lock before the process ends, so
// that other test processes need not wait for all of this one: call it
// when nothing of this process uses opencryptoki any more (every module
// handle closed). The next use takes the lock and wipes the store again.
func ReleaseOCK() {
	ockPrep.Lock()
	defer ockPrep.Unlock()
	if ockLock != nil {
		ockLock.Close() // drops the flock
		ockLock = nil
	}
	ockReady = false
}

func ockPrepareOnce() error {
	if OCKModulePath() == "" {
		return fmt.Errorf("opencryptoki is not installed (no library in %v): run scripts/setup.sh (it installs the opencryptoki package)", OCKCandidates)
	}
	if _, err := exec.LookPath("pkcsslotd"); err != nil {
		if _, err := os.Stat("/usr/sbin/pkcsslotd"); err != nil {
			return fmt.Errorf("opencryptoki's pkcsslotd is missing: run scripts/setup.sh")
		}
	}
	// Held until ReleaseOCK or the process exits (the kernel drops it).
	f, err := os.OpenFile(OCKLockFile, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opencryptoki test lock %s: %w", OCKLockFile, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return fmt.Errorf("opencryptoki test lock %s: %w", OCKLockFile, err)
	}
	ockLock = f
	if err := ockWipe(); err != nil {
		return err
	}
	return ockDaemon()
}

// ockWipe empties the token store and its shared-memory image: no other
// process uses the token (the lock), so the next C_Initialize reads an
// uninitialised token.
func ockWipe() error {
	for _, n := range []string{"NVTOK.DAT", "MK_SO", "MK_USER", ".stmask", ".sotok"} {
		if err := os.Remove(filepath.Join(OCKStore, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("opencryptoki store: %w", err)
		}
	}
	objs, _ := filepath.Glob(filepath.Join(OCKStore, "TOK_OBJ", "*"))
	for _, o := range objs {
		if err := os.Remove(o); err != nil {
			return fmt.Errorf("opencryptoki store: %w", err)
		}
	}
	if err := os.Remove(OCKShm); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("opencryptoki store: %w", err)
	}
	return nil
}

// ockDaemon starts pkcsslotd unless it runs (it forks into the background).
func ockDaemon() error {
	if b, err := os.ReadFile(OCKPidFile); err == nil {
		if pid, err := strconv.Atoi(string(trimNL(b))); err == nil && syscall.Kill(pid, 0) == nil {
			if _, err := os.Stat(OCKSocket); err == nil {
				return nil
			}
		}
	}
	os.Remove(OCKPidFile)
	out, err := exec.Command("pkcsslotd").CombinedOutput()
	if err != nil {
		return fmt.Errorf("start pkcsslotd: %w: %s", err, out)
	}
	if _, err := os.Stat(OCKSocket); err != nil {
		return fmt.Errorf("pkcsslotd started but %s is missing: %w", OCKSocket, err)
	}
	return nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// OCKPIN returns 8 random hex digits: opencryptoki's PINs are 4 to 8
// bytes.
func OCKPIN() []byte { return RandomPIN()[:8] }

// ockModule opens opencryptoki (the test fails, never skips, when it is
// missing); closed at test end.
func ockModule(t testing.TB) *hsm.Module {
	t.Helper()
	if err := ockPrepare(); err != nil {
		t.Fatalf("hsmtest: %v", err)
	}
	m, err := hsm.OpenModule(OCKModulePath())
	if err != nil {
		t.Fatalf("hsmtest: opencryptoki: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// ockReinit re-initialises the one token as label with fresh PINs.
func ockReinit(m *hsm.Module, label string) (so, user []byte, ti hsm.TokenInfo, err error) {
	if ockSerial == "" {
		slots, err := m.Slots()
		if err != nil {
			return nil, nil, ti, err
		}
		for _, s := range slots {
			if s.Token != nil && (s.Token.Model == "IBM SoftTok" || len(slots) == 1) {
				ockSerial = s.Token.Serial
			}
		}
		if ockSerial == "" {
			return nil, nil, ti, fmt.Errorf("opencryptoki: no software token among %d slots (is slot 3 libpkcs11_sw.so in /etc/opencryptoki/opencryptoki.conf?)", len(slots))
		}
	}
	// The SO PIN stays opencryptoki's default: 3.8's C_InitToken keeps
	// the SO PIN but re-encrypts the token's master key under the default
	// one, so after a re-init a changed SO PIN can no longer log in
	// (CKR_FUNCTION_FAILED). Harmless for a throwaway test token; the
	// user PIN is random.
	so, user = []byte(ockDefaultSO), OCKPIN()
	ti, err = m.ReinitToken(ockSerial, label, so, so, user)
	return so, user, ti, err
}

// ockNewToken takes the one token for t (until t ends) and re-initialises it.
func ockNewToken(t testing.TB, label string) *Token {
	t.Helper()
	ockHeld.Lock()
	holder := ockHolder
	ockHeld.Unlock()
	if holder == t {
		t.Skip("opencryptoki's software token is one per machine: this test needs two tokens at once")
	}
	ockMu.Lock()
	ockHeld.Lock()
	ockHolder = t
	ockHeld.Unlock()
	t.Cleanup(func() {
		ockHeld.Lock()
		ockHolder = nil
		ockHeld.Unlock()
		ockMu.Unlock()
	})
	m := ockModule(t)
	label = Label(label)
	so, user, ti, err := ockReinit(m, label)
	if err != nil {
		t.Fatalf("hsmtest: opencryptoki: init token %q: %v", label, err)
	}
	return &Token{Module: m, Label: label, Serial: ti.Serial, SOPIN: so, UserPIN: user}
}

// NewOCKStandalone re-initialises the one opencryptoki token as label for
// another process (the custos binary), with its PINs in dir/user.pin and
// dir/so.pin. The calling process keeps the machine-wide lock; the token
// is reset again by the next caller.
func NewOCKStandalone(dir, label string) (*Standalone, error) {
	if err := ockPrepare(); err != nil {
		return nil, err
	}
	ockMu.Lock()
	defer ockMu.Unlock()
	m, err := hsm.OpenModule(OCKModulePath())
	if err != nil {
		return nil, err
	}
	so, user, _, err := ockReinit(m, label)
	m.Close() // finalised: the custos binary is the token's user now
	if err != nil {
		return nil, fmt.Errorf("hsmtest: opencryptoki: init token %q: %w", label, err)
	}
	s := &Standalone{Dir: dir, Module: OCKModulePath(), Label: label,
		UserPINFile: filepath.Join(dir, "user.pin"), SOPINFile: filepath.Join(dir, "so.pin")}
	if err := writePINs(s, user, so); err != nil {
		return nil, err
	}
	u := hsm.URI{Token: label, ModulePath: s.Module, PINSource: "file:" + s.UserPINFile}
	s.URI = u.String()
	return s, nil
}
