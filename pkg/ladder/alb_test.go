package ladder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/sdkhttp"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Fixtures: the app "t" at each stage the alb rung can start from, built
// by hand as discovery would report them.

func albNetwork(azs ...string) observe.Network {
	n := observe.Network{VPCID: "vpc-1", CIDR: vpcCIDR, IGWID: "igw-1", IGWAttached: true, S3EndpointID: "vpce-1",
		Tags: map[string]string{},
		WebSG: &observe.SecurityGroup{ID: "sg-web", Name: "wtt-t-web",
			Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}},
		RouteTables: []observe.RouteTable{{ID: "rtb-pub", Public: true}, {ID: "rtb-priv"}},
	}
	for i, az := range azs {
		n.Subnets = append(n.Subnets,
			observe.Subnet{ID: "subnet-pub-" + az, AZ: "us-east-1" + az, CIDR: publicCIDR(i), Public: true},
			observe.Subnet{ID: "subnet-priv-" + az, AZ: "us-east-1" + az, CIDR: privateCIDR(i)})
	}
	return n
}

func albWeb(id, ip string) observe.Instance {
	return observe.Instance{ID: id, Type: "m5.large", State: "running", AZ: "us-east-1a", SubnetID: "subnet-pub-a",
		PublicIP: ip, IMDSv2Required: true, Role: "web", SecurityGroups: []string{"sg-web"}}
}

func albSingle() *observe.State {
	return &observe.State{App: "t", Region: "us-east-1", Network: albNetwork("a", "b", "c"),
		Instances: []observe.Instance{albWeb("i-1", "3.0.0.1")}, EIPs: []observe.EIP{}, Reserved: []observe.Reserved{}}
}

func albEIP() *observe.State {
	s := albSingle()
	s.Instances = append(s.Instances, albWeb("i-2", "3.0.0.2"))
	for k, i := range s.Instances {
		s.Instances[k].EIP = i.PublicIP
		s.EIPs = append(s.EIPs, observe.EIP{AllocationID: "eipalloc-" + i.ID, PublicIP: i.PublicIP, InstanceID: i.ID, AssociationID: "eipassoc-" + i.ID})
	}
	return s
}

func albDNS(ttl int64) *observe.State {
	s := albSingle()
	s.Instances = append(s.Instances, albWeb("i-2", "3.0.0.2"))
	s.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", Name: "api.example.com", Type: "A", TTL: ttl, Values: []string{"3.0.0.1", "3.0.0.2"}}
	return s
}

// albHalfBuilt is an interrupted run: everything in front of the instances
// exists, one private instance is a healthy target, the public one still
// serves.
func albHalfBuilt() *observe.State {
	s := albSingle()
	n := names.For("t")
	s.Network.ALBSG = &observe.SecurityGroup{ID: "sg-alb", Name: n.ALBSG(),
		Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}}
	s.Network.PrivateSG = &observe.SecurityGroup{ID: "sg-priv", Name: n.PrivateSG(),
		Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, SourceGroups: []string{"sg-alb"}}}}
	s.TargetGroup = &observe.TargetGroup{ARN: "arn:tg", Name: n.TargetGroup(), Protocol: "HTTP", Port: 80, HealthPath: "/healthz",
		Targets: []observe.Target{{ID: "i-p1", Health: "healthy"}}}
	s.LoadBalancer = &observe.LoadBalancer{ARN: "arn:lb", Name: n.ALB(), DNSName: "wtt-t-1.us-east-1.elb.amazonaws.com", CanonicalZoneID: "Z35",
		Scheme: "internet-facing", State: "active", AZs: []string{"us-east-1a", "us-east-1b", "us-east-1c"},
		Subnets: []string{"subnet-pub-a", "subnet-pub-b", "subnet-pub-c"}, SecurityGroups: []string{"sg-alb"},
		ListenerARN: "arn:listener", ListenerTarget: "arn:tg"}
	s.Instances = append(s.Instances, observe.Instance{ID: "i-p1", Type: "m5.large", State: "running", AZ: "us-east-1a", SubnetID: "subnet-priv-a",
		PrivateIP: "10.40.10.5", IMDSv2Required: true, Role: privateRole, SecurityGroups: []string{"sg-priv"}})
	return s
}

// albDone is the rung finished.
func albDone() *observe.State {
	s := albHalfBuilt()
	s.Instances = s.Instances[1:]
	return s
}

