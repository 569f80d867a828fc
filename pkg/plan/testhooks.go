package plan

import (
	"os"
	"strconv"
	"time"
)

// testKillAtStep is a crash point for the crash suite (e2e/crash_test.go),
// for tests only: WTT_TEST_KILL_AT_STEP=N makes the process SIGKILL itself
// right before step N starts (N = steps+1: right after the last step, before
// the lease is released), as a power cut or an OOM kill would. Unset, it is
// 0 and Run never crashes.
func testKillAtStep() int {
	n, _ := strconv.Atoi(os.Getenv("WTT_TEST_KILL_AT_STEP"))
	return n
}

func crashIfAt(killAt, step int) {
	if killAt <= 0 || killAt != step {
		return
	}
	killSelf()
}

// killSelf ends the process the way SIGKILL does: no deferred function
// runs, no lease is released, nothing is flushed.
func killSelf() {
	if self, err := os.FindProcess(os.Getpid()); err == nil {
		_ = self.Kill() // SIGKILL on Unix
	}
	time.Sleep(time.Minute) // the signal lands long before this returns
}
