// The kept replay: the state a replay reached, kept in the git directory
// (custos/state-<ledger id>) so that the next Open of the same head loads
// it instead of replaying every record, and the Open of a head that
// extends it replays only the new records. It is a cache, never
// evidence: Verify never reads it, and what binds it to the commits is
// checked on every load (keptcheck.go, docs/performance.md).

package ledger

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"custos/ledger/internal/canonical"
	"custos/ledger/internal/gitobj"
)

// keptVersion changes whenever what the state holds changes: a kept
// state of another version is ignored and rewritten. A field added to
// State (or to a key, ceremony or backup of it) must be carried here;
// TestKeptStateCarriesEveryField lists those carried, and
// TestKeptStateLoads compares a loaded state with the replay's.
const keptVersion = 2

// keptMagic starts every kept state file.
const keptMagic = "custos kept state\n"

// maxKeptFile bounds the read of a kept state file.
const maxKeptFile = 1 << 30

// keptFile is the state, as kept. Records (the one that set the roster,
// an open intent, the ceremony's opening and outcome) are kept in their
// canonical encoding and decoded as the replay decodes them; the roster
// and policy are parsed again from the record that set them, so the
// kept state carries whatever the roster facts encode.
type keptFile struct {
	Version    int
	Ledger     string // ledger id
	Commit     string // the head commit the replay reached
	Seq        int64
	Head       string // digest of record Seq
	Genesis    string
	Time       time.Time
	Records    map[int64][]byte // seq → canonical record
	RosterSeq  int64
	OpenIntent int64 // 0: none
	Keys       []keptKey
	HSMs       map[string]int64
	Backups    map[string]int64
	Cer        *keptCeremony
	Ceremonies map[string]int64
	BackupInfo map[string]keptBackup
	Labels     map[string]string
	Signers    []keptSigner
}

type keptKey struct {
	ID, Label, Type, State string
	CreatedSeq             int64
	CreatedTime            string
	// Facts is the facts map in canonical JSON (null: none), History the
	// history as the key file writes it (appendEvent): read by verify's
	// parser and parseHistory, not through encoding/json's reflection,
	// which took most of a warm open (version 1 held them as base64 and
	// as a list of objects).
	Facts                      json.RawMessage
	History                    json.RawMessage
	BackupsOutstanding         []string
	PolicyRotation, GenerateBy string
	On                         []string
}

type keptCeremony struct {
	ID               string
	Opening, Outcome int64 // record seqs, 0: none
	IntentOpen       bool
	OutcomeKind      string
	Retired          bool
	Closed           int64
}

type keptBackup struct {
	Seq, M, N, SetSeq, Destroyed int64
	KeyID, KCV                   string
	Holders, Commitments         map[int64]string
	Retired                      map[string]RetiredShare
}

type keptSigner struct {
	Name, Key   string
	From, Until time.Time
}

