package whatif

import (
	"errors"
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/observe"
	fx "github.com/whatsthetime/wtt/pkg/statefixtures"
)

func mustParse(t *testing.T, v string) Scenario {
	t.Helper()
	sc, err := Parse(v)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// The brief's table of what users see, stage by stage.
func TestWhatUsersSee(t *testing.T) {
	for _, tc := range []struct {
		name     string
		state    *observe.State
		lose     string
		outage   bool
		seconds  int64
		capacity int
		fixedBy  string
		failing  string
	}{
		{"single: the instance", fx.Single(), "instance", true, UntilSomeoneActs, 0, "multi-az", "all"},
		{"single: its AZ", fx.Single(), "az", true, UntilSomeoneActs, 0, "multi-az", "us-east-1a"},
		{"eip: the instance", fx.EIP(), "instance", true, UntilSomeoneActs, 0, "multi-az", "all"},
		// The story's hour: a third of clients fail for the record's TTL.
		{"dns: one of three", fx.DNS(3, 3600), "instance", false, 3600, 67, "--to=alb", "about 1 in 3"},
		{"dns: TTL 60", fx.DNS(3, 60), "instance=i-2", false, 60, 67, "--to=alb", "TTL, 60 s"},
		{"alb one instance: the instance", fx.ALB(), "instance", true, UntilSomeoneActs, 0, "multi-az", "nothing replaces it"},
		{"alb in one AZ: the AZ", fx.ALB(), "az=us-east-1a", true, UntilSomeoneActs, 0, "multi-az", "all"},
		{"alb: a load balancer node", fx.ALB(), "load-balancer-node", false, ELBDNSTTL, 100, "already handled", "1 in 2"},
		// A group of one: replaced, but an outage while it is (20 + 90 + 20 s).
		{"asg: the instance", fx.ASG(), "instance", true, 20 + BootSeconds + 20, 0, "multi-az", "replacement"},
		{"asg in one AZ: the AZ", fx.ASG(), "az", true, UntilSomeoneActs, 0, "multi-az", "can launch only there"},
		{"multi-az: an instance", fx.MultiAZ(), "instance", false, 20, 67, "already handled", "fail for up to 20 s"},
		{"multi-az: an AZ", fx.MultiAZ(), "az=us-east-1b", false, ELBDNSTTL, 67, "already handled", "us-east-1a, us-east-1c"},
		{"multi-az: an empty AZ", fx.MultiAZ(), "az=us-east-1d", false, 0, 100, "nothing to fix", "none"},
		{"reserved: spot", fx.Reserved(), "spot", false, 0, 100, "nothing to fix", "no instance is a spot instance"},
		{"single: no load balancer node to lose", fx.Single(), "load-balancer-node", false, 0, 100, "--to=alb", "no load balancer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := WhatIf(tc.state, mustParse(t, tc.lose))
			if err != nil {
				t.Fatal(err)
			}
			if o.Outage != tc.outage || o.OutageSeconds != tc.seconds || o.CapacityLeftPercent != tc.capacity {
				t.Errorf("outage %v for %d s, capacity %d%%; want %v, %d s, %d%%\n%+v", o.Outage, o.OutageSeconds, o.CapacityLeftPercent, tc.outage, tc.seconds, tc.capacity, o)
			}
			if !strings.Contains(o.FixedBy, tc.fixedBy) {
				t.Errorf("fixedBy %q, want %q", o.FixedBy, tc.fixedBy)
			}
			if !strings.Contains(o.FailingRequests, tc.failing) {
				t.Errorf("failingRequests %q, want %q in it", o.FailingRequests, tc.failing)
			}
		})
	}
}

// The timings come from what AWS reports: change the health check and the
// answer follows; the boot time is stated as an assumption.
func TestFiguresComeFromTheState(t *testing.T) {
	s := fx.MultiAZ()
	s.TargetGroup.HealthInterval, s.TargetGroup.UnhealthyThreshold = 30, 5
	o, _ := WhatIf(s, mustParse(t, "instance"))
	if o.OutageSeconds != 150 {
		t.Errorf("30 s × 5 gives %d s", o.OutageSeconds)
	}
	joined := strings.Join(o.Assumptions, "\n")
	for _, want := range []string{"every 30 s, 5 failures", "120 s grace period", "assumption: AWS does not report it"} {
		if !strings.Contains(joined, want) {
			t.Errorf("assumptions lack %q:\n%s", want, joined)
		}
	}
	s.Group.Min, s.Group.Desired = 1, 1
	s.Instances, s.TargetGroup.Targets = s.Instances[:1], s.TargetGroup.Targets[:1]
	s.Group.GracePeriod = 300
	o, _ = WhatIf(s, mustParse(t, "instance"))
	if o.OutageSeconds != 150+BootSeconds+60 || !strings.Contains(strings.Join(o.Assumptions, " "), "300 s grace") {
		t.Errorf("group of one: %+v", o)
	}
}

func TestSpotInstancesAreLost(t *testing.T) {
	s := fx.MultiAZ()
	s.Instances[2].Spot = true
	o, _ := WhatIf(s, mustParse(t, "spot"))
	if o.Outage || o.CapacityLeftPercent != 67 || !strings.Contains(strings.Join(o.Assumptions, " "), "two minutes") {
		t.Errorf("%+v", o)
	}
}

func TestBadInput(t *testing.T) {
	for _, v := range []string{"", "disk", "instance=foo", "az=mars", "spot=1", "load-balancer-node=x"} {
		if _, err := Parse(v); err == nil {
			t.Errorf("Parse(%q) accepted", v)
		}
	}
	_, err := WhatIf(fx.Single(), mustParse(t, "instance=i-0123456789abcdef0"))
	var ute *UnknownTargetError
	if !errors.As(err, &ute) || !strings.Contains(err.Error(), "i-1") {
		t.Errorf("unknown instance: %v", err)
	}
}

// The figures a probe can check the prediction against: when the health
// checks have taken the lost instances out of service, and when the lost
// capacity is back.
func TestHealthCheckAndReplacementFigures(t *testing.T) {
	for _, tc := range []struct {
		name            string
		state           *observe.State
		lose            string
		check, replaced int64
	}{
		{"single: its AZ", fx.Single(), "az", 0, UntilSomeoneActs},
		{"dns: an instance", fx.DNS(3, 60), "instance", 0, UntilSomeoneActs},
		{"alb: the instance", fx.ALB(), "instance", 20, UntilSomeoneActs},
		{"asg: the instance", fx.ASG(), "instance", 20, 20 + BootSeconds + 20},
		{"asg in one AZ: the AZ", fx.ASG(), "az", 0, UntilSomeoneActs},
		{"multi-az: an AZ", fx.MultiAZ(), "az=us-east-1b", 20, 20 + BootSeconds + 20},
		{"multi-az: an empty AZ", fx.MultiAZ(), "az=us-east-1d", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := WhatIf(tc.state, mustParse(t, tc.lose))
			if err != nil {
				t.Fatal(err)
			}
			if o.HealthCheckSeconds != tc.check || o.ReplacedSeconds != tc.replaced {
				t.Errorf("health checks %d s, replaced %d s; want %d s, %d s\n%+v", o.HealthCheckSeconds, o.ReplacedSeconds, tc.check, tc.replaced, o)
			}
		})
	}
}
