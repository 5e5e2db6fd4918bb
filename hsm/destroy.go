package hsm

import (
	"encoding/hex"
	"fmt"

	"github.com/miekg/pkcs11"
)

// DestroyProof records what was destroyed and how its absence was checked:
// in a session opened after the destruction, searching by CKA_ID and by
// CKA_LABEL found nothing, and the old handles no longer work.
type DestroyProof struct {
	Token            string  `json:"token"`
	Serial           string  `json:"serial"`
	ID               string  `json:"id"`
	Label            string  `json:"label"`
	Type             KeyType `json:"type"`
	ObjectsDestroyed int     `json:"objects_destroyed"`
	SearchedByID     bool    `json:"searched_by_id"`
	FoundByID        int     `json:"found_by_id"`
	SearchedByLabel  bool    `json:"searched_by_label"`
	FoundByLabel     int     `json:"found_by_label"`
	FreshSession     bool    `json:"fresh_session"`
	HandlesInvalid   bool    `json:"handles_invalid"`
}

// Destroy destroys the key (both halves of a pair, and any other key
// object sharing its CKA_ID) and then proves absence in a fresh session.
// It fails if anything is still found.
func (t *Token) Destroy(k *Key) (DestroyProof, error) {
	if k.tok != t {
		return DestroyProof{}, fmt.Errorf("destroy key %q: key belongs to another token session", k.Label)
	}
	if err := t.lock(); err != nil {
		return DestroyProof{}, err
	}
	defer t.mu.Unlock()
	op := fmt.Sprintf("token %q: destroy key %q (id %x)", t.info.Label, k.Label, k.ID)
	p := DestroyProof{Token: t.info.Label, Serial: t.info.Serial, ID: hex.EncodeToString(k.ID), Label: k.Label, Type: k.Type}
	handles := map[pkcs11.ObjectHandle]bool{}
	if k.priv != 0 {
		handles[k.priv] = true
	}
	if k.pub != 0 {
		handles[k.pub] = true
	}
	for _, class := range []uint{pkcs11.CKO_SECRET_KEY, pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY} {
		if len(k.ID) == 0 {
			break
		}
		hs, err := t.findObjects(t.sh, []*pkcs11.Attribute{attr(pkcs11.CKA_ID, k.ID), attr(pkcs11.CKA_CLASS, class)})
		if err != nil {
			return p, p11err(op+": search", err)
		}
		for _, h := range hs {
			handles[h] = true
		}
	}
	for h := range handles {
		if err := t.ctx.DestroyObject(t.sh, h); err != nil {
			return p, p11err(op, err)
		}
		p.ObjectsDestroyed++
	}
	// A fresh session shows what the token holds now, not a cached view.
	if err := t.verifyAbsent(op, &p, k.ID, k.Label); err != nil {
		return p, err
	}
	sh, err := t.ctx.OpenSession(t.slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return p, p11err(op+": open verification session", err)
	}
	defer t.ctx.CloseSession(sh)
	p.HandlesInvalid = true
	for h := range handles {
		if _, err := t.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{attr(pkcs11.CKA_CLASS, nil)}); err == nil {
			p.HandlesInvalid = false
		}
	}
	if p.FoundByID != 0 || p.FoundByLabel != 0 || !p.HandlesInvalid {
		return p, fmt.Errorf("%s: %w: still present after destroy (by id %d, by label %d, handles invalid %v)",
			op, ErrMismatch, p.FoundByID, p.FoundByLabel, p.HandlesInvalid)
	}
	k.priv, k.pub = 0, 0
	return p, nil
}
