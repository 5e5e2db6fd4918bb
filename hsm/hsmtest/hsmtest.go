// Package hsmtest makes test tokens on the two PKCS#11 implementations
// the tests run on: hermetic SoftHSM2 tokens (below) and opencryptoki's
// software token (opencryptoki.go; machine-global, taken in turns). Kind
// says which one a process uses; RunOnModules runs a package's tests on
// each (modules.go).
//
// A PKCS#11 module can be initialised only once per process and SoftHSM2
// reads SOFTHSM2_CONF only then, so every token a test process makes lives
// in ONE token store: a temp dir with its own softhsm2.conf, created on the
// first call and pointed at by SOFTHSM2_CONF for the rest of the process.
// Tokens are initialised from Go (C_InitToken, C_InitPIN); SoftHSM2 offers
// a fresh empty slot after each C_InitToken, so no re-initialisation is
// needed.
//
// Standalone makes a separate token store (conf, tokens, PIN files) for
// another process, such as the custos binary in end-to-end tests.
package hsmtest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"custos/hsm"
)

// Candidates are the usual SoftHSM2 module locations, in search order.
var Candidates = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// ModulePath returns the module under test: opencryptoki's when Kind
// says so, else $CUSTOS_TEST_MODULE or the first SoftHSM2 module found;
// "" when there is none.
func ModulePath() string {
	if Kind() == OCKName {
		return OCKModulePath()
	}
	if p := os.Getenv("CUSTOS_TEST_MODULE"); p != "" {
		return p
	}
	for _, p := range Candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

var (
	storeOnce sync.Once
	storeDir  string
	storeErr  error
	counter   atomic.Int64
)

// WriteConf writes dir/softhsm2.conf for a token store in dir/tokens and
// returns the conf path.
func WriteConf(dir string) (string, error) {
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return "", fmt.Errorf("softhsm token dir %s: %w", tokens, err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return "", fmt.Errorf("softhsm conf %s: %w", conf, err)
	}
	return conf, nil
}

// Store returns the process-wide token store dir, creating it and setting
// SOFTHSM2_CONF on first use. It must run before the module is first
// opened in this process; Module and NewToken call it.
func Store() (string, error) {
	storeOnce.Do(func() {
		storeDir, storeErr = os.MkdirTemp("", "custos-softhsm-")
		if storeErr != nil {
			return
		}
		var conf string
		if conf, storeErr = WriteConf(storeDir); storeErr == nil {
			storeErr = os.Setenv("SOFTHSM2_CONF", conf)
		}
	})
	return storeDir, storeErr
}

// Module opens the SoftHSM2 module on the process-wide store; the test
// fails (never skips) when there is no module. Closed at test end.
func Module(t testing.TB) *hsm.Module {
	t.Helper()
	if Kind() == OCKName {
		return ockModule(t)
	}
	if _, err := Store(); err != nil {
		t.Fatalf("hsmtest: token store: %v", err)
	}
	p := ModulePath()
	if p == "" {
		t.Fatalf("hsmtest: no SoftHSM2 module found (tried %v; set CUSTOS_TEST_MODULE)", Candidates)
	}
	m, err := hsm.OpenModule(p)
	if err != nil {
		t.Fatalf("hsmtest: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// SoftHSMName is SoftHSM2's name in test tables and counts.
const SoftHSMName = "softhsm2"

// Kind is the module this test process runs on: $CUSTOS_TEST_HSM,
// "softhsm2" (the default) or "opencryptoki". Module and NewToken follow
// it; RunOnModules sets it for a child test process.
func Kind() string {
	if k := os.Getenv("CUSTOS_TEST_HSM"); k != "" {
		return k
	}
	return SoftHSMName
}

// Token is a test token: its label, serial and PINs.
type Token struct {
	Module  *hsm.Module
	Label   string
	Serial  string
	SOPIN   []byte
	UserPIN []byte
}

// RandomPIN returns 16 hex digits.
func RandomPIN() []byte {
	b := make([]byte, 8)
	rand.Read(b)
	return []byte(hex.EncodeToString(b))
}

// Label returns a label unique in this process, starting with prefix.
func Label(prefix string) string {
	l := fmt.Sprintf("%s-%d", prefix, counter.Add(1))
	if len(l) > 32 {
		l = l[len(l)-32:]
	}
	return l
}

// NewToken initialises a token labelled label (made unique) with random
// SO and user PINs in the process-wide store.
func NewToken(t testing.TB, label string) *Token {
	t.Helper()
	if Kind() == OCKName {
		return ockNewToken(t, label)
	}
	m := Module(t)
	label = Label(label)
	so, user := RandomPIN(), RandomPIN()
	ti, err := m.InitToken(label, so, user)
	if err != nil {
		t.Fatalf("hsmtest: init token %q: %v", label, err)
	}
	return &Token{Module: m, Label: label, Serial: ti.Serial, SOPIN: so, UserPIN: user}
}

// Open opens a session on the token and logs the user in; closed at test end.
func (tk *Token) Open(t testing.TB) *hsm.Token {
	t.Helper()
	tok := tk.OpenNoLogin(t)
	if err := tok.Login(tk.UserPIN); err != nil {
		t.Fatalf("hsmtest: login %q: %v", tk.Label, err)
	}
	return tok
}

// OpenNoLogin opens a session without logging in; closed at test end.
func (tk *Token) OpenNoLogin(t testing.TB) *hsm.Token {
	t.Helper()
	tok, err := tk.Module.OpenToken(hsm.Selector{Label: tk.Label})
	if err != nil {
		t.Fatalf("hsmtest: open %q: %v", tk.Label, err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

// Standalone is a token store for another process.
type Standalone struct {
	Dir         string // the store
	Conf        string // its softhsm2.conf: set SOFTHSM2_CONF to this
	Module      string
	Label       string
	UserPINFile string // mode 0600, PIN plus newline
	SOPINFile   string
	// URI is a PKCS#11 URI of the token with module-path and pin-source.
	URI string
}

// NewStandalone makes dir/softhsm2.conf, dir/tokens and a token labelled
// label with random PINs written to dir/user.pin and dir/so.pin. It runs
// softhsm2-util with the PINs on its argv: acceptable for throwaway test
// and demo tokens only; custos itself never takes a PIN from argv.
func NewStandalone(dir, label string) (*Standalone, error) {
	mod := ModulePath()
	if mod == "" {
		return nil, fmt.Errorf("hsmtest: no SoftHSM2 module found")
	}
	conf, err := WriteConf(dir)
	if err != nil {
		return nil, err
	}
	s := &Standalone{Dir: dir, Conf: conf, Module: mod, Label: label,
		UserPINFile: filepath.Join(dir, "user.pin"), SOPINFile: filepath.Join(dir, "so.pin")}
	user, so := RandomPIN(), RandomPIN()
	if err := writePINs(s, user, so); err != nil {
		return nil, err
	}
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", string(so), "--pin", string(user))
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("hsmtest: softhsm2-util --init-token %q: %w: %s", label, err, out)
	}
	u := hsm.URI{Token: label, ModulePath: mod, PINSource: "file:" + s.UserPINFile}
	s.URI = u.String()
	return s, nil
}

// writePINs writes the PIN files of s, mode 0600, each PIN plus newline.
func writePINs(s *Standalone, user, so []byte) error {
	for _, f := range []struct {
		path string
		pin  []byte
	}{{s.UserPINFile, user}, {s.SOPINFile, so}} {
		fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("hsmtest: pin file: %w", err)
		}
		_, err = fh.Write(append(f.pin, '\n'))
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("hsmtest: pin file %s: %w", f.path, err)
		}
	}
	return nil
}

// SkipIfLacks skips t when err says the module under test lacks a
// mechanism or attribute (opencryptoki 3.8's software token has no EC,
// EdDSA, AES-CMAC, AES key wrap or CKA_WRAP_WITH_TRUSTED), naming it. On
// SoftHSM2, the reference module, it does nothing: the caller fails.
func SkipIfLacks(t testing.TB, err error) {
	t.Helper()
	if err == nil || Kind() == SoftHSMName {
		return
	}
	if errors.Is(err, hsm.ErrMechanismUnsupported) || errors.Is(err, hsm.ErrAttributeUnsupported) {
		t.Skipf("%s lacks what this needs: %v", Kind(), err)
	}
}

// OnlySoftHSM skips t, saying why, on any module but SoftHSM2: for tests
// of what only SoftHSM2 does (free slots for new tokens, its store files).
func OnlySoftHSM(t testing.TB, why string) {
	t.Helper()
	if Kind() != SoftHSMName {
		t.Skipf("%s: SoftHSM2 only: %s", Kind(), why)
	}
}

// NeedMechanism skips t, naming the mechanism, when the module under test
// is not SoftHSM2 and the token lacks it; on SoftHSM2 it does nothing.
func NeedMechanism(t testing.TB, tok *hsm.Token, name string) {
	t.Helper()
	if Kind() == SoftHSMName {
		return
	}
	ms, err := tok.Mechanisms()
	if err != nil {
		t.Fatalf("hsmtest: mechanisms: %v", err)
	}
	for _, m := range ms {
		if m.Name == name && !m.Supported {
			t.Skipf("%s lacks %s", Kind(), name)
		}
	}
}
