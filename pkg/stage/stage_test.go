package stage

import (
	"strings"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/pkg/observe"
)

// fixtures build the state each stage of the brief's table describes.

func web() *observe.SecurityGroup {
	return &observe.SecurityGroup{ID: "sg-web", Name: "wtt-app-web", Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}}
}

func single() *observe.State {
	return &observe.State{
		App: "app", Region: "us-east-1",
		Network: observe.Network{VPCID: "vpc-1", WebSG: web(), Subnets: []observe.Subnet{
			{ID: "pub-a", AZ: "us-east-1a", Public: true}, {ID: "pub-b", AZ: "us-east-1b", Public: true},
			{ID: "priv-a", AZ: "us-east-1a"}, {ID: "priv-b", AZ: "us-east-1b"}, {ID: "priv-c", AZ: "us-east-1c"},
		}},
		Instances: []observe.Instance{{ID: "i-1", Type: "t2.micro", State: "running", AZ: "us-east-1a", PublicIP: "54.0.0.1", IMDSv2Required: true, SecurityGroups: []string{"sg-web"}}},
	}
}

func withEIP() *observe.State {
	s := single()
	s.Instances[0].EIP, s.Instances[0].PublicIP = "3.3.3.3", "3.3.3.3"
	s.EIPs = []observe.EIP{{AllocationID: "eipalloc-1", PublicIP: "3.3.3.3", InstanceID: "i-1", AssociationID: "eipassoc-1"}}
	return s
}

func withDNS() *observe.State {
	s := single()
	s.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", Name: "api.example.com", Type: "A", TTL: 60, Values: []string{"54.0.0.1"}}
	return s
}

func withALB() *observe.State {
	s := withDNS()
	s.Network.ALBSG = &observe.SecurityGroup{ID: "sg-alb", Name: "wtt-app-alb", Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}}
	s.Network.PrivateSG = &observe.SecurityGroup{ID: "sg-priv", Name: "wtt-app-private", Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, SourceGroups: []string{"sg-alb"}}}}
	s.LoadBalancer = &observe.LoadBalancer{ARN: "arn:lb", Name: "wtt-app", DNSName: "wtt-app-1.elb.amazonaws.com", Scheme: "internet-facing",
		AZs: []string{"us-east-1a", "us-east-1b"}, ListenerARN: "arn:listener", ListenerTarget: "arn:tg"}
	s.TargetGroup = &observe.TargetGroup{ARN: "arn:tg", Protocol: "HTTP", Port: 80, HealthPath: "/healthz", Targets: []observe.Target{{ID: "i-2", Health: "healthy"}}}
	s.Instances = []observe.Instance{{ID: "i-2", Type: "t2.micro", State: "running", AZ: "us-east-1a", PrivateIP: "10.40.10.5", IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}, Role: "private"}}
	s.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", Name: "api.example.com", Type: "A", AliasTarget: "wtt-app-1.elb.amazonaws.com"}
	return s
}

func withASG() *observe.State {
	s := withALB()
	s.Instances[0].Group = "wtt-app-asg"
	s.LaunchTemplate = &observe.LaunchTemplate{ID: "lt-1", InstanceType: "m5.large", IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}}
	s.Group = &observe.Group{Name: "wtt-app-asg", Min: 1, Max: 3, Desired: 1, Subnets: []string{"priv-a"}, InstanceType: "m5.large",
		TargetGroupARNs: []string{"arn:tg"}, HealthCheckType: "ELB", TargetTracking: []string{"cpu"}, Instances: []string{"i-2"}}
	return s
}

func withMultiAZ() *observe.State {
	s := withASG()
	s.Group.Subnets = []string{"priv-a", "priv-b"}
	s.Group.Min, s.Group.Desired = 2, 2
	s.Instances = append(s.Instances, observe.Instance{ID: "i-3", Type: "m5.large", State: "running", AZ: "us-east-1b", IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}, Group: "wtt-app-asg"})
	s.TargetGroup.Targets = append(s.TargetGroup.Targets, observe.Target{ID: "i-3", Health: "healthy"})
	s.Group.Instances = []string{"i-2", "i-3"}
	return s
}

func withReserved() *observe.State {
	s := withMultiAZ()
	s.Reserved = []observe.Reserved{{ID: "ri-1", InstanceType: "m5.large", Count: 2, State: "active", Scope: "Region", Start: time.Now(), End: time.Now().AddDate(1, 0, 0)}}
	return s
}

func TestDetectEachStage(t *testing.T) {
	for _, tc := range []struct {
		want  Stage
		state *observe.State
	}{
		{None, &observe.State{App: "app"}},
		{Single, single()},
		{EIP, withEIP()},
		{DNS, withDNS()},
		{ALB, withALB()},
		{ASG, withASG()},
		{MultiAZ, withMultiAZ()},
		{Reserved, withReserved()},
	} {
		if got := Detect(tc.state).Stage; got != tc.want {
			t.Errorf("Detect = %s, want %s (unmet above: %v)", got, tc.want, Detect(tc.state).Unmet)
		}
		if !Reached(tc.state, tc.want) {
			t.Errorf("Reached(%s) = false", tc.want)
		}
	}
}

