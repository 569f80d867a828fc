package ladder

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Fixtures for every stage scaling starts from, built by hand. Each is
// checked against stage.Detect first, so a test that plans from "eip"
// really plans from eip.

var sclAZs = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

func sclNetwork() observe.Network {
	n := observe.Network{VPCID: "vpc-1", CIDR: "10.40.0.0/16", IGWID: "igw-1", IGWAttached: true, S3EndpointID: "vpce-1",
		WebSG: &observe.SecurityGroup{ID: "sg-web", Name: "wtt-app-web",
			Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}},
		Tags: map[string]string{}}
	for k, az := range sclAZs {
		n.Subnets = append(n.Subnets,
			observe.Subnet{ID: fmt.Sprintf("subnet-pub-%d", k), AZ: az, CIDR: publicCIDR(k), Public: true},
			observe.Subnet{ID: fmt.Sprintf("subnet-priv-%d", k), AZ: az, CIDR: privateCIDR(k)})
	}
	return n
}

func sclWeb(k int, typ string) observe.Instance {
	return observe.Instance{ID: fmt.Sprintf("i-web%d", k), Type: typ, State: "running", AZ: sclAZs[k%3],
		SubnetID: fmt.Sprintf("subnet-pub-%d", k%3), PublicIP: fmt.Sprintf("54.0.0.%d", k+1), IMDSv2Required: true,
		SecurityGroups: []string{"sg-web"}, Role: "web", LaunchTime: time.Date(2026, 1, 1, k, 0, 0, 0, time.UTC)}
}

// sclSingle is stage single with n public instances (single allows more
// than one: nothing but an instance's address tells them apart).
func sclSingle(n int, typ string) *observe.State {
	s := &observe.State{App: "app", Region: "us-east-1", Network: sclNetwork(), EIPs: []observe.EIP{}, Reserved: []observe.Reserved{}}
	for k := 0; k < n; k++ {
		s.Instances = append(s.Instances, sclWeb(k, typ))
	}
	return s
}

func sclEIP(n int, typ string) *observe.State {
	s := sclSingle(n, typ)
	for k := range s.Instances {
		ip := fmt.Sprintf("3.0.0.%d", k+1)
		s.Instances[k].EIP, s.Instances[k].PublicIP = ip, ip
		s.EIPs = append(s.EIPs, observe.EIP{AllocationID: fmt.Sprintf("eipalloc-%d", k), PublicIP: ip,
			InstanceID: s.Instances[k].ID, AssociationID: fmt.Sprintf("eipassoc-%d", k)})
	}
	return s
}

func sclDNS(n int, typ string) *observe.State {
	s := sclSingle(n, typ)
	s.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", Name: "api.example.com", Type: "A", TTL: 3600,
		Values: publicAddresses(s.Instances)}
	return s
}

func sclPrivate(k int, typ string) observe.Instance {
	return observe.Instance{ID: fmt.Sprintf("i-priv%d", k), Type: typ, State: "running", AZ: sclAZs[k%3],
		SubnetID: fmt.Sprintf("subnet-priv-%d", k%3), PrivateIP: fmt.Sprintf("10.40.1%d.%d", k%3, k+4), IMDSv2Required: true,
		SecurityGroups: []string{"sg-priv"}, Role: privateRole, LaunchTime: time.Date(2026, 2, 1, k, 0, 0, 0, time.UTC)}
}

func sclALB(n int, typ string) *observe.State {
	s := &observe.State{App: "app", Region: "us-east-1", Network: sclNetwork(), EIPs: []observe.EIP{}, Reserved: []observe.Reserved{}}
	s.Network.ALBSG = &observe.SecurityGroup{ID: "sg-alb", Name: "wtt-app-alb",
		Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}}
	s.Network.PrivateSG = &observe.SecurityGroup{ID: "sg-priv", Name: "wtt-app-private",
		Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, SourceGroups: []string{"sg-alb"}}}}
	s.LoadBalancer = &observe.LoadBalancer{ARN: "arn:lb", Name: "wtt-app", DNSName: "wtt-app-1.us-east-1.elb.amazonaws.com",
		Scheme: "internet-facing", State: "active", AZs: slices.Clone(sclAZs),
		Subnets: []string{"subnet-pub-0", "subnet-pub-1", "subnet-pub-2"}, SecurityGroups: []string{"sg-alb"},
		ListenerARN: "arn:listener", ListenerTarget: "arn:tg"}
	s.TargetGroup = &observe.TargetGroup{ARN: "arn:tg", Name: "wtt-app-tg", Protocol: "HTTP", Port: 80, HealthPath: "/healthz"}
	for k := 0; k < n; k++ {
		i := sclPrivate(k, typ)
		s.Instances = append(s.Instances, i)
		s.TargetGroup.Targets = append(s.TargetGroup.Targets, observe.Target{ID: i.ID, Health: "healthy"})
	}
	return s
}

