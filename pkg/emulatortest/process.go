package emulatortest

import (
	"fmt"
	"os/exec"
	"time"
)

// process is a running emulator: a python3 process of its own (execProcess)
// or a child of the fork server (forkedProcess, Linux).
type process interface {
	// pid is the emulator's process id, which is also its process group's.
	pid() int
	// signal sends SIGTERM (SIGKILL if kill) to the emulator's process group.
	signal(kill bool)
	// exited is closed once the process has exited and been reaped.
	exited() <-chan struct{}
	// exitStatus says how it ended; valid once exited is closed.
	exitStatus() string
	// cpu is the user+system CPU it and its reaped children used; valid
	// once exited is closed.
	cpu() time.Duration
	// how names the way it was started, for the CPU log line.
	how() string
}

// execProcess is an emulator started as python3 emulator/wtt_emulator.py.
type execProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startExec(cmd *exec.Cmd) (*execProcess, error) {
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &execProcess{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *execProcess) pid() int                { return p.cmd.Process.Pid }
func (p *execProcess) signal(kill bool)        { signalGroup(p.cmd, kill) }
func (p *execProcess) exited() <-chan struct{} { return p.done }
func (p *execProcess) exitStatus() string      { return fmt.Sprint(p.cmd.ProcessState) }
func (p *execProcess) how() string             { return "own process" }

func (p *execProcess) cpu() time.Duration {
	st := p.cmd.ProcessState
	if st == nil {
		return 0
	}
	return st.UserTime() + st.SystemTime()
}
