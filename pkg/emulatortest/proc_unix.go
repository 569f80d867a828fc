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

// yieldCPU lowers the process's scheduling priority (nice 10; no privilege
// needed). An emulator without a data plane only answers API calls, which
// wtt waits for anyway; when many suites run at once, the data-plane
// emulators and their time servers, whose answers the probe times, then get
// the CPU first.
func yieldCPU(pid int) {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, pid, 10)
}
