//go:build unix

package lease

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestProcessAliveSeesThisProcess(t *testing.T) {
	if !processAlive(os.Getpid()) {
		t.Fatal("this process is reported gone")
	}
	if !processAlive(0) || !processAlive(-1) {
		t.Fatal("pids 0 and -1 name process groups and must never count as gone")
	}
}

func TestProcessAliveSeesAReapedChildGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no `true` command:", err)
	}
	if processAlive(cmd.Process.Pid) {
		t.Errorf("pid %d exited and was reaped, yet reported alive", cmd.Process.Pid)
	}
}

func TestProcessAliveSeesAZombieGone(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc: zombies cannot be told apart here")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no `sleep` command:", err)
	}
	defer cmd.Wait()
	if !processAlive(cmd.Process.Pid) {
		t.Fatal("a running child is reported gone")
	}
	cmd.Process.Kill()
	// Not reaped yet: the child is a zombie until Wait.
	deadline := time.Now().Add(5 * time.Second)
	for processAlive(cmd.Process.Pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if processAlive(cmd.Process.Pid) {
		t.Errorf("killed, unreaped child %d is reported alive", cmd.Process.Pid)
	}
}
