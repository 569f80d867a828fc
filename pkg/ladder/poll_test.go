package ladder

import (
	"testing"
	"time"
)

// Against AWS (the 5 s default) the waiters back off to AWS's own caps as
// before; with an emulator's short interval the gaps stay within 6 intervals.
func TestMaxPollDelay(t *testing.T) {
	for _, c := range []struct {
		interval, awsCap, want time.Duration
	}{
		{0, 15 * time.Second, 15 * time.Second}, // the default interval, 5 s
		{0, 30 * time.Second, 30 * time.Second},
		{200 * time.Millisecond, 15 * time.Second, 1200 * time.Millisecond},
		{200 * time.Millisecond, 30 * time.Second, 1200 * time.Millisecond},
		{20 * time.Second, 15 * time.Second, 20 * time.Second}, // never below the interval
	} {
		e := &Env{Opts: Options{PollInterval: c.interval}}
		if got := e.maxPollDelay(c.awsCap); got != c.want {
			t.Errorf("interval %s, AWS cap %s: got %s, want %s", c.interval, c.awsCap, got, c.want)
		}
	}
}

// A hand-written poll loop starts at the interval and doubles up to the cap.
func TestBackoffDoublesToCap(t *testing.T) {
	e := &Env{Opts: Options{PollInterval: 200 * time.Millisecond}}
	b := e.backoff(15 * time.Second)
	var got []time.Duration
	for range 6 {
		got = append(got, b.delay())
	}
	want := []time.Duration{200, 400, 800, 1200, 1200, 1200}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
}
