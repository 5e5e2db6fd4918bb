// What a token can do, per ceremony and key type, worked out from its
// mechanism list and a probe of the attributes Custos's guarantees rest on
// (CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED), before anything is recorded. The
// fallback chains (docs/hsm.md) are applied here and in wrap.go alike.

package hsm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"

	"custos/internal/hint"
)

// ErrAttributeUnsupported: the token refuses (or ignores) an attribute an
// operation's guarantee rests on.
var ErrAttributeUnsupported = errors.New("attribute unsupported")

// The ceremony kinds whose HSM work depends on the token's mechanisms.
// The others (enroll, compromise, roster, review, destroy-backup) need
// nothing beyond a session; destroy needs C_DestroyObject only.
const (
	CapGenerate = "generate"             // also rotate
	CapExtract  = "generate-extractable" // generate with exportable or backup: true
	CapExport   = "export"
	CapBackup   = "backup"
	CapRestore  = "restore"
	CapReshare  = "reshare"
	CapDestroy  = "destroy"
)

// CapabilityKinds lists the kinds in display order.
var CapabilityKinds = []string{CapGenerate, CapExtract, CapExport, CapBackup, CapRestore, CapReshare, CapDestroy}

// Capability says whether the token can run one ceremony kind for one key
// type, through which mechanisms and attributes, or what is missing.
type Capability struct {
	Ceremony string  `json:"ceremony"`
	KeyType  KeyType `json:"key_type,omitempty"`
	OK       bool    `json:"ok"`
	// Uses names the mechanisms and attributes the ceremony will use
	// (after the fallback chains), Missing what the token lacks.
	Uses    []string `json:"uses,omitempty"`
	Missing []string `json:"missing,omitempty"`
	Why     string   `json:"why,omitempty"`
}

// AttributeSupport is what a probe with throwaway public session objects
// found (no PIN needed).
type AttributeSupport struct {
	Probed bool `json:"probed"`
	// WrapWithTrusted: CKA_WRAP_WITH_TRUSTED accepted in a template.
	WrapWithTrusted bool `json:"wrap_with_trusted"`
	// WrapWithTrustedHonoured: a CKA_WRAP_WITH_TRUSTED key was refused
	// under an untrusted wrapping key; false with Checked false when the
	// token has no AES key wrap to try it with.
	WrapWithTrustedHonoured bool `json:"wrap_with_trusted_honoured"`
	HonourChecked           bool `json:"honour_checked"`
	// Trusted: CKA_TRUSTED accepted in a template.
	Trusted bool `json:"trusted"`
	// ID16: a 16-byte CKA_ID (what Custos gives every object) accepted;
	// some tokens keep short numeric ids (YubiHSM 2: 2 bytes).
	ID16 bool `json:"id_16_bytes"`
	// Error is why the probe could not run, when Probed is false.
	Error string `json:"error,omitempty"`
}

// caps are the inputs of the capability rules.
type caps struct {
	has   func(mech, flags uint) bool
	attrs AttributeSupport
}