// sclGroup is stage asg (one AZ) or multi-az (several), the group's
// instances named i-g<k>.
func sclGroup(n int, typ string, azs int) *observe.State {
	s := sclALB(0, typ)
	s.LaunchTemplate = &observe.LaunchTemplate{ID: "lt-1", Name: "wtt-app-lt", LatestVersion: 1, DefaultVersion: 1,
		InstanceType: typ, IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}}
	s.Group = &observe.Group{Name: "wtt-app-asg", Min: int32(min(n, max(azs, 1))), Max: int32(2 * n), Desired: int32(n),
		AZs: slices.Clone(sclAZs[:azs]), InstanceType: typ, TemplateVersion: "$Latest", TargetGroupARNs: []string{"arn:tg"},
		HealthCheckType: "ELB", GracePeriod: 120, TargetTracking: []string{"wtt-app-cpu-target"}}
	for k := 0; k < azs; k++ {
		s.Group.Subnets = append(s.Group.Subnets, fmt.Sprintf("subnet-priv-%d", k))
	}
	for k := 0; k < n; k++ {
		i := sclPrivate(k, typ)
		i.ID, i.Group, i.Role, i.AZ = fmt.Sprintf("i-g%d", k), s.Group.Name, groupRole, sclAZs[k%azs]
		s.Instances = append(s.Instances, i)
		s.Group.Instances = append(s.Group.Instances, i.ID)
		s.TargetGroup.Targets = append(s.TargetGroup.Targets, observe.Target{ID: i.ID, Health: "healthy"})
	}
	return s
}

func sclReserved(n int, typ string) *observe.State {
	s := sclGroup(n, typ, 3)
	s.Reserved = []observe.Reserved{{ID: "ri-1", InstanceType: typ, Count: int32(n), State: "active", Scope: "Region",
		HourlyPrice: 0.06, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}}
	return s
}

func TestScaleFixturesAreAtTheirStages(t *testing.T) {
	for name, c := range map[string]struct {
		s    *observe.State
		want stage.Stage
	}{
		"single":       {sclSingle(1, "t2.micro"), stage.Single},
		"single x3":    {sclSingle(3, "t2.micro"), stage.Single},
		"eip":          {sclEIP(2, "t2.micro"), stage.EIP},
		"dns":          {sclDNS(2, "t2.micro"), stage.DNS},
		"alb":          {sclALB(2, "t2.micro"), stage.ALB},
		"asg":          {sclGroup(2, "t2.micro", 1), stage.ASG},
		"multi-az":     {sclGroup(3, "t2.micro", 3), stage.MultiAZ},
		"reserved":     {sclReserved(3, "m5.large"), stage.Reserved},
		"multi-az x6":  {sclGroup(6, "m5.large", 3), stage.MultiAZ},
		"eip with one": {sclEIP(1, "m5.large"), stage.EIP},
	} {
		if got := stage.Detect(c.s); got.Stage != c.want {
			t.Errorf("%s: fixture is at %s, want %s (next: %v)", name, got.Stage, c.want, got.Unmet)
		}
	}
}

// sclCheckPlan holds for every scale plan: steps belong to the scale
// operation, say what they call and can run, and the stage is named.
func sclCheckPlan(t *testing.T, p *plan.Plan, op string) {
	t.Helper()
	if p.Operation != op {
		t.Errorf("operation %q, want %q", p.Operation, op)
	}
	if p.From == "" || p.To == "" {
		t.Errorf("plan from %q to %q: both must be named", p.From, p.To)
	}
	for _, st := range p.Steps {
		if st.Rung != "scale" || st.Do == nil || len(st.Calls) == 0 || st.Resource == "" {
			t.Errorf("step %s %q: rung %q, %d calls, Do set %v", st.Action, st.Resource, st.Rung, len(st.Calls), st.Do != nil)
		}
	}
}

func sclMustVertical(t *testing.T, s *observe.State, typ string) *plan.Plan {
	t.Helper()
	p, err := ScaleVertical(s, typ, Options{})
	if err != nil {
		t.Fatalf("ScaleVertical(%s): %v", typ, err)
	}
	sclCheckPlan(t, p, "scale --vertical "+typ)
	return p
}

func sclMustHorizontal(t *testing.T, s *observe.State, n int, o Options) *plan.Plan {
	t.Helper()
	p, err := ScaleHorizontal(s, n, o)
	if err != nil {
		t.Fatalf("ScaleHorizontal(%d): %v", n, err)
	}
	sclCheckPlan(t, p, fmt.Sprintf("scale --horizontal %d", n))
	return p
}

