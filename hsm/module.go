// Package hsm is Custos's only door to a PKCS#11 HSM: it loads the module,
// finds tokens by label or serial, logs in, generates keys inside the token
// with every security attribute set explicitly, computes check values inside
// the token, wraps and unwraps keys, destroys keys and proves their absence,
// and offers token keys as crypto.Signer.
//
// It is written for any vendor and tested on SoftHSM2 2.6.1; vendor quirks
// (CKA_EC_POINT raw or DER-wrapped, RFC 5649 as CKM_AES_KEY_WRAP_PAD, OAEP
// with SHA-1 only) are probed, never assumed. PINs are taken as []byte, used
// once and never stored; the caller zeroes them.
package hsm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/miekg/pkcs11"

	"custos/internal/hint"
)

// library is one loaded and initialised module; C_Initialize may run only
// once per process, so every Module handle on the same path shares it.
type library struct {
	path string
	ctx  PKCS11
	refs int
}

var (
	regMu    sync.Mutex
	registry = map[string]*library{}
)

// Module is a handle on a loaded PKCS#11 module. Handles on the same path
// share one initialised library; the library is finalised when the last
// handle is closed.
type Module struct {
	lib    *library
	mu     sync.Mutex
	closed bool
}

// OpenModule loads the PKCS#11 module at path (once per process) and
// returns a handle on it. Close the handle when done.
func OpenModule(path string) (*Module, error) {
	if path == "" {
		return nil, hint.With(fmt.Errorf("pkcs11 module: %w: no module path given", ErrModule),
			"give --module PATH or set CUSTOS_PKCS11_MODULE, e.g. /usr/lib/softhsm/libsofthsm2.so")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 module %s: %w: %w", path, ErrModule, err)
	}
	if abs2, err := filepath.EvalSymlinks(abs); err == nil {
		abs = abs2
	}
	regMu.Lock()
	defer regMu.Unlock()
	if lib, ok := registry[abs]; ok {
		lib.refs++
		return &Module{lib: lib}, nil
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, hint.With(fmt.Errorf("pkcs11 module %s: %w: %w", path, ErrModule, err),
			"check the module path; SoftHSM2 is usually /usr/lib/softhsm/libsofthsm2.so")
	}
	if st.IsDir() {
		return nil, fmt.Errorf("pkcs11 module %s: %w: is a directory", path, ErrModule)
	}
	raw := pkcs11.New(abs)
	if raw == nil {
		return nil, hint.With(fmt.Errorf("pkcs11 module %s: %w: not a PKCS#11 library (cannot load it or it has no C_GetFunctionList)", path, ErrModule),
			"give the path of the vendor's PKCS#11 shared library (.so)")
	}
	if err := raw.Initialize(); err != nil {
		raw.Destroy()
		e := fmt.Errorf("pkcs11 module %s: initialise: %w: %w", path, ErrModule, err)
		if rv(err) == ckrGeneralError {
			h := "the module failed to start; check its configuration file"
			if strings.Contains(filepath.Base(abs), "softhsm") {
				if c := os.Getenv("SOFTHSM2_CONF"); c == "" {
					h = "SoftHSM2 needs its configuration: set SOFTHSM2_CONF to a softhsm2.conf whose directories.tokendir exists (or create /etc/softhsm/softhsm2.conf)"
				} else {
					h = fmt.Sprintf("SoftHSM2 could not use SOFTHSM2_CONF=%s: check that the file is readable and its directories.tokendir exists", c)
				}
			}
			e = hint.With(e, h)
		}
		return nil, e
	}
	lib := &library{path: abs, ctx: raw, refs: 1}
	registry[abs] = lib
	return &Module{lib: lib}, nil
}

// Path is the absolute path of the module file.
func (m *Module) Path() string { return m.lib.path }

// Close releases the handle; the last handle finalises the module.
// Closing twice is harmless.
func (m *Module) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	regMu.Lock()
	defer regMu.Unlock()
	m.lib.refs--
	if m.lib.refs > 0 {
		return nil
	}
	delete(registry, m.lib.path)
	err := m.lib.ctx.Finalize()
	m.lib.ctx.Destroy()
	if err != nil {
		return fmt.Errorf("pkcs11 module %s: finalise: %w", m.lib.path, err)
	}
	return nil
}

// ctx is the module's PKCS#11 context, through the test wrapper when one
// is set (WrapForTest).
func (m *Module) ctx() (PKCS11, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("pkcs11 module %s: %w: handle closed", m.lib.path, ErrModule)
	}
	return wrapped(m.lib.ctx), nil
}

// ModuleInfo describes the library (C_GetInfo).
type ModuleInfo struct {
	Path            string `json:"path"`
	Manufacturer    string `json:"manufacturer"`
	Description     string `json:"description"`
	CryptokiVersion string `json:"cryptoki_version"`
	LibraryVersion  string `json:"library_version"`
}

