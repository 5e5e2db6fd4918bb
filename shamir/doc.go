// Package shamir splits a secret (the backup wrapping key) into M-of-N
// shares and combines them again, using hashicorp/vault's Shamir scheme over
// GF(2^8) underneath.
//
// Vault's shares are bare bytes: a damaged or mistyped share is found only
// when the combined key turns out wrong, with no hint which share was bad.
// Custos wraps every share in an envelope (format version, ledger id, backup
// id, threshold M, count N, index, share bytes) sealed with a checksum, so
// each share is checked on its own as it is entered, and Combine refuses
// shares from different backups, duplicates, mixed thresholds and too few
// shares, naming the share at fault.
//
// A share has three encodings, all carrying the same envelope and checksum:
//
//   - the text form, one line for files:
//     custos-share-1:<ledger>:<backup>:<m>-of-<n>:<index>:<value>:<checksum>
//   - the word form, for paper cards: BIP-39 English words in lines of five
//     plus a check word per line, so one wrong or swapped word is caught
//     and its line (or position) named;
//   - the canonical binary envelope, hashed for the checksum and for the
//     salted commitments the ledger records in place of the shares.
//
// Share files are written by package ceremony through media.Write (the one
// writer of outputs: never over a file, mode 0600, never half-written) and
// are meant to be encrypted to their holder with age (EncryptToSSH,
// EncryptToPassphrase).
//
// Secrets: no error produced by this package contains share bytes, their
// encodings, or any word of a share; parse errors never echo the input. A
// Share prints redacted with fmt and slog and refuses to be marshalled to
// JSON. Callers zero shares (Share.Zero) and secrets after use. See
// docs/shares.md.
package shamir
