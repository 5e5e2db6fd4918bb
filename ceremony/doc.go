// Package ceremony is the engine of Custos: it turns a ceremony script and
// the ledger's policy into steps, enforces dual control (an operator and the
// approvals the policy demands, from distinct members with the right roles),
// performs the HSM operations and records each step in the ledger.
//
// Every front end — the command line and the TUI — drives the same Engine.
// The steps are always: validate → plan → approvals → intent record → HSM
// operation → outcome record → close. Because the intent is committed before
// the HSM is touched, an interruption anywhere leaves an open intent that
// Resume settles by looking at the HSM.
package ceremony