// keep encodes s, the state at commit.
func keep(s *State, commit string) (*keptFile, error) {
	k := &keptFile{Version: keptVersion, Ledger: s.LedgerID, Commit: commit, Seq: s.Seq, Head: s.Head,
		Genesis: s.Genesis, Time: s.Time, Records: map[int64][]byte{}, RosterSeq: s.RosterSeq,
		HSMs: s.HSMs, Backups: s.Backups, Ceremonies: map[string]int64{}, BackupInfo: map[string]keptBackup{},
		Labels: map[string]string{}}
	addRec := func(r *Record) (int64, error) {
		if r == nil {
			return 0, nil
		}
		b, err := r.Canonical()
		if err != nil {
			return 0, err
		}
		k.Records[r.Seq] = b
		return r.Seq, nil
	}
	var err error
	if k.OpenIntent, err = addRec(s.OpenIntent); err != nil {
		return nil, err
	}
	if c := s.cer; c != nil {
		kc := &keptCeremony{ID: c.id, IntentOpen: c.intentOpen, OutcomeKind: c.outcome, Retired: c.retired, Closed: c.closed}
		if kc.Opening, err = addRec(c.opening); err != nil {
			return nil, err
		}
		if kc.Outcome, err = addRec(c.outcomeRec); err != nil {
			return nil, err
		}
		k.Cer = kc
	}
	for _, id := range slices.Sorted(maps.Keys(s.Keys)) {
		ks := s.Keys[id]
		kk := keptKey{ID: ks.ID, Label: ks.Label, Type: ks.Type, State: ks.State, CreatedSeq: ks.CreatedSeq,
			CreatedTime: ks.CreatedTime, History: historyJSON(ks), BackupsOutstanding: ks.BackupsOutstanding,
			PolicyRotation: ks.PolicyRotation, GenerateBy: ks.generatedBy, On: ks.on, Facts: json.RawMessage("null")}
		if ks.Facts != nil {
			if kk.Facts, err = canonical.Marshal(ks.Facts); err != nil {
				return nil, fmt.Errorf("key %s: %w", id, err)
			}
		}
		k.Keys = append(k.Keys, kk)
	}
	for _, id := range s.ceremonies.keys() {
		k.Ceremonies[id], _ = s.ceremonies.get(id)
	}
	for _, id := range s.labels.keys() {
		k.Labels[id], _ = s.labels.get(id)
	}
	for _, id := range s.backups.keys() {
		b, _ := s.backups.get(id)
		k.BackupInfo[id] = keptBackup{Seq: b.seq, M: b.m, N: b.n, SetSeq: b.setSeq, Destroyed: b.destroyed,
			KeyID: b.keyID, KCV: b.kcv, Holders: b.holders, Commitments: b.commitments, Retired: b.retired}
	}
	for _, sk := range s.signers {
		k.Signers = append(k.Signers, keptSigner(sk))
	}
	return k, nil
}

// state decodes the kept state; rosterRec is the record that set the
// roster (read from the ledger by the caller, not taken from the file).
func (k *keptFile) state() (*State, error) {
	s := newState()
	s.LedgerID, s.Genesis, s.Seq, s.Head, s.Time, s.RosterSeq = k.Ledger, k.Genesis, k.Seq, k.Head, k.Time, k.RosterSeq
	recs := map[int64]*Record{}
	rec := func(seq int64) (*Record, error) {
		if seq == 0 {
			return nil, nil
		}
		if r := recs[seq]; r != nil {
			return r, nil
		}
		b, ok := k.Records[seq]
		if !ok {
			return nil, fmt.Errorf("record %d missing", seq)
		}
		r, err := DecodeRecord(b)
		if err != nil {
			return nil, err
		}
		if r.Seq != seq {
			return nil, fmt.Errorf("record %d holds seq %d", seq, r.Seq)
		}
		recs[seq] = r
		return r, nil
	}
	var err error
	if s.OpenIntent, err = rec(k.OpenIntent); err != nil {
		return nil, err
	}
	if kc := k.Cer; kc != nil {
		c := &ceremonyState{id: kc.ID, intentOpen: kc.IntentOpen, outcome: kc.OutcomeKind, retired: kc.Retired, closed: kc.Closed}
		if c.opening, err = rec(kc.Opening); err != nil {
			return nil, err
		}
		if c.outcomeRec, err = rec(kc.Outcome); err != nil {
			return nil, err
		}
		s.cer = c
	}
	for _, kk := range k.Keys {
		ks := &KeyState{ID: kk.ID, Label: kk.Label, Type: kk.Type, State: kk.State, CreatedSeq: kk.CreatedSeq,
			CreatedTime: kk.CreatedTime, BackupsOutstanding: kk.BackupsOutstanding,
			PolicyRotation: kk.PolicyRotation, generatedBy: kk.GenerateBy, on: kk.On}
		if ks.History, err = parseHistory(kk.History); err != nil {
			return nil, fmt.Errorf("key %s: history: %w", kk.ID, err)
		}
		if len(kk.History) > 2 {
			ks.histJSON = bytes.Clone(kk.History[1 : len(kk.History)-1])
		}
		if string(kk.Facts) != "null" {
			// Written canonical (canonical.Marshal): verify's parser reads
			// it in a tenth of the time; anything it refuses is read as JSON.
			p := canonical.Parser{Data: kk.Facts}
			v, err := p.Parse()
			if err != nil {
				v, err = canonical.ParseJSON(kk.Facts)
			}
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", kk.ID, err)
			}
			f, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("key %s: facts are not an object", kk.ID)
			}
			ks.Facts = f
		}
		if _, dup := s.Keys[ks.ID]; dup {
			return nil, fmt.Errorf("key %s twice", ks.ID)
		}
		s.Keys[ks.ID] = ks
	}
	if k.HSMs != nil {
		s.HSMs = k.HSMs
	}
	if k.Backups != nil {
		s.Backups = k.Backups
	}
	s.ceremonies = cowMap[int64]{base: maps.Clone(k.Ceremonies)}
	s.labels = cowMap[string]{base: maps.Clone(k.Labels)}
	s.backups = cowMap[*backupInfo]{base: map[string]*backupInfo{}}
	for id, b := range k.BackupInfo {
		s.backups.base[id] = &backupInfo{seq: b.Seq, m: b.M, n: b.N, setSeq: b.SetSeq, destroyed: b.Destroyed,
			keyID: b.KeyID, kcv: b.KCV, holders: b.Holders, commitments: b.Commitments, retired: b.Retired}
	}
	for _, sk := range k.Signers {
		s.signers = append(s.signers, signerKey(sk))
	}
	return s, nil
}

