package ladder

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// The alb rung puts an Application Load Balancer in front of the app and
// hides the instances behind it. It never removes a way in before its
// replacement works: the new private instances are healthy targets before
// DNS moves to the load balancer, and the old public instances and their
// addresses go only after DNS has moved. See docs/rungs-alb.md.

// albMaxAZs caps how many AZs the load balancer is created in; the
// multi-az rung widens it to match the Auto Scaling group.
const albMaxAZs = 3

// privateRole is the wtt:role of instances that sit behind the load
// balancer; scaling behind the load balancer launches the same kind.
const privateRole = "private"

// albNoDowntime is the downtime note of every step of the rung.
const albNoDowntime = "the old instances keep serving until the new ones are healthy behind the load balancer and DNS points at it"

var (
	albSGCalls = []string{
		"ec2:CreateSecurityGroup", "ec2:CreateTags", "ec2:DescribeSecurityGroups",
		"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
	}
	targetGroupCalls = []string{
		"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:AddTags",
		"elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes",
	}
	loadBalancerCalls = []string{
		// AWS creates Elastic Load Balancing's service-linked role on an
		// account's first load balancer, on the caller's permission.
		"iam:CreateServiceLinkedRole",
		"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:AddTags",
		"elasticloadbalancing:SetSubnets", "elasticloadbalancing:SetSecurityGroups",
		"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:CreateListener", "elasticloadbalancing:ModifyListener",
	}
	retireCalls = append(slices.Clone(deregisterTargetCalls),
		"ec2:TerminateInstances", "ec2:DescribeInstances", "ec2:DisassociateAddress", "ec2:ReleaseAddress")
)

func planALB(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	if err := checkALBPossible(s); err != nil {
		return nil, nil, err
	}
	pub, err := publishTarget(s, o)
	if err != nil {
		return nil, nil, err
	}
	rung := string(stage.ALB)
	var steps []*plan.Step
	var warnings []string
	add := func(st *plan.Step) {
		st.Rung = rung
		st.DowntimeNote = albNoDowntime
		steps = append(steps, st)
	}
	if !albSGReady(s) || !privateSGReady(s) {
		add(securityGroupsStep(s))
	}
	if !targetGroupReady(s) {
		add(targetGroupStep(s))
	}
	if !loadBalancerReady(s) {
		add(loadBalancerStep(s))
	}
	if !albFleetReady(s) {
		st, warn := albFleetStep(s, o)
		add(st)
		warnings = append(warnings, warn...)
	}
	dr := planDrain(s, o, pub, time.Now())
	if pub.name != "" {
		// Lowering the TTL first only helps when nothing waits the old one
		// out: with a drain, resolvers that asked before the lowering hold
		// the old addresses for the old TTL anyway, and the drain waits it.
		if dr.wait == 0 {
			if st := lowerTTLStep(s, pub); st != nil {
				add(st)
			}
		}
		if !albRecordReady(s, pub) {
			add(cutoverStep(s, pub, dr))
		}
	}
	if dr.wait > 0 && (dr.until.IsZero() || time.Now().Before(dr.until)) {
		st := drainStep(s, pub, dr)
		add(st)
		st.DowntimeNote = "none: clients holding the old addresses still reach the old instances, which keep serving"
	}
	if len(retiringFleet(s)) > 0 || len(s.EIPs) > 0 {
		add(retireStep(s, pub, dr))
	}
	if pub.name == "" && len(steps) > 0 {
		warnings = append(warnings, "no --dns-name given: clients must use the load balancer's own DNS name (`wtt status` shows it); "+
			"the instances' public addresses stop answering when the old instances are terminated")
	}
	return steps, warnings, nil
}

// checkALBPossible refuses, before anything runs, what AWS would refuse
// half-way: a load balancer needs subnets in two AZs (the emulator accepts
// one; AWS does not), and an internal load balancer cannot be turned
// internet-facing.
func checkALBPossible(s *observe.State) error {
	if lb := s.LoadBalancer; lb != nil && lb.Scheme != "" && lb.Scheme != "internet-facing" {
		return cmdutil.Usagef("delete it (`wtt down` removes everything of the app) and migrate again",
			"load balancer %s is %s; the app needs an internet-facing one", lb.Name, lb.Scheme)
	}
	if tg := s.TargetGroup; tg != nil && (tg.Protocol != "HTTP" || tg.Port != 80) {
		return cmdutil.Usagef("delete target group "+tg.Name+" (or run `wtt down`) and migrate again",
			"target group %s is %s:%d; the app needs HTTP:80, which cannot be changed in place", tg.Name, tg.Protocol, tg.Port)
	}
	if s.Network.VPCID == "" {
		return nil // planned from nothing: `up` lays out subnets in every AZ it can
	}
	if azs := publicAZs(s.Network); len(azs) < 2 {
		return cmdutil.Usagef("recreate the app's network in a region with at least 2 availability zones (`wtt down`, then `wtt up`)",
			"the app's public subnets span %d availability zone(s) (%s); an Application Load Balancer needs 2", len(azs), strings.Join(azs, ", "))
	}
	return nil
}

