//go:build !linux

package emulatortest

import (
	"errors"
	"io"
	"testing"
)

// startForked: the fork server needs Linux (SOCK_SEQPACKET, PR_SET_PDEATHSIG);
// elsewhere every emulator is its own python3 process.
func startForked(testing.TB, string, string, []string, bool, io.Writer) (process, int, error) {
	return nil, 0, errors.New("the fork server runs on Linux only")
}