func albResources(steps []*plan.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, string(s.Action)+" "+s.Resource)
	}
	return out
}

func albCalls(steps []*plan.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Calls...)
	}
	return out
}

func albAnyContains(list []string, sub string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.Contains(s, sub) })
}

// mustPlanALB plans the rung and checks what holds for every plan of it.
func mustPlanALB(t *testing.T, s *observe.State, o Options) ([]*plan.Step, []string) {
	t.Helper()
	if o.RecordType == "" {
		o.RecordType = "alias"
	}
	steps, warns, err := planALB(s, o)
	if err != nil {
		t.Fatalf("planALB: %v", err)
	}
	for _, st := range steps {
		if st.Rung != "alb" || st.Do == nil || len(st.Calls) == 0 {
			t.Errorf("step %q: rung %q, %d calls, Do set %v", st.Resource, st.Rung, len(st.Calls), st.Do != nil)
		}
		if st.Downtime != 0 {
			t.Errorf("step %q plans %s of downtime; the rung has none", st.Resource, st.Downtime)
		}
	}
	return steps, warns
}

// mustReachALB checks that the projection satisfies the stage, as later
// rungs of a jump assume.
func mustReachALB(t *testing.T, s *observe.State, o Options) *observe.State {
	t.Helper()
	p := projectALB(s, o)
	if !stage.Reached(p, stage.ALB) {
		t.Fatalf("projection does not reach alb: %v", stage.Detect(p).Unmet)
	}
	return p
}

func TestALBFixturesAreAtTheirStages(t *testing.T) {
	for name, c := range map[string]struct {
		s    *observe.State
		want stage.Stage
	}{
		"single":     {albSingle(), stage.Single},
		"dns":        {albDNS(3600), stage.DNS},
		"half-built": {albHalfBuilt(), stage.None}, // a private instance makes the public fleet incomplete
		"done":       {albDone(), stage.ALB},
	} {
		if got := stage.Detect(c.s).Stage; got != c.want {
			t.Errorf("%s: detected %s, want %s (%v)", name, got, c.want, stage.Detect(c.s).Unmet)
		}
	}
	if !stage.Reached(albEIP(), stage.EIP) {
		t.Errorf("eip fixture: %v", stage.Detect(albEIP()).Unmet)
	}
}

