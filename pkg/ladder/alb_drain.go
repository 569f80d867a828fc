package ladder

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/pricing"
)

// After the alb rung points the app's name at the load balancer, resolvers
// that asked before keep the old A record (the public instances'
// addresses) for up to its TTL. The rung keeps those instances serving
// that long, the drain, and only then retires them: no client is sent to
// an address that no longer answers.
//
// wtt keeps no state file, so the drain is written on AWS, as tags on the
// instances to retire (docs/rungs-alb.md):
//   - observe.TagDNSDrain, before the record changes (the TTL step or the
//     switch): how long clients may hold the addresses. Once the record is
//     an alias its old TTL is gone from DNS, so this is the only place a
//     re-run can learn it from.
//   - observe.TagRetireAfter, once the switch is served by every Route 53
//     name server: that moment plus the drain.
//
// A run killed during the wait waits, run again, only what is left; one
// killed between the switch and the second tag waits the whole drain
// again from the re-run (longer, never shorter).

// drainCalls are the calls of the tagging and of the wait.
var drainCalls = []string{"ec2:DescribeInstances", "ec2:CreateTags"}

// drainProgressEvery is how often the wait says how long is left.
const drainProgressEvery = 10 * time.Second

// drain is what the rung waits between the switch and the retirement.
type drain struct {
	// wait is how long the public instances keep serving after the switch.
	wait time.Duration
	// ttl is how long clients may hold the old addresses from a cached
	// answer; 0 when no record lists them.
	ttl time.Duration
	// until is when they may go, once the switch is recorded; zero before.
	until time.Time
	// why says where wait comes from, for the plan.
	why string
}

// stale is how long clients that cached the old record may still be sent
// to a terminated instance: the part of the TTL the drain does not cover.
func (d drain) stale() time.Duration { return max(d.ttl-d.wait, 0) }

// liveRetiring is the retiring instances that still answer.
func liveRetiring(s *observe.State) []observe.Instance {
	var out []observe.Instance
	for _, i := range retiringFleet(s) {
		if i.Live() {
			out = append(out, i)
		}
	}
	return out
}

// listsAddresses reports whether the record still lists addresses (it has
// not moved to the load balancer yet).
func listsAddresses(d *observe.DNS) bool {
	return d != nil && d.Type == "A" && d.AliasTarget == "" && len(d.Values) > 0
}

// recordedDrain is the longest drain tagged on the instances.
func recordedDrain(insts []observe.Instance) time.Duration {
	var d time.Duration
	for _, i := range insts {
		d = max(d, i.DNSDrain())
	}
	return d
}

// planDrain decides the drain from what is observed: before the switch,
// the record's TTL (or a longer one recorded when the TTL was lowered);
// after it, what the instances' tags recorded. --dns-drain replaces the
// length in both cases, counted from the switch.
func planDrain(s *observe.State, o Options, pub publication, now time.Time) drain {
	live := liveRetiring(s)
	if pub.name == "" || len(live) == 0 {
		return drain{}
	}
	var dr drain
	switch {
	case listsAddresses(s.DNS) && !albRecordReady(s, pub):
		dr.ttl = max(time.Duration(s.DNS.TTL)*time.Second, recordedDrain(live))
		dr.wait, dr.why = dr.ttl, fmt.Sprintf("the TTL of %s", pub.name)
		if dr.ttl > time.Duration(s.DNS.TTL)*time.Second {
			dr.why = fmt.Sprintf("the TTL %s had before it was lowered", pub.name)
		}
	case albRecordReady(s, pub):
		dr = switchedDrain(live, now)
	default:
		return drain{} // no record lists the instances: nobody holds them through DNS
	}
	if o.DNSDrainSet {
		if !dr.until.IsZero() {
			dr.until = dr.until.Add(o.DNSDrain - dr.wait) // the same switch, another length
		}
		dr.wait, dr.why = o.DNSDrain, "--dns-drain"
	}
	return dr
}