// setRosterFrom sets the roster and policy from r, the record that set
// them (the replay's own parse).
func (s *State) setRosterFrom(r *Record) error {
	ro, p, err := parseRosterFacts(r.Facts)
	if err != nil {
		return err
	}
	s.Roster, s.Policy = *ro, *p
	return nil
}

// safeID: a ledger id used as it is in the kept state's file name.
var safeID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// keptPath is the path of ledger id's kept state.
func keptPath(commonDir, ledgerID string) string {
	name := ledgerID
	if !safeID.MatchString(name) {
		h := sha256.Sum256([]byte(ledgerID))
		name = hex.EncodeToString(h[:16])
	}
	return filepath.Join(commonDir, "custos", "state-"+name)
}

// encodeKept is the file: the magic line, the MAC of the payload (hex)
// and the payload.
func encodeKept(k *keptFile, key []byte) ([]byte, error) {
	payload, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	var b bytes.Buffer
	b.Grow(len(keptMagic) + 65 + len(payload))
	b.WriteString(keptMagic)
	b.WriteString(hex.EncodeToString(m.Sum(nil)))
	b.WriteByte('\n')
	b.Write(payload)
	return b.Bytes(), nil
}

// decodeKept checks the file's MAC under key and decodes it.
func decodeKept(file, key []byte) (*keptFile, error) {
	rest, ok := bytes.CutPrefix(file, []byte(keptMagic))
	if !ok || len(rest) < 65 || rest[64] != '\n' {
		return nil, errors.New("not a kept state")
	}
	sum, err := hex.DecodeString(string(rest[:64]))
	if err != nil {
		return nil, errors.New("not a kept state")
	}
	payload := rest[65:]
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	if !hmac.Equal(sum, m.Sum(nil)) {
		return nil, errors.New("kept state not written by this account (its MAC does not match)")
	}
	var k keptFile
	if err := json.Unmarshal(payload, &k); err != nil {
		return nil, err
	}
	if k.Version != keptVersion {
		return nil, fmt.Errorf("kept state version %d, want %d", k.Version, keptVersion)
	}
	return &k, nil
}

// writeKept writes the kept state file atomically: a temporary file
// beside it, fsynced, renamed over it, the directory fsynced.
func writeKept(path string, content []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".state-*.tmp")
	if err != nil {
		return err
	}
	if err := gitobj.WriteSynced(f, content); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return gitobj.SyncDir(dir)
}

// keptKey is this account's key for the kept states' MACs, made on first
// use in the user's cache directory (outside every ledger: a kept state
// planted in a shared copy's git directory by another account is not
// accepted). nil when there is no such directory.
func keptKeyOf() []byte {
	if keptKeyOverride != nil {
		return keptKeyOverride
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return nil
	}
	p := filepath.Join(base, "custos", "kept-state.key")
	if b, err := readSmall(p, 1024); err == nil && len(b) == 32 {
		return b
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil { // another process made it first: read theirs
		if b, err := readSmall(p, 1024); err == nil && len(b) == 32 {
			return b
		}
		return nil
	}
	if err := gitobj.WriteSynced(f, key); err != nil {
		os.Remove(p)
		return nil
	}
	return key
}

// keptKeyOverride, when set (tests), is the MAC key.
var keptKeyOverride []byte
