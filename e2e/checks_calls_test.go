package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	checks["calls-save"] = saveCallCount
	checks["calls-same"] = sameCallCount
	checks["calls-at-most"] = callsAtMost
}

// aws calls-at-most N: the runs since the last calls-reset made at most N
// AWS requests in all. Against the emulator without its data plane no
// wait polls more than once, so the count is the same on every run: the
// bound pins it, and a change that adds requests must say so here.
func callsAtMost(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: aws calls-at-most N")
	}
	limit, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	calls := readCalls(ts)
	ts.Logf("%d AWS requests (at most %d)", len(calls), limit)
	if len(calls) > limit {
		per := map[string]int{}
		for _, a := range calls {
			per[a]++
		}
		return fmt.Errorf("%d AWS requests, more than %d: %v", len(calls), limit, per)
	}
	return nil
}

// aws calls-save NAME: remember how many calls the runs since the last
// calls-reset made.
func saveCallCount(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	n := len(readCalls(ts))
	return os.WriteFile(filepath.Join(ts.Getenv("WORK"), "calls-"+args[0]), []byte(strconv.Itoa(n)), 0o644)
}

// aws calls-same NAME: the runs since the last calls-reset made exactly as
// many calls as the saved ones: the count does not grow with the fleet.
func sameCallCount(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	b, err := os.ReadFile(filepath.Join(ts.Getenv("WORK"), "calls-"+args[0]))
	if err != nil {
		return err
	}
	want, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if got := len(readCalls(ts)); got != want {
		return fmt.Errorf("%d calls now, %d saved as %s: %v", got, want, args[0], readCalls(ts))
	}
	return nil
}
