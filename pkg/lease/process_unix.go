//go:build unix

package lease

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// processAlive reports whether pid may still be running on this host. Only
// "no such process" counts as gone: EPERM means it exists under another user.
func processAlive(pid int) bool {
	if pid <= 0 {
		return true // 0 and negatives address process groups: never conclusive
	}
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return false
	}
	return !zombie(pid)
}

// zombie reports a process that has exited but not been reaped by its
// parent: signal 0 still reaches it, yet it will never release a lease.
// Only Linux's /proc tells; elsewhere it is assumed not to be one.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'Z'
}
