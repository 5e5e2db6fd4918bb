// Package controls tests a ledger against the key-management control
// statements an auditor asks evidence for (docs/controls.md): each
// control of the Catalogue is evaluated over a period from the records
// of a ledger that verified, as ledger.Verify hands them over, and ends
// pass, fail or not applicable, every exception naming its records by
// seq and digest. It reads records only through the ledger package.
//
// A Checker takes the records (Add), Finish evaluates the controls, and
// WriteTable prints the result; the Result encodes as the JSON of
// docs/check-schema.json.
package controls