func sclHasCall(st *plan.Step, call string) bool { return slices.Contains(st.Calls, call) }

func sclAnyContains(list []string, sub string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.Contains(s, sub) })
}

func sclMustUsage(t *testing.T, err error, sub string) {
	t.Helper()
	if err == nil || !cmdutil.IsUsage(err) {
		t.Fatalf("got %v, want a usage error (exit 2)", err)
	}
	if !strings.Contains(err.Error(), sub) {
		t.Errorf("error %q does not say %q", err, sub)
	}
}

func TestVerticalAtSingleStopsChangesStartsWithDowntime(t *testing.T) {
	s := sclSingle(1, "t2.micro")
	p := sclMustVertical(t, s, "m5.large")
	if p.From != "single" || p.To != "single" || len(p.Steps) != 1 {
		t.Fatalf("plan %s -> %s with %d steps, want single -> single with 1", p.From, p.To, len(p.Steps))
	}
	st := p.Steps[0]
	if st.Action != plan.Update || !strings.Contains(st.Resource, "i-web0: t2.micro -> m5.large") {
		t.Errorf("step %s %q", st.Action, st.Resource)
	}
	for _, c := range []string{"ec2:StopInstances", "ec2:ModifyInstanceAttribute", "ec2:StartInstances", "ec2:DescribeInstances"} {
		if !sclHasCall(st, c) {
			t.Errorf("calls %v lack %s", st.Calls, c)
		}
	}
	if st.Downtime != stopStartDowntime || !strings.Contains(st.DowntimeNote, "with one instance the whole app is down") {
		t.Errorf("downtime %s %q", st.Downtime, st.DowntimeNote)
	}
	if !sclAnyContains(st.Warnings, "changes when it starts again") || !sclAnyContains(st.Warnings, "migrate --to=eip") {
		t.Errorf("warnings %v do not say the address changes", st.Warnings)
	}
	if p.CostAfter.Monthly <= p.CostBefore.Monthly {
		t.Errorf("cost %v -> %v: m5.large costs more than t2.micro", p.CostBefore.Monthly, p.CostAfter.Monthly)
	}
	if st.Check == nil {
		t.Error("no server dry-run check for the stop")
	}
}

func TestVerticalToTheCurrentTypeChangesNothing(t *testing.T) {
	for name, s := range map[string]*observe.State{
		"single": sclSingle(1, "m5.large"), "eip": sclEIP(2, "m5.large"), "dns": sclDNS(3, "m5.large"),
		"alb": sclALB(2, "m5.large"), "asg": sclGroup(2, "m5.large", 1), "multi-az": sclGroup(3, "m5.large", 3),
	} {
		if p := sclMustVertical(t, s, "m5.large"); !p.Empty() {
			t.Errorf("%s: %d step(s), want none", name, len(p.Steps))
		}
	}
}

func TestVerticalAtEIPKeepsEachAddress(t *testing.T) {
	p := sclMustVertical(t, sclEIP(2, "t2.micro"), "m5.large")
	if len(p.Steps) != 2 {
		t.Fatalf("%d steps, want one per instance", len(p.Steps))
	}
	for k, st := range p.Steps {
		if !sclHasCall(st, "ec2:DescribeAddresses") || !sclHasCall(st, "ec2:AssociateAddress") {
			t.Errorf("step %d calls %v: the Elastic IP is not checked", k, st.Calls)
		}
		if len(st.Warnings) > 0 {
			t.Errorf("step %d warns %v, but the Elastic IP keeps the address", k, st.Warnings)
		}
		if !strings.Contains(st.DowntimeNote, "the other 1 instance(s) keep answering") {
			t.Errorf("step %d downtime note %q", k, st.DowntimeNote)
		}
	}
	if p.Downtime() != 2*stopStartDowntime {
		t.Errorf("total downtime %s", p.Downtime())
	}
	if !stage.Reached(projectPublicVertical(sclEIP(2, "t2.micro"), "m5.large"), stage.EIP) {
		t.Error("projection leaves stage eip")
	}
}

func TestVerticalAtDNSUpdatesTheRecordAfterEachRestart(t *testing.T) {
	s := sclDNS(2, "t2.micro")
	p := sclMustVertical(t, s, "m5.large")
	if len(p.Steps) != 2 {
		t.Fatalf("%d steps", len(p.Steps))
	}
	for _, st := range p.Steps {
		if !sclHasCall(st, "route53:ChangeResourceRecordSets") || !strings.Contains(st.Detail, "api.example.com") {
			t.Errorf("step %q calls %v detail %q: the record is not updated", st.Resource, st.Calls, st.Detail)
		}
		if !strings.Contains(st.DowntimeNote, "TTL (3600 s)") {
			t.Errorf("downtime note %q does not mention the TTL", st.DowntimeNote)
		}
	}
	proj := projectPublicVertical(s, "m5.large")
	if !stage.Reached(proj, stage.DNS) {
		t.Errorf("projection leaves stage dns: %+v", proj.DNS)
	}
}

