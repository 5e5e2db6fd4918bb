package hsm

import (
	"encoding/hex"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Object is one object a session sees on the token, as an auditor would
// list it: what it is, what names it, and the attributes that decide who
// may use or extract it.
type Object struct {
	Class       string `json:"class"` // secret, private, public, or 0x… for others
	Label       string `json:"label"`
	ID          string `json:"id"` // hex
	Token       bool   `json:"token"`
	Private     bool   `json:"private"`
	Sensitive   bool   `json:"sensitive"`
	Extractable bool   `json:"extractable"`
	Modifiable  bool   `json:"modifiable"`
	Trusted     bool   `json:"trusted"`
}

// Objects lists every object this session sees: the token's objects the
// login allows, and this session's (and this process's) session objects.
func (t *Token) Objects() ([]Object, error) {
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	hs, err := t.findObjects(t.sh, nil)
	if err != nil {
		return nil, p11err(fmt.Sprintf("token %q: list objects", t.info.Label), err)
	}
	out := make([]Object, 0, len(hs))
	for _, h := range hs {
		// One attribute at a time: a data object has no CKA_ID, a
		// half-made one may lack anything, and a module fails the whole
		// call for one it lacks.
		o := Object{Label: string(t.attrValue(h, pkcs11.CKA_LABEL)), ID: hex.EncodeToString(t.attrValue(h, pkcs11.CKA_ID))}
		switch c := ulongOf(t.attrValue(h, pkcs11.CKA_CLASS)); c {
		case pkcs11.CKO_SECRET_KEY:
			o.Class = "secret"
		case pkcs11.CKO_PRIVATE_KEY:
			o.Class = "private"
		case pkcs11.CKO_PUBLIC_KEY:
			o.Class = "public"
		default:
			o.Class = fmt.Sprintf("0x%x", c)
		}
		o.Token, o.Private = t.boolAttr(h, pkcs11.CKA_TOKEN), t.boolAttr(h, pkcs11.CKA_PRIVATE)
		o.Modifiable, o.Trusted = t.boolAttr(h, pkcs11.CKA_MODIFIABLE), t.boolAttr(h, pkcs11.CKA_TRUSTED)
		if o.Class == "secret" || o.Class == "private" {
			o.Sensitive, o.Extractable = t.boolAttr(h, pkcs11.CKA_SENSITIVE), t.boolAttr(h, pkcs11.CKA_EXTRACTABLE)
		}
		out = append(out, o)
	}
	return out, nil
}

// VerifyAbsent checks, in a session opened for the purpose, that no object
// carries CKA_ID id or CKA_LABEL label, and returns the proof (without
// handles, so HandlesInvalid stays false). It fails when something is
// found. A reconciliation uses it when the token may have destroyed a key
// while reporting an error.
func (t *Token) VerifyAbsent(id []byte, label string, kt KeyType) (DestroyProof, error) {
	if err := t.lock(); err != nil {
		return DestroyProof{}, err
	}
	defer t.mu.Unlock()
	op := fmt.Sprintf("token %q: verify key %q (id %x) is absent", t.info.Label, label, id)
	p := DestroyProof{Token: t.info.Label, Serial: t.info.Serial, ID: hex.EncodeToString(id), Label: label, Type: kt}
	if err := t.verifyAbsent(op, &p, id, label); err != nil {
		return p, err
	}
	if p.FoundByID != 0 || p.FoundByLabel != 0 {
		return p, fmt.Errorf("%s: %w: still present (by id %d, by label %d)", op, ErrMismatch, p.FoundByID, p.FoundByLabel)
	}
	return p, nil
}

// verifyAbsent searches a fresh session by id and by label and fills p.
// Caller holds t.mu.
func (t *Token) verifyAbsent(op string, p *DestroyProof, id []byte, label string) error {
	sh, err := t.ctx.OpenSession(t.slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return p11err(op+": open verification session", err)
	}
	defer t.ctx.CloseSession(sh)
	p.FreshSession = true
	if len(id) > 0 {
		hs, err := t.findObjects(sh, []*pkcs11.Attribute{attr(pkcs11.CKA_ID, id)})
		if err != nil {
			return p11err(op+": verify by id", err)
		}
		p.SearchedByID, p.FoundByID = true, len(hs)
	}
	if label != "" {
		hs, err := t.findObjects(sh, []*pkcs11.Attribute{attr(pkcs11.CKA_LABEL, label)})
		if err != nil {
			return p11err(op+": verify by label", err)
		}
		p.SearchedByLabel, p.FoundByLabel = true, len(hs)
	}
	return nil
}

// RemoveUnnamed destroys every object that carries neither a
// CKA_ID nor a CKA_LABEL and returns how many there were, by class.
// Custos gives every object it makes both; an object with neither is
// what a module leaves when a call that creates an object is cut off
// half-way: SoftHSM writes a new object's file first and its attributes
// one by one after it, so a kill in between leaves a key with default
// attributes (not sensitive, no id, no label) that no ledger record can
// name. A reconciliation removes them after an interrupted step that
// creates token objects.
func (t *Token) RemoveUnnamed() (map[string]int, error) {
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	op := fmt.Sprintf("token %q: remove unnamed objects", t.info.Label)
	hs, err := t.findObjects(t.sh, nil)
	if err != nil {
		return nil, p11err(op+": list", err)
	}
	removed := map[string]int{}
	for _, h := range hs {
		if len(t.attrValue(h, pkcs11.CKA_ID)) > 0 || len(t.attrValue(h, pkcs11.CKA_LABEL)) > 0 {
			continue
		}
		// CKA_TOKEN is not asked: a half-made token object may not have
		// it set yet (SoftHSM's reads false), and every session object
		// Custos makes is named too.
		class := "data or unknown"
		if v := t.attrValue(h, pkcs11.CKA_CLASS); len(v) > 0 {
			switch ulongOf(v) {
			case pkcs11.CKO_SECRET_KEY:
				class = "secret key"
			case pkcs11.CKO_PRIVATE_KEY:
				class = "private key"
			case pkcs11.CKO_PUBLIC_KEY:
				class = "public key"
			}
		}
		if err := t.ctx.DestroyObject(t.sh, h); err != nil {
			return removed, p11err(fmt.Sprintf("%s: destroy an unnamed %s", op, class), err)
		}
		removed[class]++
	}
	return removed, nil
}

// RemoveID destroys every object with CKA_ID id, of any class, reading
// nothing else of them: for settling a generation cut short, whose
// objects carry the id the ledger planned but no whole key (ErrMalformed).
// It returns how many it removed.
func (t *Token) RemoveID(id []byte) (int, error) {
	if len(id) == 0 {
		return 0, fmt.Errorf("token %q: remove by id: no id", t.info.Label)
	}
	if err := t.lock(); err != nil {
		return 0, err
	}
	defer t.mu.Unlock()
	op := fmt.Sprintf("token %q: remove the objects with id %x", t.info.Label, id)
	hs, err := t.findObjects(t.sh, []*pkcs11.Attribute{attr(pkcs11.CKA_ID, id)})
	if err != nil {
		return 0, p11err(op, err)
	}
	for i, h := range hs {
		if err := t.ctx.DestroyObject(t.sh, h); err != nil {
			return i, p11err(op, err)
		}
	}
	return len(hs), nil
}

// attrValue is one attribute's value, nil when the object lacks it or it
// cannot be read. Caller holds t.mu.
func (t *Token) attrValue(h pkcs11.ObjectHandle, typ uint) []byte {
	a, err := t.ctx.GetAttributeValue(t.sh, h, []*pkcs11.Attribute{attr(typ, nil)})
	if err != nil || len(a) != 1 {
		return nil
	}
	return a[0].Value
}