func TestPlanALBFromSingle(t *testing.T) {
	s := albSingle()
	steps, warns := mustPlanALB(t, s, Options{})
	got := albResources(steps)
	want := []string{
		"+ security groups wtt-t-alb and wtt-t-private",
		"+ target group wtt-t-tg",
		"+ load balancer wtt-t (internet-facing) and its :80 listener",
		"+ 1 private instance(s) m5.large behind the load balancer",
		"- 1 public instance(s) i-1",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	calls := albCalls(steps)
	for _, c := range []string{
		"ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress", "elasticloadbalancing:CreateTargetGroup",
		"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateListener", "iam:CreateServiceLinkedRole",
		"ec2:RunInstances", "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DescribeTargetHealth",
		"elasticloadbalancing:DeregisterTargets", "ec2:TerminateInstances",
	} {
		if !slices.Contains(calls, c) {
			t.Errorf("no step lists %s", c)
		}
	}
	if albAnyContains(calls, "route53:") {
		t.Errorf("no DNS name is known, yet a step calls Route 53: %v", calls)
	}
	if !albAnyContains(warns, "load balancer's own DNS name") {
		t.Errorf("warnings %q do not say where clients now go", warns)
	}
	if !strings.Contains(steps[2].Detail, "us-east-1a, us-east-1b, us-east-1c") || !strings.Contains(steps[2].Detail, "$22/month") {
		t.Errorf("load balancer detail %q: want its AZs and its cost", steps[2].Detail)
	}
	if !albAnyContains(steps[4].Warnings, "public or Elastic IP addresses") {
		t.Errorf("retire step warnings %q: want the clients that lose their address", steps[4].Warnings)
	}

	p := mustReachALB(t, s, Options{})
	if len(p.Instances) != 1 || p.Instances[0].PublicIP != "" || p.Instances[0].Role != privateRole ||
		p.Instances[0].Type != "m5.large" || p.Instances[0].SecurityGroups[0] != p.Network.PrivateSG.ID {
		t.Errorf("projected instances: %+v", p.Instances)
	}
	if p.DNS != nil {
		t.Errorf("projected a DNS record without a name: %+v", p.DNS)
	}
	if s.LoadBalancer != nil || len(s.Instances) != 1 || s.Instances[0].Role != "web" {
		t.Error("projection changed the observed state")
	}
	before, after := Cost(s), Cost(p)
	addsMonthly := (pricing.ALBHourly - pricing.PublicIPv4Hourly) * pricing.HoursPerMonth
	if d := after.Monthly - before.Monthly; d < addsMonthly-0.02 || d > addsMonthly+0.02 {
		t.Errorf("the load balancer adds about $22/month and one public IPv4 goes: %.2f -> %.2f, want +%.2f", before.Monthly, after.Monthly, addsMonthly)
	}
}

func TestPlanALBFromEIPKeepsTheFleetSize(t *testing.T) {
	s := albEIP()
	steps, _ := mustPlanALB(t, s, Options{})
	res := albResources(steps)
	if !albAnyContains(res, "+ 2 private instance(s) m5.large") || !albAnyContains(res, "- 2 public instance(s) i-1, i-2 and 2 Elastic IP(s)") {
		t.Fatalf("steps: %q", res)
	}
	if !slices.Contains(steps[len(steps)-1].Calls, "ec2:ReleaseAddress") {
		t.Errorf("retire step does not list ec2:ReleaseAddress: %v", steps[len(steps)-1].Calls)
	}
	p := mustReachALB(t, s, Options{})
	if len(p.EIPs) != 0 || len(behindALB(p)) != 2 {
		t.Errorf("projection: %d EIPs, %d private instances", len(p.EIPs), len(behindALB(p)))
	}
	// Spread over the private subnets, one AZ each.
	if p.Instances[0].AZ == p.Instances[1].AZ || p.Instances[0].SubnetID == "subnet-pub-a" {
		t.Errorf("projected instances not spread over private subnets: %+v", p.Instances)
	}
	if n := FleetOf(p).PublicIPs + FleetOf(p).IdleEIPs; n != 0 {
		t.Errorf("projection still pays for %d public IPv4 addresses", n)
	}
}

func TestPlanALBKeepsTheFleetTypeAndSaysSo(t *testing.T) {
	_, warns := mustPlanALB(t, albSingle(), Options{InstanceType: "t3.small"})
	if !albAnyContains(warns, "--instance-type t3.small is not used by the alb rung: it keeps the fleet's type m5.large") {
		t.Errorf("warnings %q", warns)
	}
	if p := projectALB(albSingle(), Options{InstanceType: "t3.small"}); p.Instances[0].Type != "m5.large" {
		t.Errorf("projected type %s", p.Instances[0].Type)
	}
}

func TestPlanALBFromDNSSwitchesThenDrains(t *testing.T) {
	s := albDNS(3600)
	steps, _ := mustPlanALB(t, s, Options{})
	res := albResources(steps)
	// No TTL-lowering step: resolvers that asked before it would hold the
	// old addresses for the old TTL anyway, and the drain waits that out.
	want := []string{
		"+ security groups wtt-t-alb and wtt-t-private",
		"+ target group wtt-t-tg",
		"+ load balancer wtt-t (internet-facing) and its :80 listener",
		"+ 2 private instance(s) m5.large behind the load balancer",
		"~ DNS record api.example.com -> load balancer (alias A record)",
		"… wait 1h0m0s (the TTL of api.example.com) for resolvers to drop the old addresses of api.example.com",
		"- 2 public instance(s) i-1, i-2",
	}
	if !slices.Equal(res, want) {
		t.Fatalf("steps:\n%s\nwant:\n%s", strings.Join(res, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(steps[4].Detail, "UPSERT") || !slices.Contains(steps[4].Calls, "ec2:CreateTags") {
		t.Errorf("A values -> A alias must be an UPSERT that records the drain first: %q %v", steps[4].Detail, steps[4].Calls)
	}
	if wait := steps[5]; !strings.Contains(wait.Detail, "i-1, i-2 keep serving") || !strings.Contains(wait.Detail, "they cost about $0.20") ||
		!strings.HasPrefix(wait.DowntimeNote, "none") || wait.StaleFor != 0 || !slices.Contains(wait.Calls, "ec2:CreateTags") {
		t.Errorf("drain step: %q %q stale %s %v", wait.Detail, wait.DowntimeNote, wait.StaleFor, wait.Calls)
	}
	if retire := steps[6]; len(retire.Warnings) > 0 || retire.StaleFor != 0 {
		t.Errorf("retire step after the whole TTL: warnings %q, stale for %s; want none", retire.Warnings, retire.StaleFor)
	}
	p := mustReachALB(t, s, Options{})
	if p.DNS.Type != "A" || p.DNS.AliasTarget != p.LoadBalancer.DNSName || p.DNS.ZoneID != "Z1" || len(p.DNS.Values) != 0 {
		t.Errorf("projected record: %+v", p.DNS)
	}
}

// Without a drain (--dns-drain=0s) nothing waits the old TTL out, so the
// record's TTL is lowered first: resolvers asking from then on hold the
// old addresses for a minute at most after the switch.
func TestPlanALBFromDNSWithoutDrainLowersTheTTLFirst(t *testing.T) {
	steps, _ := mustPlanALB(t, albDNS(3600), Options{DNSDrainSet: true})
	res := albResources(steps)
	i := slices.Index(res, "~ DNS record api.example.com: TTL 3600 s -> 60 s")
	if i < 0 || i+1 >= len(res) || res[i+1] != "~ DNS record api.example.com -> load balancer (alias A record)" {
		t.Fatalf("want the TTL lowered right before the switch:\n%s", strings.Join(res, "\n"))
	}
	if !strings.Contains(steps[i].Detail, "the old TTL (1h0m0s) is recorded on the public instances") {
		t.Errorf("TTL step: %q", steps[i].Detail)
	}
}

func TestPlanALBFromDNSWithShortTTLSkipsTheTTLStep(t *testing.T) {
	steps, _ := mustPlanALB(t, albDNS(60), Options{})
	if albAnyContains(albResources(steps), "DNS record api.example.com: TTL") {
		t.Errorf("a 60 s TTL needs no lowering: %q", albResources(steps))
	}
}

// --dns-drain shorter than the TTL (or 0s) retires the old instances while
// clients may still hold their addresses: the retire step says so, in
// words and in StaleFor, which --probe judges by.
func TestPlanALBDNSDrainShorterThanTheTTLWarns(t *testing.T) {
	for _, c := range []struct {
		drain     time.Duration
		waitStep  bool
		staleFor  time.Duration
		inWarning string
	}{
		{0, false, 300 * time.Second, "fail for up to 5m0s"},
		{time.Minute, true, 240 * time.Second, "fail for up to 4m0s"},
		{10 * time.Minute, true, 0, ""},
	} {
		steps, _ := mustPlanALB(t, albDNS(300), Options{DNSDrain: c.drain, DNSDrainSet: true})
		retire := steps[len(steps)-1]
		hasWait := slices.ContainsFunc(steps, func(s *plan.Step) bool { return s.Action == plan.Wait })
		if hasWait != c.waitStep || retire.StaleFor != c.staleFor || (c.inWarning != "") != albAnyContains(retire.Warnings, c.inWarning) {
			t.Errorf("--dns-drain %s: wait step %v, retire stale for %s, warnings %q; want %v, %s, %q",
				c.drain, hasWait, retire.StaleFor, retire.Warnings, c.waitStep, c.staleFor, c.inWarning)
		}
	}
}

// A re-run after the switch waits only what the instances' tags say is
// left, and nothing once that moment has passed.
func TestPlanALBDrainResumesFromTheTags(t *testing.T) {
	switched := func(retireAfter time.Time) *observe.State {
		s := albHalfBuilt()
		s.Instances[0].DNSDrainSeconds, s.Instances[0].RetireAfter = 300, retireAfter
		s.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", Name: "api.example.com", Type: "A", AliasTarget: s.LoadBalancer.DNSName}
		return s
	}
	at := time.Now().Add(3 * time.Minute).UTC().Truncate(time.Second)
	steps, _ := mustPlanALB(t, switched(at), Options{})
	want := []string{
		"… wait until " + at.Format(time.RFC3339) + " (recorded on the instances when DNS moved) for resolvers to drop the old addresses of api.example.com",
		"- 1 public instance(s) i-1",
	}
	if res := albResources(steps); !slices.Equal(res, want) {
		t.Errorf("resumed: %q, want %q", res, want)
	}
	if steps, _ := mustPlanALB(t, switched(time.Now().Add(-time.Second)), Options{}); !slices.Equal(albResources(steps), want[1:]) {
		t.Errorf("drain over: %q, want only the retirement", albResources(steps))
	}
	// --dns-drain counts from the same recorded switch: 1m after a switch
	// 2m ago is over, and clients may hold the addresses 4m more.
	steps, _ = mustPlanALB(t, switched(at), Options{DNSDrain: time.Minute, DNSDrainSet: true})
	if res := albResources(steps); !slices.Equal(res, want[1:]) || steps[0].StaleFor != 4*time.Minute {
		t.Errorf("shorter drain on a re-run: %q, stale for %s", res, steps[0].StaleFor)
	}
}

// Without a published name, the retired instances' own addresses are the
// way in; clients given them are lost until told the new one.
func TestPlanALBWithoutANameLosesBareAddresses(t *testing.T) {
	steps, _ := mustPlanALB(t, albSingle(), Options{})
	if retire := steps[len(steps)-1]; retire.StaleFor != plan.StaleUntilTold {
		t.Errorf("retire step stale for %s, want until told", retire.StaleFor)
	}
}

func TestPlanALBCNAMEReplacesTheARecordInOneBatch(t *testing.T) {
	s := albDNS(60)
	o := Options{RecordType: "cname"}
	steps, _ := mustPlanALB(t, s, o)
	cut := steps[len(steps)-3]
	if cut.Resource != "DNS record api.example.com -> load balancer (CNAME (TTL 60 s))" ||
		!strings.Contains(cut.Detail, "the A record is deleted and the CNAME record created in the same batch") {
		t.Errorf("cutover step: %q / %q", cut.Resource, cut.Detail)
	}
	p := mustReachALB(t, s, o)
	if p.DNS.Type != "CNAME" || p.DNS.TTL != 60 || !slices.Equal(p.DNS.Values, []string{p.LoadBalancer.DNSName}) {
		t.Errorf("projected record: %+v", p.DNS)
	}
}

func TestPlanALBJumpPublishesTheGivenName(t *testing.T) {
	s := albSingle()
	o := Options{DNSName: "api.example.com"}
	steps, warns := mustPlanALB(t, s, o)
	cut := steps[len(steps)-2]
	if cut.Action != plan.Create || !strings.Contains(cut.Resource, "api.example.com -> load balancer") ||
		!slices.Contains(cut.Calls, "route53:CreateHostedZone") || !slices.Contains(cut.Calls, "ec2:CreateTags") {
		t.Errorf("cutover step: %s %q %v", cut.Action, cut.Resource, cut.Calls)
	}
	if albAnyContains(warns, "own DNS name") {
		t.Errorf("a name is given, yet the plan warns there is none: %q", warns)
	}
	p := mustReachALB(t, s, o)
	if p.DNS == nil || p.DNS.Name != "api.example.com" || p.DNS.ZoneName != "example.com" || !p.DNS.ZoneOwned {
		t.Errorf("projected record: %+v", p.DNS)
	}
	if !slices.ContainsFunc(Cost(p).Lines, func(l pricing.Line) bool { return strings.Contains(l.Item, "hosted zone") }) {
		t.Errorf("the estimate leaves out the hosted zone wtt may create: %+v", Cost(p).Lines)
	}
}

func TestPlanALBRefuses(t *testing.T) {
	oneAZ := albSingle()
	oneAZ.Network = albNetwork("a")
	oneAZ.Network.Subnets = append(oneAZ.Network.Subnets, observe.Subnet{ID: "subnet-pub-a2", AZ: "us-east-1a", CIDR: "10.40.5.0/24", Public: true})
	internal := albHalfBuilt()
	internal.LoadBalancer.Scheme = "internal"
	https := albHalfBuilt()
	https.TargetGroup.Protocol, https.TargetGroup.Port = "HTTPS", 443
	apex := albDNS(60)
	apex.DNS.Name = "example.com"
	for name, c := range map[string]struct {
		s    *observe.State
		o    Options
		want string
	}{
		"one AZ":                {oneAZ, Options{}, "span 1 availability zone(s) (us-east-1a); an Application Load Balancer needs 2"},
		"internal":              {internal, Options{}, "is internal"},
		"wrong target group":    {https, Options{}, "is HTTPS:443"},
		"cname at known apex":   {apex, Options{RecordType: "cname"}, "apex"},
		"cname at a new apex":   {albSingle(), Options{RecordType: "cname", DNSName: "example.com"}, "apex"},
		"another name than DNS": {albDNS(60), Options{DNSName: "www.example.com"}, "published as api.example.com"},
	} {
		_, _, err := planALB(c.s, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to say %q", name, err, c.want)
			continue
		}
		if !cmdutil.IsUsage(err) {
			t.Errorf("%s: %v is not bad input (exit 2, nothing changed)", name, err)
		}
	}
	// A CNAME below the apex, and an alias at it, are fine.
	if _, _, err := planALB(albSingle(), Options{RecordType: "cname", DNSName: "api.example.com"}); err != nil {
		t.Errorf("cname below the apex: %v", err)
	}
	if _, _, err := planALB(apex, Options{RecordType: "alias"}); err != nil {
		t.Errorf("alias at the apex: %v", err)
	}
}

func TestPlanALBFinishesAHalfBuiltRung(t *testing.T) {
	s := albHalfBuilt()
	steps, _ := mustPlanALB(t, s, Options{})
	if got := albResources(steps); !slices.Equal(got, []string{"- 1 public instance(s) i-1"}) {
		t.Fatalf("steps %q: only the public instance should be left to retire", got)
	}
	mustReachALB(t, s, Options{})

	// A load balancer in one AZ (the emulator allows it) is spread out.
	narrow := albHalfBuilt()
	narrow.LoadBalancer.AZs, narrow.LoadBalancer.Subnets = []string{"us-east-1a"}, []string{"subnet-pub-a"}
	steps, _ = mustPlanALB(t, narrow, Options{})
	if res := albResources(steps); len(res) != 2 || res[0] != "~ load balancer wtt-t (internet-facing) and its :80 listener" {
		t.Errorf("steps %q", res)
	}
	if p := mustReachALB(t, narrow, Options{}); len(p.LoadBalancer.AZs) != 3 {
		t.Errorf("projected AZs %v", p.LoadBalancer.AZs)
	}

	// An unregistered private instance gets registered, nothing launched.
	unregistered := albHalfBuilt()
	unregistered.TargetGroup.Targets = []observe.Target{}
	steps, _ = mustPlanALB(t, unregistered, Options{})
	if res := albResources(steps); res[0] != "+ register the 1 private instance(s) with the load balancer" {
		t.Errorf("steps %q", res)
	}

	// A private group open to anything but the load balancer is closed.
	leaky := albHalfBuilt()
	leaky.Network.PrivateSG.Ingress = append(leaky.Network.PrivateSG.Ingress, observe.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"0.0.0.0/0"}})
	steps, _ = mustPlanALB(t, leaky, Options{})
	if res := albResources(steps); res[0] != "+ security groups wtt-t-alb and wtt-t-private" || !slices.Contains(steps[0].Calls, "ec2:RevokeSecurityGroupIngress") {
		t.Errorf("steps %q", res)
	}
}

func TestPlanALBWhenDoneIsEmpty(t *testing.T) {
	s := albDone()
	if steps, warns := mustPlanALB(t, s, Options{}); len(steps) != 0 || len(warns) != 0 {
		t.Errorf("finished rung plans %q, warns %q", albResources(steps), warns)
	}
	p, err := Migrate(s, stage.ALB, Options{RecordType: "alias"})
	if err != nil || !p.Empty() {
		t.Fatalf("migrate --to=alb at alb: %v, %+v", err, p)
	}
	// With an alias record in place, the same holds.
	s.DNS = &observe.DNS{ZoneID: "Z1", ZoneName: "example.com", Name: "api.example.com", Type: "A", AliasTarget: s.LoadBalancer.DNSName}
	if steps, _ := mustPlanALB(t, s, Options{}); len(steps) != 0 {
		t.Errorf("finished rung with DNS plans %q", albResources(steps))
	}
}

func TestMigrateJumpsToALBInOnePlan(t *testing.T) {
	for name, s := range map[string]*observe.State{
		"none":   {App: "t", Region: "us-east-1", Instances: []observe.Instance{}, EIPs: []observe.EIP{}},
		"single": albSingle(),
		"eip":    albEIP(),
		"dns":    albDNS(300),
	} {
		p, err := Migrate(s, stage.ALB, Options{RecordType: "alias"})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if p.Downtime() != 0 {
			t.Errorf("%s: plan has %s of downtime", name, p.Downtime())
		}
		if !albAnyContains(albResources(p.Steps), "load balancer wtt-t") || !albAnyContains(albResources(p.Steps), "private instance(s)") {
			t.Errorf("%s: steps %q", name, albResources(p.Steps))
		}
		if p.CostAfter.Monthly <= p.CostBefore.Monthly {
			t.Errorf("%s: the load balancer costs money: %.2f -> %.2f", name, p.CostBefore.Monthly, p.CostAfter.Monthly)
		}
	}
}

func TestAdmitsOnlyFrom(t *testing.T) {
	from := func(rules ...observe.Rule) *observe.SecurityGroup { return &observe.SecurityGroup{Ingress: rules} }
	http := observe.Rule{Protocol: "tcp", FromPort: 80, ToPort: 80, SourceGroups: []string{"sg-alb"}}
	for name, c := range map[string]struct {
		g    *observe.SecurityGroup
		want bool
	}{
		"only the load balancer": {from(http), true},
		"no rules":               {from(), false},
		"also the world":         {from(http, observe.Rule{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}), false},
		"also another group":     {from(observe.Rule{Protocol: "tcp", FromPort: 80, ToPort: 80, SourceGroups: []string{"sg-alb", "sg-web"}}), false},
		"wrong port":             {from(observe.Rule{Protocol: "tcp", FromPort: 443, ToPort: 443, SourceGroups: []string{"sg-alb"}}), false},
	} {
		if got := admitsOnlyFrom(c.g, "sg-alb"); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}

func TestALBSubnetsOnePerAZUpToThree(t *testing.T) {
	n := albNetwork("a", "b", "c", "d")
	n.Subnets = append(n.Subnets, observe.Subnet{ID: "subnet-pub-a2", AZ: "us-east-1a", CIDR: "10.40.7.0/24", Public: true})
	got, err := albSubnets(n)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, sn := range got {
		ids = append(ids, sn.ID)
	}
	if !slices.Equal(ids, []string{"subnet-pub-a", "subnet-pub-b", "subnet-pub-c"}) {
		t.Errorf("subnets %v", ids)
	}
	if _, err := albSubnets(albNetwork("a")); err == nil {
		t.Error("one AZ accepted")
	}
}

func TestALBRecordShapes(t *testing.T) {
	lb := &observe.LoadBalancer{DNSName: "wtt-t-1.us-east-1.elb.amazonaws.com", CanonicalZoneID: "Z35SXDOTRQ7X7K"}
	alias := albRecord(publication{name: "example.com"}, lb)
	if alias.Type != r53types.RRTypeA || alias.TTL != nil || alias.AliasTarget == nil ||
		aws.ToString(alias.AliasTarget.HostedZoneId) != "Z35SXDOTRQ7X7K" || !alias.AliasTarget.EvaluateTargetHealth {
		t.Errorf("alias record %+v", alias)
	}
	cname := albRecord(publication{name: "api.example.com", cname: true}, lb)
	if cname.Type != r53types.RRTypeCname || aws.ToInt64(cname.TTL) != 60 || aws.ToString(cname.ResourceRecords[0].Value) != lb.DNSName {
		t.Errorf("cname record %+v", cname)
	}
	// Route 53 answers with trailing dots.
	have := &r53types.ResourceRecordSet{Type: r53types.RRTypeA, AliasTarget: &r53types.AliasTarget{DNSName: aws.String(strings.ToUpper(lb.DNSName) + ".")}}
	if !albRecordMatches(have, alias) || albRecordMatches(have, cname) || albRecordMatches(nil, alias) {
		t.Error("albRecordMatches")
	}
	values := &r53types.ResourceRecordSet{Type: r53types.RRTypeA, TTL: aws.Int64(60), ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("3.0.0.1")}}}
	if albRecordMatches(values, alias) {
		t.Error("an A record with addresses matched the alias")
	}
}

// fakeELB answers DescribeTargetHealth with fixed target states and
// records every action it is asked for, for the target helpers' tests.
type fakeELB struct {
	mu      sync.Mutex
	states  map[string]string // instance -> state; absent = not registered
	actions []string
}

func (f *fakeELB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	action := r.Form.Get("Action")
	f.actions = append(f.actions, action)
	const ns = `xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"`
	w.Header().Set("Content-Type", "text/xml")
	switch action {
	case "DescribeTargetHealth":
		var b strings.Builder
		for _, id := range []string{"i-1", "i-2"} {
			st, ok := f.states[id]
			filtered := r.Form.Get("Targets.member.1.Id") != ""
			asked := r.Form.Get("Targets.member.1.Id") == id || r.Form.Get("Targets.member.2.Id") == id
			if (filtered && !asked) || (!filtered && !ok) {
				continue
			}
			reason := ""
			switch {
			case !ok:
				st, reason = "unused", "<Reason>Target.NotRegistered</Reason>"
			case st == "unhealthy":
				reason = "<Reason>Target.ResponseCodeMismatch</Reason><Description>Health checks failed with these codes: [502]</Description>"
			}
			fmt.Fprintf(&b, "<member><Target><Id>%s</Id><Port>80</Port></Target><TargetHealth><State>%s</State>%s</TargetHealth></member>", id, st, reason)
		}
		fmt.Fprintf(w, `<DescribeTargetHealthResponse %s><DescribeTargetHealthResult><TargetHealthDescriptions>%s</TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeTargetHealthResponse>`, ns, b.String())
	case "DeregisterTargets":
		delete(f.states, r.Form.Get("Targets.member.1.Id"))
		fmt.Fprintf(w, `<DeregisterTargetsResponse %s><DeregisterTargetsResult/><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DeregisterTargetsResponse>`, ns)
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse %s><Error><Code>Unexpected</Code><Message>%s</Message></Error></ErrorResponse>`, ns, action)
	}
}

func (f *fakeELB) called(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.actions {
		if a == action {
			n++
		}
	}
	return n
}

func fakeELBEnv(t *testing.T, f *fakeELB) *Env {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := elbv2.New(elbv2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: sdkhttp.Wrap(awshttp.NewBuildableClient()),
		Credentials: aws.AnonymousCredentials{},
	})
	s := albHalfBuilt()
	return &Env{C: &awsclient.Clients{ELB: client}, N: names.For("t"), App: "t", State: s,
		Opts: Options{PollInterval: 10 * time.Millisecond, WaitTimeout: 300 * time.Millisecond}}
}

func TestWaitHealthyTimesOutWithTheReason(t *testing.T) {
	f := &fakeELB{states: map[string]string{"i-1": "healthy", "i-2": "unhealthy"}}
	e := fakeELBEnv(t, f)
	_, err := e.waitHealthy(context.Background(), []string{"i-1", "i-2"})
	var we *WaitError
	if !errors.As(err, &we) {
		t.Fatalf("err %v, want a WaitError", err)
	}
	for _, want := range []string{"i-2: unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])", "the old instances still serve traffic"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "i-1:") {
		t.Errorf("error %q blames the healthy target", err)
	}
	if f.called("DescribeTargetHealth") < 2 {
		t.Errorf("waited without polling: %v", f.actions)
	}

	f.states["i-2"] = "healthy"
	seen, err := e.waitHealthy(context.Background(), []string{"i-1", "i-2"})
	if err != nil {
		t.Errorf("healthy targets: %v", err)
	}
	if seen["i-1"] != "healthy" || seen["i-2"] != "healthy" {
		t.Errorf("the wait returned %v, not what its last poll read", seen)
	}
}

// Which instances are registered comes from the state observed before the
// step (only calls change it); only the drain is polled.
func TestDeregisterTargetsSkipsUnregisteredAndWaitsForDrain(t *testing.T) {
	f := &fakeELB{states: map[string]string{"i-1": "healthy"}}
	e := fakeELBEnv(t, f)
	e.State.TargetGroup.Targets = []observe.Target{{ID: "i-1", Health: "healthy"}}
	gone, err := e.deregisterTargets(context.Background(), []string{"i-2"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions); n != 0 || len(gone) != 0 {
		t.Errorf("called %v for a target that was not registered (gone: %v)", f.actions, gone)
	}
	gone, err = e.deregisterTargets(context.Background(), []string{"i-1", "i-2"})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.called("DeregisterTargets"); n != 1 {
		t.Errorf("%d DeregisterTargets calls, want 1", n)
	}
	if _, ok := f.states["i-1"]; ok {
		t.Error("i-1 still registered")
	}
	if !slices.Equal(gone, []string{"i-1"}) {
		t.Errorf("deregistered %v, want [i-1]", gone)
	}
}
