package awsclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// iamPrefix maps the SDK's service IDs to IAM action prefixes, so recorded
// calls read as the actions an IAM policy must allow.
var iamPrefix = map[string]string{
	"EC2":                       "ec2",
	"Elastic Load Balancing v2": "elasticloadbalancing",
	"Auto Scaling":              "autoscaling",
	"Route 53":                  "route53",
	"SSM":                       "ssm",
	"IAM":                       "iam",
	"S3":                        "s3",
	"STS":                       "sts",
	"Service Quotas":            "servicequotas",
}

// Action names a call the way IAM does: "ec2:RunInstances".
func Action(serviceID, operation string) string {
	p, ok := iamPrefix[serviceID]
	if !ok {
		p = strings.ToLower(strings.ReplaceAll(serviceID, " ", ""))
	}
	return p + ":" + operation
}

// IsMutating reports whether an action can change AWS state. AWS names
// read-only calls Describe*, List* and Get*.
func IsMutating(action string) bool {
	_, op, _ := strings.Cut(action, ":")
	for _, ro := range []string{"Describe", "List", "Get", "HeadBucket", "HeadObject"} {
		if strings.HasPrefix(op, ro) {
			return false
		}
	}
	return true
}

// Recorder counts calls (one per operation invocation) and attempts (one per
// HTTP request, so retries show as attempts beyond calls).
type Recorder struct {
	mu       sync.Mutex
	calls    map[string]int
	attempts map[string]int
	log      *os.File
	logAll   *os.File
}

func NewRecorder() *Recorder {
	r := &Recorder{calls: map[string]int{}, attempts: map[string]int{}}
	// The end-to-end suites run the real binary and read back what it
	// called: to check dry runs mutate nothing and the IAM policy is exact.
	r.log = openCallLog(os.Getenv("WTT_CALL_LOG"))
	// A second, suite-wide log gathers every call of every run, so the IAM
	// check sees the whole suite at once.
	r.logAll = openCallLog(os.Getenv("WTT_CALL_LOG_ALL"))
	return r
}

func openCallLog(path string) *os.File {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil
	}
	return f
}

func (r *Recorder) call(action string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[action]++
	for _, f := range []*os.File{r.log, r.logAll} {
		if f != nil {
			fmt.Fprintln(f, action)
		}
	}
}

func (r *Recorder) attempt(action string) {
	r.mu.Lock()
	r.attempts[action]++
	r.mu.Unlock()
}

// Calls returns a copy of the per-action call counts.
func (r *Recorder) Calls() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.calls))
	for k, v := range r.calls {
		out[k] = v
	}
	return out
}

// Total returns the number of calls and of retries made so far.
func (r *Recorder) Total() (calls, retries int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range r.calls {
		calls += v
		retries += r.attempts[k] - v
	}
	return calls, retries
}

// Mutating returns the mutating actions called, sorted.
func (r *Recorder) Mutating() []string {
	var out []string
	for a := range r.Calls() {
		if IsMutating(a) {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// Summary is one line for --debug: "42 calls, 3 retries".
func (r *Recorder) Summary() string {
	c, rt := r.Total()
	return fmt.Sprintf("%d AWS calls, %d retries", c, rt)
}

// Faults makes a fraction of attempts fail the way a throttled or flaky AWS
// does, before the request leaves the process. Tests only.
type Faults struct {
	Rate float64
	mu   sync.Mutex
	rng  *rand.Rand
	n    int
}

// FaultsFromEnv reads WTT_FAULT_RATE (0..1) and WTT_FAULT_SEED.
func FaultsFromEnv() *Faults {
	rate := envFloat("WTT_FAULT_RATE")
	if rate <= 0 {
		return nil
	}
	seed, _ := strconv.ParseUint(os.Getenv("WTT_FAULT_SEED"), 10, 64)
	return &Faults{Rate: rate, rng: FaultSource(seed)}
}

// FaultSource is the deterministic source faults are drawn from, so
// a failing fault run can be replayed with the same WTT_FAULT_SEED.
func FaultSource(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5eed)) }

func (f *Faults) next() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() >= f.Rate {
		return nil
	}
	f.n++
	switch f.n % 3 {
	case 0:
		return &injectedError{code: "Throttling", status: 400}
	case 1:
		return &injectedError{code: "InternalError", status: 500}
	default:
		return &injectedError{code: "ServiceUnavailable", status: 503}
	}
}

// injectedError looks like an AWS error to the retryer: it has an error code
// and an HTTP status, which is all the standard retryer classifies by.
type injectedError struct {
	code   string
	status int
}

func (e *injectedError) Error() string {
	return fmt.Sprintf("injected fault: %s (HTTP %d)", e.code, e.status)
}
func (e *injectedError) ErrorCode() string   { return e.code }
func (e *injectedError) HTTPStatusCode() int { return e.status }

func addMiddleware(s *middleware.Stack, o Options) error {
	if err := errors.Join(addTagTargets(s, o), addRateLimit(s, o)); err != nil {
		return err
	}
	// Initialize runs once per operation call, before retries.
	err := s.Initialize.Add(middleware.InitializeMiddlewareFunc("wttCount",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			action := Action(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx))
			o.Recorder.call(action)
			out, md, err := next.HandleInitialize(ctx, in)
			crashAfterMutation(action) // tests only; see testhooks.go
			return out, md, err
		}), middleware.Before)
	if err != nil {
		return err
	}
	// Added after the counter and placed before it: a fact answered from
	// memory is no request.
	if err := addFacts(s, o.facts); err != nil {
		return err
	}
	// Finalize after the retry middleware runs once per attempt: the place to
	// count retries, trace each request, and inject faults.
	attempt := middleware.FinalizeMiddlewareFunc("wttAttempt",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			action := Action(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx))
			o.Recorder.attempt(action)
			start := time.Now()
			if o.Faults != nil {
				if ferr := o.Faults.next(); ferr != nil {
					if o.Debug != nil {
						fmt.Fprintf(o.Debug, "[debug] %s -> %v\n", action, ferr)
					}
					return middleware.FinalizeOutput{}, middleware.Metadata{}, ferr
				}
			}
			out, md, err := next.HandleFinalize(ctx, in)
			err = guardBlindRetry(action, err)
			if o.Debug != nil {
				// Only the action, status and timing are traced: request
				// bodies may hold user data and headers hold signatures.
				status := "ok"
				if raw, ok := out.Result.(*smithyhttp.Response); ok && raw != nil {
					status = strconv.Itoa(raw.StatusCode)
				}
				if err != nil {
					status = "error: " + firstLine(err.Error())
				}
				fmt.Fprintf(o.Debug, "[debug] %s %s (%s)\n", action, status, time.Since(start).Round(time.Millisecond))
			}
			return out, md, err
		})
	if err := s.Finalize.Insert(attempt, "Retry", middleware.After); err != nil {
		return s.Finalize.Add(attempt, middleware.After)
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
