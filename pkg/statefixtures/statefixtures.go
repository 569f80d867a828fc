// Package statefixtures builds observe.State values for each rung of the
// ladder as wtt leaves it with its defaults, for the unit tests of packages
// that judge or draw a state (review, whatif, diagram, bill). The
// end-to-end suites check the same judgements against real runs.
package statefixtures

import (
	"time"

	"github.com/whatsthetime/wtt/pkg/observe"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func webSG() *observe.SecurityGroup {
	return &observe.SecurityGroup{ID: "sg-web", Name: "wtt-app-web", Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}}
}

func network() observe.Network {
	return observe.Network{VPCID: "vpc-1", CIDR: "10.40.0.0/16", WebSG: webSG(), IGWID: "igw-1", IGWAttached: true, S3EndpointID: "vpce-1",
		RouteTables: []observe.RouteTable{{ID: "rtb-pub", Public: true}, {ID: "rtb-priv"}}, Subnets: []observe.Subnet{
			{ID: "subnet-pub-a", AZ: "us-east-1a", CIDR: "10.40.0.0/24", Public: true},
			{ID: "subnet-priv-a", AZ: "us-east-1a", CIDR: "10.40.10.0/24"},
			{ID: "subnet-pub-b", AZ: "us-east-1b", CIDR: "10.40.1.0/24", Public: true},
			{ID: "subnet-priv-b", AZ: "us-east-1b", CIDR: "10.40.11.0/24"},
			{ID: "subnet-pub-c", AZ: "us-east-1c", CIDR: "10.40.2.0/24", Public: true},
			{ID: "subnet-priv-c", AZ: "us-east-1c", CIDR: "10.40.12.0/24"},
		}}
}

func publicInstance(id, ip string) observe.Instance {
	return observe.Instance{ID: id, Type: "t2.micro", State: "running", AZ: "us-east-1a", SubnetID: "subnet-pub-a",
		PublicIP: ip, PrivateIP: "10.40.0.10", IMDSv2Required: true, SecurityGroups: []string{"sg-web"}, Role: "web", LaunchTime: start}
}

// Single is `wtt up`: one t2.micro on a public address.
func Single() *observe.State {
	return &observe.State{App: "app", Region: "us-east-1", Network: network(),
		Instances: []observe.Instance{publicInstance("i-1", "54.0.0.1")}, EIPs: []observe.EIP{}, Reserved: []observe.Reserved{}}
}

// EIP is the eip rung: the instance keeps a fixed address.
func EIP() *observe.State {
	s := Single()
	s.Instances[0].EIP, s.Instances[0].PublicIP = "3.3.3.3", "3.3.3.3"
	s.EIPs = []observe.EIP{{AllocationID: "eipalloc-1", PublicIP: "3.3.3.3", InstanceID: "i-1", AssociationID: "eipassoc-1"}}
	return s
}

// DNS is the dns rung with n instances in one record of the given TTL.
func DNS(n int, ttl int64) *observe.State {
	s := Single()
	s.Instances = nil
	var ips []string
	for k := range n {
		ip := "54.0.0." + string(rune('1'+k))
		i := publicInstance("i-"+string(rune('1'+k)), ip)
		s.Instances = append(s.Instances, i)
		ips = append(ips, ip)
	}
	s.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", ZoneOwned: true, Name: "api.example.com", Type: "A", TTL: ttl, Values: ips}
	return s
}

