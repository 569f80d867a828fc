package ladder

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// The multi-az rung spreads the group and the load balancer over N AZs
// (--azs, default up to 3), so that losing one AZ leaves the others
// serving: the group's subnets widen, its minimum rises to at least one
// instance per AZ, and the load balancer gets a node in every AZ the group
// uses. See docs/rungs-asg-multiaz.md.

const (
	defaultAZs        = 3
	multiAZNoDowntime = "instances are only added; the ones serving keep serving"
)

var (
	lbSubnetCalls    = []string{"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:SetSubnets"}
	widenGroupCalls  = []string{"autoscaling:UpdateAutoScalingGroup"}
	spreadGroupCalls = groupOpsCalls
)

// azTarget is where the rung puts the group and the load balancer.
type azTarget struct {
	AZs          []string // the N AZs, sorted
	GroupSubnets []string // one private subnet per AZ
	LBSubnets    []string // the load balancer's subnets: today's plus a public one per missing AZ
	LBMissing    []string // AZs the load balancer does not span yet
	Size         groupSize
}

// availableAZs are the AZs where the app's network has both a private
// subnet (for the group) and a public one (for the load balancer).
func availableAZs(n observe.Network) []string {
	var out []string
	for _, az := range publicAZs(n) {
		if slices.ContainsFunc(n.SubnetsWhere(false), func(sn observe.Subnet) bool { return sn.AZ == az }) {
			out = append(out, az)
		}
	}
	slices.Sort(out)
	return out
}

// multiAZTarget computes the rung's end state from the observed (or
// projected) one. Steps call it again at run time with fresh state, so a
// re-run after an interruption aims at the same target.
func multiAZTarget(s *observe.State, o Options) (azTarget, error) {
	var t azTarget
	g, lb := s.Group, s.LoadBalancer
	if g == nil || lb == nil {
		return t, fmt.Errorf("the multi-az rung needs the Auto Scaling group and the load balancer; run `wtt migrate --to=asg` first")
	}
	avail := availableAZs(s.Network)
	n := o.AZs
	if n == 0 {
		n = min(defaultAZs, len(avail))
	}
	if n < 2 {
		return t, cmdutil.Usagef("pass --azs 2 or more: one AZ is what this rung removes",
			"the multi-az rung needs at least 2 AZs, got %d (the app's network has subnets in %d: %s)", n, len(avail), strings.Join(avail, ", "))
	}
	if n > len(avail) {
		return t, cmdutil.Usagef(fmt.Sprintf("pass --azs %d or fewer", len(avail)),
			"--azs %d: the app's network has public and private subnets in only %d AZ(s): %s", n, len(avail), strings.Join(avail, ", "))
	}
	t.AZs = pickAZs(avail, stage.GroupAZs(s), lb.AZs, n)
	for _, az := range t.AZs {
		t.GroupSubnets = append(t.GroupSubnets, subnetIn(s, az, false, g.Subnets))
	}
	t.LBSubnets = slices.Clone(lb.Subnets)
	for _, az := range t.AZs {
		if !slices.Contains(lb.AZs, az) {
			t.LBMissing = append(t.LBMissing, az)
			t.LBSubnets = append(t.LBSubnets, subnetIn(s, az, true, lb.Subnets))
		}
	}
	size, err := multiAZSize(g, n, o)
	t.Size = size
	return t, err
}

