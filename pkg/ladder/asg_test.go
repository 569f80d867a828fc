package ladder

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Fixtures: the app "g" as discovery reports it at the alb stage (the
// asg rung's only starting point) and at asg, in a network of three AZs.

func asgNetwork(azs ...string) observe.Network {
	n := names.For("g")
	net := observe.Network{VPCID: "vpc-1", CIDR: vpcCIDR, IGWID: "igw-1", IGWAttached: true, S3EndpointID: "vpce-1",
		Tags:        map[string]string{},
		RouteTables: []observe.RouteTable{{ID: "rtb-pub", Public: true}, {ID: "rtb-priv"}},
		// The alb rung leaves the web group of the public fleet in place.
		WebSG: &observe.SecurityGroup{ID: "sg-web", Name: n.WebSG(),
			Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}},
		ALBSG: &observe.SecurityGroup{ID: "sg-alb", Name: n.ALBSG(),
			Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}},
		PrivateSG: &observe.SecurityGroup{ID: "sg-priv", Name: n.PrivateSG(),
			Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, SourceGroups: []string{"sg-alb"}}}},
	}
	for i, az := range azs {
		net.Subnets = append(net.Subnets,
			observe.Subnet{ID: "subnet-pub-" + az, AZ: "us-east-1" + az, CIDR: publicCIDR(i), Public: true},
			observe.Subnet{ID: "subnet-priv-" + az, AZ: "us-east-1" + az, CIDR: privateCIDR(i)})
	}
	return net
}

// asgPrivate is a standalone instance behind the load balancer, as the alb
// rung leaves it.
func asgPrivate(id, az string) observe.Instance {
	return observe.Instance{ID: id, Type: "t2.micro", State: "running", AZ: "us-east-1" + az, SubnetID: "subnet-priv-" + az,
		PrivateIP: "10.40.10.9", IMDSv2Required: true, Role: privateRole, SecurityGroups: []string{"sg-priv"}}
}

// asgAtALB is the alb stage with one private instance per given AZ and a
// load balancer in lbAZs.
func asgAtALB(instanceAZs []string, lbAZs ...string) *observe.State {
	n := names.For("g")
	s := &observe.State{App: "g", Region: "us-east-1", Account: "123456789012", Network: asgNetwork("a", "b", "c"),
		EIPs: []observe.EIP{}, Reserved: []observe.Reserved{}, Bucket: "b", Role: n.Role(), InstanceProfile: n.InstanceProfile()}
	s.TargetGroup = &observe.TargetGroup{ARN: "arn:tg", Name: n.TargetGroup(), Protocol: "HTTP", Port: 80, HealthPath: "/healthz"}
	lb := &observe.LoadBalancer{ARN: "arn:lb", Name: n.ALB(), DNSName: "wtt-g-1.us-east-1.elb.amazonaws.com",
		Scheme: "internet-facing", State: "active", SecurityGroups: []string{"sg-alb"}, ListenerARN: "arn:listener", ListenerTarget: "arn:tg"}
	for _, az := range lbAZs {
		lb.AZs = append(lb.AZs, "us-east-1"+az)
		lb.Subnets = append(lb.Subnets, "subnet-pub-"+az)
	}
	s.LoadBalancer = lb
	for k, az := range instanceAZs {
		i := asgPrivate("i-"+string(rune('1'+k)), az)
		s.Instances = append(s.Instances, i)
		s.TargetGroup.Targets = append(s.TargetGroup.Targets, observe.Target{ID: i.ID, Health: "healthy"})
	}
	return s
}

