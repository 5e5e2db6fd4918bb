// Package ledger is Custos's signed, append-only record of key ceremonies:
// a git repository with one commit per record.
//
// A record is canonical JSON (see Canonical) naming its place in history
// (seq, prev), its ledger, ceremony, kind, actor and facts, plus approvals:
// SSH signatures (namespace "custos-approval") over the digest of the record
// without its approvals. Each record is committed as records/12/34/123456.json
// together with files derived from the replay of all records (roster.json,
// allowed_signers, keys/<id>.json, LEDGER.md); the commit is signed by the
// actor in namespace "git" so stock git and OpenSSH can check it.
//
// Verify checks everything an auditor relies on: signatures, the record
// chain, policy and quorum, lifecycle rules, derived files, and, given a
// trust root from outside the repository, origin and freshness.
//
// This is the only Custos package that imports go-git.
package ledger