// pickAZs keeps the AZs the group uses, then those the load balancer
// spans, then the others, so widening never moves running instances.
func pickAZs(avail, group, lb []string, n int) []string {
	var out []string
	for _, pref := range [][]string{group, lb, avail} {
		for _, az := range sortedCopy(pref) {
			if len(out) < n && slices.Contains(avail, az) && !slices.Contains(out, az) {
				out = append(out, az)
			}
		}
	}
	slices.Sort(out)
	return out
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// subnetIn picks the app's public or private subnet in az, preferring one
// already in use.
func subnetIn(s *observe.State, az string, public bool, inUse []string) string {
	first := ""
	for _, sn := range s.Network.SubnetsWhere(public) {
		if sn.AZ != az {
			continue
		}
		if slices.Contains(inUse, sn.ID) {
			return sn.ID
		}
		if first == "" {
			first = sn.ID
		}
	}
	return first
}

// multiAZSize raises the minimum to one instance per AZ, the desired
// capacity to at least the minimum, and the maximum so the policy keeps
// room to scale out.
func multiAZSize(g *observe.Group, n int, o Options) (groupSize, error) {
	z := groupSize{Min: max(g.Min, int32(n)), Desired: g.Desired, Max: g.Max}
	if o.Min > 0 {
		if o.Min < int32(n) {
			return z, cmdutil.Usagef(fmt.Sprintf("pass --min %d or more, or fewer --azs", n),
				"--min %d is below the %d AZs the group spans: an AZ could be left without an instance", o.Min, n)
		}
		z.Min = o.Min
	}
	z.Desired = max(z.Desired, z.Min)
	if o.Desired > 0 {
		z.Desired = o.Desired
	}
	if z.Desired > g.Desired {
		z.Max = max(g.Max, defaultMax(z.Desired))
	}
	if o.Max > 0 {
		z.Max = o.Max
	}
	if z.Min > z.Desired || z.Desired > z.Max {
		return z, cmdutil.Usagef("pass sizes with --min <= --desired <= --max, and --min at least --azs",
			"Auto Scaling group sizes min %d, desired %d, max %d are inconsistent", z.Min, z.Desired, z.Max)
	}
	return z, nil
}

func planMultiAZ(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	t, err := multiAZTarget(s, o)
	if err != nil {
		return nil, nil, err
	}
	rung := string(stage.MultiAZ)
	n := names.For(s.App)
	g := s.Group
	var steps []*plan.Step
	if len(t.LBMissing) > 0 {
		steps = append(steps, &plan.Step{
			Rung: rung, Action: plan.Update, Resource: "load balancer " + n.ALB() + " subnets: + " + strings.Join(t.LBMissing, ", "),
			Detail: "a load balancer node in every AZ the group uses; the existing subnets stay",
			Calls:  lbSubnetCalls, DowntimeNote: multiAZNoDowntime,
			Do: func(ctx context.Context, x *plan.Exec) error { return env(x).spanLoadBalancer(ctx, o) },
		})
	}
	widen := !slices.Equal(sortedCopy(g.Subnets), sortedCopy(t.GroupSubnets)) || g.Min != t.Size.Min ||
		g.Desired != t.Size.Desired || g.Max != t.Size.Max || !g.CapacityRebalance
	if widen {
		steps = append(steps, &plan.Step{
			Rung: rung, Action: plan.Update,
			Resource: fmt.Sprintf("Auto Scaling group %s: %d AZs (%s), min %d, desired %d, max %d", n.ASG(),
				len(t.AZs), strings.Join(t.AZs, ", "), t.Size.Min, t.Size.Desired, t.Size.Max),
			Detail: fmt.Sprintf("one private subnet per AZ, capacity rebalancing on; launches %d instance(s) into the new AZs", max(t.Size.Desired-g.Desired, 0)),
			Calls:  widenGroupCalls, DowntimeNote: multiAZNoDowntime,
			Do: func(ctx context.Context, x *plan.Exec) error { return env(x).widenGroup(ctx, o) },
		})
	}
	if widen || !groupHealthyIn(s) || len(instanceAZs(s)) < len(t.AZs) {
		steps = append(steps, &plan.Step{
			Rung: rung, Action: plan.Wait, Resource: fmt.Sprintf("group %s healthy in the target group, with instances in all %d AZs", n.ASG(), len(t.AZs)),
			Detail: "if Auto Scaling left an AZ empty, launches one more instance per empty AZ, then scales back in: " +
				"scale-in takes from the most crowded AZ",
			Calls: spreadGroupCalls, DowntimeNote: multiAZNoDowntime,
			Do: func(ctx context.Context, x *plan.Exec) error {
				return env(x).spreadGroup(withProgress(ctx, x), len(t.AZs))
			},
		})
	}
	var warns []string
	if o.AZs == 0 && len(t.AZs) < defaultAZs {
		warns = append(warns, fmt.Sprintf("multi-az: the app's network spans %d AZs; the group uses all of them", len(t.AZs)))
	}
	return steps, warns, nil
}

// instanceAZs are the distinct AZs of the group's live instances.
func instanceAZs(s *observe.State) []string {
	var azs []string
	for _, i := range s.LiveInstances() {
		if s.Group != nil && i.Group == s.Group.Name && i.AZ != "" && !slices.Contains(azs, i.AZ) {
			azs = append(azs, i.AZ)
		}
	}
	return azs
}

// spanLoadBalancer adds a public subnet in each AZ the load balancer lacks.
// SetSubnets replaces the list, so today's subnets are sent again.
func (e *Env) spanLoadBalancer(ctx context.Context, o Options) error {
	t, err := multiAZTarget(e.State, o)
	if err != nil {
		return err
	}
	if len(t.LBMissing) == 0 {
		return nil
	}
	if _, err := e.C.ELB.SetSubnets(ctx, &elbv2.SetSubnetsInput{
		LoadBalancerArn: aws.String(e.State.LoadBalancer.ARN), Subnets: t.LBSubnets,
	}); err != nil {
		return fmt.Errorf("adding %s to load balancer %s: %w", strings.Join(t.LBMissing, ", "), e.N.ALB(), err)
	}
	return nil
}

// widenGroup moves the group onto one private subnet per AZ with its new
// sizes, in one call, so it never runs with fewer instances than AZs.
func (e *Env) widenGroup(ctx context.Context, o Options) error {
	t, err := multiAZTarget(e.State, o)
	if err != nil {
		return err
	}
	if _, err := e.C.AutoScaling.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(e.N.ASG()),
		VPCZoneIdentifier:    aws.String(strings.Join(t.GroupSubnets, ",")),
		MinSize:              aws.Int32(t.Size.Min), DesiredCapacity: aws.Int32(t.Size.Desired), MaxSize: aws.Int32(t.Size.Max),
		// Replace Spot instances at risk before they go; for on-demand it
		// changes nothing, and it is on when burst capacity is added.
		CapacityRebalance: aws.Bool(true),
	}); err != nil {
		return fmt.Errorf("spreading group %s over %s: %w", e.N.ASG(), strings.Join(t.AZs, ", "), err)
	}
	return nil
}