// asgDone is the asg stage: the group owns n instances in AZ a.
func asgDone(n int, groupAZs ...string) *observe.State {
	s := asgAtALB(nil, "a", "b", "c")
	nm := names.For("g")
	s.LaunchTemplate = &observe.LaunchTemplate{ID: "lt-1", Name: nm.LaunchTemplate(), LatestVersion: 1, DefaultVersion: 1,
		InstanceType: "t2.micro", IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}}
	g := &observe.Group{Name: nm.ASG(), Min: int32(n), Desired: int32(n), Max: defaultMax(int32(n)), InstanceType: "t2.micro",
		TemplateVersion: "$Latest", TargetGroupARNs: []string{"arn:tg"}, HealthCheckType: "ELB", GracePeriod: healthGrace,
		TargetTracking: []string{nm.ScalingPolicy()}}
	for _, az := range groupAZs {
		g.Subnets = append(g.Subnets, "subnet-priv-"+az)
		g.AZs = append(g.AZs, "us-east-1"+az)
	}
	for k := 0; k < n; k++ {
		i := asgPrivate("i-g"+string(rune('1'+k)), groupAZs[k%len(groupAZs)])
		i.Group, i.Role, i.SecurityGroups = g.Name, groupRole, nil
		s.Instances = append(s.Instances, i)
		g.Instances = append(g.Instances, i.ID)
		s.TargetGroup.Targets = append(s.TargetGroup.Targets, observe.Target{ID: i.ID, Health: "healthy"})
	}
	s.Group = g
	return s
}

func stepLines(steps []*plan.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, string(s.Action)+" "+s.Resource)
	}
	return out
}

func stepCalls(steps []*plan.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Calls...)
	}
	return out
}

// mustPlanRung plans a rung and checks what holds for every step of these
// two rungs: no downtime, calls listed, something to run.
func mustPlanRung(t *testing.T, rungName stage.Stage, s *observe.State, o Options) ([]*plan.Step, []string) {
	t.Helper()
	steps, warns, err := rungs[rungName].plan(s, o)
	if err != nil {
		t.Fatalf("plan %s: %v", rungName, err)
	}
	for _, st := range steps {
		if st.Rung != string(rungName) || st.Do == nil || len(st.Calls) == 0 || st.DowntimeNote == "" {
			t.Errorf("step %q: rung %q, %d calls, Do set %v, downtime note %q", st.Resource, st.Rung, len(st.Calls), st.Do != nil, st.DowntimeNote)
		}
		if st.Downtime != 0 {
			t.Errorf("step %q plans %s of downtime; the rung has none", st.Resource, st.Downtime)
		}
	}
	return steps, warns
}

func TestASGFixturesAreAtTheirStages(t *testing.T) {
	if got := stage.Detect(asgAtALB([]string{"a"}, "a", "b", "c")); got.Stage != stage.ALB {
		t.Errorf("asgAtALB is at %s: %v", got.Stage, got.Unmet)
	}
	if got := stage.Detect(asgDone(2, "a")); got.Stage != stage.ASG {
		t.Errorf("asgDone is at %s: %v", got.Stage, got.Unmet)
	}
}

