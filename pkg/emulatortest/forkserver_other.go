//go:build !linux

package emulatortest

import (
	"errors"
	"io"
	"testing"
	"time"
)

// The fork server needs Linux (SOCK_SEQPACKET, PR_SET_PDEATHSIG); elsewhere
// every emulator is its own python3 process.
type forkServer struct{}

func forkServerFor(testing.TB, string, string) (*forkServer, error) {
	return nil, errors.New("the fork server runs on Linux only")
}

func (*forkServer) startEmulator([]string, bool, io.Writer) (process, int, error) {
	return nil, 0, errors.New("the fork server runs on Linux only")
}

func forkServerCPU() time.Duration { return 0 }