// publicAZs lists the AZs that have a public subnet, in order.
func publicAZs(n observe.Network) []string {
	var azs []string
	for _, sn := range n.SubnetsWhere(true) {
		if !slices.Contains(azs, sn.AZ) {
			azs = append(azs, sn.AZ)
		}
	}
	return azs
}

// albSubnets picks one public subnet per AZ, up to albMaxAZs AZs.
func albSubnets(n observe.Network) ([]observe.Subnet, error) {
	var out []observe.Subnet
	seen := map[string]bool{}
	for _, sn := range n.SubnetsWhere(true) {
		if !seen[sn.AZ] && len(out) < albMaxAZs {
			seen[sn.AZ] = true
			out = append(out, sn)
		}
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("the app's public subnets span %d availability zone(s); an Application Load Balancer needs 2: recreate the network in a region with 2 or more (`wtt down`, then `wtt up`)", len(out))
	}
	return out, nil
}

func albSGReady(s *observe.State) bool {
	return s.Network.ALBSG != nil && webSGOpen(s.Network.ALBSG)
}

func privateSGReady(s *observe.State) bool {
	n := s.Network
	return n.PrivateSG != nil && n.ALBSG != nil && admitsOnlyFrom(n.PrivateSG, n.ALBSG.ID)
}

// admitsOnlyFrom reports whether the group's only ingress is tcp/80 (or
// wider) from the given group: no address ranges, no other groups.
func admitsOnlyFrom(g *observe.SecurityGroup, source string) bool {
	ok := false
	for _, r := range g.Ingress {
		if len(r.CIDRs) > 0 {
			return false
		}
		for _, src := range r.SourceGroups {
			if src != source {
				return false
			}
			ok = ok || r.Covers(80)
		}
	}
	return ok
}

func targetGroupReady(s *observe.State) bool {
	tg := s.TargetGroup
	return tg != nil && tg.Protocol == "HTTP" && tg.Port == 80 && tg.HealthPath == healthPath
}

func loadBalancerReady(s *observe.State) bool {
	lb, tg := s.LoadBalancer, s.TargetGroup
	return lb != nil && tg != nil && lb.State == "active" && len(lb.AZs) >= 2 &&
		s.Network.ALBSG != nil && slices.Contains(lb.SecurityGroups, s.Network.ALBSG.ID) &&
		lb.ListenerARN != "" && lb.ListenerTarget == tg.ARN
}

// retiringFleet is what the rung retires: the app's standalone instances that
// are not private ones (the public fleet of single, eip and dns), stopped
// ones included, since nothing will start them again.
func retiringFleet(s *observe.State) []observe.Instance {
	var out []observe.Instance
	for _, i := range s.Instances {
		if i.Group == "" && i.Role != privateRole && i.State != "shutting-down" && i.State != "terminated" {
			out = append(out, i)
		}
	}
	return out
}

// behindALB is the live standalone instances behind the load balancer.
func behindALB(s *observe.State) []observe.Instance {
	var out []observe.Instance
	for _, i := range s.Standalone() {
		if i.Role == privateRole {
			out = append(out, i)
		}
	}
	return out
}

// albFleetSize is how many private instances replace the public ones:
// as many as serve today, at least one. Counted from live state at run
// time, so a re-run after some old instances are gone keeps the size.
func albFleetSize(s *observe.State) int {
	n := 0
	for _, i := range retiringFleet(s) {
		if i.Live() {
			n++
		}
	}
	return max(n, 1)
}

// albInstanceType is the instance type the private instances get: the one the
// app runs today. Changing it is `wtt scale --vertical`'s job.
func albInstanceType(s *observe.State, o Options) string {
	for _, i := range retiringFleet(s) {
		if i.Live() && i.Type != "" {
			return i.Type
		}
	}
	for _, i := range behindALB(s) {
		if i.Type != "" {
			return i.Type
		}
	}
	return o.instanceType()
}

func albFleetReady(s *observe.State) bool {
	priv := behindALB(s)
	if len(priv) < albFleetSize(s) || s.TargetGroup == nil || s.Network.PrivateSG == nil {
		return false
	}
	health := map[string]string{}
	for _, t := range s.TargetGroup.Targets {
		health[t.ID] = t.Health
	}
	for _, i := range priv {
		if health[i.ID] != "healthy" || i.PublicIP != "" || !slices.Contains(i.SecurityGroups, s.Network.PrivateSG.ID) {
			return false
		}
	}
	return true
}

