package e2e

// The crash suite: wtt SIGKILLed at every step boundary of every command of
// the ladder, and after mutating calls in the middle of steps (AWS applied
// the call, the step did not finish), then run again. The run again must
// break the dead run's lease by itself, finish the job, and leave AWS as
// the undisturbed reference walk did. Ctrl-C must stop at the next step
// boundary, say what is left, and the run again must finish.
//
// The crash points are test-only hooks of the real binary:
// WTT_TEST_KILL_AT_STEP=N (pkg/plan: SIGKILL right before step N; N =
// steps+1 is right after the last one) and WTT_TEST_KILL_AFTER_MUTATIONS=K
// (pkg/awsclient: SIGKILL right after the K-th mutating call returns).
//
// Three walks, each on its own emulator:
//   - boundaries: every command is first killed before its step 1 (the
//     lease is taken, nothing else done), then run again and again, each
//     run killed before its own step 2, so each run does exactly one step:
//     every step boundary of the ladder is a crash refPoint, and every
//     resume starts from one.
//   - mid-step: the same, killed after every WTT_CRASH_STRIDE-th (default
//     2) mutating call past the lease, so each run applies that many AWS
//     mutations and dies; stride 1 crashes after every mutating call of the
//     ladder.
//   - rerun: every command killed once half-way (a middle step boundary or
//     a middle mutating call, alternately), then run again without any hook:
//     that one run must do all the rest. Ctrl-C replaces the kill for the
//     alb and down commands.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashTally counts the crash points a walk tried (each followed by a
// successful resume and a comparison with the reference).
type crashTally struct {
	mu     sync.Mutex
	points map[string]int // by command
	runs   int
}

func (c *crashTally) add(cmd string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.points == nil {
		c.points = map[string]int{}
	}
	c.points[cmd]++
}

func (c *crashTally) String() string {
	total := 0
	var parts []string
	for _, cmd := range ladderCommands("") {
		if n := c.points[cmd.name]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", cmd.name, n))
			total += n
		}
	}
	return fmt.Sprintf("%d crash points in %d wtt runs (%s)", total, c.runs, strings.Join(parts, " "))
}

func crashSuites(t *testing.T, ref *reference) {
	t.Run("boundaries", func(t *testing.T) {
		parallelWalk(t)
		w := newRelWalker(t, "rel-crash-steps")
		var tally crashTally
		for i, c := range ladderCommands(w.app) {
			crashAtEveryBoundary(t, w, ref, i, c, &tally)
		}
		tally.runs = w.runs
		t.Logf("boundaries: %s", &tally)
	})
	t.Run("mid-step", func(t *testing.T) {
		parallelWalk(t)
		w := newRelWalker(t, "rel-crash-calls")
		stride := relEnvInt("WTT_CRASH_STRIDE", 2)
		var tally crashTally
		for i, c := range ladderCommands(w.app) {
			crashAfterMutations(t, w, ref, i, c, stride, &tally)
		}
		tally.runs = w.runs
		t.Logf("mid-step (stride %d): %s", stride, &tally)
	})
	t.Run("rerun", func(t *testing.T) {
		parallelWalk(t)
		w := newRelWalker(t, "rel-crash-rerun")
		var tally crashTally
		for i, c := range ladderCommands(w.app) {
			crashOnceThenRerun(t, w, ref, i, c, &tally)
		}
		tally.runs = w.runs
		t.Logf("rerun: %s", &tally)
	})
}

// finish requires the run to have completed and AWS to match the reference.
func finishCrashed(t *testing.T, w *relWalker, ref *reference, i int, r *wttRunResult, after string) {
	t.Helper()
	out, err := r.completed()
	if err != nil {
		t.Fatalf("%s, after %s: %v", ref.cmds[i].name, after, err)
	}
	w.expect(t, ref, i, out.Stage, len(out.Plan.Steps) > 0)
}

func requireKilled(t *testing.T, r *wttRunResult, what string) {
	t.Helper()
	if !r.killed {
		t.Fatalf("%s: wtt was not killed at the crash refPoint (exit %d)\n%s", what, r.code, r)
	}
}

func crashAtEveryBoundary(t *testing.T, w *relWalker, ref *reference, i int, c rungCommand, tally *crashTally) {
	t.Helper()
	want := ref.at(t, i)
	if want.steps == 0 {
		finishCrashed(t, w, ref, i, w.run(c.args), "nothing to do")
		return
	}
	requireKilled(t, w.run(c.args, "WTT_TEST_KILL_AT_STEP=1"), c.name+" killed before step 1")
	tally.add(c.name)
	for n := 0; ; n++ {
		if n > want.steps+1 {
			t.Fatalf("%s: %d runs that each should have done one more step, and it is not done: a step does not see its own work", c, n)
		}
		r := w.run(c.args, "WTT_TEST_KILL_AT_STEP=2")
		if r.code != 0 && !r.killed {
			t.Fatalf("%s, resumed after a kill at a step boundary: %v", c, r)
		}
		if r.killed {
			tally.add(c.name)
			continue
		}
		finishCrashed(t, w, ref, i, r, "one crash per step")
		return
	}
}