// switchedDrain reads a drain the tags recorded: the record already points
// at the load balancer. Without a retire-after tag the switch moment is
// unknown and counts from now; without a drain tag (a switch made by hand
// or by an older wtt) the length is the TTL wtt lowers records to before a
// switch.
func switchedDrain(live []observe.Instance, now time.Time) drain {
	dr := drain{ttl: recordedDrain(live), why: "recorded on the instances when DNS moved"}
	if dr.ttl == 0 {
		dr.ttl, dr.why = cutoverTTL*time.Second, fmt.Sprintf("%d s: the old TTL was not recorded", cutoverTTL)
	}
	dr.wait = dr.ttl
	for _, i := range live {
		if i.RetireAfter.After(dr.until) {
			dr.until = i.RetireAfter
		}
	}
	if dr.until.IsZero() {
		dr.until = now.Add(dr.wait)
	}
	return dr
}

// drainStep keeps the public instances serving while resolvers drop the
// old addresses. Nothing changes while it waits, so Ctrl-C ends it at once.
func drainStep(s *observe.State, pub publication, dr drain) *plan.Step {
	live := liveRetiring(s)
	hourly := 0.0
	var ids []string
	for _, i := range live {
		hourly += pricing.OnDemandHourly[i.Type] + pricing.PublicIPv4Hourly
		ids = append(ids, i.ID)
	}
	what := fmt.Sprintf("wait %s (%s)", dr.wait.Round(time.Second), dr.why)
	if !dr.until.IsZero() {
		what = fmt.Sprintf("wait until %s (%s)", dr.until.UTC().Format(time.RFC3339), dr.why)
	}
	left := dr.wait
	if !dr.until.IsZero() {
		left = max(time.Until(dr.until), 0)
	}
	return &plan.Step{
		Action:   plan.Wait,
		Resource: fmt.Sprintf("%s for resolvers to drop the old addresses of %s", what, pub.name),
		Detail: fmt.Sprintf("%s keep serving clients that cached %s before the switch; they cost %s for that time, then go. "+
			"The moment is recorded on them (tag %s), so a run stopped here waits only what is left when run again",
			strings.Join(ids, ", "), pub.name, aboutUSD(hourly*left.Hours()), observe.TagRetireAfter),
		Calls: drainCalls,
		Do: func(ctx context.Context, x *plan.Exec) error {
			return env(x).drainOldAddresses(ctx, x, pub, dr)
		},
	}
}

// tagDrain writes the drain on the instances to retire before the record
// changes: the TTL step records the TTL it is about to shorten (keeping a
// longer one already there), the switch the drain it will wait.
func (e *Env) tagDrain(ctx context.Context, d time.Duration, keepLonger bool) error {
	var todo []string
	for _, i := range liveRetiring(e.State) {
		if i.DNSDrain() != d && (!keepLonger || i.DNSDrain() < d) {
			todo = append(todo, i.ID)
		}
	}
	return e.tagInstances(ctx, todo, observe.TagDNSDrain, d.String())
}

// tagRetireAfter records when the instances may go: the switch is served
// everywhere now, and clients may hold the old answer for the drain.
func (e *Env) tagRetireAfter(ctx context.Context, d time.Duration) error {
	return e.tagInstances(ctx, ids(liveRetiring(e.State)), observe.TagRetireAfter, retireStamp(time.Now().Add(d)))
}

// retireStamp writes a moment in whole seconds (RFC 3339), rounded up: a
// drain may end late, never early.
func retireStamp(t time.Time) string {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		t = r.Add(time.Second)
	}
	return t.UTC().Format(time.RFC3339)
}