func securityGroupsStep(s *observe.State) *plan.Step {
	n := names.For(s.App)
	return &plan.Step{
		Action: plan.Create, Resource: "security groups " + n.ALBSG() + " and " + n.PrivateSG(),
		Detail: n.ALBSG() + ": tcp/80 from anywhere; " + n.PrivateSG() + ": tcp/80 only from " + n.ALBSG() + ", nothing else",
		Calls:  albSGCalls,
		Do:     func(ctx context.Context, x *plan.Exec) error { return env(x).ensureALBSecurityGroups(ctx) },
	}
}

func targetGroupStep(s *observe.State) *plan.Step {
	n := names.For(s.App)
	action, what := plan.Create, "HTTP:80, health check GET /healthz every 10 s (healthy after 2, unhealthy after 2), connections drain for 30 s"
	if s.TargetGroup != nil {
		action, what = plan.Update, "set the health check to GET /healthz every 10 s (healthy after 2, unhealthy after 2)"
	}
	return &plan.Step{
		Action: action, Resource: "target group " + n.TargetGroup(), Detail: what,
		Calls: targetGroupCalls,
		Do:    func(ctx context.Context, x *plan.Exec) error { return env(x).ensureTargetGroup(ctx) },
	}
}

func loadBalancerStep(s *observe.State) *plan.Step {
	n := names.For(s.App)
	action := plan.Create
	if s.LoadBalancer != nil {
		action = plan.Update
	}
	return &plan.Step{
		Action: action, Resource: "load balancer " + n.ALB() + " (internet-facing) and its :80 listener",
		Detail: fmt.Sprintf("in one public subnet per AZ (%s), forwarding to %s; adds about $%.0f/month",
			azList(s), n.TargetGroup(), pricing.ALBHourly*pricing.HoursPerMonth),
		Calls: loadBalancerCalls,
		Do:    func(ctx context.Context, x *plan.Exec) error { return env(x).ensureLoadBalancer(ctx) },
	}
}

// azList names the AZs the load balancer will span, for the plan.
func azList(s *observe.State) string {
	subnets, err := albSubnets(s.Network)
	if err != nil || len(subnets) == 0 {
		return "2 to 3 AZs"
	}
	var azs []string
	for _, sn := range subnets {
		azs = append(azs, sn.AZ)
	}
	return strings.Join(azs, ", ")
}

func albFleetStep(s *observe.State, o Options) (*plan.Step, []string) {
	typ, want := albInstanceType(s, o), albFleetSize(s)
	var warnings []string
	if o.InstanceType != "" && o.InstanceType != typ {
		warnings = append(warnings, fmt.Sprintf("--instance-type %s is not used by the alb rung: it keeps the fleet's type %s; run `wtt scale --vertical %s` afterwards",
			o.InstanceType, typ, o.InstanceType))
	}
	missing := max(want-len(behindALB(s)), 0)
	resource := fmt.Sprintf("%d private instance(s) %s behind the load balancer", missing, typ)
	if missing == 0 {
		resource = fmt.Sprintf("register the %d private instance(s) with the load balancer", len(behindALB(s)))
	}
	return &plan.Step{
		Action: plan.Create, Resource: resource,
		Detail: "in the private subnets, spread over the AZs, no public IPv4, security group " + names.For(s.App).PrivateSG() +
			"; registered in the target group, then waits until every one passes /healthz",
		Calls: albUnionCalls(launchCalls, deliveryCalls, registerTargetCalls, waitHealthyCalls),
		Do: func(ctx context.Context, x *plan.Exec) error {
			return env(x).ensurePrivateFleet(ctx, o)
		},
	}, warnings
}

func retireStep(s *observe.State, pub publication, dr drain) *plan.Step {
	old := retiringFleet(s)
	var ids []string
	for _, i := range old {
		ids = append(ids, i.ID)
	}
	resource := fmt.Sprintf("%d public instance(s) %s", len(old), strings.Join(ids, ", "))
	if len(s.EIPs) > 0 {
		resource += fmt.Sprintf(" and %d Elastic IP(s)", len(s.EIPs))
	}
	detail := "after DNS points at the load balancer: out of the target group if registered, terminated, addresses released"
	if dr.wait > 0 {
		detail = "after DNS points at the load balancer and resolvers had time to drop the old addresses: out of the target group if registered, terminated, addresses released"
	}
	st := &plan.Step{
		Action: plan.Delete, Resource: resource, Detail: detail,
		Calls: retireCalls,
		Do:    func(ctx context.Context, x *plan.Exec) error { return env(x).retirePublicFleet(ctx) },
	}
	switch {
	case pub.name != "" && dr.ttl > 0:
		if dr.stale() > 0 {
			st.StaleFor = dr.stale()
			st.Warnings = append(st.Warnings, fmt.Sprintf(
				"resolvers that cached %s before the switch keep its old addresses for up to %s, and these instances go %s after it (--dns-drain %s): "+
					"clients holding those addresses fail for up to %s; drop --dns-drain to wait the whole TTL",
				pub.name, dr.ttl.Round(time.Second), dr.wait.Round(time.Second), dr.wait, dr.stale().Round(time.Second)))
		}
	case len(old) > 0 || len(s.EIPs) > 0:
		st.StaleFor = plan.StaleUntilTold
		st.Warnings = append(st.Warnings, "clients that reach the app by these instances' public or Elastic IP addresses lose them now; give them the load balancer's DNS name (or publish one with --dns-name)")
	}
	return st
}

