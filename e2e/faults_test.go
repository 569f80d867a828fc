package e2e

// The fault suite: the whole ladder while 15% of AWS calls fail, once
// through the fault proxy in front of the emulator (AWS-shaped throttling,
// 500s, 503s and dropped connections, as the SDK sees them on the wire)
// and once with wtt's in-process injector (WTT_FAULT_RATE). Every command
// must succeed on its own retries, and leave AWS exactly as the undisturbed
// reference walk did: same resources, nothing duplicated, nothing leaked
// after down.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/faultproxy"
)

// faultRate is the fraction of AWS requests that fail.
const faultRate = 0.15

func faultSuites(t *testing.T, ref *reference) {
	t.Run("proxy", func(t *testing.T) {
		parallelWalk(t)
		w := newRelWalker(t, "rel-fault-proxy")
		p := startFaultProxy(t, w, faultproxy.Config{Seed: 15, Faults: faultproxy.Spread(faultRate)})
		st := faultWalk(t, w, ref, nil)
		c := p.Counts()
		t.Logf("proxy: %s; faults by service: %v", c, c.ByService)
		t.Logf("wtt: %s", st)
		for _, k := range faultproxy.Kinds {
			if c.Faults[k] == 0 {
				t.Errorf("no %s fault was injected in %d requests: the walk proved nothing about it", k, c.Requests)
			}
		}
		if c.Faults[faultproxy.AfterForward] != 0 {
			t.Errorf("%d answers lost after forwarding; this walk injects faults before forwarding only", c.Faults[faultproxy.AfterForward])
		}
		// Every fault must have been retried by the SDK, none surfaced:
		// wtt's own retry count covers every fault but the dropped
		// connections Go's transport replays itself (idempotent methods).
		if st.retries < c.Total()-c.Faults[faultproxy.Drop] || st.retries > c.Total() {
			t.Errorf("wtt counted %d retries for %d injected faults (%d dropped connections)", st.retries, c.Total(), c.Faults[faultproxy.Drop])
		}
		if got := float64(c.Total()) / float64(c.Requests); got < faultRate/2 || got > faultRate*2 {
			t.Errorf("fault rate %.3f, configured %.2f", got, faultRate)
		}
	})

	t.Run("in-process", func(t *testing.T) {
		parallelWalk(t)
		w := newRelWalker(t, "rel-fault-inproc")
		w.env = []string{fmt.Sprintf("WTT_FAULT_RATE=%v", faultRate)}
		st := faultWalk(t, w, ref, func(run int) []string {
			// A seed per run: the same seed would fail the same calls of
			// every run.
			return []string{fmt.Sprintf("WTT_FAULT_SEED=%d", 1000+run)}
		})
		t.Logf("wtt: %s", st)
		if st.injected == 0 || st.retries != st.injected {
			t.Errorf("%d faults injected, %d retries counted: every injected fault should be retried once", st.injected, st.retries)
		}
		if got := float64(st.injected) / float64(st.calls+st.retries); got < faultRate/2 || got > faultRate*2 {
			t.Errorf("fault rate %.3f, configured %.2f", got, faultRate)
		}
	})

	// Losing answers after the emulator applied the request is the harder
	// fault: see lostanswers_test.go.
	lostAnswerSuites(t, ref)
}

// startFaultProxy puts a fault proxy between the relWalker's wtt runs and its
// emulator.
func startFaultProxy(t *testing.T, w *relWalker, cfg faultproxy.Config) *faultproxy.Proxy {
	t.Helper()
	cfg.Target = w.emu.URL()
	p, err := faultproxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	w.endpoint = url
	return p
}

// faultStats adds up what the runs of a walk reported with --debug.
type faultStats struct {
	runs, calls, retries, injected int
	perCommand                     []string
}

func (s faultStats) String() string {
	return fmt.Sprintf("%d runs, %d AWS calls, %d retries, %d faults injected in-process; per command (calls/retries): %s",
		s.runs, s.calls, s.retries, s.injected, strings.Join(s.perCommand, " "))
}

// faultWalk runs every command once with --debug, requires it to succeed
// despite the faults, and compares AWS with the reference after each.
func faultWalk(t *testing.T, w *relWalker, ref *reference, perRun func(run int) []string) faultStats {
	t.Helper()
	var st faultStats
	for i, c := range ladderCommands(w.app) {
		var extra []string
		if perRun != nil {
			extra = perRun(i)
		}
		res := w.run(append(c.args, "--debug"), extra...)
		out, err := res.completed()
		if err != nil {
			t.Fatalf("%s did not survive %.0f%% faults: %v", c, faultRate*100, err)
		}
		calls, retries := res.retries()
		injected := strings.Count(res.stderr, "injected fault")
		st.runs++
		st.calls += calls
		st.retries += retries
		st.injected += injected
		st.perCommand = append(st.perCommand, fmt.Sprintf("%s=%d/%d", c.name, calls, retries))
		w.expect(t, ref, i, out.Stage, len(out.Plan.Steps) > 0)
	}
	return st
}

func firstErrorLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "Error: ") {
			return l
		}
	}
	return tailText(stderr, 300)
}