func crashAfterMutations(t *testing.T, w *relWalker, ref *reference, i int, c rungCommand, stride int, tally *crashTally) {
	t.Helper()
	want := ref.at(t, i)
	if want.steps == 0 {
		finishCrashed(t, w, ref, i, w.run(c.args), "nothing to do")
		return
	}
	k := stride
	var previous []string
	for n := 0; ; n++ {
		if n > 2*want.mutations+5 {
			t.Fatalf("%s: %d runs killed after mutating calls and it is still not done", c, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		stale, err := w.leaseHeld(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// The lease's calls come first: its create; or, when a killed run
		// left its lease behind, a create refused, the break, the create.
		lease := 1
		if stale {
			lease = 3
		}
		r := w.run(c.args, fmt.Sprintf("WTT_TEST_KILL_AFTER_MUTATIONS=%d", lease+k))
		if r.code != 0 && !r.killed {
			t.Fatalf("%s, resumed after a kill after a mutating call: %v", c, r)
		}
		if !r.killed {
			finishCrashed(t, w, ref, i, r, "crashes after mutating calls")
			return
		}
		tally.add(c.name)
		// A resumed run may redo idempotent calls (a policy put again)
		// before it gets further. One that only repeated what the run
		// before it did has not moved on: crash it later next time, so
		// that the walk always ends.
		done := r.mutations()
		done = done[min(lease, len(done)):]
		if slices.Equal(done, previous) {
			w.logf("%s: a resumed run repeated %v; crashing later from now on", c.name, done)
			k++
		}
		previous = done
	}
}

// crashOnceThenRerun kills (or interrupts) the command half-way, then runs
// it again without any hook.
func crashOnceThenRerun(t *testing.T, w *relWalker, ref *reference, i int, c rungCommand, tally *crashTally) {
	t.Helper()
	want := ref.at(t, i)
	switch {
	case want.steps == 0:
		finishCrashed(t, w, ref, i, w.run(c.args), "nothing to do")
		return
	case c.name == "alb" || c.name == "down":
		interruptAtStep(t, w, c, 2, want.steps)
	case i%2 == 0 && want.steps >= 2:
		requireKilled(t, w.run(c.args, fmt.Sprintf("WTT_TEST_KILL_AT_STEP=%d", 1+(want.steps+1)/2)), c.name)
	default:
		// Past the lease, half-way through the command's mutating calls.
		requireKilled(t, w.run(c.args, fmt.Sprintf("WTT_TEST_KILL_AFTER_MUTATIONS=%d", 1+want.mutations/2)), c.name)
	}
	tally.add(c.name)
	finishCrashed(t, w, ref, i, w.run(c.args), "one crash half-way")
}

var stoppedAfter = regexp.MustCompile(`stopped after (\d+) of (\d+) steps; not started: (.+); run the same command again to finish`)

// interruptAtStep sends SIGINT (Ctrl-C) while step `at` runs: wtt must
// finish that step, stop before the next, exit 1 and say how to go on.
func interruptAtStep(t *testing.T, w *relWalker, c rungCommand, at, steps int) {
	t.Helper()
	w.runs++
	args := append(append([]string{}, c.args...), "--yes", "--timeout", runTimeout.String())
	cmd := exec.Command(filepath.Join(binDir, "wtt"), args...)
	cmd.Env = append(os.Environ(), w.emu.Env()...)
	cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL="+w.endpoint, "WTT_APP="+w.app, "WTT_MAX_BACKOFF=200ms", "HOME="+w.dir, "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(runTimeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	marker := fmt.Sprintf("[%d/%d]", at, steps)
	sent := false
	sc := bufio.NewScanner(io.TeeReader(pipe, &stderr))
	for sc.Scan() {
		if !sent && strings.HasPrefix(sc.Text(), marker) {
			sent = true
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatalf("sending SIGINT: %v", err)
			}
		}
	}
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	got := stderr.String()
	if !sent {
		t.Fatalf("%s never started step %s (exit %d):\n%s", c, marker, code, got)
	}
	if code != 1 {
		t.Fatalf("%s interrupted during step %d: exit %d (%v), want 1\n%s", c, at, code, err, got)
	}
	for _, want := range []string{"Interrupted: finishing the current step, then stopping", "run the same command again"} {
		if !strings.Contains(got, want) {
			t.Errorf("%s interrupted: stderr lacks %q:\n%s", c, want, got)
		}
	}
	m := stoppedAfter.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("%s interrupted: stderr does not say which steps are done and which is next:\n%s", c, got)
	}
	done, _ := strconv.Atoi(m[1])
	// The step in flight finishes; the signal may land just after it, as
	// the next one starts, which then finishes too.
	if done < at || done > at+1 || m[2] != strconv.Itoa(steps) {
		t.Errorf("%s interrupted during step %d of %d: %q", c, at, steps, m[0])
	}
	if strings.Contains(got, fmt.Sprintf("[%d/%d]", done+1, steps)) {
		t.Errorf("%s started step %d after the interrupt:\n%s", c, done+1, got)
	}
	w.logf("%s interrupted during step %d: %s", c.name, at, m[0])
}
