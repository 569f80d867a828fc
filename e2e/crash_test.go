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
// Five walks, each on its own emulator:
//   - boundaries: every command is first killed before its step 1 (the
//     lease is taken, nothing else done), then run again and again, each
//     run killed before its own step 2, so each run does exactly one step:
//     every step boundary of the ladder is a crash point, and every
//     resume starts from one.
//   - mid-step: the same, killed after every WTT_CRASH_STRIDE-th (default
//     1) mutating call past the lease, so each run applies that many AWS
//     mutations and dies: with stride 1, a crash after every mutating call
//     of the ladder.
//   - rerun-middle, rerun-early-late, rerun-late-early: every command
//     killed once (at a step boundary or after a mutating call,
//     alternately; in the middle, near the start or near the end), then
//     run again without any hook: that one run must do all the rest. Ctrl-C
//     replaces the kill for a few multi-step commands.

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
	"testing"
	"time"
)

// crashTally counts the crash points a walk tried (each followed by a
// successful resume and a comparison with the reference).
type crashTally struct {
	points   map[string]int // by command
	runs     int
	findings []string // steps planned again after a run finished them
}

func (c *crashTally) replanned(what string) {
	if !slices.Contains(c.findings, what) {
		c.findings = append(c.findings, what)
	}
}

func (c *crashTally) add(cmd string) {
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
	msg := fmt.Sprintf("%d crash points in %d wtt runs (%s)", total, c.runs, strings.Join(parts, " "))
	if len(c.findings) > 0 {
		msg += "; steps planned again after they were done: " + strings.Join(c.findings, "; ")
	}
	return msg
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
		stride := relEnvInt("WTT_CRASH_STRIDE", 1)
		var tally crashTally
		for i, c := range ladderCommands(w.app) {
			crashAfterMutations(t, w, ref, i, c, stride, &tally)
		}
		tally.runs = w.runs
		t.Logf("mid-step (stride %d): %s", stride, &tally)
	})
	for _, v := range rerunVariants {
		t.Run("rerun-"+v.name, func(t *testing.T) {
			parallelWalk(t)
			w := newRelWalker(t, "rel-crash-"+v.name)
			var tally crashTally
			for i, c := range ladderCommands(w.app) {
				crashOnceThenRerun(t, w, ref, i, c, v, &tally)
			}
			tally.runs = w.runs
			t.Logf("rerun-%s: %s", v.name, &tally)
		})
	}
}

// finishCrashed requires the run to have completed and AWS to match the reference.
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
		t.Fatalf("%s: wtt was not killed at the crash point (exit %d)\n%s", what, r.code, r)
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
	killAt := 2
	var previous []string
	for n := 0; ; n++ {
		if n > 2*want.steps+1 {
			t.Fatalf("%s: %d runs killed at step boundaries and it is still not done", c, n)
		}
		r := w.run(c.args, fmt.Sprintf("WTT_TEST_KILL_AT_STEP=%d", killAt))
		if r.code != 0 && !r.killed {
			t.Fatalf("%s, resumed after a kill at a step boundary: %v", c, r)
		}
		if !r.killed {
			finishCrashed(t, w, ref, i, r, "one crash per step")
			return
		}
		tally.add(c.name)
		// Each run should do the next step(s), leaving a shorter plan. One
		// that did exactly what the run before it did has re-planned
		// finished work: say so, and crash one step later from now on so
		// that the walk ends.
		started := startedSteps(r.stderr)
		if len(started) > 0 && slices.Equal(started, previous) {
			w.logf("finding: %s re-plans a step its previous run finished: %s", c.name, started[0])
			tally.replanned(c.name + ": " + started[0])
			killAt++
		}
		previous = started
	}
}

var stepLine = regexp.MustCompile(`(?m)^\[\d+/\d+\] (.+)$`)

// startedSteps lists the steps a run started, from its progress lines.
func startedSteps(stderr string) []string {
	var out []string
	for _, m := range stepLine.FindAllStringSubmatch(stderr, -1) {
		out = append(out, m[1])
	}
	return out
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
		// The lease's calls come first: its create; or, when a killed run
		// left its lease behind, a create refused, the break, the create.
		lease := 1
		if w.staleLease(t) {
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

// rerunVariant picks, for each command of a rerun walk, one crash point:
// a step boundary (for commands of 2 steps or more) or a mutating call,
// alternately, or Ctrl-C for the commands it names.
type rerunVariant struct {
	name      string
	odd       bool                    // a boundary for odd commands (else even)
	boundary  func(steps int) int     // WTT_TEST_KILL_AT_STEP
	mutation  func(mutations int) int // WTT_TEST_KILL_AFTER_MUTATIONS; the lease's create is 1
	interrupt map[string]bool         // commands interrupted with Ctrl-C instead
}

var rerunVariants = []rerunVariant{
	{name: "middle", boundary: func(n int) int { return 1 + (n+1)/2 }, mutation: func(m int) int { return 1 + m/2 },
		interrupt: map[string]bool{"alb": true, "down": true}},
	// After the first step; after the last AWS change, before the lease
	// is released.
	{name: "early-late", odd: true, boundary: func(n int) int { return 2 }, mutation: func(m int) int { return m - 1 },
		interrupt: map[string]bool{"dns": true, "asg": true}},
	// Before the last step; right after the first AWS change.
	{name: "late-early", boundary: func(n int) int { return n }, mutation: func(m int) int { return 2 },
		interrupt: map[string]bool{"up": true}},
}

// crashOnceThenRerun kills (or interrupts) the command once, then runs it
// again without any hook: that one run must do all the rest.
func crashOnceThenRerun(t *testing.T, w *relWalker, ref *reference, i int, c rungCommand, v rerunVariant, tally *crashTally) {
	t.Helper()
	want := ref.at(t, i)
	switch {
	case want.steps == 0:
		finishCrashed(t, w, ref, i, w.run(c.args), "nothing to do")
		return
	case v.interrupt[c.name] && want.steps >= 3:
		interruptAtStep(t, w, c, 2, want.steps)
	case (i%2 == 1) == v.odd && want.steps >= 2:
		at := v.boundary(want.steps)
		requireKilled(t, w.run(c.args, fmt.Sprintf("WTT_TEST_KILL_AT_STEP=%d", at)), fmt.Sprintf("%s killed before step %d", c.name, at))
	default:
		k := v.mutation(want.mutations)
		if w.staleLease(t) {
			k += 2 // its break comes first: the create refused, the delete
		}
		requireKilled(t, w.run(c.args, fmt.Sprintf("WTT_TEST_KILL_AFTER_MUTATIONS=%d", k)), fmt.Sprintf("%s killed after mutating call %d", c.name, k))
	}
	tally.add(c.name)
	crashed := w.last
	r := w.run(c.args)
	if os.Getenv("WTT_RELIABILITY_DEBUG") != "" && crashed != nil {
		w.logf("%s: crashed: %s\nthen: %s", c.name, crashed, r)
	}
	finishCrashed(t, w, ref, i, r, "one crash")
}

// staleLease reports whether a killed run left the app's lease behind.
func (w *relWalker) staleLease(t *testing.T) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held, err := w.leaseHeld(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return held
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
