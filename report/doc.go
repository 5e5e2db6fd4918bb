// Package report turns a Custos ledger into evidence an auditor can read.
// It leads with what a reviewer concludes from: the verify result, a
// place for control tests, the exceptions to follow up that the records
// show, each key's life in sentences, and a sign-off block; then the
// detail: the key inventory, the rotation calendar, every ceremony with its steps,
// operators, approvers, HSM facts and check values, the roster history,
// the access reviews, the key-management policy as the ledger enforces it,
// the verify result with what was not checked, and a table mapping each
// section to the controls it evidences (SOC 2, ISO 27001).
//
// Everything is computed from the ledger's records in one pass (Build), so
// the report cannot drift from what was recorded; it renders as JSON (the
// schema is docs/report-schema.json), Markdown or self-contained HTML
// (which custos prints to PDF with headless Chromium).
//
// The package imports only the ledger package of Custos: it never touches
// an HSM or git directly.
package report
