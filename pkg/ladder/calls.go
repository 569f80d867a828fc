package ladder

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// The calls of the checks the CLI runs before planning (its PreChecks).
// They are read-only and bad input when they refuse.
var (
	// instanceTypeCheckCalls: CheckInstanceType and CheckVerticalType.
	instanceTypeCheckCalls = []string{"ec2:DescribeInstanceTypes", "ec2:DescribeInstanceTypeOfferings"}
	// amiCheckCalls: CheckAMI, for an --ami given on the command line.
	amiCheckCalls = []string{"ec2:DescribeImages"}
	// offeringLookupCalls: LookupReservedOffering.
	// The offering to buy, and a purchase intent an interrupted run left.
	offeringLookupCalls = []string{"ec2:DescribeReservedInstancesOfferings", "ssm:GetParameter"}
	// zonePreviewCalls: PreviewZone, before migrating to dns with a name.
	zonePreviewCalls = []string{"route53:ListHostedZones", "route53:ListResourceRecordSets"}
	// eipQuotaCheckCalls: CheckEIPQuota (via CheckHorizontal).
	eipQuotaCheckCalls = []string{"servicequotas:GetServiceQuota", "ec2:DescribeAddresses"}
)

// Commands whose calls CallsFor knows. The lease the CLI takes around a
// mutating command is the CLI's (lease.Calls), not listed here.
var Commands = []string{"status", "review", "what-if", "diagram", "cost", "plan", "up", "migrate", "scale", "down"}

// CallsFor returns every AWS call (IAM action names as awsclient.Action
// records them) that command may make: discovery, the checks before
// planning, and the Calls of every step any plan of the command can have.
// The steps come from real plans, built from representative states (every
// stage the ladder projects, reached one rung at a time, plus the scaled
// fleets of each), so the list cannot drift from what the planners
// produce. Nothing here touches AWS.
func CallsFor(command string) ([]string, error) {
	var calls []string
	switch command {
	case "status", "review", "what-if", "diagram", "cost":
		// The read-only views observe exactly as status does.
		calls = observe.Calls
	case "plan":
		calls = joinCalls(observe.CallsWithoutDelivery(), migratePreChecks())
	case "up":
		calls = joinCalls(observe.Calls, instanceTypeCheckCalls, amiCheckCalls, upStepCalls())
	case "migrate":
		calls = joinCalls(observe.Calls, migratePreChecks(), migrateStepCalls())
	case "scale":
		calls = joinCalls(observe.Calls, instanceTypeCheckCalls, eipQuotaCheckCalls, scaleStepCalls())
	case "down":
		calls = joinCalls(observe.Calls, downStepCalls())
	default:
		return nil, fmt.Errorf("no calls known for command %q (known: %v)", command, Commands)
	}
	out := slices.Clone(calls)
	sort.Strings(out)
	return slices.Compact(out), nil
}

func migratePreChecks() []string {
	return joinCalls(instanceTypeCheckCalls, amiCheckCalls, zonePreviewCalls, eipQuotaCheckCalls, offeringLookupCalls)
}

// callsState is the empty app every representative state grows from.
func callsState() *observe.State {
	return &observe.State{App: "calls", Region: "us-east-1", Account: "123456789012",
		EIPs: []observe.EIP{}, Instances: []observe.Instance{}, Reserved: []observe.Reserved{}}
}

// callsOptions are the option sets plans are built with: a published name
// (alias and CNAME) and none, so every way a rung can publish is planned.
func callsOptions() []Options {
	base := Options{TTL: 60, RecordType: "alias", CPUTarget: 50, Term: "1y", OfferingClass: "standard",
		Payment: "no-upfront", MaxUpfront: -1, DNSName: "api.example.com",
		Offering: &Offering{ID: "offering", InstanceType: DefaultInstanceType, Class: "standard",
			OfferingType: "No Upfront", Duration: 365 * 24 * time.Hour, HourlyPrice: 0.01}}
	cname, unnamed := base, base
	cname.RecordType = "cname"
	unnamed.DNSName = ""
	return []Options{base, cname, unnamed}
}

// ladderStates projects the app at every stage, reached one rung at a
// time from nothing: index i is stage.Ladder[i], nil for a stage the
// options cannot reach (dns without a name), which the next rung jumps.
func ladderStates(o Options) []*observe.State {
	states := []*observe.State{callsState()}
	s := states[0]
	for _, st := range stage.Ladder[1:] {
		_, next, err := MigrateProjected(s, st, o)
		if err != nil || next == nil {
			states = append(states, nil)
			continue
		}
		s = withDelivery(next)
		states = append(states, s)
	}
	return states
}

// withDelivery adds what up creates besides the network and instances
// (the bucket and the instance role), which projections leave out because
// no later rung plans from them; down deletes them.
func withDelivery(s *observe.State) *observe.State {
	if s.Bucket != "" && s.Role != "" && s.InstanceProfile != "" {
		return s
	}
	c := clone(s)
	n := names.For(c.App)
	c.Bucket, c.Role, c.InstanceProfile = n.Bucket(c.Account, c.Region), n.Role(), n.InstanceProfile()
	return c
}

// planCalls unions the Calls of every step of the plans.
func planCalls(plans ...*plan.Plan) []string {
	var out []string
	for _, p := range plans {
		if p == nil {
			continue
		}
		for _, st := range p.Steps {
			out = joinCalls(out, st.Calls)
		}
	}
	return out
}

func upStepCalls() []string {
	var out []string
	for _, o := range callsOptions() {
		p, _ := Up(callsState(), o)
		out = joinCalls(out, planCalls(p))
	}
	return out
}

// migrateStepCalls plans every move up the ladder: from each stage to each
// stage above it, one rung or a jump, with each option set.
func migrateStepCalls() []string {
	var out []string
	for _, o := range callsOptions() {
		states := ladderStates(o)
		for i, s := range states {
			if s == nil {
				continue
			}
			for _, target := range stage.Ladder[i+1:] {
				p, _ := Migrate(s, target, o)
				out = joinCalls(out, planCalls(p))
			}
		}
	}
	return out
}

// scaleStepCalls plans scaling at every stage: a new type, scaling out, and
// scaling in from a fleet scaled out first.
func scaleStepCalls() []string {
	var out []string
	for _, o := range callsOptions() {
		for _, s := range ladderStates(o)[1:] {
			if s == nil {
				continue
			}
			for _, from := range []*observe.State{s, scaledOut(s, 3, o)} {
				if from == nil {
					continue
				}
				v, _ := ScaleVertical(from, "m5.large", o)
				out = joinCalls(out, planCalls(v))
				for _, n := range []int{1, 2, 4} {
					h, _ := ScaleHorizontal(from, n, o)
					out = joinCalls(out, planCalls(h))
				}
			}
		}
	}
	return out
}

// scaledOut is s after scaling out to n instances, as the scale planners
// project it; nil when s cannot be scaled.
func scaledOut(s *observe.State, n int, o Options) *observe.State {
	sc, err := sceneOf(s)
	if err != nil {
		return nil
	}
	switch sc.kind {
	case kindPublic:
		return projectPublicHorizontal(s, n)
	case kindPrivate:
		return projectPrivateHorizontal(s, n)
	default:
		return projectGroupHorizontal(s, n, o)
	}
}

// downStepCalls plans down from every stage.
func downStepCalls() []string {
	var out []string
	for _, o := range callsOptions() {
		for _, s := range ladderStates(o) {
			if s == nil {
				continue
			}
			out = joinCalls(out, planCalls(Down(s)))
		}
	}
	return out
}