// A half-done rung shows as the stage below, with what is missing.
func TestHalfBuiltRungsShowAsTheStageBelow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*observe.State)
		base   func() *observe.State
		want   Stage
		unmet  string
	}{
		{"alb exists but instances still public", func(s *observe.State) { s.Instances[0].PublicIP = "54.1.1.1" }, withALB, None, "has a public IPv4"},
		{"alb half-built beside the public fleet", func(s *observe.State) {
			s.LoadBalancer = &observe.LoadBalancer{Name: "wtt-app", Scheme: "internet-facing", AZs: []string{"us-east-1a", "us-east-1b"}}
		}, withDNS, DNS, "no target group"},
		{"target unhealthy", func(s *observe.State) { s.TargetGroup.Targets[0].Health = "unhealthy" }, withALB, None, "not a healthy target"},
		{"ALB in one AZ", func(s *observe.State) { s.LoadBalancer.AZs = s.LoadBalancer.AZs[:1] }, withALB, None, "AWS requires 2"},
		{"private SG open to the world", func(s *observe.State) {
			s.Network.PrivateSG.Ingress = append(s.Network.PrivateSG.Ingress, observe.Rule{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}})
		}, withALB, None, "only from"},
		{"standalone instance left beside the group", func(s *observe.State) {
			s.Instances = append(s.Instances, observe.Instance{ID: "i-9", Type: "t2.micro", State: "running", IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}})
			s.TargetGroup.Targets = append(s.TargetGroup.Targets, observe.Target{ID: "i-9", Health: "healthy"})
		}, withASG, ALB, "standalone"},
		{"standalone instance the asg rung took out of the target group", func(s *observe.State) {
			// Still alb (the group serves), not back below it: a re-run must
			// finish the drain, not register the instance again.
			s.Instances = append(s.Instances, observe.Instance{ID: "i-9", Type: "t2.micro", State: "running", IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}, Role: "private"})
		}, withASG, ALB, "standalone"},
		{"standalone instance unhealthy with no group serving", func(s *observe.State) {
			s.Instances = append(s.Instances, observe.Instance{ID: "i-9", Type: "t2.micro", State: "running", IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}, Role: "private"})
			s.TargetGroup.Targets[0].Health = "unhealthy"
		}, withASG, None, "i-9 is not a healthy target"},
		{"group minimum below its AZs", func(s *observe.State) { s.Group.Min = 1 }, withMultiAZ, ASG, "minimum 1"},
		{"reservations short", func(s *observe.State) { s.Reserved[0].Count = 1 }, withReserved, MultiAZ, "cover 1 of"},
		{"retired reservations do not count", func(s *observe.State) { s.Reserved[0].State = "retired" }, withReserved, MultiAZ, "cover 0 of"},
		{"EIP left at dns", func(s *observe.State) { s.EIPs = []observe.EIP{{AllocationID: "a", PublicIP: "9.9.9.9"}} }, withDNS, Single, "still allocated"},
		{"record lists a stale address", func(s *observe.State) { s.DNS.Values = []string{"1.2.3.4"} }, withDNS, Single, "instances answer on"},
		{"SSH open", func(s *observe.State) {
			s.Network.WebSG.Ingress = append(s.Network.WebSG.Ingress, observe.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"0.0.0.0/0"}})
		}, single, None, "SSH"},
		{"IMDSv1 allowed", func(s *observe.State) { s.Instances[0].IMDSv2Required = false }, single, None, "IMDSv2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.base()
			tc.mutate(s)
			r := Detect(s)
			if r.Stage != tc.want {
				t.Fatalf("stage = %s, want %s (unmet: %v)", r.Stage, tc.want, r.Unmet)
			}
			all := strings.Join(append(append([]string{}, r.Unmet...), r.HalfBuiltUnmet...), "; ")
			if !strings.Contains(all, tc.unmet) {
				t.Errorf("unmet %q / half-built %s %q do not mention %q", r.Unmet, r.HalfBuilt, r.HalfBuiltUnmet, tc.unmet)
			}
		})
	}
}

func TestEIPQuotaIsPartOfTheStage(t *testing.T) {
	s := withEIP()
	for i := 2; i <= 6; i++ {
		id := "i-" + string(rune('0'+i))
		ip := "3.3.3." + string(rune('0'+i))
		s.Instances = append(s.Instances, observe.Instance{ID: id, Type: "t2.micro", State: "running", PublicIP: ip, EIP: ip, IMDSv2Required: true, SecurityGroups: []string{"sg-web"}})
		s.EIPs = append(s.EIPs, observe.EIP{AllocationID: "a" + id, PublicIP: ip, InstanceID: id})
	}
	if got := Detect(s).Stage; got != Single {
		t.Fatalf("6 instances with EIPs detected as %s; the 5-EIP quota makes that impossible on AWS", got)
	}
}

func TestParse(t *testing.T) {
	if s, err := Parse("Multi-AZ"); err != nil || s != MultiAZ {
		t.Errorf("Parse(Multi-AZ) = %v, %v", s, err)
	}
	if _, err := Parse("kubernetes"); err == nil || !strings.Contains(err.Error(), "single, eip") {
		t.Errorf("Parse(kubernetes) error = %v, want the list of stages", err)
	}
	for i, s := range Ladder {
		if s.Index() != i {
			t.Errorf("%s.Index() = %d, want %d", s, s.Index(), i)
		}
	}
}
