//go:build unix

package ledger

import "syscall"

// openFlags open a file without blocking (a FIFO) and without following
// a symbolic link.
const (
	openFlags = syscall.O_NONBLOCK | syscall.O_NOFOLLOW
	nonBlock  = syscall.O_NONBLOCK
)
