package ledger

import "slices"

// HeldOn lists the serials of the HSMs that hold the key, as the replay
// of the outcomes (key.generated, key.restored, key.destroyed) has it.
func (k *KeyState) HeldOn() []string { return slices.Clone(k.on) }

// Pending is a ceremony that has not reached its ceremony.closed: the
// last ceremony of the ledger, interrupted somewhere.
type Pending struct {
	Ceremony string
	// Opening is its first record (an intent, or a single record such
	// as hsm.enrolled).
	Opening *Record
	// IntentOpen: the intent has no outcome (nor ceremony.aborted) yet.
	IntentOpen bool
	// Outcome is the kind that settled the intent ("" if none or none
	// needed); Retired: a rotation's key.retirement.scheduled is there.
	Outcome string
	Retired bool
}

// Pending returns the ceremony left unclosed, or nil when the last
// ceremony is closed (or there is none). The genesis and a share check
// (share.verified) are whole in their one record and never closed.
func (s *State) Pending() *Pending {
	c := s.cer
	if c == nil || c.closed != 0 || c.opening == nil || c.opening.Kind == "ledger.genesis" || c.opening.Kind == "share.verified" {
		return nil
	}
	return &Pending{Ceremony: c.id, Opening: c.opening, IntentOpen: c.intentOpen, Outcome: c.outcome, Retired: c.retired}
}