func TestPlanASGFromALB(t *testing.T) {
	s := asgAtALB([]string{"a"}, "a", "b", "c")
	steps, warns := mustPlanRung(t, stage.ASG, s, Options{})
	want := []string{
		"+ launch template wtt-g-lt (t2.micro)",
		"+ Auto Scaling group wtt-g-asg (min 1, desired 1, max 3)",
		"+ scaling policy wtt-g-cpu-target",
		"- 1 standalone instance(s) i-1",
	}
	if got := stepLines(steps); !slices.Equal(got, want) {
		t.Fatalf("steps:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if len(warns) != 0 {
		t.Errorf("warnings %v", warns)
	}
	calls := stepCalls(steps)
	for _, c := range []string{"ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "autoscaling:CreateAutoScalingGroup",
		"iam:PassRole", "autoscaling:PutScalingPolicy", "elasticloadbalancing:DeregisterTargets", "ec2:TerminateInstances",
		"autoscaling:DescribeAutoScalingGroups", "elasticloadbalancing:DescribeTargetHealth"} {
		if !slices.Contains(calls, c) {
			t.Errorf("no step lists %s", c)
		}
	}
	if !strings.Contains(steps[2].Detail, "50%") {
		t.Errorf("policy detail %q does not give the default CPU target", steps[2].Detail)
	}
	if !strings.Contains(steps[3].Detail, "healthy") {
		t.Errorf("retire step %q does not say it waits for the group first", steps[3].Detail)
	}
}

func TestProjectASGReachesTheStageAtTheSameCost(t *testing.T) {
	s := asgAtALB([]string{"a", "b"}, "a", "b", "c")
	p := projectASG(s, Options{})
	if !stage.Reached(p, stage.ASG) {
		t.Fatalf("projection does not reach asg: %v", stage.Detect(p).Unmet)
	}
	g := p.Group
	if g.Min != 2 || g.Desired != 2 || g.Max != 4 || len(p.Standalone()) != 0 || len(p.LiveInstances()) != 2 {
		t.Errorf("group %d/%d/%d with %d live, %d standalone", g.Min, g.Desired, g.Max, len(p.LiveInstances()), len(p.Standalone()))
	}
	if !slices.Equal(g.Subnets, []string{"subnet-priv-a", "subnet-priv-b"}) || !slices.Equal(g.AZs, []string{"us-east-1a", "us-east-1b"}) {
		t.Errorf("group in %v (%v), want the private subnets of the instances' AZs", g.Subnets, g.AZs)
	}
	for _, i := range p.LiveInstances() {
		if !strings.HasPrefix(i.ID, unknown) || i.PublicIP != "" {
			t.Errorf("projected instance %+v", i)
		}
	}
	if lt := p.LaunchTemplate; lt == nil || lt.InstanceType != "t2.micro" || !lt.IMDSv2Required || lt.PublicIP {
		t.Errorf("template %+v", lt)
	}
	if before, after := Cost(s).Monthly, Cost(p).Monthly; math.Abs(before-after) > 0.01 {
		t.Errorf("same fleet costs %.2f before, %.2f after", before, after)
	}
	if s.Group != nil || len(s.Standalone()) != 2 {
		t.Error("projection changed the observed state")
	}
}

func TestASGSizes(t *testing.T) {
	one := asgAtALB([]string{"a"}, "a", "b", "c")
	three := asgAtALB([]string{"a", "b", "c"}, "a", "b", "c")
	for name, c := range map[string]struct {
		s    *observe.State
		o    Options
		want groupSize
	}{
		"fleet of one":         {one, Options{}, groupSize{1, 1, 3}},
		"fleet of three":       {three, Options{}, groupSize{3, 3, 6}},
		"desired given":        {one, Options{Desired: 3}, groupSize{3, 3, 6}},
		"bounds given":         {one, Options{Min: 2, Max: 5}, groupSize{2, 2, 5}},
		"max below fleet":      {three, Options{Max: 2, Min: 1}, groupSize{1, 2, 2}},
		"all given":            {one, Options{Min: 1, Desired: 2, Max: 4}, groupSize{1, 2, 4}},
		"existing group kept":  {asgDone(2, "a"), Options{}, groupSize{2, 2, 4}},
		"existing group, flag": {asgDone(2, "a"), Options{Max: 8}, groupSize{2, 2, 8}},
	} {
		got, err := sizeFor(c.s, c.o)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", name, got, err, c.want)
		}
	}
}

func TestPlanASGRefusesInconsistentSizes(t *testing.T) {
	s := asgAtALB([]string{"a"}, "a", "b", "c")
	for _, o := range []Options{{Min: 3, Desired: 2}, {Desired: 5, Max: 4}, {Min: 4, Max: 3}} {
		_, _, err := planASG(s, o)
		if !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), "--min <= --desired <= --max") {
			t.Errorf("%+v: %v, want a usage error", o, err)
		}
	}
	if _, err := Migrate(s, stage.ASG, Options{Min: 3, Desired: 2}); cmdutil.ExitCode(err) != cmdutil.ExitBadInput {
		t.Errorf("migrate with bad sizes: %v, want exit 2", err)
	}
}

