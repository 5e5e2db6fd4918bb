//go:build !unix

package ledger

const (
	openFlags = 0
	nonBlock  = 0
)
