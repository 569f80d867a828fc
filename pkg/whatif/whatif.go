// Package whatif says what the app's users would see if a piece of it
// failed, computed from the observed state alone: whether there is an
// outage and for how long, how much capacity is left, which requests fail,
// and which rung of the ladder removes the risk. The timings come from
// what AWS reports (the record's TTL, the target group's health-check
// interval and thresholds, the group's grace period); what AWS does not
// report (how long an instance takes to boot) is an assumption, stated.
package whatif

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Kinds of failure --lose accepts.
var Kinds = []string{"instance", "az", "load-balancer-node", "spot"}

// Scenario is a parsed --lose value: a kind and, optionally, which one.
type Scenario struct {
	Kind   string
	Target string // instance id or AZ name; empty: the worst case
}

func (s Scenario) String() string {
	if s.Target == "" {
		return s.Kind
	}
	return s.Kind + "=" + s.Target
}

var (
	instanceID = regexp.MustCompile(`^i-[0-9a-z]+$`)
	azName     = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d[a-z]$`)
)

// Parse reads --lose=instance|instance=ID|az|az=NAME|load-balancer-node|spot.
func Parse(v string) (Scenario, error) {
	kind, target, _ := strings.Cut(strings.TrimSpace(v), "=")
	s := Scenario{Kind: strings.ToLower(kind), Target: target}
	switch s.Kind {
	case "instance":
		if target != "" && !instanceID.MatchString(target) {
			return s, fmt.Errorf("%q is not an instance id (i-0123456789abcdef0)", target)
		}
	case "az":
		if target != "" && !azName.MatchString(target) {
			return s, fmt.Errorf("%q is not an Availability Zone name (us-east-1a)", target)
		}
	case "load-balancer-node", "spot":
		if target != "" {
			return s, fmt.Errorf("--lose=%s takes no value", s.Kind)
		}
	default:
		return s, fmt.Errorf("unknown failure %q (one of: instance[=ID], az[=NAME], load-balancer-node, spot)", v)
	}
	return s, nil
}

// Outcome is what users see. Its JSON names are the contract scripts use.
type Outcome struct {
	Scenario string      `json:"scenario"`
	Stage    stage.Stage `json:"stage"`
	// Outage: no user gets an answer.
	Outage bool `json:"outage"`
	// OutageSeconds is how long users see failures (the whole outage, or
	// the partial failures FailingRequests describes); -1 means until
	// someone acts, 0 none.
	OutageSeconds int64 `json:"outageSeconds"`
	// HealthCheckSeconds: how long requests still go to the lost
	// instances before the load balancer's health checks take them out
	// (interval x unhealthy threshold); 0 when no load balancer steers
	// requests. Apart from the load balancer's own DNS name (see
	// Assumptions), no request fails after it unless Outage.
	HealthCheckSeconds int64 `json:"healthCheckSeconds"`
	// ReplacedSeconds: how long after the loss the lost capacity is in
	// service again (noticed, launched, booted, healthy); -1 when nothing
	// replaces it, 0 when nothing was lost.
	ReplacedSeconds     int64    `json:"replacedSeconds"`
	CapacityLeftPercent int      `json:"capacityLeftPercent"`
	FailingRequests     string   `json:"failingRequests"`
	FixedBy             string   `json:"fixedBy"`
	Assumptions         []string `json:"assumptions"`
}

// UntilSomeoneActs is OutageSeconds for a failure nothing repairs on its own.
const UntilSomeoneActs = -1

// BootSeconds is how long a new instance takes from launch to answering:
// boot, fetch the time server from S3, start it. AWS does not report it.
const BootSeconds = 90

// ELBDNSTTL is the TTL AWS gives a load balancer's own DNS name; it is not
// in any describe answer.
const ELBDNSTTL = 60

// UnknownTargetError is bad input: the instance is not one of the app's.
type UnknownTargetError struct{ Msg string }

func (e *UnknownTargetError) Error() string { return e.Msg }

// timing is the figures an outcome is computed from, read from AWS where
// AWS says them.
type timing struct {
	detect, register, replace int64 // seconds
	grace                     int32
	notes                     []string
}

func timingOf(s *observe.State) timing {
	var t timing
	if tg := s.TargetGroup; tg != nil && tg.HealthInterval > 0 && tg.UnhealthyThreshold > 0 {
		t.detect = int64(tg.HealthInterval) * int64(tg.UnhealthyThreshold)
		t.register = int64(tg.HealthInterval) * int64(max(tg.HealthyThreshold, 1))
		t.notes = append(t.notes, fmt.Sprintf("health check of %s (from AWS): every %d s, %d failures mark a target unhealthy (%d s), %d passes healthy (%d s)",
			tg.Name, tg.HealthInterval, tg.UnhealthyThreshold, t.detect, tg.HealthyThreshold, t.register))
	} else if tg != nil {
		// AWS's defaults for an HTTP target group, said out loud.
		t.detect, t.register = 30*2, 30*5
		t.notes = append(t.notes, "AWS did not report the health check's timing; assumed its defaults: every 30 s, 2 failures (60 s), 5 passes (150 s)")
	}
	t.replace = t.detect + BootSeconds + t.register
	if g := s.Group; g != nil {
		t.grace = g.GracePeriod
		t.notes = append(t.notes, fmt.Sprintf("Auto Scaling group %s (from AWS): replaces an instance its %s health check fails; a replacement that is not healthy within the %d s grace period is replaced again",
			g.Name, g.HealthCheckType, g.GracePeriod))
	}
	return t
}

func (t timing) bootNote() string {
	return fmt.Sprintf("a new instance boots and starts the time server in about %d s (an assumption: AWS does not report it)", BootSeconds)
}

// WhatIf computes the outcome of a scenario against the observed state.
func WhatIf(s *observe.State, sc Scenario) (Outcome, error) {
	o := Outcome{Scenario: sc.String(), Stage: stage.Detect(s).Stage, Assumptions: []string{}}
	live := s.LiveInstances()
	if len(live) == 0 {
		o.Outage, o.OutageSeconds, o.ReplacedSeconds = true, UntilSomeoneActs, UntilSomeoneActs
		o.FailingRequests = "all: no instance runs, so there is nothing to lose"
		o.FixedBy = "wtt up --yes"
		return o, nil
	}
	switch sc.Kind {
	case "instance":
		victim := live[0]
		if sc.Target != "" {
			k := slices.IndexFunc(live, func(i observe.Instance) bool { return i.ID == sc.Target })
			if k < 0 {
				return o, &UnknownTargetError{fmt.Sprintf("instance %s is not a running instance of app %s (running: %s)", sc.Target, s.App, idList(live))}
			}
			victim = live[k]
		}
		o.Scenario = "instance=" + victim.ID
		loseInstances(s, &o, live, []observe.Instance{victim}, "instance "+victim.ID)
	case "az":
		az := sc.Target
		if az == "" {
			az = busiestAZ(live)
			o.Scenario = "az=" + az
		}
		lost := filter(live, func(i observe.Instance) bool { return i.AZ == az })
		loseAZ(s, &o, live, lost, az)
	case "spot":
		lost := filter(live, func(i observe.Instance) bool { return i.Spot })
		if len(lost) == 0 {
			o.CapacityLeftPercent = 100
			o.FailingRequests = "none: no instance is a spot instance (all on-demand, or covered by Reserved Instances)"
			o.FixedBy = "nothing to fix"
			return o, nil
		}
		o.Assumptions = append(o.Assumptions, "AWS gives a spot instance two minutes' notice before reclaiming it")
		loseInstances(s, &o, live, lost, fmt.Sprintf("%d spot instance(s)", len(lost)))
	case "load-balancer-node":
		loseLBNode(s, &o)
	default:
		return o, fmt.Errorf("unknown scenario %q", sc.Kind)
	}
	return o, nil
}

// loseInstances: the given instances stop answering at once.
func loseInstances(s *observe.State, o *Outcome, live, lost []observe.Instance, what string) {
	t := timingOf(s)
	left := len(live) - len(lost)
	o.CapacityLeftPercent = percent(left, len(live))
	share := fmt.Sprintf("about %d in %d", len(lost), len(live))
	grouped := s.Group != nil && !slices.ContainsFunc(lost, func(i observe.Instance) bool { return i.Group == "" })
	switch {
	case s.LoadBalancer != nil && grouped:
		o.Assumptions = append(o.Assumptions, t.notes...)
		o.Assumptions = append(o.Assumptions, t.bootNote())
		o.HealthCheckSeconds, o.ReplacedSeconds = t.detect, t.replace
		if left == 0 {
			o.Outage, o.OutageSeconds = true, t.replace
			o.FailingRequests = fmt.Sprintf("all: %s was the group's only capacity; users get errors until its replacement is launched, booted and healthy (%d s to notice + %d s to boot + %d s to pass the health check)",
				what, t.detect, BootSeconds, t.register)
			o.FixedBy = "wtt migrate --to=multi-az --yes"
			return
		}
		o.OutageSeconds = t.detect
		o.FailingRequests = fmt.Sprintf("requests the load balancer sends to %s (%s) fail for up to %d s, until the health check marks it unhealthy; capacity is %d%% until the group's replacement is in service, about %d s after the loss",
			what, share, t.detect, o.CapacityLeftPercent, t.replace)
		o.FixedBy = "already handled: the Auto Scaling group replaces it"
	case s.LoadBalancer != nil:
		o.Assumptions = append(o.Assumptions, t.notes...)
		o.HealthCheckSeconds, o.ReplacedSeconds = t.detect, UntilSomeoneActs
		if left == 0 {
			o.Outage, o.OutageSeconds = true, UntilSomeoneActs
			o.FailingRequests = fmt.Sprintf("all: %s served every request behind the load balancer, and nothing replaces it", what)
			o.FixedBy = "wtt migrate --to=multi-az --yes"
			return
		}
		o.OutageSeconds = t.detect
		o.FailingRequests = fmt.Sprintf("requests the load balancer sends to %s (%s) fail for up to %d s, until the health check marks it unhealthy; capacity stays at %d%% until someone launches a replacement",
			what, share, t.detect, o.CapacityLeftPercent)
		o.FixedBy = "wtt migrate --to=asg --yes"
	case s.DNS != nil && s.DNS.Type == "A" && s.DNS.AliasTarget == "" && left > 0:
		o.OutageSeconds, o.ReplacedSeconds = s.DNS.TTL, UntilSomeoneActs
		o.Assumptions = append(o.Assumptions,
			fmt.Sprintf("record %s has TTL %d s (from AWS)", s.DNS.Name, s.DNS.TTL),
			"the dead address is removed from the record at once (nothing does it on its own: re-run the dns rung or `wtt scale`); until then clients that pick it keep failing")
		o.FailingRequests = fmt.Sprintf("clients that resolved the address of %s (%s) fail for up to the record's TTL, %d s; no health check steers them away; capacity stays at %d%% until someone replaces it",
			what, share, s.DNS.TTL, o.CapacityLeftPercent)
		o.FixedBy = "wtt migrate --to=alb --yes"
	default:
		o.OutageSeconds, o.ReplacedSeconds = UntilSomeoneActs, UntilSomeoneActs
		if left == 0 {
			o.Outage = true
			o.FailingRequests = fmt.Sprintf("all: %s was the only one, and nothing replaces it", what)
			o.FixedBy = "wtt migrate --to=multi-az --yes"
			return
		}
		o.FailingRequests = fmt.Sprintf("every client that uses the address of %s (%s) fails until someone acts: clients know addresses, not health", what, share)
		o.FixedBy = "wtt migrate --to=alb --yes"
	}
}

// loseAZ: every instance in az, and the load balancer's node there, go.
func loseAZ(s *observe.State, o *Outcome, live, lost []observe.Instance, az string) {
	what := fmt.Sprintf("the %d instance(s) in %s", len(lost), az)
	if len(lost) == 0 {
		o.CapacityLeftPercent = 100
		o.FailingRequests = "none: no instance of the app runs in " + az
		o.FixedBy = "nothing to fix"
		if lb := s.LoadBalancer; lb != nil && slices.Contains(lb.AZs, az) {
			o.OutageSeconds = ELBDNSTTL
			o.Assumptions = append(o.Assumptions, fmt.Sprintf("AWS gives the load balancer's DNS name a %d s TTL (not reported by any describe call)", ELBDNSTTL))
			o.FailingRequests = fmt.Sprintf("clients that resolved the load balancer's node in %s (about 1 in %d) fail for up to %d s until its DNS name drops the node; no instance runs there",
				az, len(lb.AZs), ELBDNSTTL)
		}
		return
	}
	if lb := s.LoadBalancer; lb != nil {
		others := slices.DeleteFunc(slices.Clone(lb.AZs), func(z string) bool { return z == az })
		if len(others) == 0 {
			o.Outage, o.OutageSeconds, o.ReplacedSeconds = true, UntilSomeoneActs, UntilSomeoneActs
			o.CapacityLeftPercent = 0
			o.FailingRequests = fmt.Sprintf("all: the load balancer has nodes only in %s", az)
			o.FixedBy = "wtt migrate --to=multi-az --yes"
			return
		}
		left := len(live) - len(lost)
		if left == 0 && s.Group != nil {
			groupOthers := slices.DeleteFunc(stage.GroupAZs(s), func(z string) bool { return z == az })
			if len(groupOthers) == 0 {
				t := timingOf(s)
				o.Assumptions = append(o.Assumptions, t.notes...)
				o.Outage, o.OutageSeconds, o.ReplacedSeconds = true, UntilSomeoneActs, UntilSomeoneActs
				o.FailingRequests = fmt.Sprintf("all: every instance runs in %s, and the Auto Scaling group can launch only there; users get errors until the AZ recovers or someone acts", az)
				o.FixedBy = "wtt migrate --to=multi-az --yes"
				return
			}
		}
		loseInstances(s, o, live, lost, what)
		if !o.Outage {
			o.OutageSeconds = max(o.OutageSeconds, ELBDNSTTL)
			o.Assumptions = append(o.Assumptions, fmt.Sprintf("AWS gives the load balancer's DNS name a %d s TTL (not reported by any describe call); clients that resolved its node in %s fail until they re-resolve", ELBDNSTTL, az))
			if s.Group != nil && len(stage.GroupAZs(s)) > 1 {
				o.FailingRequests += fmt.Sprintf("; the group launches the replacements in its other AZs (%s)", strings.Join(slices.DeleteFunc(stage.GroupAZs(s), func(z string) bool { return z == az }), ", "))
				o.FixedBy = "already handled: the load balancer and the group span several AZs"
			} else if s.Group == nil {
				o.FixedBy = "wtt migrate --to=multi-az --yes"
			}
		}
		return
	}
	loseInstances(s, o, live, lost, what)
	if o.Outage {
		o.FailingRequests = fmt.Sprintf("all: every instance runs in %s; users get errors until the AZ recovers or someone acts", az)
	}
	o.FixedBy = "wtt migrate --to=multi-az --yes"
}

// loseLBNode: one of the load balancer's per-AZ nodes stops answering.
func loseLBNode(s *observe.State, o *Outcome) {
	o.CapacityLeftPercent = 100
	lb := s.LoadBalancer
	if lb == nil {
		o.FailingRequests = "none: the app has no load balancer (users reach the instances directly; see --lose=instance)"
		o.FixedBy = "wtt migrate --to=alb --yes"
		return
	}
	o.Assumptions = append(o.Assumptions,
		fmt.Sprintf("AWS gives the load balancer's DNS name a %d s TTL and drops a failed node from it (neither is reported by any describe call)", ELBDNSTTL),
		"cross-zone load balancing (on by default for an ALB) lets the other nodes reach every target")
	if len(lb.AZs) < 2 {
		o.Outage, o.OutageSeconds = true, UntilSomeoneActs
		o.CapacityLeftPercent = 0
		o.FailingRequests = "all: the load balancer has a node in one AZ only; users get errors until AWS replaces it"
		o.FixedBy = "wtt migrate --to=multi-az --yes"
		return
	}
	o.OutageSeconds = ELBDNSTTL
	o.FailingRequests = fmt.Sprintf("clients that resolved the lost node's address (about 1 in %d) fail for up to %d s, until they re-resolve %s; every instance keeps serving through the other nodes",
		len(lb.AZs), ELBDNSTTL, lb.DNSName)
	o.FixedBy = "already handled: the load balancer has a node in each of its AZs (clients that retry recover)"
}

func busiestAZ(live []observe.Instance) string {
	count := map[string]int{}
	best := ""
	for _, i := range live {
		count[i.AZ]++
	}
	for _, i := range live {
		if best == "" || count[i.AZ] > count[best] || (count[i.AZ] == count[best] && i.AZ < best) {
			best = i.AZ
		}
	}
	return best
}

func filter(is []observe.Instance, keep func(observe.Instance) bool) []observe.Instance {
	var out []observe.Instance
	for _, i := range is {
		if keep(i) {
			out = append(out, i)
		}
	}
	return out
}

func percent(part, whole int) int {
	if whole == 0 {
		return 0
	}
	return (100*part + whole/2) / whole
}

func idList(is []observe.Instance) string {
	var out []string
	for _, i := range is {
		out = append(out, i.ID)
	}
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("and %d more", len(out)-5))
	}
	return strings.Join(out, ", ")
}
