package awsclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/route53"
)

// fakeClock is a virtual clock that stands still: a burst all arrives at
// one instant, and the limiter says when each request would go.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	sent []time.Time
}

func (c *fakeClock) limiter() *Limiter {
	return &Limiter{buckets: map[string]pacer{},
		now:   func() time.Time { return c.now },
		sleep: func(context.Context, time.Duration) error { return nil },
		sent:  func(at time.Time) { c.mu.Lock(); c.sent = append(c.sent, at); c.mu.Unlock() },
	}
}

// burst sends n requests of action at the clock's instant and returns
// when each would go.
func (c *fakeClock) burst(t *testing.T, l *Limiter, action string, n int) []time.Time {
	t.Helper()
	start := len(c.sent)
	for i := 0; i < n; i++ {
		if err := l.Wait(context.Background(), action); err != nil {
			t.Fatal(err)
		}
	}
	return c.sent[start:]
}

// maxInWindow is the most send times that fall in any window of length w.
func maxInWindow(times []time.Time, w time.Duration) int {
	ts := append([]time.Time(nil), times...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best := 0
	for i := range ts {
		n := 0
		for j := i; j < len(ts) && ts[j].Sub(ts[i]) < w; j++ {
			n++
		}
		best = max(best, n)
	}
	return best
}

func TestRoute53BurstIsHeldToFivePerSecond(t *testing.T) {
	c := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	sent := c.burst(t, c.limiter(), "route53:ChangeResourceRecordSets", 40)
	if got := maxInWindow(sent, time.Second); got != 5 {
		t.Errorf("a burst of 40 Route 53 requests put %d in one second; AWS allows 5", got)
	}
	// Held to the rate, not below it: the first five go at once, and 40
	// requests at 5 a second take 7 s of virtual time.
	if span := sent[4].Sub(sent[0]); span != 0 {
		t.Errorf("the first five requests spread over %s; AWS allows five at once", span)
	}
	if span := sent[len(sent)-1].Sub(sent[0]); span != 7*time.Second {
		t.Errorf("40 requests spread over %s, want 7s (5 a second)", span)
	}
}

func TestEC2BucketsAreTheDocumentedOnes(t *testing.T) {
	for _, tc := range []struct {
		action        string
		burst, perSec int
	}{
		{"ec2:CreateTags", 200, 5},
		{"ec2:RunInstances", 50, 5},
		{"ec2:DescribeInstances", 50, 10},
	} {
		c := &fakeClock{now: time.Unix(1_800_000_000, 0)}
		n := tc.burst + 3*tc.perSec
		sent := c.burst(t, c.limiter(), tc.action, n)
		immediate := 0
		for _, s := range sent {
			if s.Equal(c.now) {
				immediate++
			}
		}
		if immediate != tc.burst {
			t.Errorf("%s: %d of a burst of %d went at once, want the bucket's %d", tc.action, immediate, n, tc.burst)
		}
		// After the bucket is empty, requests go at the refill rate.
		if got := maxInWindow(sent[tc.burst:], time.Second); got != tc.perSec {
			t.Errorf("%s: %d a second after the bucket emptied, want %d", tc.action, got, tc.perSec)
		}
	}
}

func TestEachEC2ActionHasItsOwnBucket(t *testing.T) {
	c := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	l := c.limiter()
	c.burst(t, l, "ec2:DescribeInstances", 50)
	sent := c.burst(t, l, "ec2:DescribeVpcs", 1)
	if !sent[len(sent)-1].Equal(c.now) {
		t.Errorf("DescribeVpcs waited for DescribeInstances's bucket")
	}
}

func TestUnlimitedServicesDoNotWait(t *testing.T) {
	c := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	sent := c.burst(t, c.limiter(), "elasticloadbalancing:DescribeTargetHealth", 500)
	if got := maxInWindow(sent, time.Second); got != 500 {
		t.Errorf("an action without a documented rate was held back: %d of 500 in the first second", got)
	}
}

// The limiter is in the SDK's middleware seam: a burst of real Route 53
// calls from many goroutines goes through it, and is paced at 5 a second
// on the (virtual) clock it runs on.
func TestRoute53ClientBurstThroughTheSeam(t *testing.T) {
	var served sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.Write([]byte(`<?xml version="1.0"?><ListHostedZonesResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><HostedZones></HostedZones><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesResponse>`))
	}))
	t.Cleanup(srv.Close)
	rec := NewRecorder()
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	limiters.Store(rec, clock.limiter())
	t.Cleanup(func() { limiters.Delete(rec) })
	c := load(t, srv.URL, Options{Recorder: rec})
	for i := 0; i < 12; i++ {
		served.Add(1)
		go func() {
			defer served.Done()
			if _, err := c.Route53.ListHostedZones(context.Background(), &route53.ListHostedZonesInput{}); err != nil {
				t.Error(err)
			}
		}()
	}
	served.Wait()
	if n := rec.Calls()["route53:ListHostedZones"]; n != 12 {
		t.Fatalf("made %d calls, want 12", n)
	}
	if len(clock.sent) != 12 {
		t.Fatalf("the limiter saw %d requests, want all 12", len(clock.sent))
	}
	if got := maxInWindow(clock.sent, time.Second); got != 5 {
		t.Errorf("%d of a burst of 12 Route 53 requests went within one second; AWS allows 5", got)
	}
}

// The window slides: a sixth request 900 ms after a burst of five waits
// only until the first of them is a second old, not a whole period.
func TestRoute53WindowSlides(t *testing.T) {
	c := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	l := c.limiter()
	start := c.now
	c.burst(t, l, "route53:GetChange", 5)
	c.now = start.Add(900 * time.Millisecond)
	sixth := c.burst(t, l, "route53:GetChange", 1)[0]
	if got := sixth.Sub(start); got != time.Second {
		t.Errorf("the sixth request went at +%s, want +1s (when the first of the five is a second old)", got)
	}
	c.now = start.Add(5 * time.Second)
	if later := c.burst(t, l, "route53:GetChange", 5); later[4] != c.now {
		t.Errorf("after a quiet spell a burst of five waited until %s", later[4].Sub(c.now))
	}
}
