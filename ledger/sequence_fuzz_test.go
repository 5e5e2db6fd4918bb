package ledger

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// FuzzRecordSequences builds record sequences from the fuzzer's bytes —
// kinds, ceremonies, actors, approvals and facts, often the ones the state
// expects and often not — and appends each through the writer. It holds
// two properties:
//
//   - whatever the writer accepts, verify accepts; a record the writer
//     refuses, committed past it, fails verify at that record;
//   - whatever verify accepts obeys the table, as checked by obeysTable,
//     which is written from docs/ledger-format.md and not from the code.
func FuzzRecordSequences(f *testing.F) {
	// Five bytes a record: kind, ceremony (and key), actor, approvers,
	// "as expected"; after a refused record, one byte: forge it past the
	// writer or not.
	gen := []byte{6, 1, 0, 4, 1, 7, 0, 0, 0, 1, 0, 0, 0, 0, 1}
	for _, seed := range [][]byte{
		append(slices.Clone(gen), 8, 1, 1, 8, 1, 9, 0, 1, 0, 1, 0, 0, 1, 0, 1, 10, 1, 0, 12, 1, 11, 0, 0, 0, 1, 0, 0, 0, 0, 1),
		append(slices.Clone(gen), 12, 1, 0, 0, 1, 13, 0, 0, 0, 1, 0, 0, 0, 0, 1, 10, 1, 0, 12, 1, 11, 0, 0, 0, 1, 0, 0, 0, 0, 1,
			14, 1, 0, 0, 1, 15, 0, 0, 0, 1, 0, 0, 0, 0, 1),
		{6, 1, 0, 4, 1, 8, 1, 0, 4, 1, 0},                                       // an export inside a generation, forged
		append(slices.Clone(gen), 6, 2, 0, 4, 1, 0),                             // a ceremony id used again, forged
		append(slices.Clone(gen), 7, 0, 0, 0, 1, 0),                             // a record after the close, forged
		{6, 1, 3, 4, 1, 1},                                                      // a generation by an officer: refused, not forged
		append(slices.Clone(gen), 10, 1, 0, 12, 1, 11, 0, 0, 0, 0, 0),           // an outcome with facts not as expected, forged
		append(slices.Clone(gen), 18, 1, 0, 0, 1, 4, 1, 0, 0, 1, 2, 1, 2, 0, 1), // an unknown kind, an enrolment, a review
	} {
		f.Add(seed)
	}
	base := newFixture(f)
	base.add(f, "hsm.enrolled", "enrol", "alice", map[string]any{"hsm": testHSM})
	f.Fuzz(func(t *testing.T, data []byte) { checkSequence(t, base, data) })
}

// TestRandomRecordSequences runs the property of FuzzRecordSequences on
// random byte strings (seeded; CUSTOS_SEQ_SEED replays a run, CUSTOS_SEQ_N
// sets how many), without the fuzzer's instrumentation.
func TestRandomRecordSequences(t *testing.T) {
	base := newFixture(t)
	base.add(t, "hsm.enrolled", "enrol", "alice", map[string]any{"hsm": testHSM})
	seed := time.Now().UnixNano()
	if s, err := strconv.ParseInt(os.Getenv("CUSTOS_SEQ_SEED"), 10, 64); err == nil {
		seed = s
	}
	n := 40
	if v, err := strconv.Atoi(os.Getenv("CUSTOS_SEQ_N")); err == nil {
		n = v
	}
	t.Logf("seed %d (CUSTOS_SEQ_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	for i := range n {
		data := make([]byte, 20+rng.IntN(120))
		for j := range data {
			// Mostly "as expected", so sequences get somewhere.
			data[j] = byte(rng.IntN(256))
			if j%5 == 4 && rng.IntN(4) > 0 {
				data[j] = 1
			}
		}
		t.Run(strconv.Itoa(i), func(t *testing.T) { checkSequence(t, base, data) })
	}
}