// Info reports the module's C_GetInfo.
func (m *Module) Info() (ModuleInfo, error) {
	ctx, err := m.ctx()
	if err != nil {
		return ModuleInfo{}, err
	}
	i, err := ctx.GetInfo()
	if err != nil {
		return ModuleInfo{}, p11err("pkcs11 module "+m.lib.path+": get info", err)
	}
	return ModuleInfo{
		Path:            m.lib.path,
		Manufacturer:    strings.TrimRight(i.ManufacturerID, " \x00"),
		Description:     strings.TrimRight(i.LibraryDescription, " \x00"),
		CryptokiVersion: fmt.Sprintf("%d.%d", i.CryptokiVersion.Major, i.CryptokiVersion.Minor),
		LibraryVersion:  fmt.Sprintf("%d.%d", i.LibraryVersion.Major, i.LibraryVersion.Minor),
	}, nil
}

// TokenInfo is the identity and state of a token, as recorded in the ledger.
type TokenInfo struct {
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Serial       string `json:"serial"`
	Label        string `json:"label"`
	Firmware     string `json:"firmware"`
	Hardware     string `json:"hardware"`
	// Flags are the CK_TOKEN_INFO flags that matter, by name.
	Initialized     bool `json:"initialized"`
	LoginRequired   bool `json:"login_required"`
	UserPINInit     bool `json:"user_pin_initialized"`
	UserPINCountLow bool `json:"user_pin_count_low"`
	UserPINFinalTry bool `json:"user_pin_final_try"`
	UserPINLocked   bool `json:"user_pin_locked"`
	SOPINLocked     bool `json:"so_pin_locked"`
	WriteProtected  bool `json:"write_protected"`
	HasRNG          bool `json:"rng"`
	// Flags is the raw CK_TOKEN_INFO.flags.
	Flags uint `json:"flags"`
}

func tokenInfo(ti pkcs11.TokenInfo) TokenInfo {
	f := ti.Flags
	return TokenInfo{
		Manufacturer:    strings.TrimRight(ti.ManufacturerID, " \x00"),
		Model:           strings.TrimRight(ti.Model, " \x00"),
		Serial:          strings.TrimRight(ti.SerialNumber, " \x00"),
		Label:           strings.TrimRight(ti.Label, " \x00"),
		Firmware:        fmt.Sprintf("%d.%d", ti.FirmwareVersion.Major, ti.FirmwareVersion.Minor),
		Hardware:        fmt.Sprintf("%d.%d", ti.HardwareVersion.Major, ti.HardwareVersion.Minor),
		Initialized:     f&pkcs11.CKF_TOKEN_INITIALIZED != 0,
		LoginRequired:   f&pkcs11.CKF_LOGIN_REQUIRED != 0,
		UserPINInit:     f&pkcs11.CKF_USER_PIN_INITIALIZED != 0,
		UserPINCountLow: f&pkcs11.CKF_USER_PIN_COUNT_LOW != 0,
		UserPINFinalTry: f&pkcs11.CKF_USER_PIN_FINAL_TRY != 0,
		UserPINLocked:   f&pkcs11.CKF_USER_PIN_LOCKED != 0,
		SOPINLocked:     f&pkcs11.CKF_SO_PIN_LOCKED != 0,
		WriteProtected:  f&pkcs11.CKF_WRITE_PROTECTED != 0,
		HasRNG:          f&pkcs11.CKF_RNG != 0,
		Flags:           f,
	}
}

// Slot is one slot of the module and, when present, its token. The slot
// id is shown for information only: it can change when a token is
// initialised, so tokens are always chosen by label or serial.
type Slot struct {
	ID          uint       `json:"slot_id"`
	Description string     `json:"description"`
	Token       *TokenInfo `json:"token,omitempty"`
}

// Slots lists the module's slots with a token present.
func (m *Module) Slots() ([]Slot, error) {
	ctx, err := m.ctx()
	if err != nil {
		return nil, err
	}
	ids, err := ctx.GetSlotList(true)
	if err != nil {
		return nil, p11err("pkcs11 module "+m.lib.path+": list slots", err)
	}
	out := make([]Slot, 0, len(ids))
	for _, id := range ids {
		s := Slot{ID: id}
		if si, err := ctx.GetSlotInfo(id); err == nil {
			s.Description = strings.TrimRight(si.SlotDescription, " \x00")
		}
		ti, err := ctx.GetTokenInfo(id)
		if err != nil {
			return nil, p11err(fmt.Sprintf("pkcs11 module %s: token info of slot %d", m.lib.path, id), err)
		}
		t := tokenInfo(ti)
		s.Token = &t
		out = append(out, s)
	}
	return out, nil
}

// Selector chooses a token by label and/or serial (never by slot id).
type Selector struct {
	Label  string
	Serial string
}

func (s Selector) String() string {
	switch {
	case s.Label != "" && s.Serial != "":
		return fmt.Sprintf("label %q serial %q", s.Label, s.Serial)
	case s.Serial != "":
		return fmt.Sprintf("serial %q", s.Serial)
	default:
		return fmt.Sprintf("label %q", s.Label)
	}
}