var keyGen = map[KeyType]struct {
	mech uint
	name string
}{
	AES256:  {pkcs11.CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN"},
	RSA3072: {pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"},
	RSA4096: {pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"},
	ECP256:  {pkcs11.CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"},
	ECP384:  {pkcs11.CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"},
	Ed25519: {ckmECEdwardsKeyPairGen, "CKM_EC_EDWARDS_KEY_PAIR_GEN"},
}

// aesWrapChoice is the RFC 5649 fallback chain: KWP, then KEY_WRAP_PAD.
func (c caps) aesWrapChoice(flag uint) (string, bool) {
	switch {
	case c.has(ckmAESKeyWrapKWP, flag):
		return "CKM_AES_KEY_WRAP_KWP", true
	case c.has(pkcs11.CKM_AES_KEY_WRAP_PAD, flag):
		return "CKM_AES_KEY_WRAP_PAD", true
	}
	return "CKM_AES_KEY_WRAP_KWP or CKM_AES_KEY_WRAP_PAD", false
}

// capability applies the rules for one ceremony kind and key type.
func (c caps) capability(kind string, kt KeyType) Capability {
	cp := Capability{Ceremony: kind, KeyType: kt}
	use := func(name string) { cp.Uses = append(cp.Uses, name) }
	miss := func(name string) { cp.Missing = append(cp.Missing, name) }
	mech := func(m uint, name string, flags uint) {
		if c.has(m, flags) {
			use(name)
		} else {
			miss(name)
		}
	}
	cmac := func() { mech(pkcs11.CKM_AES_CMAC, "CKM_AES_CMAC", pkcs11.CKF_SIGN) }
	trusted := func() {
		switch {
		case !c.attrs.Probed:
			use("CKA_TRUSTED (not probed)")
		case c.attrs.Trusted:
			use("CKA_TRUSTED")
		default:
			miss("CKA_TRUSTED")
		}
	}
	wwt := func() {
		switch {
		case !c.attrs.Probed:
			use("CKA_WRAP_WITH_TRUSTED (not probed)")
		case !c.attrs.WrapWithTrusted:
			miss("CKA_WRAP_WITH_TRUSTED")
		case c.attrs.HonourChecked && !c.attrs.WrapWithTrustedHonoured:
			miss("CKA_WRAP_WITH_TRUSTED (accepted but not enforced)")
		default:
			use("CKA_WRAP_WITH_TRUSTED")
		}
	}
	id16 := func() {
		if c.attrs.Probed && !c.attrs.ID16 {
			miss("CKA_ID of 16 bytes")
		}
	}
	wrap := func(flag uint) {
		if name, ok := c.aesWrapChoice(flag); ok {
			use(name)
		} else {
			miss(name)
		}
	}
	switch kind {
	case CapGenerate, CapExtract:
		g := keyGen[kt]
		mech(g.mech, g.name, 0)
		id16()
		if kt.Secret() {
			// The ledger's check value of a KEK-usage key: CMAC only (no
			// CKA_ENCRYPT, so no ECB check value as a fallback).
			cmac()
		}
		if kind == CapExtract {
			wwt()
		}
	case CapExport:
		if !kt.Secret() {
			cp.Why = "RSA-OAEP carries only a secret key; a private key leaves the HSM only in a backup"
			return cp
		}
		mech(pkcs11.CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP (SHA-256, else SHA-1)", pkcs11.CKF_WRAP)
		trusted()
		wwt()
	case CapBackup:
		wrap(pkcs11.CKF_WRAP)
		cmac()
		trusted()
		wwt()
		if !kt.Secret() {
			use("wrap probe at the ceremony (some tokens refuse to wrap some private keys)")
		}
	case CapRestore:
		wrap(pkcs11.CKF_UNWRAP)
		id16()
		cmac()
		wwt()
		if g := keyGen[kt]; !kt.Secret() && !c.has(g.mech, 0) {
			// A token that cannot make the key type is unlikely to hold one.
			miss(g.name + " (the key type)")
		}
	case CapReshare:
		mech(pkcs11.CKM_AES_CMAC, "CKM_AES_CMAC", pkcs11.CKF_SIGN)
	case CapDestroy:
		use("C_DestroyObject")
	}
	cp.OK = len(cp.Missing) == 0
	if !cp.OK && cp.Why == "" {
		cp.Why = "the token lacks " + strings.Join(cp.Missing, ", ")
	}
	return cp
}

// all lists every ceremony kind for every key type (reshare and destroy
// once: they do not depend on it).
func (c caps) all() []Capability {
	var out []Capability
	for _, kind := range CapabilityKinds {
		if kind == CapReshare || kind == CapDestroy {
			out = append(out, c.capability(kind, ""))
			continue
		}
		for _, kt := range KeyTypes {
			out = append(out, c.capability(kind, kt))
		}
	}
	return out
}

func hasIn(ml map[uint]pkcs11.MechanismInfo) func(uint, uint) bool {
	return func(m, flags uint) bool {
		mi, ok := ml[m]
		return ok && mi.Flags&flags == flags
	}
}

// CapabilitiesOf reports, for the token in slot, every ceremony kind and
// key type: whether it can run and through what. No PIN is needed: the
// attribute probe uses public session objects.
func (m *Module) CapabilitiesOf(slot uint) ([]Capability, AttributeSupport, error) {
	ml, err := m.mechList(slot)
	if err != nil {
		return nil, AttributeSupport{}, fmt.Errorf("slot %d: %w", slot, err)
	}
	attrs := m.probeAttributes(slot, ml)
	return caps{has: hasIn(ml), attrs: attrs}.all(), attrs, nil
}

// Require fails, naming what is missing, when the token cannot run the
// ceremony kind for key type kt. Ceremonies call it before their first
// record. The error wraps ErrMechanismUnsupported or ErrAttributeUnsupported.
func (t *Token) Require(kind string, kt KeyType) error {
	ml, err := t.mechanisms()
	if err != nil {
		return err
	}
	// Only the kinds that make objects probe (the probe makes throwaway
	// session objects: calls a fault or kill count would see).
	var attrs AttributeSupport
	switch kind {
	case CapGenerate, CapExtract, CapExport, CapBackup, CapRestore:
		t.probeMu.Lock()
		if t.attrs == nil {
			a := t.mod.probeAttributes(t.slot, ml)
			t.attrs = &a
		}
		attrs = *t.attrs
		t.probeMu.Unlock()
	}
	cp := caps{has: hasIn(ml), attrs: attrs}.capability(kind, kt)
	if cp.OK {
		return nil
	}
	what := kind
	if kt != "" {
		what += " " + string(kt)
	}
	sentinel := ErrMechanismUnsupported
	if len(cp.Missing) > 0 && strings.HasPrefix(cp.Missing[0], "CKA_") {
		sentinel = ErrAttributeUnsupported
	}
	if len(cp.Missing) == 0 {
		return fmt.Errorf("token %q cannot %s: %s", t.info.Label, what, cp.Why)
	}
	return hint.With(fmt.Errorf("token %q cannot %s: %w: %s", t.info.Label, what, sentinel, strings.Join(cp.Missing, ", ")),
		"run `custos hsm info` to see what this token can do; docs/hsm.md lists the fallbacks Custos uses")
}

// probeAttributes creates throwaway public session objects (no login
// needed) to learn whether the token accepts CKA_TRUSTED,
// CKA_WRAP_WITH_TRUSTED and a 16-byte CKA_ID, and, when it has AES key
// wrap, whether it enforces CKA_WRAP_WITH_TRUSTED.
func (m *Module) probeAttributes(slot uint, ml map[uint]pkcs11.MechanismInfo) AttributeSupport {
	var a AttributeSupport
	ctx, err := m.ctx()
	if err != nil {
		a.Error = err.Error()
		return a
	}
	sh, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		a.Error = p11err("attribute probe: open session", err).Error()
		return a
	}
	defer ctx.CloseSession(sh) // its session objects go with it
	refused := func(err error) bool {
		c := rv(err)
		return c == pkcs11.CKR_ATTRIBUTE_TYPE_INVALID || c == pkcs11.CKR_TEMPLATE_INCONSISTENT || c == pkcs11.CKR_ATTRIBUTE_VALUE_INVALID
	}
	aes := func(extra ...*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
		tm := append([]*pkcs11.Attribute{
			attr(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), attr(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			attr(pkcs11.CKA_TOKEN, false), attr(pkcs11.CKA_PRIVATE, false), attr(pkcs11.CKA_VALUE_LEN, 32),
			attr(pkcs11.CKA_LABEL, "custos-attribute-probe"),
		}, extra...)
		return ctx.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, tm)
	}
	if _, ok := ml[pkcs11.CKM_AES_KEY_GEN]; !ok {
		a.Error = "no CKM_AES_KEY_GEN to make probe keys with"
		return a
	}
	target, err := aes(attr(pkcs11.CKA_EXTRACTABLE, true), attr(pkcs11.CKA_SENSITIVE, true), attr(pkcs11.CKA_WRAP_WITH_TRUSTED, true))
	switch {
	case err == nil:
		a.WrapWithTrusted = true
	case refused(err):
	default:
		a.Error = p11err("attribute probe: generate", err).Error()
		return a
	}
	// CKA_TRUSTED=false is accepted in a public session by a token that
	// knows the attribute (setting it true needs the SO).
	if _, err := aes(attr(pkcs11.CKA_TRUSTED, false)); err == nil {
		a.Trusted = true
	} else if !refused(err) {
		a.Error = p11err("attribute probe: generate", err).Error()
		return a
	}
	if _, err := aes(attr(pkcs11.CKA_ID, make([]byte, 16))); err == nil {
		a.ID16 = true
	} else if !refused(err) {
		a.Error = p11err("attribute probe: generate", err).Error()
		return a
	}
	a.Probed = true
	if a.WrapWithTrusted {
		c := caps{has: hasIn(ml)}
		for _, mech := range []uint{ckmAESKeyWrapKWP, pkcs11.CKM_AES_KEY_WRAP_PAD} {
			if !c.has(mech, pkcs11.CKF_WRAP) {
				continue
			}
			kek, err := aes(attr(pkcs11.CKA_WRAP, true))
			if err != nil {
				break
			}
			_, err = ctx.WrapKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, kek, target)
			a.HonourChecked, a.WrapWithTrustedHonoured = true, err != nil && isNotWrappable(err)
			break
		}
	}
	return a
}