func TestPlanASGNeedsTheLoadBalancer(t *testing.T) {
	s := asgAtALB([]string{"a"}, "a", "b", "c")
	s.TargetGroup = nil
	if _, _, err := planASG(s, Options{}); err == nil || !strings.Contains(err.Error(), "--to=alb") {
		t.Errorf("no target group: %v", err)
	}
}

func TestPlanASGKeepsTheFleetType(t *testing.T) {
	s := asgAtALB([]string{"a"}, "a", "b", "c")
	steps, warns := mustPlanRung(t, stage.ASG, s, Options{InstanceType: "m5.large"})
	if !strings.Contains(steps[0].Resource, "t2.micro") {
		t.Errorf("template step %q, want the fleet's type", steps[0].Resource)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "scale --vertical m5.large") {
		t.Errorf("warnings %v", warns)
	}
}

func TestPlanASGWarnsWhenTheGroupStartsSmaller(t *testing.T) {
	s := asgAtALB([]string{"a", "b"}, "a", "b", "c")
	_, warns := mustPlanRung(t, stage.ASG, s, Options{Desired: 1})
	if len(warns) != 1 || !strings.Contains(warns[0], "1 instance(s) where 2 run today") {
		t.Errorf("warnings %v", warns)
	}
}

// An interrupted run left the template and the group; the policy and the
// retirement of the standalone instance remain.
func TestPlanASGFinishesAnInterruptedRun(t *testing.T) {
	s := asgDone(1, "a")
	s.Group.TargetTracking = nil
	old := asgPrivate("i-old", "a")
	s.Instances = append(s.Instances, old)
	s.TargetGroup.Targets = append(s.TargetGroup.Targets, observe.Target{ID: old.ID, Health: "healthy"})
	steps, _ := mustPlanRung(t, stage.ASG, s, Options{})
	want := []string{"+ scaling policy wtt-g-cpu-target", "- 1 standalone instance(s) i-old"}
	if got := stepLines(steps); !slices.Equal(got, want) {
		t.Errorf("steps %v, want %v", got, want)
	}
	if p := projectASG(s, Options{}); !stage.Reached(p, stage.ASG) || len(p.Group.Instances) != 1 {
		t.Errorf("projection: %v, group %v", stage.Detect(p).Unmet, p.Group.Instances)
	}
}

func TestPlanASGRepairsAGroupChangedByHand(t *testing.T) {
	s := asgDone(1, "a")
	s.Group.HealthCheckType, s.Group.TargetGroupARNs = "EC2", nil
	steps, _ := mustPlanRung(t, stage.ASG, s, Options{})
	if len(steps) != 1 || steps[0].Action != plan.Update || !strings.Contains(steps[0].Detail, "attach to target group") ||
		!strings.Contains(steps[0].Detail, "ELB health checks") {
		t.Fatalf("steps %v (%q)", stepLines(steps), steps[0].Detail)
	}
	if !slices.Contains(steps[0].Calls, "autoscaling:AttachLoadBalancerTargetGroups") {
		t.Error("the repair step does not list AttachLoadBalancerTargetGroups")
	}
}

func TestPlanASGRecreatesADeletedTemplateAndPointsTheGroupAtIt(t *testing.T) {
	s := asgDone(1, "a")
	s.LaunchTemplate = nil
	steps, _ := mustPlanRung(t, stage.ASG, s, Options{})
	if got := stepLines(steps); len(got) != 2 || steps[0].Action != plan.Create || steps[1].Action != plan.Update ||
		!strings.Contains(steps[1].Detail, "launch template wtt-g-lt") {
		t.Errorf("steps %v", got)
	}
}

func TestPlanASGUpdatesATemplateThatAssignsPublicIPs(t *testing.T) {
	s := asgDone(1, "a")
	s.LaunchTemplate.PublicIP = true
	steps, _ := mustPlanRung(t, stage.ASG, s, Options{})
	if len(steps) != 1 || steps[0].Action != plan.Update || !strings.Contains(steps[0].Detail, "no public IP") {
		t.Fatalf("steps %v", stepLines(steps))
	}
}

