// Package ladder knows the rungs of the architecture ladder: for each, how
// to plan it from observed state and how to carry it out, one idempotent
// step at a time.
package ladder

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

// Options are the choices a user makes on the command line. Zero values
// mean "derive a sensible default from what exists".
type Options struct {
	InstanceType string
	AMI          string
	ServerBinary string // path to the linux time server binary to deliver
	MaxAZs       int    // subnets are laid out in up to this many AZs

	DNSName    string
	TTL        int64
	RecordType string // "alias" (default) or "cname"
	// DNSDrain is how long the alb rung keeps the public instances serving
	// after the record stops listing them; DNSDrainSet says the user chose
	// it (--dns-drain), else it is the old record's TTL.
	DNSDrain    time.Duration
	DNSDrainSet bool

	AZs       int // multi-az: how many AZs the group and ALB span
	Min       int32
	Max       int32
	Desired   int32
	CPUTarget float64

	Term          string  // 1y|3y
	OfferingClass string  // standard|convertible
	Payment       string  // no-upfront|partial-upfront|all-upfront
	MaxUpfront    float64 // USD; below 0 means no limit
	// Offering is the Reserved Instance offering the reserved rung buys. The
	// CLI looks it up (LookupReservedOffering) before planning, because
	// planning is pure and the plan must show the price.
	Offering *Offering
	// ReservedIntent is a purchase an earlier run recorded and may not have
	// seen through; the CLI reads it (LookupReservedIntent) before planning.
	ReservedIntent *ReservedIntent

	// ServerDryRun sends EC2's own DryRun with mutating calls instead of
	// making them.
	ServerDryRun bool
	// PollInterval is the waiters' minimum delay; the emulator answers at
	// once, AWS takes seconds.
	PollInterval time.Duration
	// WaitTimeout bounds each waiter.
	WaitTimeout time.Duration
}

// Env is what steps act with: clients, names, options and the state as
// observed just before the step ran.
type Env struct {
	C     *awsclient.Clients
	N     names.Names
	App   string
	Opts  Options
	State *observe.State
	// Observer remembers what was read, so a refresh reads again only
	// what the calls made since could have changed. Made on first use.
	Observer *observe.Observer

	// eipRoom is how many more Elastic IPs this command found the
	// region's quota to allow (CheckEIPQuota).
	eipRoom int
	// zones are the account's public hosted zones as this command listed
	// them (publicZones); empty, the records it knows are not there
	// (noRecord).
	zones []hostedZone
	empty map[string]bool
	// run tells this command's client tokens from every other run's
	// (runNonce).
	run string
}

// Refresh re-observes AWS: everything the first time, then what changed.
func (e *Env) Refresh(ctx context.Context) error {
	if e.Observer == nil {
		e.Observer = observe.NewObserver(e.C, e.App)
	}
	s, err := e.Observer.Refresh(ctx)
	if err != nil {
		return err
	}
	e.State = s
	return nil
}

func env(x *plan.Exec) *Env { return x.Env.(*Env) }

// took hands the observer what a step's own answers show of the kinds in
// k (observe.Observer.Took): what the step created, or what its waiter's
// last poll returned. The refresh before the next step then does not
// describe them again. set must replace the slices it changes, never write
// into them: the state the plan was made from shares them. Without an
// observer (an Env built by hand) the next refresh reads everything anyway.
func (e *Env) took(k observe.Kind, set func(*observe.State)) {
	if e.Observer != nil {
		e.Observer.Took(k, set)
	}
	if e.State != nil {
		set(e.State)
	}
}

// tags are what every resource wtt creates carries: discovery depends on
// them, and `down` deletes exactly what carries them.
func (e *Env) tags(role, name string) []ec2types.Tag {
	t := []ec2types.Tag{
		{Key: aws.String(names.TagApp), Value: aws.String(e.App)},
		{Key: aws.String(names.TagManagedBy), Value: aws.String(names.ManagedBy)},
		{Key: aws.String(names.TagRole), Value: aws.String(role)},
	}
	if name != "" {
		t = append(t, ec2types.Tag{Key: aws.String("Name"), Value: aws.String(name)})
	}
	return t
}

func (e *Env) tagSpec(rt ec2types.ResourceType, role, name string) []ec2types.TagSpecification {
	return []ec2types.TagSpecification{{ResourceType: rt, Tags: e.tags(role, name)}}
}