func TestVerticalFinishesAnInterruptedRun(t *testing.T) {
	// The first instance was resized and started; the second was stopped
	// and resized but not started: the app shows as stage single.
	s := sclEIP(3, "t2.micro")
	s.Instances[0].Type = "m5.large"
	s.Instances[1].Type, s.Instances[1].State = "m5.large", "stopped"
	p := sclMustVertical(t, s, "m5.large")
	if len(p.Steps) != 2 {
		t.Fatalf("steps %v, want the stopped one and the untouched one", sclStepNames(p))
	}
	if !strings.Contains(p.Steps[0].Resource, "i-web1: start (already m5.large)") || !strings.Contains(p.Steps[1].Resource, "i-web2: t2.micro -> m5.large") {
		t.Errorf("steps %v", sclStepNames(p))
	}

	// Only instance stopped: nothing runs, stage.Detect says none, and the
	// re-run must still start it rather than refuse.
	one := sclSingle(1, "t2.micro")
	one.Instances[0].State, one.Instances[0].PublicIP = "stopped", ""
	if got := stage.Detect(one).Stage; got != stage.None {
		t.Fatalf("fixture at %s", got)
	}
	p = sclMustVertical(t, one, "m5.large")
	if len(p.Steps) != 1 || p.From != "single" || !sclAnyContains(p.Warnings, "interrupted") {
		t.Errorf("from %s steps %v warnings %v", p.From, sclStepNames(p), p.Warnings)
	}
}

func TestVerticalRepublishesAStaleRecord(t *testing.T) {
	// Interrupted after the last restart, before the UPSERT.
	s := sclDNS(2, "m5.large")
	s.Instances[1].PublicIP = "54.9.9.9"
	p := sclMustVertical(t, s, "m5.large")
	if len(p.Steps) != 1 || !sclHasCall(p.Steps[0], "route53:ChangeResourceRecordSets") {
		t.Errorf("steps %v, want the record update alone", sclStepNames(p))
	}
}

func TestVerticalBehindTheLoadBalancerRollsWithoutDowntime(t *testing.T) {
	s := sclALB(2, "t2.micro")
	p := sclMustVertical(t, s, "m5.large")
	if len(p.Steps) != 2 || p.Steps[0].Action != plan.Create || p.Steps[1].Action != plan.Delete {
		t.Fatalf("steps %v, want launch then retire", sclStepNames(p))
	}
	if !strings.Contains(p.Steps[0].Resource, "2 private instance(s) m5.large") {
		t.Errorf("launch step %q", p.Steps[0].Resource)
	}
	for _, c := range []string{"ec2:RunInstances", "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DescribeTargetHealth"} {
		if !sclHasCall(p.Steps[0], c) {
			t.Errorf("launch step lacks %s", c)
		}
	}
	for _, c := range []string{"elasticloadbalancing:DeregisterTargets", "ec2:TerminateInstances"} {
		if !sclHasCall(p.Steps[1], c) {
			t.Errorf("retire step lacks %s", c)
		}
	}
	if p.Downtime() != 0 {
		t.Errorf("downtime %s, want none", p.Downtime())
	}
	proj := projectPrivateVertical(s, "m5.large")
	if !stage.Reached(proj, stage.ALB) {
		t.Error("projection leaves stage alb")
	}
	if n := len(proj.LiveInstances()); n != 2 || majorityType(proj.LiveInstances()) != "m5.large" {
		t.Errorf("projection runs %d instances of %s", n, majorityType(proj.LiveInstances()))
	}
}

func TestVerticalBehindTheLoadBalancerResumes(t *testing.T) {
	// One of two replacements launched and not yet registered: the app
	// fails alb's conditions, and the re-run launches only the missing one.
	s := sclALB(2, "t2.micro")
	s.Instances = append(s.Instances, sclPrivate(5, "m5.large"))
	p := sclMustVertical(t, s, "m5.large")
	if len(p.Steps) != 2 || !strings.Contains(p.Steps[0].Resource, "1 private instance(s) m5.large") {
		t.Errorf("steps %v", sclStepNames(p))
	}
	if p.From != "alb" {
		t.Errorf("from %s, want alb", p.From)
	}
	// All replacements healthy, old ones drained: only the retirement is left.
	done := sclALB(2, "m5.large")
	done.Instances = append(done.Instances, sclPrivate(7, "t2.micro"))
	p = sclMustVertical(t, done, "m5.large")
	if len(p.Steps) != 2 || !strings.Contains(p.Steps[0].Resource, "register the 2 m5.large") || p.Steps[1].Action != plan.Delete {
		t.Errorf("steps %v", sclStepNames(p))
	}
}