func albUnionCalls(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, c := range l {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// projectALB is the state after the rung: the load balancer, its target
// group and security groups, private instances in place of the public ones,
// no Elastic IPs, and the DNS name (if any) pointing at the load balancer.
func projectALB(s *observe.State, o Options) *observe.State {
	p := clone(s)
	n := names.For(s.App)
	if p.Network.ALBSG == nil {
		p.Network.ALBSG = &observe.SecurityGroup{ID: unknown + "-alb", Name: n.ALBSG()}
	}
	p.Network.ALBSG.Ingress = []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}
	if p.Network.PrivateSG == nil {
		p.Network.PrivateSG = &observe.SecurityGroup{ID: unknown + "-private", Name: n.PrivateSG()}
	}
	p.Network.PrivateSG.Ingress = []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, SourceGroups: []string{p.Network.ALBSG.ID}}}

	if p.TargetGroup == nil {
		p.TargetGroup = &observe.TargetGroup{ARN: unknown + "-tg", Name: n.TargetGroup(), Protocol: "HTTP", Port: 80}
	}
	p.TargetGroup.HealthPath = healthPath

	if p.LoadBalancer == nil {
		p.LoadBalancer = &observe.LoadBalancer{ARN: unknown + "-alb", Name: n.ALB(), DNSName: unknown}
	}
	lb := p.LoadBalancer
	lb.Scheme, lb.State = "internet-facing", "active"
	if len(lb.AZs) < 2 {
		lb.AZs, lb.Subnets = nil, nil
		subnets, _ := albSubnets(p.Network)
		for _, sn := range subnets {
			lb.AZs = append(lb.AZs, sn.AZ)
			lb.Subnets = append(lb.Subnets, sn.ID)
		}
	}
	if !slices.Contains(lb.SecurityGroups, p.Network.ALBSG.ID) {
		lb.SecurityGroups = []string{p.Network.ALBSG.ID}
	}
	if lb.ListenerARN == "" {
		lb.ListenerARN = unknown + "-listener"
	}
	lb.ListenerTarget = p.TargetGroup.ARN

	projectALBFleet(p, s, o)
	p.EIPs = []observe.EIP{}
	if pub, err := publishTarget(s, o); err == nil && pub.name != "" {
		p.DNS = projectRecord(s, pub, lb)
	}
	return p
}

// projectALBFleet replaces the old public fleet with private instances,
// every one a healthy target.
func projectALBFleet(p, s *observe.State, o Options) {
	typ, want := albInstanceType(s, o), albFleetSize(s)
	var kept []observe.Instance
	for _, i := range p.Instances {
		if i.Group != "" || i.Role == privateRole {
			kept = append(kept, i)
		}
	}
	p.Instances = kept
	private := p.Network.SubnetsWhere(false)
	for k := len(behindALB(p)); k < want; k++ {
		i := observe.Instance{ID: fmt.Sprintf("%s-p%d", unknown, k+1), Type: typ, State: "running", IMDSv2Required: true,
			Role: privateRole, SecurityGroups: []string{p.Network.PrivateSG.ID}}
		if len(private) > 0 {
			sn := private[k%len(private)]
			i.AZ, i.SubnetID = sn.AZ, sn.ID
		}
		p.Instances = append(p.Instances, i)
	}
	registered := map[string]bool{}
	targets := []observe.Target{}
	for _, i := range behindALB(p) {
		targets = append(targets, observe.Target{ID: i.ID, Health: "healthy"})
		registered[i.ID] = true
	}
	for _, t := range p.TargetGroup.Targets {
		if !registered[t.ID] && slices.ContainsFunc(p.Instances, func(i observe.Instance) bool { return i.ID == t.ID }) {
			targets = append(targets, t)
		}
	}
	p.TargetGroup.Targets = targets
}