// tagInstances writes one drain tag on the instances. A tag is all the
// steps that write these change about instances, and no target changes
// with it: the observer is handed the instances with the tag.
func (e *Env) tagInstances(ctx context.Context, ids []string, key, value string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := e.C.EC2.CreateTags(ctx, &ec2.CreateTagsInput{
		Resources: ids, Tags: []ec2types.Tag{{Key: aws.String(key), Value: aws.String(value)}},
	}); err != nil {
		return fmt.Errorf("tagging %v with %s=%s: %w", ids, key, value, err)
	}
	e.took(observe.KindInstances|observe.KindTargets, func(s *observe.State) {
		is := slices.Clone(s.Instances)
		for k := range is {
			if slices.Contains(ids, is[k].ID) {
				withDrainTag(&is[k], key, value)
			}
		}
		s.Instances = is
	})
	return nil
}

// withDrainTag sets the field a drain tag is read into, as discovery
// reads it.
func withDrainTag(i *observe.Instance, key, value string) {
	switch key {
	case observe.TagDNSDrain:
		i.DNSDrainSeconds = 0
		if d, err := time.ParseDuration(value); err == nil && d > 0 {
			i.DNSDrainSeconds = int64(d.Round(time.Second) / time.Second)
		}
	case observe.TagRetireAfter:
		i.RetireAfter = time.Time{}
		if t, err := time.Parse(time.RFC3339, value); err == nil {
			i.RetireAfter = t
		}
	}
}

// drainOldAddresses waits until the public instances may go. The moment
// comes from their tags (this run's switch, or an earlier one's); when the
// switch left none (a run killed right after it), it is recorded now,
// counting the whole drain from here.
func (e *Env) drainOldAddresses(ctx context.Context, x *plan.Exec, pub publication, planned drain) error {
	live := liveRetiring(e.State)
	if len(live) == 0 {
		return nil
	}
	if !albRecordReady(e.State, pub) {
		return fmt.Errorf("DNS record %s does not point at the load balancer yet; run the same command again", pub.name)
	}
	now := time.Now()
	dr := switchedDrain(live, now)
	if recordedDrain(live) == 0 && planned.wait > 0 {
		dr.wait = planned.wait
		if !hasRetireAfter(live) {
			dr.until = now.Add(dr.wait)
		}
	}
	if !hasRetireAfter(live) {
		if err := e.tagInstances(ctx, ids(live), observe.TagDNSDrain, dr.wait.String()); err != nil {
			return err
		}
		if err := e.tagInstances(ctx, ids(live), observe.TagRetireAfter, retireStamp(dr.until)); err != nil {
			return err
		}
	}
	if e.Opts.DNSDrainSet {
		dr.until = dr.until.Add(e.Opts.DNSDrain - dr.wait) // the same switch, another length
	}
	return waitUntil(ctx, x, dr.until, fmt.Sprintf("public instances %s keep serving until %s",
		strings.Join(ids(live), ", "), dr.until.UTC().Format(time.RFC3339)))
}

func hasRetireAfter(insts []observe.Instance) bool {
	for _, i := range insts {
		if !i.RetireAfter.IsZero() {
			return true
		}
	}
	return false
}

func ids(insts []observe.Instance) []string {
	out := make([]string, 0, len(insts))
	for _, i := range insts {
		out = append(out, i.ID)
	}
	return out
}

// waitUntil sleeps until t, saying every drainProgressEvery how long is
// left. The first Ctrl-C ends it at once (x.Stopping): the run is then
// interrupted, and a re-run waits what is left.
func waitUntil(ctx context.Context, x *plan.Exec, t time.Time, what string) error {
	for {
		left := time.Until(t)
		if left <= 0 {
			return nil
		}
		x.Logf("%s left: %s", left.Round(time.Second), what)
		timer := time.NewTimer(min(left, drainProgressEvery))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-x.Stopping():
			timer.Stop()
			return x.StopCause()
		case <-timer.C:
		}
	}
}

// aboutUSD says a small amount of money without rounding it to nothing.
func aboutUSD(v float64) string {
	if v < 0.01 {
		return "less than $0.01"
	}
	return fmt.Sprintf("about $%.2f", v)
}
