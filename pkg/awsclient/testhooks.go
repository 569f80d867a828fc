package awsclient

import (
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// killAfterMutations is a crash point for the crash suite
// (e2e/crash_test.go), for tests only: WTT_TEST_KILL_AFTER_MUTATIONS=K makes
// the process SIGKILL itself right after its K-th mutating call returns
// (retries included in that one call; the lease's own calls count too).
// AWS has applied the call but the step that made it has not finished: the
// crash lands in the middle of a step. Unset, it is 0 and nothing happens.
var killAfterMutations = sync.OnceValue(func() int64 {
	n, _ := strconv.ParseInt(os.Getenv("WTT_TEST_KILL_AFTER_MUTATIONS"), 10, 64)
	return n
})

// mutationsReturned counts the process's mutating calls that have returned,
// across every client: one process, one count, as WTT_CALL_LOG lists them.
var mutationsReturned atomic.Int64

func crashAfterMutation(action string) {
	k := killAfterMutations()
	if k <= 0 || !IsMutating(action) {
		return
	}
	if mutationsReturned.Add(1) != k {
		return
	}
	if self, err := os.FindProcess(os.Getpid()); err == nil {
		_ = self.Kill() // SIGKILL on Unix: no deferred function, no lease release
	}
	time.Sleep(time.Minute) // the signal lands long before this returns
}
