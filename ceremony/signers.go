package ceremony

import (
	"fmt"
	"maps"
	"slices"

	"custos/internal/hint"
	"custos/ledger"
	"custos/sign"
)

// CheckSigner checks a key given for member name against the roster in
// force: name must be a member and the key must be the member's roster
// key. A wrong key is said before anything is recorded, not when the
// ledger refuses its signature half way through a ceremony (a witness's
// checkpoint comes after the HSM operation).
func CheckSigner(st *ledger.State, name string, s sign.Signer) error {
	m := st.Roster.Member(name)
	if m == nil {
		return hint.With(fmt.Errorf("%s is not a member of the ledger's roster", name), "members: "+memberNames(st))
	}
	want, err := m.PublicKey()
	if err != nil {
		return fmt.Errorf("%s's roster key: %w", name, err)
	}
	if sign.AuthorizedKey(s.PublicKey()) != sign.AuthorizedKey(want) {
		return hint.With(fmt.Errorf("the key given (%s) is not %s's key in the roster (%s)", sign.Fingerprint(s.PublicKey()), name, sign.Fingerprint(want)),
			"give "+name+"'s own key; a member's key changes only with a roster change")
	}
	return nil
}

// checkSigners checks every key present, in name order.
func (e *Engine) checkSigners() error {
	st := e.Ledger.State()
	for _, name := range slices.Sorted(maps.Keys(e.Signers)) {
		if err := CheckSigner(st, name, e.Signers[name]); err != nil {
			return fmt.Errorf("key of %s: %w", name, err)
		}
	}
	return nil
}
