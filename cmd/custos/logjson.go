// The JSON lines of `custos log --json`: one event per record, with
// ECS-style field names (@timestamp, event.*, user.name, related.user) so
// that a SIEM maps them without a custom parser, and the record itself
// under custos.*. docs/log-schema.json specifies a line; the top-level
// seq … digest fields are those of the lines before that schema, kept so
// that their readers go on working.

package main

import (
	"custos/ledger"
)

// LogSchema names the form of a `custos log --json` line.
const LogSchema = "custos-log/1"

// ecsVersion is the Elastic Common Schema version whose names the lines use.
const ecsVersion = "8.11.0"

type logEvent struct {
	Timestamp string      `json:"@timestamp"`
	ECS       logECS      `json:"ecs"`
	Event     logEventECS `json:"event"`
	User      logUser     `json:"user"`
	Related   logRelated  `json:"related"`
	Custos    logCustos   `json:"custos"`

	// The fields of the lines before custos-log/1, unchanged.
	Seq       int64    `json:"seq"`
	Time      string   `json:"time"`
	Ceremony  string   `json:"ceremony"`
	Kind      string   `json:"kind"`
	Actor     string   `json:"actor"`
	Approvers []string `json:"approvers"`
	KeyID     string   `json:"key_id,omitempty"`
	Digest    string   `json:"digest"`
}

type logECS struct {
	Version string `json:"version"`
}

type logEventECS struct {
	Kind     string   `json:"kind"`     // always "event"
	Category []string `json:"category"` // ECS categories of the record kind
	Type     []string `json:"type"`     // ECS types of the record kind
	Action   string   `json:"action"`   // the record kind
	Dataset  string   `json:"dataset"`  // "custos.ledger"
	Sequence int64    `json:"sequence"` // the record's seq
	ID       string   `json:"id"`       // the record digest
	Outcome  string   `json:"outcome"`  // "success", or "failure" for ceremony.aborted
}

type logUser struct {
	Name string `json:"name"`
}

type logRelated struct {
	User []string `json:"user"` // actor and approvers
}

type logKey struct {
	ID    string `json:"id"`
	Label string `json:"label,omitempty"`
}

type logHSM struct {
	Serial       string `json:"serial"`
	Model        string `json:"model,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
}

type logCustos struct {
	Schema    string   `json:"schema"`
	Ledger    string   `json:"ledger"`
	Seq       int64    `json:"seq"`
	Digest    string   `json:"record_digest"`
	Commit    string   `json:"commit"`
	Ceremony  string   `json:"ceremony"`
	Kind      string   `json:"kind"`
	Actor     string   `json:"actor"`
	Approvers []string `json:"approvers"`
	// Carried: the approvers whose approval came as a file, to its SHA-256.
	Carried map[string]string `json:"approvals_carried,omitempty"`
	Key     *logKey           `json:"key,omitempty"`
	HSM     *logHSM           `json:"hsm,omitempty"`
	Facts   map[string]any    `json:"facts"`
}

// logLines makes the events of a ledger's records in order; it
// remembers each key's label and HSM, which later records of the key
// (an export, a destruction) do not repeat.
type logLines struct {
	labels map[string]string
	hsms   map[string]logHSM
}

func newLogLines() *logLines {
	return &logLines{labels: map[string]string{}, hsms: map[string]logHSM{}}
}

func (l *logLines) event(rec *ledger.Record, digest, commit string) logEvent {
	t := rec.Time.UTC().Format(ledger.TimeLayout)
	approvers := []string{}
	var carried map[string]string
	for _, a := range rec.Approvals {
		approvers = append(approvers, a.Member)
		if a.Carried != "" {
			if carried == nil {
				carried = map[string]string{}
			}
			carried[a.Member] = a.Carried
		}
	}
	related := []string{rec.Actor}
	for _, a := range approvers {
		if a != rec.Actor {
			related = append(related, a)
		}
	}
	facts := rec.Facts
	if facts == nil {
		facts = map[string]any{}
	}
	keyID, _ := facts["key_id"].(string)
	var hsm *logHSM
	if h, ok := facts["hsm"].(map[string]any); ok {
		if s, _ := h["serial"].(string); s != "" {
			x := logHSM{Serial: s}
			x.Model, _ = h["model"].(string)
			x.Manufacturer, _ = h["manufacturer"].(string)
			hsm = &x
		}
	}
	var key *logKey
	if keyID != "" {
		if lb, _ := facts["label"].(string); lb != "" && rec.Kind != "key.export.intent" {
			l.labels[keyID] = lb
		}
		if hsm != nil && (rec.Kind == "key.generate.intent" || rec.Kind == "key.generated" || rec.Kind == "key.restored") {
			l.hsms[keyID] = *hsm
		}
		if hsm == nil {
			if h, ok := l.hsms[keyID]; ok {
				hsm = &h
			}
		}
		key = &logKey{ID: keyID, Label: l.labels[keyID]}
	}
	cat, typ := ecsCategory(rec.Kind)
	outcome := "success"
	if rec.Kind == "ceremony.aborted" {
		outcome = "failure"
	}
	return logEvent{
		Timestamp: t,
		ECS:       logECS{Version: ecsVersion},
		Event: logEventECS{Kind: "event", Category: cat, Type: typ, Action: rec.Kind, Dataset: "custos.ledger",
			Sequence: rec.Seq, ID: digest, Outcome: outcome},
		User:    logUser{Name: rec.Actor},
		Related: logRelated{User: related},
		Custos: logCustos{Schema: LogSchema, Ledger: rec.Ledger, Seq: rec.Seq, Digest: digest, Commit: commit,
			Ceremony: rec.Ceremony, Kind: rec.Kind, Actor: rec.Actor, Approvers: approvers, Carried: carried, Key: key, HSM: hsm, Facts: facts},
		Seq: rec.Seq, Time: t, Ceremony: rec.Ceremony, Kind: rec.Kind, Actor: rec.Actor,
		Approvers: approvers, KeyID: keyID, Digest: digest,
	}
}

// ecsCategory maps a record kind to ECS event.category and event.type:
// roster changes and reviews are identity and access management, the
// rest changes the key-management configuration.
func ecsCategory(kind string) (category, typ []string) {
	switch kind {
	case "ledger.genesis":
		return []string{"iam", "configuration"}, []string{"creation"}
	case "roster.changed":
		return []string{"iam", "configuration"}, []string{"change"}
	case "review.signed":
		return []string{"iam"}, []string{"access", "info"}
	case "key.generated", "key.restored", "backup.split", "hsm.enrolled":
		return []string{"configuration"}, []string{"creation"}
	case "key.destroyed", "backup.destroyed":
		return []string{"configuration"}, []string{"deletion"}
	case "key.exported":
		return []string{"configuration"}, []string{"access"}
	}
	return []string{"configuration"}, []string{"info"}
}
