//go:build !unix

package emulatortest

import (
	"os"
	"os/exec"
)

func setProcessGroup(*exec.Cmd) {}

// signalGroup has no process groups to use here: interrupt, or kill, the process.
func signalGroup(cmd *exec.Cmd, kill bool) {
	if kill || cmd.Process.Signal(os.Interrupt) != nil {
		_ = cmd.Process.Kill()
	}
}

func yieldCPU(int) {}