func TestPlanASGWaitsForAnUnhealthyGroup(t *testing.T) {
	s := asgDone(2, "a")
	s.TargetGroup.Targets[1].Health = "initial"
	steps, _ := mustPlanRung(t, stage.ASG, s, Options{})
	if got := stepLines(steps); len(got) != 1 || steps[0].Action != plan.Wait {
		t.Errorf("steps %v, want one wait", got)
	}
}

func TestPlanASGWhenDoneIsEmpty(t *testing.T) {
	s := asgDone(2, "a")
	steps, _ := mustPlanRung(t, stage.ASG, s, Options{})
	if len(steps) != 0 {
		t.Errorf("finished rung plans %v", stepLines(steps))
	}
	p, err := Migrate(s, stage.ASG, Options{})
	if err != nil || !p.Empty() {
		t.Errorf("migrate at asg: %v, %v", p, err)
	}
}

func TestMigrateFromALBToASG(t *testing.T) {
	s := asgAtALB([]string{"a"}, "a", "b", "c")
	p, err := Migrate(s, stage.ASG, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 4 || p.Downtime() != 0 || math.Abs(p.CostAfter.Monthly-p.CostBefore.Monthly) > 0.01 {
		t.Errorf("%d steps, downtime %s, cost %.2f -> %.2f", len(p.Steps), p.Downtime(), p.CostBefore.Monthly, p.CostAfter.Monthly)
	}
}

// A jump from nothing plans up, alb and asg before anything runs: each
// rung's projection must satisfy the next one's planning.
func TestMigrateJumpsFromNoneToASG(t *testing.T) {
	s := &observe.State{App: "g", Region: "us-east-1", EIPs: []observe.EIP{}, Instances: []observe.Instance{}, Reserved: []observe.Reserved{}}
	p, err := Migrate(s, stage.ASG, Options{RecordType: "alias"})
	if err != nil {
		t.Fatal(err)
	}
	rungsSeen := map[string]bool{}
	for _, st := range p.Steps {
		rungsSeen[st.Rung] = true
	}
	for _, r := range []string{"single", "alb", "asg"} {
		if !rungsSeen[r] {
			t.Errorf("no %s step in %v", r, stepLines(p.Steps))
		}
	}
	last := projectASG(projectALB(projectUp(s, Options{}), Options{RecordType: "alias"}), Options{})
	if !stage.Reached(last, stage.ASG) {
		t.Errorf("projected jump does not reach asg: %v", stage.Detect(last).Unmet)
	}
}

func TestGroupSubnetsFollowTheInstances(t *testing.T) {
	s := asgAtALB([]string{"b", "c", "b"}, "a", "b", "c")
	got, err := groupSubnets(s)
	if err != nil || !slices.Equal(got, []string{"subnet-priv-b", "subnet-priv-c"}) {
		t.Errorf("groupSubnets = %v, %v", got, err)
	}
	s = asgAtALB(nil, "a", "b", "c")
	if got, _ := groupSubnets(s); !slices.Equal(got, []string{"subnet-priv-a"}) {
		t.Errorf("no instances: %v, want the first private subnet", got)
	}
}

func TestStandaloneResourceNamesAFewIDs(t *testing.T) {
	var is []observe.Instance
	for k := 0; k < 7; k++ {
		is = append(is, observe.Instance{ID: "i-" + string(rune('a'+k))})
	}
	if got := standaloneResource(is); got != "7 standalone instance(s) i-a, i-b, i-c, i-d, i-e, … (+2)" {
		t.Errorf("got %q", got)
	}
	is[0].ID = unknown + "-p1"
	if got := standaloneResource(is[:2]); got != "2 standalone instance(s) behind the load balancer" {
		t.Errorf("projected: %q", got)
	}
}
