//go:build !unix

package ledger

const openFlags = 0
