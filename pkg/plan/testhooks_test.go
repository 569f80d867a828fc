package plan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// runSteps is what TestKillAtStep runs in a child process: it runs a plan of three
// steps that print their number, with whatever WTT_TEST_KILL_AT_STEP the
// parent set.
func runSteps() {
	p := &Plan{}
	for i := 1; i <= 3; i++ {
		p.Steps = append(p.Steps, &Step{Action: Create, Resource: fmt.Sprint("r", i),
			Do: func(context.Context, *Exec) error { fmt.Printf("did %d\n", i); return nil }})
	}
	err := Run(context.Background(), p, &Exec{}, func() (context.Context, context.CancelFunc) {
		return context.WithCancel(context.Background())
	})
	fmt.Println("returned", err)
}

// WTT_TEST_KILL_AT_STEP=N kills the process right before step N (N =
// steps+1: right after the last), with SIGKILL: nothing after it runs.
func TestKillAtStep(t *testing.T) {
	if os.Getenv("PLAN_TEST_CHILD") == "run-steps" {
		runSteps()
		os.Exit(0)
	}
	for _, tc := range []struct {
		env    string
		output string
		killed bool
	}{
		{"", "did 1\ndid 2\ndid 3\nreturned <nil>\n", false},
		{"1", "", true},
		{"2", "did 1\n", true},
		{"3", "did 1\ndid 2\n", true},
		{"4", "did 1\ndid 2\ndid 3\n", true},
		{"9", "did 1\ndid 2\ndid 3\nreturned <nil>\n", false},
		{"x", "did 1\ndid 2\ndid 3\nreturned <nil>\n", false},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillAtStep$")
		cmd.Env = append(os.Environ(), "PLAN_TEST_CHILD=run-steps", "WTT_TEST_KILL_AT_STEP="+tc.env)
		var out bytes.Buffer
		cmd.Stdout = &out
		err := cmd.Run()
		var ee *exec.ExitError
		killed := errors.As(err, &ee) && ee.ExitCode() == -1 && strings.Contains(ee.String(), "killed")
		if killed != tc.killed || out.String() != tc.output {
			t.Errorf("WTT_TEST_KILL_AT_STEP=%q: killed=%v (%v), output %q; want killed=%v, output %q",
				tc.env, killed, err, out.String(), tc.killed, tc.output)
		}
	}
}