// dryRun reports whether EC2 calls should carry DryRun=true.
func (e *Env) dryRun() *bool {
	if e.Opts.ServerDryRun {
		return aws.Bool(true)
	}
	return nil
}

// errDryRunOK is EC2's answer to a DryRun call that would have succeeded.
func isDryRunOK(err error) bool { return apiCode(err) == "DryRunOperation" }

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func hasCode(err error, codes ...string) bool { return slices.Contains(codes, apiCode(err)) }

// clientToken makes a create idempotent for this run: the SDK's retries of
// a call whose answer was lost get the first resource back instead of a
// second one. A random nonce, one per run, keeps it to this run, because
// AWS answers a token it has seen with the first call's result, whatever
// became of that resource since: an S3 endpoint deleted by hand would
// come back "deleted" instead of being made again (the emulator does the
// same for CreateVpcEndpoint, docs/emulator.md). The launch template's
// tokens need the nonce too: "lt" and "ltv" hash the launch data, whose
// security group, AMI and binary stay the same from run to run in one
// VPC, so a template deleted by hand, or a version going back to an
// earlier type (m5.large, then t2.micro, then m5.large again), would send
// an earlier run's token and get that run's template or version. Across
// runs, earlier work is found by tags and names before anything is created.
func (e *Env) clientToken(parts ...string) *string {
	tok := "wtt-" + e.App + "-" + e.runNonce()
	for _, p := range parts {
		tok += "-" + p
	}
	return aws.String(fitToken(tok))
}

// runNonce is this run's random part of its client tokens (clientToken,
// launchToken), made on first use.
func (e *Env) runNonce() string {
	if e.run == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		e.run = hex.EncodeToString(b)
	}
	return e.run
}

// fitToken keeps a token within EC2's 64 characters: a longer one keeps
// its start (app and run) and ends with a hash of the whole, so no part is
// cut off unseen. wtt's own tokens fit (an app name is at most 24).
func fitToken(tok string) string {
	const limit = 64
	if len(tok) <= limit {
		return tok
	}
	sum := sha256.Sum256([]byte(tok))
	return tok[:limit-17] + "-" + hex.EncodeToString(sum[:8])
}

// pollInterval is a waiter's first delay between two polls (the first poll
// is at once). AWS takes seconds to change an instance's or a target's
// state, so polling it sooner than every 5 s only spends requests; the CLI
// sets a shorter interval for a custom endpoint (an emulator), which changes
// state at once or on its own scaled clock.
func (e *Env) pollInterval() time.Duration {
	if e.Opts.PollInterval > 0 {
		return e.Opts.PollInterval
	}
	return 5 * time.Second
}

// maxPollDelay caps a waiter's exponential backoff: awsCap (what AWS's own
// waiters use for the resource: 15 s for instances and targets, 30 s for
// Route 53), but never more than 6 poll intervals. With the 5 s default
// that is awsCap, as before; with an emulator's short interval the gaps stay
// short too, so a wait that ends after a few seconds (a drain of 30 s on a
// scaled clock) is noticed about a second after, not up to 15 s late.
func (e *Env) maxPollDelay(awsCap time.Duration) time.Duration {
	return max(e.pollInterval(), min(awsCap, 6*e.pollInterval()))
}

// backoff is the delay sequence of a hand-written poll loop, shaped like
// the SDK's waiters: the poll interval, doubling up to maxPollDelay(awsCap).
// Fewer requests than a fixed interval over a long wait, and no gap longer
// than the cap.
type backoff struct{ next, cap time.Duration }

func (e *Env) backoff(awsCap time.Duration) *backoff {
	return &backoff{next: e.pollInterval(), cap: e.maxPollDelay(awsCap)}
}

// delay is the next delay of the sequence.
func (b *backoff) delay() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.cap)
	return d
}

// sleep waits the next delay of the sequence, or until ctx is done.
func (b *backoff) sleep(ctx context.Context) error { return sleep(ctx, b.delay()) }

func (e *Env) waitTimeout() time.Duration {
	if e.Opts.WaitTimeout > 0 {
		return e.Opts.WaitTimeout
	}
	return 10 * time.Minute
}

// WaitError says what a waiter waited for, how long, and what to do next.
type WaitError struct {
	What  string
	After time.Duration
	Next  string
	Err   error
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("gave up waiting for %s after %s: %v\n  next: %s", e.What, e.After.Round(time.Second), e.Err, e.Next)
}

func (e *WaitError) Unwrap() error { return e.Err }