// spreadGroup waits for the group to be healthy with instances in n AZs.
// Auto Scaling balances new launches over AZs, but a group that already
// had enough instances keeps them where they are until AZ rebalancing gets
// to it (and the emulator never rebalances). Then it launches one extra
// instance per empty AZ, waits for them, and scales back: scale-in takes
// from the most crowded AZ first. The extra instances cost minutes of
// compute; nothing serving is stopped before its replacement is healthy.
func (e *Env) spreadGroup(ctx context.Context, n int) error {
	if err := e.waitGroupHealthy(ctx); err != nil {
		return err
	}
	g, err := e.describeGroup(ctx)
	if err != nil {
		return err
	}
	want := min(n, int(aws.ToInt32(g.DesiredCapacity)))
	empty := want - len(inServiceAZs(g.Instances))
	if empty <= 0 {
		return nil
	}
	desired, maxSize := aws.ToInt32(g.DesiredCapacity), aws.ToInt32(g.MaxSize)
	progressf(ctx, "instances run in %d of %d AZs: launching %d more, then scaling back to %d", want-empty, want, empty, desired)
	if err := e.setGroupCapacity(ctx, desired+int32(empty), nil, aws.Int32(max(maxSize, desired+int32(empty)))); err != nil {
		return err
	}
	if err := e.waitGroupHealthy(ctx); err != nil {
		return err
	}
	if err := e.setGroupCapacity(ctx, desired, nil, aws.Int32(maxSize)); err != nil {
		return err
	}
	return e.poll(ctx, fmt.Sprintf("group %s to scale back to %d instances", e.N.ASG(), desired), func(ctx context.Context) (bool, error) {
		g, err := e.describeGroup(ctx)
		if err != nil {
			return false, err
		}
		return len(g.Instances) <= int(desired), nil
	})
}

// projectMultiAZ is the state after the rung: the group on one subnet per
// AZ with its new sizes and the instances that adds, the load balancer in
// the same AZs.
func projectMultiAZ(s *observe.State, o Options) *observe.State {
	p := clone(s)
	t, err := multiAZTarget(s, o)
	if err != nil {
		return p
	}
	g, lb := p.Group, p.LoadBalancer
	g.Subnets, g.AZs = t.GroupSubnets, t.AZs
	g.Min, g.Desired, g.Max, g.CapacityRebalance = t.Size.Min, t.Size.Desired, t.Size.Max, true
	lb.Subnets = t.LBSubnets
	for _, az := range t.LBMissing {
		if !slices.Contains(lb.AZs, az) {
			lb.AZs = append(lb.AZs, az)
		}
	}
	slices.Sort(lb.AZs)
	var privSG string
	if p.Network.PrivateSG != nil {
		privSG = p.Network.PrivateSG.ID
	}
	spreadProjected(p)
	fillGroup(p, privSG)
	return p
}

// spreadProjected moves projected ("(new)") group instances onto the group's
// subnets round-robin, as Auto Scaling balances launches; observed
// instances stay where they are.
func spreadProjected(p *observe.State) {
	g := p.Group
	used := map[string]int{}
	for _, i := range p.LiveInstances() {
		if i.Group == g.Name && !strings.HasPrefix(i.ID, unknown) {
			used[i.SubnetID]++
		}
	}
	for k, i := range p.Instances {
		if i.Group != g.Name || !strings.HasPrefix(i.ID, unknown) {
			continue
		}
		sn := leastUsedID(g.Subnets, used)
		used[sn]++
		p.Instances[k].SubnetID, p.Instances[k].AZ = sn, subnetAZ(p, sn)
	}
}
