//go:build unix

package emulatortest

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the emulator in its own process group, so that stopping
// it also stops anything it started and a Ctrl-C aimed at go test does not
// reach it first.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends SIGTERM (or SIGKILL) to the emulator's process group.
func signalGroup(cmd *exec.Cmd, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil {
		_ = cmd.Process.Signal(sig)
	}
}