// checkSequence appends the records data makes and checks the property.
func checkSequence(t *testing.T, base *fixture, data []byte) {
	if len(data) > 200 {
		data = data[:200]
	}
	fx := copyFixture(t, base)
	g := &seqGen{f: fx, data: data}
	for step := 0; len(g.data) >= 5 && step < 30; step++ {
		rec := g.next()
		_, err := fx.l.Append(rec, fx.signers[rec.Actor], rec.Approvals)
		if err != nil {
			if g.forge() {
				fx.forge(t, rec, fx.signers[rec.Actor], nil)
				res := verifyBoth(t, fx.dir, Options{})
				if res.OK || res.Failure == nil || res.Failure.Seq != rec.Seq {
					t.Fatalf("the writer refused record %d (%s: %v) but verify says %v", rec.Seq, rec.Kind, err, res.Err())
				}
				return
			}
			continue
		}
	}
	res := verifyBoth(t, fx.dir, Options{})
	if !res.OK {
		t.Fatalf("the writer accepted every record but verify says %v", res.Err())
	}
	if testing.Verbose() {
		t.Logf("%d records accepted", fx.l.State().Seq-base.l.State().Seq)
	}
	var recs []*Record
	for r, err := range fx.l.Records() {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := obeysTable(recs); err != nil {
		t.Fatalf("verify accepted a ledger that breaks the table: %v", err)
	}
}

// seqGen makes records from bytes.
type seqGen struct {
	f    *fixture
	data []byte
	n    int
}

func (g *seqGen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *seqGen) forge() bool { return g.byte()%8 == 0 }

// expected picks, by b, a kind the table allows after the state's last
// record: the outcome of an open intent, a close, or an opening.
func (g *seqGen) expected(st *State, b byte) string {
	if c := st.cer; c != nil && c.closed == 0 {
		if c.intentOpen {
			if b%5 == 0 {
				return "ceremony.aborted"
			}
			return kinds[c.opening.Kind].settledBy
		}
		if b%2 == 0 {
			return "ceremony.closed"
		}
	}
	openers := []string{"key.generate.intent", "key.export.intent", "key.destroy.intent", "backup.intent", "key.restore.intent",
		"hsm.enrolled", "review.signed", "key.compromised", "backup.destroyed"}
	return openers[int(b/2)%len(openers)]
}

var seqKinds = []string{"ceremony.closed", "ceremony.aborted", "review.signed", "roster.changed", "hsm.enrolled", "key.compromised",
	"key.generate.intent", "key.generated", "key.export.intent", "key.exported", "key.destroy.intent", "key.destroyed",
	"backup.intent", "backup.split", "key.restore.intent", "key.restored", "share.verified", "key.retirement.scheduled", "no.such.kind", "ceremony.closed"}

var seqActors = []string{"alice", "bob", "carol", "dave"}

// next makes one record: kind, ceremony, actor, approvers and facts each
// picked by a byte; "right" picks what the state expects.
func (g *seqGen) next() *Record {
	st := g.f.l.State()
	kb := g.byte()
	kind := seqKinds[int(kb)%len(seqKinds)]
	guided := kb&0x80 == 0
	if guided { // a kind that may come next
		kind = g.expected(st, kb)
	}
	cb := g.byte()
	actor := seqActors[int(g.byte())%len(seqActors)]
	ab := g.byte()
	right := g.byte()%4 != 0
	cer := fmt.Sprintf("c%d", g.n)
	switch cb % 4 {
	case 0: // the ceremony of the last record
		if c := st.cer; c != nil {
			cer = c.id
		}
	case 1:
		g.n++
		cer = fmt.Sprintf("c%d", g.n)
	case 2:
		cer = "c0"
	}
	keys := []string{"k1", "k2", "k3"}
	key := keys[int(cb/4)%len(keys)]
	if guided && right {
		ab |= 0b1100 // both officers approve (never the actor)
		actor = []string{"alice", "bob"}[int(ab)%2]
		if kind == "review.signed" {
			actor = "carol"
		}
		if kinds[kind].opens {
			g.n++
			cer = fmt.Sprintf("c%d", g.n)
		} else if c := st.cer; c != nil {
			cer = c.id
		}
		if kinds[kind].key == keyNew {
			key = fmt.Sprintf("k%d", len(st.Keys)+1)
		} else if len(st.Keys) > 0 {
			ids := slices.Sorted(maps.Keys(st.Keys))
			key = ids[int(cb)%len(ids)]
		}
	}
	if oi := st.OpenIntent; oi != nil && right {
		key = factString(oi.Facts, "key_id")
	}
	facts, err := g.f.complete(kind, cer, map[string]any{"key_id": key})
	if err != nil || !right {
		facts = map[string]any{"key_id": key, "label": "l-" + key, "type": "aes-256", "hsm": testHSM, "recipient": "x", "backup_id": key + ".bk1"}
	}
	if !kinds[kind].facts["key_id"].req {
		delete(facts, "key_id")
	}
	g.f.now = g.f.now.Add(time.Minute)
	rec := g.f.l.Draft(kind, cer, actor, facts, g.f.now)
	for i, m := range seqActors {
		if ab&(1<<i) != 0 && m != actor {
			ap, _ := Approve(rec, m, g.f.signers[m])
			rec.Approvals = append(rec.Approvals, ap)
		}
	}
	return rec
}

// obeysTable checks a ledger against the rules as docs/ledger-format.md
// states them, independently of the replay: kinds, roles, ceremonies,
// intents and their outcomes.
func obeysTable(recs []*Record) error {
	roles := map[string][]string{}
	seenCer := map[string]bool{}
	closed := map[string]bool{}
	var last string
	var intent *Record
	outcomeOf := map[string]string{"key.generate.intent": "key.generated", "key.export.intent": "key.exported",
		"key.destroy.intent": "key.destroyed", "backup.intent": "backup.split", "key.restore.intent": "key.restored"}
	generated := map[string]bool{}
	for _, r := range recs {
		if _, ok := kinds[r.Kind]; !ok {
			return fmt.Errorf("record %d: kind %s", r.Seq, r.Kind)
		}
		if r.Kind == "ledger.genesis" || r.Kind == "roster.changed" {
			rr, _, err := parseRosterFacts(r.Facts)
			if err != nil {
				return err
			}
			if r.Kind == "ledger.genesis" {
				for _, m := range rr.Members {
					roles[m.Name] = m.Roles
				}
			}
			if r.Kind == "roster.changed" {
				if !slices.ContainsFunc(roles[r.Actor], func(s string) bool { return s == "custodian" || s == "officer" }) {
					return fmt.Errorf("record %d: roster change by %s", r.Seq, r.Actor)
				}
				roles = map[string][]string{}
				for _, m := range rr.Members {
					roles[m.Name] = m.Roles
				}
			}
		}
		if slices.Equal(roles[r.Actor], []string{"auditor"}) {
			return fmt.Errorf("record %d: written by an auditor", r.Seq)
		}
		keyOp := r.Kind == "hsm.enrolled" || outcomeOf[r.Kind] != ""
		for _, v := range outcomeOf {
			keyOp = keyOp || r.Kind == v
		}
		switch {
		case keyOp:
			if !slices.Contains(roles[r.Actor], "custodian") {
				return fmt.Errorf("record %d: %s by %s, not a custodian", r.Seq, r.Kind, r.Actor)
			}
		case r.Kind == "review.signed" && !slices.Contains(roles[r.Actor], "officer"):
			return fmt.Errorf("record %d: review by %s, not an officer", r.Seq, r.Actor)
		}
		if r.Ceremony != last {
			if seenCer[r.Ceremony] {
				return fmt.Errorf("record %d: ceremony %s used again", r.Seq, r.Ceremony)
			}
			if intent != nil {
				return fmt.Errorf("record %d: intent %d left open", r.Seq, intent.Seq)
			}
		} else if closed[r.Ceremony] {
			return fmt.Errorf("record %d: after the close of %s", r.Seq, r.Ceremony)
		}
		seenCer[r.Ceremony], last = true, r.Ceremony
		if intent != nil {
			if r.Kind != outcomeOf[intent.Kind] && r.Kind != "ceremony.aborted" {
				return fmt.Errorf("record %d: %s follows intent %d", r.Seq, r.Kind, intent.Seq)
			}
			if r.Kind != "ceremony.aborted" && factString(r.Facts, "key_id") != factString(intent.Facts, "key_id") {
				return fmt.Errorf("record %d: outcome for another key", r.Seq)
			}
			if r.Kind == "key.generated" && (factString(r.Facts, "type") != factString(intent.Facts, "type") || factString(r.Facts, "label") != factString(intent.Facts, "label")) {
				return fmt.Errorf("record %d: generated other than approved", r.Seq)
			}
			intent = nil
		} else if slices.Contains([]string{"key.generated", "key.exported", "key.destroyed", "backup.split", "key.restored", "ceremony.aborted"}, r.Kind) {
			return fmt.Errorf("record %d: %s without its intent", r.Seq, r.Kind)
		}
		if outcomeOf[r.Kind] != "" {
			intent = r
		}
		if r.Kind == "key.generate.intent" {
			id := factString(r.Facts, "key_id")
			if generated[id] {
				return fmt.Errorf("record %d: key %s generated twice", r.Seq, id)
			}
			generated[id] = true
		}
		if r.Kind == "ceremony.closed" {
			closed[r.Ceremony] = true
		}
	}
	return nil
}