func TestVerticalAtAGroupIsATemplateVersionAndARefresh(t *testing.T) {
	s := sclGroup(3, "t2.micro", 3)
	p := sclMustVertical(t, s, "m5.large")
	if len(p.Steps) != 2 || p.Steps[0].Action != plan.Update || p.Steps[1].Action != plan.Replace {
		t.Fatalf("steps %v", sclStepNames(p))
	}
	if !sclHasCall(p.Steps[0], "ec2:CreateLaunchTemplateVersion") {
		t.Errorf("template step calls %v", p.Steps[0].Calls)
	}
	for _, c := range []string{"autoscaling:StartInstanceRefresh", "autoscaling:DescribeInstanceRefreshes", "elasticloadbalancing:DescribeTargetHealth"} {
		if !sclHasCall(p.Steps[1], c) {
			t.Errorf("refresh step lacks %s", c)
		}
	}
	if p.Downtime() != 0 || !strings.Contains(p.Steps[1].Detail, "min healthy 100%") {
		t.Errorf("downtime %s detail %q", p.Downtime(), p.Steps[1].Detail)
	}
	if p.From != "multi-az" || !stage.Reached(projectGroupVertical(s, "m5.large"), stage.MultiAZ) {
		t.Error("the refresh leaves stage multi-az")
	}

	// The template already launches the type; instances still run the old one.
	half := sclGroup(3, "t2.micro", 3)
	half.LaunchTemplate.InstanceType, half.Group.InstanceType = "m5.large", "m5.large"
	p = sclMustVertical(t, half, "m5.large")
	if len(p.Steps) != 1 || p.Steps[0].Action != plan.Replace {
		t.Errorf("steps %v, want the refresh alone", sclStepNames(p))
	}
}

func TestVerticalAtAFullGroupReplacesOneByOne(t *testing.T) {
	s := sclGroup(1, "t2.micro", 1)
	s.Group.Max = 1
	p := sclMustVertical(t, s, "m5.large")
	refresh := p.Steps[len(p.Steps)-1]
	if refresh.Downtime == 0 || !strings.Contains(refresh.DowntimeNote, "only instance") {
		t.Errorf("a one-instance group at its maximum has downtime: %s %q", refresh.Downtime, refresh.DowntimeNote)
	}
	if !sclAnyContains(p.Warnings, "--max 2") {
		t.Errorf("warnings %v do not say how to avoid it", p.Warnings)
	}
}

func TestRefreshPreferences(t *testing.T) {
	for _, c := range []struct{ desired, max, minH, maxH int32 }{
		{1, 2, 100, 200}, {2, 4, 100, 150}, {3, 6, 100, 134}, {4, 5, 100, 125}, {0, 3, 100, 200},
		{1, 1, 0, 100}, {3, 3, 66, 100}, {10, 10, 90, 100},
	} {
		minH, maxH := refreshPreferences(c.desired, c.max)
		if minH != c.minH || maxH != c.maxH {
			t.Errorf("desired %d max %d: %d%%-%d%%, want %d%%-%d%%", c.desired, c.max, minH, maxH, c.minH, c.maxH)
		}
		// With room, exactly one instance above the desired capacity.
		if c.desired > 0 && c.max > c.desired && c.desired*maxH/100 != c.desired+1 {
			t.Errorf("desired %d: max healthy %d%% allows %d instances", c.desired, maxH, c.desired*maxH/100)
		}
	}
}

func TestVerticalWarnsAboutReservedInstances(t *testing.T) {
	s := sclReserved(3, "m5.large")
	p := sclMustVertical(t, s, "t3.small")
	if !sclAnyContains(p.Warnings, "Reserved Instance(s) of m5.large") {
		t.Errorf("warnings %v", p.Warnings)
	}
	if p.From != "reserved" || p.To != "multi-az" {
		t.Errorf("%s -> %s: the reservation no longer covers the group", p.From, p.To)
	}
	// Reserved m5.large instances stop discounting: the new type is
	// billed on-demand (before, 3 reserved m5.large at 0.06/h).
	if p.CostAfter.Monthly <= 0 || sclAnyContains(sclLineItems(p.CostAfter.Lines), "reserved") {
		t.Errorf("cost after %+v", p.CostAfter)
	}
}

