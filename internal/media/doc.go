// Package media writes Custos's outputs — share files, wrapped keys,
// approval requests, reports, bundles — onto the removable media they are
// carried on, as those media really are: FAT32 or exFAT, where a file has
// no hard links and no permission bits, and where a crash or a pulled
// stick is likely.
//
// Write creates the output under a name marked incomplete
// (".NAME.incomplete", O_EXCL, mode 0600 for anything secret) in the
// destination directory, writes it, syncs the file and the directory, and
// only then renames it to its final name, never over an existing file. On
// any failure the partial file is removed. So a file under a final name
// is always whole; an interrupted write leaves at most the incomplete
// name, which the next write refuses to reuse and names.
//
// ReadBack re-opens an output from its destination — the kernel's cached
// copy of its pages dropped first where the system allows it — so what
// is checked is what the medium returns, not what was meant to be written.
//
// Write is the one writer of outputs. The ledger's own files are not
// outputs: package ledger writes them inside the repository (a local
// disk, not a removable medium) with git's lock-file protocol, "<file>.lock"
// created O_EXCL and renamed over the old file, and hard links for its
// lock (docs/ledger-format.md), so git and custos exclude each other.
package media