// findSlot returns the slot of the single initialised token matching sel.
func (m *Module) findSlot(sel Selector) (uint, TokenInfo, error) {
	if sel.Label == "" && sel.Serial == "" {
		return 0, TokenInfo{}, fmt.Errorf("find token: %w: no label or serial given", ErrTokenNotFound)
	}
	slots, err := m.Slots()
	if err != nil {
		return 0, TokenInfo{}, err
	}
	var found []Slot
	for _, s := range slots {
		t := s.Token
		if t == nil || !t.Initialized {
			continue
		}
		if sel.Label != "" && t.Label != sel.Label {
			continue
		}
		if sel.Serial != "" && t.Serial != sel.Serial {
			continue
		}
		found = append(found, s)
	}
	switch len(found) {
	case 1:
		return found[0].ID, *found[0].Token, nil
	case 0:
		var labels []string
		for _, s := range slots {
			if s.Token != nil && s.Token.Initialized {
				labels = append(labels, fmt.Sprintf("%q", s.Token.Label))
			}
		}
		sort.Strings(labels)
		have := "none"
		if len(labels) > 0 {
			have = strings.Join(labels, ", ")
		}
		err := fmt.Errorf("module %s: no token with %s: %w", m.lib.path, sel, ErrTokenNotFound)
		if d := storeDamaged(m, err); d != err {
			return 0, TokenInfo{}, hint.With(d, "the token cannot be read back; put its directory back from a copy, or restore its keys from their backups into a new token (tokens present: "+have+")")
		}
		return 0, TokenInfo{}, hint.With(err, "tokens present: "+have)
	default:
		return 0, TokenInfo{}, hint.With(fmt.Errorf("module %s: %d tokens with %s: %w", m.lib.path, len(found), sel, ErrTokenNotFound),
			"select the token by serial as well")
	}
}

// InitToken initialises the first free (uninitialised) token of the module
// with label, sets its SO PIN and user PIN, and returns its info. It is
// for setting up new tokens (and tests); it never touches an initialised
// token.
func (m *Module) InitToken(label string, soPIN, userPIN []byte) (TokenInfo, error) {
	ctx, err := m.ctx()
	if err != nil {
		return TokenInfo{}, err
	}
	if label == "" || len(label) > 32 {
		return TokenInfo{}, fmt.Errorf("init token %q: label must be 1 to 32 bytes", label)
	}
	if len(soPIN) == 0 || len(userPIN) == 0 {
		return TokenInfo{}, fmt.Errorf("init token %q: empty pin", label)
	}
	// Any token already holding the label refuses the init, one or several
	// (findSlot fails on several: that must not read as "none").
	all, err := m.Slots()
	if err != nil {
		return TokenInfo{}, err
	}
	for _, s := range all {
		if s.Token != nil && s.Token.Initialized && s.Token.Label == label {
			return TokenInfo{}, fmt.Errorf("init token %q: %w: a token with this label exists", label, ErrLabelExists)
		}
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return TokenInfo{}, p11err("init token: list slots", err)
	}
	free := -1
	for i, id := range slots {
		ti, err := ctx.GetTokenInfo(id)
		if err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			free = i
			break
		}
	}
	if free < 0 {
		return TokenInfo{}, fmt.Errorf("init token %q: %w: no free uninitialised token in %s", label, ErrTokenNotFound, m.lib.path)
	}
	slot := slots[free]
	if err := ctx.InitToken(slot, pinString(soPIN), label); err != nil {
		return TokenInfo{}, p11err(fmt.Sprintf("init token %q", label), err)
	}
	// SoftHSM renumbers slots after C_InitToken: find it again by label.
	slot, _, err = m.findSlot(Selector{Label: label})
	if err != nil {
		return TokenInfo{}, fmt.Errorf("init token %q: find it after init: %w", label, err)
	}
	sh, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return TokenInfo{}, p11err(fmt.Sprintf("init token %q: open session", label), err)
	}
	defer ctx.CloseSession(sh)
	if err := ctx.Login(sh, pkcs11.CKU_SO, pinString(soPIN)); err != nil {
		return TokenInfo{}, p11err(fmt.Sprintf("init token %q: so login", label), err)
	}
	defer ctx.Logout(sh)
	if err := ctx.InitPIN(sh, pinString(userPIN)); err != nil {
		return TokenInfo{}, p11err(fmt.Sprintf("init token %q: set user pin", label), err)
	}
	ti, err := ctx.GetTokenInfo(slot)
	if err != nil {
		return TokenInfo{}, p11err(fmt.Sprintf("init token %q: token info", label), err)
	}
	return tokenInfo(ti), nil
}

// pinString views pin as a string without copying it on the Go heap, so
// zeroing the caller's slice also clears this view. miekg/pkcs11 copies it
// once more into C memory (C.CString) and frees that copy unzeroed; that
// copy lives only for the duration of the call.
func pinString(pin []byte) string {
	if len(pin) == 0 {
		return ""
	}
	return unsafe.String(&pin[0], len(pin))
}

// errClosed is returned by operations on a closed Token.
var errClosed = errors.New("token session closed")
