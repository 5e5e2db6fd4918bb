// The ledger's state machine: the roles that may write a record, the
// lifecycle step that moves ceremony, key and backups by one record, and
// the copy-on-write maps the replayed state is kept in. The rules of each
// kind family are in machine_ceremony.go, machine_keys.go,
// machine_backups.go and machine_reshare.go.

package ledger

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"custos/ledger/internal/canonical"
)

// The margins of the clock checks: the writer refuses a record dated more
// than WriterClockMargin ahead of its clock; verify fails one dated more
// than ClockMargin ahead of the verifier's (clocks of air-gapped
// workstations drift, so verify allows more).
const (
	WriterClockMargin = 5 * time.Minute
	ClockMargin       = time.Hour
)

// actorRoles are the roles that may write rec: its row's, or for the
// records that settle or close a ceremony, those of the ceremony's
// opening (an auditor closes nothing).
func (s *State) actorRoles(rec *Record, spec kindSpec) []string {
	if spec.roles != nil {
		return spec.roles
	}
	if c := s.cer; c != nil && c.id == rec.Ceremony && c.closed == 0 {
		return kinds[c.opening.Kind].roles
	}
	return anyone
}

// lifecycle moves the ceremony, the key and the backups by one record,
// following its kind's row of the table (kinds.go).
func (s *State) lifecycle(rec *Record, ts string) error {
	spec := kinds[rec.Kind] // authorize refused unknown kinds
	intent, err := s.ceremonyStep(rec, spec)
	if err != nil {
		return err
	}
	if err := checkFacts(spec, rec); err != nil {
		return err
	}
	if serial := hsmSerial(rec.Facts); spec.facts["hsm"].t != 0 && rec.Facts["hsm"] != nil {
		seq, enrolled := s.HSMs[serial]
		switch {
		case rec.Kind == "hsm.enrolled" && (serial == "" || enrolled):
			return fmt.Errorf("facts.hsm.serial %.40q is empty or already enrolled (record %d): an HSM is enrolled once", serial, seq)
		case rec.Kind != "hsm.enrolled" && !enrolled:
			return fmt.Errorf("facts.hsm names HSM serial %q, which no hsm.enrolled record enrolled", serial)
		}
	}
	if intent != nil {
		for _, f := range spec.bind {
			if !sameFact(intent.Facts[f], rec.Facts[f]) {
				return fmt.Errorf("facts.%s of %s is not what intent %s (record %d) was approved for", f, rec.Kind, intent.Kind, intent.Seq)
			}
		}
	}
	if rec.Kind == "ceremony.aborted" && intent != nil {
		if id := factString(rec.Facts, "key_id"); id != "" && id != factString(intent.Facts, "key_id") {
			return fmt.Errorf("ceremony.aborted names key %q but intent %d is for key %q", id, intent.Seq, factString(intent.Facts, "key_id"))
		}
		if intent.Kind == "key.generate.intent" {
			if k := s.ownKey(factString(intent.Facts, "key_id")); k != nil {
				k.State = KeyAborted
				s.touch(k, rec, ts)
			}
		}
		return nil
	}
	switch rec.Kind {
	case "ceremony.closed":
		return s.checkpoint(rec)
	case "review.signed":
		if h := factString(rec.Facts, "reviewed_head"); h != rec.Prev {
			return fmt.Errorf("facts.reviewed_head %s is not the head the review follows (%s)", short(h), short(rec.Prev))
		}
	}
	if spec.key == keyNone {
		return nil
	}
	return s.keyStep(rec, spec, intent, ts)
}

// brief prints a fact value for an error, bounded.
func brief(v any) string {
	b, err := canonical.Marshal(v)
	if err != nil {
		return "?"
	}
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// cowMap is a map an append's clone of the state can add to without
// changing the state it was cloned from: additions go to add until the
// clone is the ledger's state and is cloned in turn (fork).
type cowMap[V any] struct{ base, add map[string]V }

func (m *cowMap[V]) get(k string) (V, bool) {
	if v, ok := m.add[k]; ok {
		return v, true
	}
	v, ok := m.base[k]
	return v, ok
}

// keys lists the map's keys, sorted.
func (m *cowMap[V]) keys() []string {
	all := map[string]bool{}
	for k := range m.base {
		all[k] = true
	}
	for k := range m.add {
		all[k] = true
	}
	return slices.Sorted(maps.Keys(all))
}

func (m *cowMap[V]) set(k string, v V) {
	if m.add == nil {
		m.add = map[string]V{}
	}
	m.add[k] = v
}

// fork folds m's additions into its base (m is the committed state) and
// returns a map that shares the base.
func (m *cowMap[V]) fork() cowMap[V] {
	if len(m.add) > 0 {
		if m.base == nil {
			m.base = map[string]V{}
		}
		for k, v := range m.add {
			m.base[k] = v
		}
		m.add = nil
	}
	return cowMap[V]{base: m.base}
}