// ALB is the alb rung: one private instance behind the load balancer,
// with wtt's health check (every 10 s, 2 to fail, 2 to pass).
func ALB() *observe.State {
	s := DNS(1, 60)
	s.Network.ALBSG = &observe.SecurityGroup{ID: "sg-alb", Name: "wtt-app-alb", Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}}
	s.Network.PrivateSG = &observe.SecurityGroup{ID: "sg-priv", Name: "wtt-app-private", Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, SourceGroups: []string{"sg-alb"}}}}
	s.LoadBalancer = &observe.LoadBalancer{ARN: "arn:lb", Name: "wtt-app", DNSName: "wtt-app-1.us-east-1.elb.amazonaws.com", Scheme: "internet-facing", State: "active",
		AZs: []string{"us-east-1a", "us-east-1b"}, Subnets: []string{"subnet-pub-a", "subnet-pub-b"}, SecurityGroups: []string{"sg-alb"},
		ListenerARN: "arn:listener", ListenerTarget: "arn:tg"}
	s.TargetGroup = &observe.TargetGroup{ARN: "arn:tg", Name: "wtt-app-tg", Protocol: "HTTP", Port: 80, HealthPath: "/healthz",
		Targets:        []observe.Target{{ID: "i-2", Health: "healthy"}},
		HealthInterval: 10, HealthTimeout: 5, HealthyThreshold: 2, UnhealthyThreshold: 2}
	s.Instances = []observe.Instance{{ID: "i-2", Type: "t2.micro", State: "running", AZ: "us-east-1a", SubnetID: "subnet-priv-a",
		PrivateIP: "10.40.10.5", IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}, Role: "private", LaunchTime: start}}
	s.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", ZoneOwned: true, Name: "api.example.com", Type: "A", AliasTarget: s.LoadBalancer.DNSName}
	return s
}

// ASG is the asg rung: the group owns the one instance (min 1, max 3),
// with ELB health checks and a 120 s grace period.
func ASG() *observe.State {
	s := ALB()
	s.Instances[0].Group = "wtt-app-asg"
	s.LaunchTemplate = &observe.LaunchTemplate{ID: "lt-1", Name: "wtt-app-lt", LatestVersion: 1, DefaultVersion: 1, InstanceType: "t2.micro", IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}}
	s.Group = &observe.Group{Name: "wtt-app-asg", Min: 1, Max: 3, Desired: 1, AZs: []string{"us-east-1a"}, Subnets: []string{"subnet-priv-a"}, InstanceType: "t2.micro",
		TargetGroupARNs: []string{"arn:tg"}, HealthCheckType: "ELB", GracePeriod: 120, TargetTracking: []string{"wtt-app-cpu-target"}, Instances: []string{"i-2"}}
	return s
}

// MultiAZ is the multi-az rung: 3 AZs, one instance in each, min 3, max 6.
func MultiAZ() *observe.State {
	s := ASG()
	s.Group.Subnets = []string{"subnet-priv-a", "subnet-priv-b", "subnet-priv-c"}
	s.Group.AZs = []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	s.Group.Min, s.Group.Desired, s.Group.Max = 3, 3, 6
	s.Group.CapacityRebalance = true
	s.LoadBalancer.AZs = []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	s.LoadBalancer.Subnets = []string{"subnet-pub-a", "subnet-pub-b", "subnet-pub-c"}
	for k, az := range []string{"b", "c"} {
		id := "i-" + string(rune('3'+k))
		s.Instances = append(s.Instances, observe.Instance{ID: id, Type: "t2.micro", State: "running", AZ: "us-east-1" + az, SubnetID: "subnet-priv-" + az,
			PrivateIP: "10.40.1" + string(rune('1'+k)) + ".5", IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}, Group: "wtt-app-asg", Role: "private", LaunchTime: start})
		s.TargetGroup.Targets = append(s.TargetGroup.Targets, observe.Target{ID: id, Health: "healthy"})
	}
	s.Group.Instances = []string{"i-2", "i-3", "i-4"}
	return s
}

// Reserved is the reserved rung: a regional 1-year no-upfront reservation
// covers the group's minimum.
func Reserved() *observe.State {
	s := MultiAZ()
	s.Reserved = []observe.Reserved{{ID: "ri-1", InstanceType: "t2.micro", Count: 3, State: "active", Scope: "Region",
		OfferingClass: "standard", OfferingType: "No Upfront", HourlyPrice: 0.0072, Start: start, End: start.AddDate(1, 0, 0), BoughtByWtt: true}}
	return s
}