func TestHorizontalAtSingleLaunchesAndRemovesNewestFirst(t *testing.T) {
	s := sclSingle(1, "t2.micro")
	p := sclMustHorizontal(t, s, 3, Options{})
	if len(p.Steps) != 1 || p.Steps[0].Action != plan.Create || !strings.Contains(p.Steps[0].Resource, "2 instance(s) t2.micro") {
		t.Fatalf("steps %v", sclStepNames(p))
	}
	if !sclHasCall(p.Steps[0], "ec2:RunInstances") || p.Downtime() != 0 {
		t.Errorf("calls %v downtime %s", p.Steps[0].Calls, p.Downtime())
	}
	if !sclAnyContains(p.Warnings, "every instance's address") {
		t.Errorf("warnings %v", p.Warnings)
	}
	proj := projectPublicHorizontal(s, 3)
	if len(proj.LiveInstances()) != 3 || stage.Detect(proj).Stage != stage.Single {
		t.Errorf("projection: %d instances at %s", len(proj.LiveInstances()), stage.Detect(proj).Stage)
	}
	if p.CostAfter.Monthly <= p.CostBefore.Monthly {
		t.Error("three instances cost more than one")
	}

	three := sclSingle(3, "t2.micro")
	p = sclMustHorizontal(t, three, 1, Options{})
	if len(p.Steps) != 1 || p.Steps[0].Action != plan.Delete || !strings.Contains(p.Steps[0].Resource, "i-web1, i-web2") {
		t.Errorf("steps %v, want the two newest removed", sclStepNames(p))
	}
	if !sclAnyContains(p.Warnings, "54.0.0.2") {
		t.Errorf("warnings %v do not name the addresses that go", p.Warnings)
	}
	if got := instanceIDs(projectPublicHorizontal(three, 1).LiveInstances()); !slices.Equal(got, []string{"i-web0"}) {
		t.Errorf("projection keeps %v, want the oldest", got)
	}
	if p := sclMustHorizontal(t, three, 3, Options{}); !p.Empty() {
		t.Errorf("same size: %v", sclStepNames(p))
	}
}

func TestHorizontalAtEIPGivesEachNewInstanceAnAddress(t *testing.T) {
	s := sclEIP(1, "m5.large")
	p := sclMustHorizontal(t, s, 3, Options{})
	if len(p.Steps) != 2 || !sclHasCall(p.Steps[1], "ec2:AllocateAddress") || !sclHasCall(p.Steps[1], "ec2:AssociateAddress") {
		t.Fatalf("steps %v", sclStepNames(p))
	}
	if p.From != "eip" || p.To != "eip" || !stage.Reached(projectPublicHorizontal(s, 3), stage.EIP) {
		t.Error("projection leaves stage eip")
	}
	// An instance launched by an interrupted run still lacks its address.
	half := sclEIP(1, "m5.large")
	half.Instances = append(half.Instances, sclWeb(1, "m5.large"))
	p = sclMustHorizontal(t, half, 2, Options{})
	if len(p.Steps) != 1 || !sclHasCall(p.Steps[0], "ec2:AllocateAddress") {
		t.Errorf("steps %v, want the Elastic IP alone", sclStepNames(p))
	}
	// Scaling in releases the addresses of the instances that go.
	p = sclMustHorizontal(t, sclEIP(3, "m5.large"), 2, Options{})
	if len(p.Steps) != 1 || !sclHasCall(p.Steps[0], "ec2:ReleaseAddress") {
		t.Errorf("steps %v", sclStepNames(p))
	}
}

func TestHorizontalAtEIPRefusesMoreThanTheQuota(t *testing.T) {
	_, err := ScaleHorizontal(sclEIP(2, "m5.large"), 6, Options{})
	sclMustUsage(t, err, "5 per region")
	if err != nil && !strings.Contains(err.Error(), "migrate --to=dns") {
		t.Errorf("error %q does not point to dns", err)
	}
	if _, err := ScaleHorizontal(sclSingle(1, "m5.large"), 6, Options{}); err != nil {
		t.Errorf("stage single has no Elastic IPs to run out of: %v", err)
	}
}

