package ladder

import (
	"slices"
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// mazDone is the multi-az stage: the group in AZs a, b and c with one
// instance in each, the load balancer in the same AZs.
func mazDone() *observe.State {
	s := asgDone(3, "a", "b", "c")
	s.Group.CapacityRebalance = true
	return s
}

func mustReachMultiAZ(t *testing.T, s *observe.State, o Options) *observe.State {
	t.Helper()
	p := projectMultiAZ(s, o)
	if !stage.Reached(p, stage.MultiAZ) {
		t.Fatalf("projection does not reach multi-az: %v", stage.Detect(p).Unmet)
	}
	return p
}

func TestMultiAZFixtureIsAtItsStage(t *testing.T) {
	if got := stage.Detect(mazDone()); got.Stage != stage.MultiAZ {
		t.Errorf("mazDone is at %s: %v", got.Stage, got.Unmet)
	}
}

func TestPlanMultiAZFromASG(t *testing.T) {
	s := asgDone(1, "a")
	steps, warns := mustPlanRung(t, stage.MultiAZ, s, Options{})
	want := []string{
		"~ Auto Scaling group wtt-g-asg: 3 AZs (us-east-1a, us-east-1b, us-east-1c), min 3, desired 3, max 6",
		"… group wtt-g-asg healthy in the target group, with instances in all 3 AZs",
	}
	if got := stepLines(steps); !slices.Equal(got, want) {
		t.Fatalf("steps:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if len(warns) != 0 {
		t.Errorf("warnings %v", warns)
	}
	if !strings.Contains(steps[0].Detail, "launches 2 instance(s)") || !strings.Contains(steps[0].Detail, "capacity rebalancing") {
		t.Errorf("detail %q", steps[0].Detail)
	}
	calls := stepCalls(steps)
	for _, c := range []string{"autoscaling:UpdateAutoScalingGroup", "autoscaling:DescribeAutoScalingGroups", "elasticloadbalancing:DescribeTargetHealth"} {
		if !slices.Contains(calls, c) {
			t.Errorf("no step lists %s", c)
		}
	}
	p := mustReachMultiAZ(t, s, Options{})
	g := p.Group
	if !slices.Equal(g.Subnets, []string{"subnet-priv-a", "subnet-priv-b", "subnet-priv-c"}) || !g.CapacityRebalance || len(g.Instances) != 3 {
		t.Errorf("projected group %+v", g)
	}
	azs := map[string]bool{}
	for _, i := range p.LiveInstances() {
		azs[i.AZ] = true
	}
	if len(azs) != 3 {
		t.Errorf("projected instances in %d AZs, want 3", len(azs))
	}
	if before, after := Cost(s).Monthly, Cost(p).Monthly; after <= before {
		t.Errorf("three instances for one cost %.2f, was %.2f", after, before)
	}
}

func TestPlanMultiAZWidensTheLoadBalancerFirst(t *testing.T) {
	s := asgDone(1, "a")
	s.LoadBalancer.AZs, s.LoadBalancer.Subnets = []string{"us-east-1a", "us-east-1b"}, []string{"subnet-pub-a", "subnet-pub-b"}
	steps, _ := mustPlanRung(t, stage.MultiAZ, s, Options{})
	if len(steps) != 3 || steps[0].Resource != "load balancer wtt-g subnets: + us-east-1c" || !slices.Contains(steps[0].Calls, "elasticloadbalancing:SetSubnets") {
		t.Fatalf("steps %v", stepLines(steps))
	}
	tg, err := multiAZTarget(s, Options{})
	if err != nil || !slices.Equal(tg.LBSubnets, []string{"subnet-pub-a", "subnet-pub-b", "subnet-pub-c"}) {
		t.Errorf("SetSubnets would send %v (%v); it replaces the list, so today's subnets must be in it", tg.LBSubnets, err)
	}
	p := mustReachMultiAZ(t, s, Options{})
	if !slices.Equal(p.LoadBalancer.AZs, []string{"us-east-1a", "us-east-1b", "us-east-1c"}) {
		t.Errorf("projected load balancer in %v", p.LoadBalancer.AZs)
	}
}

func TestPlanMultiAZTwoAZsKeepsTheGroupsAZ(t *testing.T) {
	s := asgDone(1, "c")
	tg, err := multiAZTarget(s, Options{AZs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tg.AZs, []string{"us-east-1a", "us-east-1c"}) || tg.Size != (groupSize{2, 2, 4}) {
		t.Errorf("target %+v: want the group's AZ c kept, then a; min 2", tg)
	}
	mustReachMultiAZ(t, s, Options{AZs: 2})
}

func TestPlanMultiAZRefuses(t *testing.T) {
	s := asgDone(1, "a")
	for name, c := range map[string]struct {
		o    Options
		want string
	}{
		"one AZ":          {Options{AZs: 1}, "at least 2 AZs"},
		"more than there": {Options{AZs: 4}, "pass --azs 3 or fewer"},
		"min below AZs":   {Options{AZs: 3, Min: 2}, "below the 3 AZs"},
		"max below min":   {Options{Max: 2}, "inconsistent"},
	} {
		_, _, err := planMultiAZ(s, c.o)
		if !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a usage error saying %q", name, err, c.want)
		}
		if _, err := Migrate(s, stage.MultiAZ, c.o); cmdutil.ExitCode(err) != cmdutil.ExitBadInput {
			t.Errorf("%s: migrate exits %d, want 2", name, cmdutil.ExitCode(err))
		}
	}
}

func TestPlanMultiAZInATwoAZNetwork(t *testing.T) {
	s := asgDone(1, "a")
	s.Network = asgNetwork("a", "b")
	s.LoadBalancer.AZs, s.LoadBalancer.Subnets = []string{"us-east-1a", "us-east-1b"}, []string{"subnet-pub-a", "subnet-pub-b"}
	steps, warns := mustPlanRung(t, stage.MultiAZ, s, Options{})
	if len(steps) != 2 || !strings.Contains(steps[0].Resource, "2 AZs") {
		t.Errorf("steps %v", stepLines(steps))
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "spans 2 AZs") {
		t.Errorf("warnings %v", warns)
	}
}

// A group that already has enough instances, all in one AZ, keeps its
// size; the wait step spreads them.
func TestPlanMultiAZKeepsALargerGroupsSize(t *testing.T) {
	s := asgDone(4, "a")
	s.Group.Min = 1
	tg, err := multiAZTarget(s, Options{})
	if err != nil || tg.Size != (groupSize{3, 4, 8}) {
		t.Errorf("size %+v (%v), want min raised to 3, desired and max kept", tg.Size, err)
	}
	steps, _ := mustPlanRung(t, stage.MultiAZ, s, Options{})
	if len(steps) != 2 || steps[1].Action != plan.Wait || !strings.Contains(steps[1].Detail, "most crowded AZ") {
		t.Errorf("steps %v", stepLines(steps))
	}
	p := mustReachMultiAZ(t, s, Options{})
	if len(p.Group.Instances) != 4 {
		t.Errorf("projected %d instances, want the 4 there are", len(p.Group.Instances))
	}
}

// After an interruption between widening and spreading, only the wait is
// left.
func TestPlanMultiAZFinishesAnInterruptedRun(t *testing.T) {
	s := mazDone()
	for k := range s.Instances {
		s.Instances[k].AZ, s.Instances[k].SubnetID = "us-east-1a", "subnet-priv-a"
	}
	steps, _ := mustPlanRung(t, stage.MultiAZ, s, Options{})
	if got := stepLines(steps); len(got) != 1 || steps[0].Action != plan.Wait {
		t.Errorf("steps %v, want the wait alone", got)
	}
}

func TestPlanMultiAZWhenDoneIsEmpty(t *testing.T) {
	s := mazDone()
	steps, _ := mustPlanRung(t, stage.MultiAZ, s, Options{})
	if len(steps) != 0 {
		t.Errorf("finished rung plans %v", stepLines(steps))
	}
	p, err := Migrate(s, stage.MultiAZ, Options{})
	if err != nil || !p.Empty() {
		t.Errorf("migrate at multi-az: %v, %v", p, err)
	}
}

// The jump from alb plans asg and multi-az from projections: the group's
// AZs come from the asg projection, its new instances from both.
func TestMigrateFromALBToMultiAZ(t *testing.T) {
	s := asgAtALB([]string{"a"}, "a", "b", "c")
	p, err := Migrate(s, stage.MultiAZ, Options{AZs: 3})
	if err != nil {
		t.Fatal(err)
	}
	var multi []string
	for _, st := range p.Steps {
		if st.Rung == string(stage.MultiAZ) {
			multi = append(multi, st.Resource)
		}
	}
	if len(multi) != 2 || !strings.Contains(multi[0], "min 3, desired 3, max 6") {
		t.Errorf("multi-az steps %v", multi)
	}
	final := projectMultiAZ(projectASG(s, Options{AZs: 3}), Options{AZs: 3})
	if !stage.Reached(final, stage.MultiAZ) || len(final.LiveInstances()) != 3 {
		t.Errorf("projected jump: %v, %d instances", stage.Detect(final).Unmet, len(final.LiveInstances()))
	}
	if p.CostAfter.Monthly <= p.CostBefore.Monthly {
		t.Errorf("tripling the fleet costs %.2f -> %.2f", p.CostBefore.Monthly, p.CostAfter.Monthly)
	}
}

func TestPickAZs(t *testing.T) {
	avail := []string{"a", "b", "c", "d"}
	for _, c := range []struct {
		group, lb []string
		n         int
		want      []string
	}{
		{nil, nil, 2, []string{"a", "b"}},
		{[]string{"d"}, nil, 2, []string{"a", "d"}},
		{[]string{"c"}, []string{"b", "d"}, 3, []string{"b", "c", "d"}},
		{[]string{"x"}, nil, 2, []string{"a", "b"}},
	} {
		if got := pickAZs(avail, c.group, c.lb, c.n); !slices.Equal(got, c.want) {
			t.Errorf("pickAZs(group %v, lb %v, %d) = %v, want %v", c.group, c.lb, c.n, got, c.want)
		}
	}
}
