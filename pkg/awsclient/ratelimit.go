package awsclient

import (
	"context"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// wtt never sends more than AWS's documented request rate for a service:
// a tool that many operators' scripts run every few minutes must not be
// the one that gets an account throttled. Each request (every attempt,
// retries included) takes a token from its bucket first, waiting for one
// if the bucket is empty.
//
// The rates, as AWS documents them:
//   - Route 53: five requests per second per account, all actions together
//     (Route 53 Developer Guide, "Quotas on API requests"). A sliding
//     window, not a bucket: a request goes once the fifth before it is a
//     second old, so a burst of five goes at once (a bucket of one token
//     would space every request 200 ms apart) and no one-second window
//     ever sees a sixth.
//   - EC2: a token bucket per action (EC2 Developer Guide, "Request
//     throttling for the Amazon EC2 API"): resource-intensive actions
//     (RunInstances, StartInstances, StopInstances, TerminateInstances)
//     hold 50 and refill 5 a second; other mutating actions hold 200 and
//     refill 5; non-mutating ones hold 50 and refill 10 (the lower of the
//     filtered and the unfiltered bucket, since which one AWS applies
//     depends on the request).
//
// Other services wtt calls (ELB, Auto Scaling, IAM, S3, SSM, STS, Service
// Quotas) publish no per-account request rate that a command of wtt's size
// could reach, so they are not limited here; the retryer's backoff handles
// a throttle from them.

// pacer says how long a request arriving at now must wait, and counts it
// as sent then.
type pacer interface {
	take(now time.Time) time.Duration
}

// window allows at most n requests in any interval of length per: each
// request goes no earlier than per after the n-th request before it.
type window struct {
	n    int
	per  time.Duration
	sent []time.Time // the last n send times, oldest first
}

func (w *window) take(now time.Time) time.Duration {
	at := now
	if len(w.sent) == w.n {
		if earliest := w.sent[0].Add(w.per); earliest.After(at) {
			at = earliest
		}
		w.sent = w.sent[1:]
	}
	w.sent = append(w.sent, at)
	return at.Sub(now)
}

// bucket is a token bucket on an injectable clock.
type bucket struct {
	capacity float64
	perSec   float64
	tokens   float64
	last     time.Time
}

// take returns how long to wait before the request may go, and takes the
// token it will use.
func (b *bucket) take(now time.Time) time.Duration {
	if b.last.IsZero() {
		b.tokens, b.last = b.capacity, now
	}
	if now.After(b.last) {
		b.tokens = min(b.capacity, b.tokens+now.Sub(b.last).Seconds()*b.perSec)
		b.last = now
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	// The debt is paid off at the refill rate: this request goes when its
	// token has been refilled.
	return time.Duration(-b.tokens / b.perSec * float64(time.Second))
}

// Limiter holds the buckets of one process (one account and region).
type Limiter struct {
	mu      sync.Mutex
	buckets map[string]pacer
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
	sent    func(at time.Time) // tests: when each request goes
}

// NewLimiter returns a limiter on the real clock.
func NewLimiter() *Limiter {
	return &Limiter{buckets: map[string]pacer{}, now: time.Now, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rateOf names the pacer an action draws from and makes it as AWS
// documents it; ok is false for actions no documented rate covers.
func rateOf(action string) (key string, newPacer func() pacer, ok bool) {
	service, op, _ := strings.Cut(action, ":")
	ec2Bucket := func(capacity, perSec float64) func() pacer {
		return func() pacer { return &bucket{capacity: capacity, perSec: perSec} }
	}
	switch service {
	case "route53":
		return "route53", func() pacer { return &window{n: 5, per: time.Second} }, true
	case "ec2":
		switch op {
		case "RunInstances", "StartInstances", "StopInstances", "TerminateInstances":
			return action, ec2Bucket(50, 5), true
		}
		if IsMutating(action) {
			return action, ec2Bucket(200, 5), true
		}
		return action, ec2Bucket(50, 10), true
	}
	return "", nil, false
}

// Wait blocks until action may be sent (or ctx ends).
func (l *Limiter) Wait(ctx context.Context, action string) error {
	key, makePacer, ok := rateOf(action)
	if !ok {
		if l.sent != nil {
			l.sent(l.now())
		}
		return nil
	}
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		b = makePacer()
		l.buckets[key] = b
	}
	now := l.now()
	d := b.take(now)
	if l.sent != nil {
		l.sent(now.Add(max(d, 0)))
	}
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	return l.sleep(ctx, d)
}

var limiters sync.Map // *Recorder -> *Limiter: one per set of clients

func limiterFor(r *Recorder) *Limiter {
	v, _ := limiters.LoadOrStore(r, NewLimiter())
	return v.(*Limiter)
}

// addRateLimit makes every attempt wait for its token. It sits in Finalize
// after the retry middleware, so retries are paced too.
func addRateLimit(s *middleware.Stack, o Options) error {
	l := limiterFor(o.Recorder)
	m := middleware.FinalizeMiddlewareFunc("wttRateLimit",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if err := l.Wait(ctx, Action(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx))); err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, err
			}
			return next.HandleFinalize(ctx, in)
		})
	if err := s.Finalize.Insert(m, "Retry", middleware.After); err != nil {
		return s.Finalize.Add(m, middleware.After)
	}
	return nil
}