func TestHorizontalAtDNSKeepsTheRecordExact(t *testing.T) {
	s := sclDNS(2, "m5.large")
	p := sclMustHorizontal(t, s, 4, Options{})
	if len(p.Steps) != 2 || p.Steps[0].Action != plan.Create || !sclHasCall(p.Steps[1], "route53:ChangeResourceRecordSets") {
		t.Fatalf("steps %v, want launch then record", sclStepNames(p))
	}
	proj := projectPublicHorizontal(s, 4)
	if !stage.Reached(proj, stage.DNS) || len(proj.DNS.Values) != 4 {
		t.Errorf("projection: dns %v, record %v", stage.Reached(proj, stage.DNS), proj.DNS.Values)
	}

	// Scaling in: the record drops the addresses before the instances go.
	p = sclMustHorizontal(t, sclDNS(3, "m5.large"), 1, Options{})
	if len(p.Steps) != 2 || p.Steps[0].Action != plan.Update || p.Steps[1].Action != plan.Delete {
		t.Fatalf("steps %v, want record then terminate", sclStepNames(p))
	}
	if !strings.Contains(p.Steps[0].Resource, "drops i-web1, i-web2") {
		t.Errorf("record step %q", p.Steps[0].Resource)
	}
	if !sclAnyContains(p.Warnings, "TTL (3600 s)") {
		t.Errorf("warnings %v do not mention the TTL", p.Warnings)
	}
	if proj := projectPublicHorizontal(sclDNS(3, "m5.large"), 1); !slices.Equal(proj.DNS.Values, []string{"54.0.0.1"}) {
		t.Errorf("projected record %v", proj.DNS.Values)
	}
}

func TestHorizontalBehindTheLoadBalancer(t *testing.T) {
	s := sclALB(2, "m5.large")
	p := sclMustHorizontal(t, s, 4, Options{})
	if len(p.Steps) != 1 || !sclHasCall(p.Steps[0], "elasticloadbalancing:RegisterTargets") || !sclHasCall(p.Steps[0], "ec2:RunInstances") {
		t.Fatalf("steps %v", sclStepNames(p))
	}
	if proj := projectPrivateHorizontal(s, 4); !stage.Reached(proj, stage.ALB) || len(proj.LiveInstances()) != 4 {
		t.Error("projection leaves stage alb")
	}
	p = sclMustHorizontal(t, sclALB(3, "m5.large"), 1, Options{})
	if len(p.Steps) != 1 || p.Steps[0].Action != plan.Delete || !sclHasCall(p.Steps[0], "elasticloadbalancing:DeregisterTargets") {
		t.Fatalf("steps %v", sclStepNames(p))
	}
	if !strings.Contains(p.Steps[0].Resource, "i-priv1, i-priv2") || p.Downtime() != 0 {
		t.Errorf("step %q downtime %s", p.Steps[0].Resource, p.Downtime())
	}
	// A target left unregistered by an interrupted run is registered.
	half := sclALB(2, "m5.large")
	half.TargetGroup.Targets = half.TargetGroup.Targets[:1]
	p = sclMustHorizontal(t, half, 2, Options{})
	if len(p.Steps) != 1 || !strings.Contains(p.Steps[0].Resource, "register") {
		t.Errorf("steps %v", sclStepNames(p))
	}
}

func TestHorizontalAtAGroupSetsItsCapacity(t *testing.T) {
	s := sclGroup(2, "m5.large", 1) // min 1, max 4
	p := sclMustHorizontal(t, s, 3, Options{})
	if len(p.Steps) != 1 || !sclHasCall(p.Steps[0], "autoscaling:UpdateAutoScalingGroup") || !strings.Contains(p.Steps[0].Resource, "desired 2 -> 3") {
		t.Fatalf("steps %v", sclStepNames(p))
	}
	if !sclAnyContains(p.Warnings, "target-tracking") {
		t.Errorf("warnings %v", p.Warnings)
	}
	proj := projectGroupHorizontal(s, 3, Options{})
	if proj.Group.Desired != 3 || len(groupMembers(proj)) != 3 || !stage.Reached(proj, stage.ASG) {
		t.Errorf("projection: desired %d, %d members", proj.Group.Desired, len(groupMembers(proj)))
	}
	if p.CostAfter.Monthly <= p.CostBefore.Monthly {
		t.Error("a third instance costs more")
	}

	_, err := ScaleHorizontal(s, 5, Options{})
	sclMustUsage(t, err, "above the maximum size 4")
	p = sclMustHorizontal(t, s, 5, Options{Max: 6})
	if !strings.Contains(p.Steps[0].Resource, "max 4 -> 6") {
		t.Errorf("step %q", p.Steps[0].Resource)
	}
	_, err = ScaleHorizontal(s, 1, Options{Min: 2})
	sclMustUsage(t, err, "below the minimum size 2")
	if p := sclMustHorizontal(t, s, 2, Options{}); !p.Empty() {
		t.Errorf("same size: %v", sclStepNames(p))
	}
}

func TestHorizontalAtMultiAZKeepsAnInstancePerAZ(t *testing.T) {
	s := sclGroup(3, "m5.large", 3) // min 3, max 6
	_, err := ScaleHorizontal(s, 2, Options{Min: 2})
	sclMustUsage(t, err, "each of its 3 AZs")
	_, err = ScaleHorizontal(s, 4, Options{Min: 2})
	sclMustUsage(t, err, "at least its number of AZs (3)")
	p := sclMustHorizontal(t, s, 6, Options{Min: 6})
	if !stage.Reached(projectGroupHorizontal(s, 6, Options{Min: 6}), stage.MultiAZ) || !strings.Contains(p.Steps[0].Resource, "min 3 -> 6") {
		t.Errorf("step %v", sclStepNames(p))
	}
}

