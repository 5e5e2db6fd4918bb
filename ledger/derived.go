package ledger

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"custos/ledger/internal/canonical"
)

// Names of the files in a ledger's tree.
const (
	fileLedgerMD = "LEDGER.md"
	fileSigners  = "allowed_signers"
	fileRoster   = "roster.json"
	dirKeys      = "keys"
	dirRecords   = "records"
)

// maxRecords is the most records a ledger holds: record numbers have six
// digits.
const maxRecords = 999999

// recordPath names the folders and file of record seq inside records/:
// records/12/34/123456.json. The folders are the first two pairs of the
// six digits, so none holds more than 100 entries; a flat records/ would
// make every commit store a tree listing every record, and the ledger's
// size and the cost of checking it would grow with the square of its
// length.
func recordPath(seq int64) (d1, d2, name string) {
	name = fmt.Sprintf("%06d.json", seq)
	return name[0:2], name[2:4], name
}

// recordFile is the path of record seq in the ledger's tree.
func recordFile(seq int64) string {
	d1, d2, name := recordPath(seq)
	return dirRecords + "/" + d1 + "/" + d2 + "/" + name
}

// keyPath is the path of key k's file: keys/12/34/<id>.json, in the
// folders of the record that created it, for the same reason as records.
func keyPath(k *KeyState) string {
	d1, d2, _ := recordPath(k.CreatedSeq)
	return dirKeys + "/" + d1 + "/" + d2 + "/" + k.ID + ".json"
}

// rosterFile is roster.json: the roster and policy in force.
func (s *State) rosterFile() ([]byte, error) {
	b, err := canonical.Marshal(map[string]any{
		"ledger": s.LedgerID, "genesis": s.Genesis, "since_seq": s.RosterSeq,
		"members": s.Roster.Members, "policy": s.Policy,
	})
	if err != nil {
		return nil, fmt.Errorf("roster.json: %w", err)
	}
	return append(b, '\n'), nil
}

// signersFile is allowed_signers for stock git: every key the roster ever
// held, principal = member name, limited to the time it was held so a
// removed key cannot vouch for a commit made after its removal.
func (s *State) signersFile() []byte {
	ks := append([]signerKey(nil), s.signers...)
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].Name < ks[j].Name })
	var b bytes.Buffer
	b.WriteString("# allowed signers of this custos ledger (derived; do not edit)\n")
	for _, k := range ks {
		opts := []string{`namespaces="git"`}
		if !k.From.IsZero() {
			opts = append(opts, `valid-after="`+k.From.UTC().Format("20060102150405")+`Z"`)
		}
		if !k.Until.IsZero() {
			opts = append(opts, `valid-before="`+k.Until.UTC().Format("20060102150405")+`Z"`)
		}
		fmt.Fprintf(&b, "%s %s %s\n", k.Name, strings.Join(opts, ","), k.Key)
	}
	return b.Bytes()
}

// keyFile is keys/<id>.json: KeyState in canonical form, written directly
// because verify recomputes it for every record that touches the key.
func keyFile(k *KeyState) []byte {
	var b bytes.Buffer
	b.Grow(256 + 64*len(k.History))
	b.WriteString(`{"created_seq":`)
	b.WriteString(strconv.FormatInt(k.CreatedSeq, 10))
	b.WriteString(`,"created_time":`)
	canonical.WriteString(&b, k.CreatedTime)
	b.WriteString(`,"facts":`)
	if err := canonical.Write(&b, map[string]any(k.Facts)); err != nil {
		// Facts come from decoded records, which are canonical; keep the
		// file well-formed even so.
		b.WriteString("{}")
	}
	b.WriteString(`,"history":[`)
	if len(k.histJSON) > 0 || len(k.History) == 0 {
		b.Write(k.histJSON)
	} else {
		var h []byte
		for i, e := range k.History {
			h = appendEvent(h, i > 0, e)
		}
		b.Write(h)
	}
	b.WriteString(`],"id":`)
	canonical.WriteString(&b, k.ID)
	if k.Label != "" {
		b.WriteString(`,"label":`)
		canonical.WriteString(&b, k.Label)
	}
	b.WriteString(`,"state":`)
	canonical.WriteString(&b, k.State)
	if k.Type != "" {
		b.WriteString(`,"type":`)
		canonical.WriteString(&b, k.Type)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// ledgerMD is LEDGER.md: how to verify this ledger.
func (s *State) ledgerMD() []byte {
	return []byte(strings.NewReplacer("{ID}", s.LedgerID, "{GENESIS}", s.Genesis).Replace(ledgerTemplate))
}

const ledgerTemplate = "# Custos ledger {ID}\n\n" +
	"This repository is a Custos ledger: one signed commit per record of a key\n" +
	"ceremony. `records/12/34/123456.json` is record 123456 (canonical JSON; the\n" +
	"folders are the first four digits of its number); `roster.json`,\n" +
	"`allowed_signers`, the key files under `keys/` and this file are derived from\n" +
	"them and are checked by `custos verify`.\n\n" +
	"Genesis record digest (compare with the signed minutes, never with this file):\n\n" +
	"    {GENESIS}\n\n" +
	"## Verify with custos\n\n" +
	"    custos verify . --genesis <digest from the minutes> --trusted-head <last head you trust>\n\n" +
	"Without --genesis, custos checks consistency only, not origin.\n\n" +
	"## Verify with stock git and OpenSSH\n\n" +
	"    git -c gpg.ssh.allowedSignersFile=allowed_signers log --format='%H %G? %GS %an' \n\n" +
	"Every line must show `G` (good signature by a trusted key) and the signer\n" +
	"(`%GS`) must equal the author name (`%an`). Do not rely on the word \"Good\"\n" +
	"alone in `git log --show-signature`: git prints it for any key in the file,\n" +
	"whoever the committer is. Use the allowed_signers file of a copy you trust\n" +
	"(e.g. the one at the head your minutes name).\n\n" +
	"## What only custos verify checks\n\n" +
	"- the signer is the member the record names, with a key the roster held then;\n" +
	"- approvals: signatures, roles, quorum, no self-approval where forbidden;\n" +
	"- the record chain (seq, prev), one record per commit, linear history;\n" +
	"- derived files equal to the replay, no unknown files;\n" +
	"- lifecycle: no use of a destroyed key, every intent has an outcome;\n" +
	"- origin (--genesis) and no rollback, truncation or rewrite (--trusted-head).\n"

// appendEvent appends the canonical encoding of e to a history array's body.
func appendEvent(dst []byte, comma bool, e KeyEvent) []byte {
	var b bytes.Buffer
	if comma {
		b.WriteByte(',')
	}
	b.WriteString(`{"kind":`)
	canonical.WriteString(&b, e.Kind)
	b.WriteString(`,"seq":`)
	b.WriteString(strconv.FormatInt(e.Seq, 10))
	b.WriteString(`,"time":`)
	canonical.WriteString(&b, e.Time)
	b.WriteByte('}')
	return append(dst, b.Bytes()...)
}
