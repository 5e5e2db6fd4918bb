//go:build unix

package ledger

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// pidAlive reports whether process pid exists (on this host).
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// procStart is process pid's start time in clock ticks since boot, from
// /proc (Linux); "" elsewhere or when it cannot be read.
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22 of stat: starttime
}