func TestHorizontalAtReservedSaysWhenCoverageFallsShort(t *testing.T) {
	p := sclMustHorizontal(t, sclReserved(3, "m5.large"), 5, Options{Min: 5, Max: 8})
	if p.To != "multi-az" || !sclAnyContains(p.Warnings, "cover 3 of the new minimum 5") {
		t.Errorf("to %s warnings %v", p.To, p.Warnings)
	}
	if p := sclMustHorizontal(t, sclReserved(3, "m5.large"), 5, Options{Max: 8}); p.To != "reserved" {
		t.Errorf("raising desired, not min, keeps stage reserved; got %s", p.To)
	}
}

func TestScaleRefusals(t *testing.T) {
	empty := &observe.State{App: "app", Region: "us-east-1"}
	_, err := ScaleVertical(empty, "m5.large", Options{})
	sclMustUsage(t, err, "does not exist yet")
	_, err = ScaleHorizontal(empty, 2, Options{})
	sclMustUsage(t, err, "does not exist yet")

	_, err = ScaleHorizontal(sclSingle(1, "t2.micro"), 2, Options{Max: 4})
	sclMustUsage(t, err, "no Auto Scaling group")
	_, err = ScaleHorizontal(sclSingle(1, "t2.micro"), 0, Options{})
	sclMustUsage(t, err, "out of range")

	// Half-way to alb: a load balancer, but the fleet still public.
	half := sclDNS(2, "t2.micro")
	lb := sclALB(0, "t2.micro")
	half.LoadBalancer, half.TargetGroup, half.Network.ALBSG, half.Network.PrivateSG = lb.LoadBalancer, lb.TargetGroup, lb.Network.ALBSG, lb.Network.PrivateSG
	_, err = ScaleVertical(half, "m5.large", Options{})
	sclMustUsage(t, err, "migrate --to=alb")

	// Half-way to asg: a group, and standalone instances left.
	mixed := sclGroup(2, "t2.micro", 1)
	mixed.Instances = append(mixed.Instances, sclPrivate(4, "t2.micro"))
	_, err = ScaleHorizontal(mixed, 3, Options{})
	sclMustUsage(t, err, "migrate --to=asg")
}

func TestMajorityTypeAndNewest(t *testing.T) {
	s := sclSingle(4, "t2.micro")
	s.Instances[2].Type, s.Instances[3].Type = "m5.large", "m5.large"
	s.Instances[0].Type = "m5.large"
	if got := majorityType(s.Instances); got != "m5.large" {
		t.Errorf("majority %s", got)
	}
	if got := instanceIDs(newestBeyond(s, 2)); !slices.Equal(got, []string{"i-web2", "i-web3"}) {
		t.Errorf("newest beyond 2: %v", got)
	}
	if newestBeyond(s, 4) != nil || newestBeyond(s, 9) != nil {
		t.Error("nothing to remove at or above the size")
	}
}

func TestFleetAZs(t *testing.T) {
	if got := fleetAZs(sclSingle(2, "t2.micro")); !slices.Equal(got, sclAZs[:2]) {
		t.Errorf("public fleet AZs %v", got)
	}
	alb := sclALB(1, "t2.micro")
	alb.LoadBalancer.AZs = sclAZs[1:]
	if got := fleetAZs(alb); !slices.Equal(got, sclAZs[1:]) {
		t.Errorf("behind the load balancer: %v, want its AZs", got)
	}
	if got := fleetAZs(sclGroup(3, "t2.micro", 3)); !slices.Equal(got, sclAZs) {
		t.Errorf("group AZs %v", got)
	}
}

func sclStepNames(p *plan.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, string(s.Action)+" "+s.Resource)
	}
	return out
}

func sclLineItems(lines []pricing.Line) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Item)
	}
	return out
}

// A scale-in at dns interrupted after the record dropped the leaving
// instance does not plan the record change again, only the termination.
func TestScaleInAtDNSResumesAfterTheRecordStep(t *testing.T) {
	s := sclDNS(2, "t2.micro")
	live := liveByAge(s)
	s.DNS.Values = publicAddresses(live[:1])
	p := sclMustHorizontal(t, s, 1, Options{})
	if len(p.Steps) != 1 || p.Steps[0].Action != plan.Delete {
		var got []string
		for _, st := range p.Steps {
			got = append(got, string(st.Action)+" "+st.Resource)
		}
		t.Fatalf("want only the termination, got %v", got)
	}
}
