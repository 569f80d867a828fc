package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/rogpeppe/go-internal/testscript"
)

// Checks of the alb rung, read through the SDK directly.
func init() {
	checks["alb-ready"] = checkALBReady
	checks["targets-healthy"] = checkTargetsHealthy
	checks["private-sg-only-alb"] = checkPrivateSGOnlyALB
	checks["record-alias"] = checkRecordAlias
	checks["record-cname"] = checkRecordCNAME
	checks["alb-half-built"] = makeHalfBuiltALB
}

func (c *checker) albName() string { return "wtt-" + c.app }
func (c *checker) tgName() string  { return "wtt-" + c.app + "-tg" }

// loadBalancer returns the app's only load balancer; the emulator creates a
// second one for a repeated name, which this check refuses.
func (c *checker) loadBalancer(ctx context.Context) (elbtypes.LoadBalancer, error) {
	out, err := c.elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	if err != nil {
		return elbtypes.LoadBalancer{}, err
	}
	var found []elbtypes.LoadBalancer
	for _, lb := range out.LoadBalancers {
		if aws.ToString(lb.LoadBalancerName) == c.albName() {
			found = append(found, lb)
		}
	}
	if len(found) != 1 {
		return elbtypes.LoadBalancer{}, fmt.Errorf("%d load balancers named %s, want 1", len(found), c.albName())
	}
	return found[0], nil
}

func (c *checker) targetGroup(ctx context.Context) (elbtypes.TargetGroup, error) {
	out, err := c.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{c.tgName()}})
	if err != nil {
		return elbtypes.TargetGroup{}, fmt.Errorf("target group %s: %w", c.tgName(), err)
	}
	if len(out.TargetGroups) != 1 {
		return elbtypes.TargetGroup{}, fmt.Errorf("%d target groups named %s", len(out.TargetGroups), c.tgName())
	}
	return out.TargetGroups[0], nil
}

// aws alb-ready: one internet-facing, active ALB in >= 2 AZs (one public
// subnet each), a target group HTTP:80 with health check /healthz, and a
// :80 listener forwarding to it.
func checkALBReady(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	lb, err := c.loadBalancer(ctx)
	if err != nil {
		return err
	}
	if lb.Scheme != elbtypes.LoadBalancerSchemeEnumInternetFacing || lb.Type != elbtypes.LoadBalancerTypeEnumApplication {
		return fmt.Errorf("load balancer is %s %s, want internet-facing application", lb.Scheme, lb.Type)
	}
	if lb.State == nil || lb.State.Code != elbtypes.LoadBalancerStateEnumActive {
		return fmt.Errorf("load balancer state %+v, want active", lb.State)
	}
	azs := map[string]bool{}
	var subnets []string
	for _, az := range lb.AvailabilityZones {
		azs[aws.ToString(az.ZoneName)] = true
		subnets = append(subnets, aws.ToString(az.SubnetId))
	}
	if len(azs) < 2 || len(azs) != len(subnets) {
		return fmt.Errorf("load balancer spans AZs %v with subnets %v; want >= 2 AZs, one subnet each", azs, subnets)
	}
	if err := c.subnetsArePublic(ctx, subnets); err != nil {
		return err
	}
	tg, err := c.targetGroup(ctx)
	if err != nil {
		return err
	}
	if tg.Protocol != elbtypes.ProtocolEnumHttp || aws.ToInt32(tg.Port) != 80 || aws.ToString(tg.HealthCheckPath) != "/healthz" ||
		tg.TargetType != elbtypes.TargetTypeEnumInstance {
		return fmt.Errorf("target group is %s:%d (%s) with health check %q, want HTTP:80 instance /healthz",
			tg.Protocol, aws.ToInt32(tg.Port), tg.TargetType, aws.ToString(tg.HealthCheckPath))
	}
	ls, err := c.elb.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
	if err != nil {
		return err
	}
	var on80 []elbtypes.Listener
	for _, l := range ls.Listeners {
		if aws.ToInt32(l.Port) == 80 {
			on80 = append(on80, l)
		}
	}
	if len(on80) != 1 || on80[0].Protocol != elbtypes.ProtocolEnumHttp || len(on80[0].DefaultActions) != 1 ||
		on80[0].DefaultActions[0].Type != elbtypes.ActionTypeEnumForward ||
		aws.ToString(on80[0].DefaultActions[0].TargetGroupArn) != aws.ToString(tg.TargetGroupArn) {
		return fmt.Errorf("want one HTTP :80 listener forwarding to %s, found %d: %+v", c.tgName(), len(on80), on80)
	}
	return nil
}

// subnetsArePublic checks each subnet routes 0.0.0.0/0 to an internet gateway.
func (c *checker) subnetsArePublic(ctx context.Context, subnets []string) error {
	rts, err := c.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("association.subnet-id"), Values: subnets},
	}})
	if err != nil {
		return err
	}
	public := map[string]bool{}
	for _, rt := range rts.RouteTables {
		toIGW := slices.ContainsFunc(rt.Routes, func(r ec2types.Route) bool {
			return aws.ToString(r.DestinationCidrBlock) == "0.0.0.0/0" && strings.HasPrefix(aws.ToString(r.GatewayId), "igw-")
		})
		for _, a := range rt.Associations {
			if toIGW {
				public[aws.ToString(a.SubnetId)] = true
			}
		}
	}
	for _, sn := range subnets {
		if !public[sn] {
			return fmt.Errorf("load balancer subnet %s has no route to an internet gateway", sn)
		}
	}
	return nil
}

// aws targets-healthy N: the target group holds exactly N targets, all
// healthy, and they are exactly the running app instances.
func checkTargetsHealthy(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws targets-healthy N")
	}
	tg, err := c.targetGroup(ctx)
	if err != nil {
		return err
	}
	th, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
	if err != nil {
		return err
	}
	var targets []string
	for _, d := range th.TargetHealthDescriptions {
		id := aws.ToString(d.Target.Id)
		if d.TargetHealth == nil || d.TargetHealth.State != elbtypes.TargetHealthStateEnumHealthy {
			return fmt.Errorf("target %s is %+v", id, d.TargetHealth)
		}
		targets = append(targets, id)
	}
	if want := atoi(ts, args[0]); len(targets) != want {
		return fmt.Errorf("%d targets %v, want %d", len(targets), targets, want)
	}
	is, err := c.instances(ctx, "running")
	if err != nil {
		return err
	}
	var running []string
	for _, i := range is {
		running = append(running, aws.ToString(i.InstanceId))
	}
	slices.Sort(targets)
	slices.Sort(running)
	if !slices.Equal(targets, running) {
		return fmt.Errorf("targets %v, running app instances %v", targets, running)
	}
	return nil
}

func (c *checker) securityGroup(ctx context.Context, name string) (ec2types.SecurityGroup, error) {
	out, err := c.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		c.appFilter(), {Name: aws.String("group-name"), Values: []string{name}},
	}})
	if err != nil {
		return ec2types.SecurityGroup{}, err
	}
	if len(out.SecurityGroups) != 1 {
		return ec2types.SecurityGroup{}, fmt.Errorf("%d security groups named %s", len(out.SecurityGroups), name)
	}
	return out.SecurityGroups[0], nil
}

// aws private-sg-only-alb: the private group admits tcp/80 from the load
// balancer's group and nothing else; the load balancer carries that group;
// every running app instance is in the private group and no other.
func checkPrivateSGOnlyALB(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	albSG, err := c.securityGroup(ctx, "wtt-"+c.app+"-alb")
	if err != nil {
		return err
	}
	priv, err := c.securityGroup(ctx, "wtt-"+c.app+"-private")
	if err != nil {
		return err
	}
	albID, privID := aws.ToString(albSG.GroupId), aws.ToString(priv.GroupId)
	if len(priv.IpPermissions) != 1 {
		return fmt.Errorf("private group has %d ingress permissions, want 1: %+v", len(priv.IpPermissions), priv.IpPermissions)
	}
	p := priv.IpPermissions[0]
	if aws.ToString(p.IpProtocol) != "tcp" || aws.ToInt32(p.FromPort) != 80 || aws.ToInt32(p.ToPort) != 80 ||
		len(p.IpRanges)+len(p.Ipv6Ranges)+len(p.PrefixListIds) != 0 ||
		len(p.UserIdGroupPairs) != 1 || aws.ToString(p.UserIdGroupPairs[0].GroupId) != albID {
		return fmt.Errorf("private group admits %+v, want only tcp/80 from %s", p, albID)
	}
	lb, err := c.loadBalancer(ctx)
	if err != nil {
		return err
	}
	if !slices.Equal(lb.SecurityGroups, []string{albID}) {
		return fmt.Errorf("load balancer security groups %v, want [%s]", lb.SecurityGroups, albID)
	}
	is, err := c.instances(ctx, "running")
	if err != nil {
		return err
	}
	if len(is) == 0 {
		return fmt.Errorf("no running instance")
	}
	for _, i := range is {
		// The emulator lists the groups of an instance launched with a
		// network interface only on the interface.
		groups := map[string]bool{}
		for _, g := range i.SecurityGroups {
			groups[aws.ToString(g.GroupId)] = true
		}
		for _, ni := range i.NetworkInterfaces {
			for _, g := range ni.Groups {
				groups[aws.ToString(g.GroupId)] = true
			}
		}
		if len(groups) != 1 || !groups[privID] {
			return fmt.Errorf("instance %s is in groups %v, want only %s", aws.ToString(i.InstanceId), groups, privID)
		}
	}
	return nil
}

// record finds NAME's A or CNAME record in the public zone that holds it
// (the longest matching zone name).
func (c *checker) record(ctx context.Context, name string) (*r53types.ResourceRecordSet, error) {
	zones, err := c.r53.ListHostedZones(ctx, &route53.ListHostedZonesInput{})
	if err != nil {
		return nil, err
	}
	fqdn := strings.TrimSuffix(name, ".") + "."
	var zone *r53types.HostedZone
	for _, z := range zones.HostedZones {
		zn := aws.ToString(z.Name)
		if (fqdn == zn || strings.HasSuffix(fqdn, "."+zn)) && (zone == nil || len(zn) > len(aws.ToString(zone.Name))) {
			zone = &z
		}
	}
	if zone == nil {
		return nil, fmt.Errorf("no hosted zone holds %s", name)
	}
	out, err := c.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: zone.Id})
	if err != nil {
		return nil, err
	}
	var found []r53types.ResourceRecordSet
	for _, rr := range out.ResourceRecordSets {
		if strings.EqualFold(aws.ToString(rr.Name), fqdn) && (rr.Type == r53types.RRTypeA || rr.Type == r53types.RRTypeCname) {
			found = append(found, rr)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%d A/CNAME record sets for %s in zone %s, want 1: %+v", len(found), name, aws.ToString(zone.Name), found)
	}
	return &found[0], nil
}

// aws record-alias NAME: NAME is an alias A record to the load balancer,
// in the load balancer's canonical zone, evaluating target health.
func checkRecordAlias(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws record-alias NAME")
	}
	rr, err := c.record(ctx, args[0])
	if err != nil {
		return err
	}
	lb, err := c.loadBalancer(ctx)
	if err != nil {
		return err
	}
	at := rr.AliasTarget
	if rr.Type != r53types.RRTypeA || at == nil || len(rr.ResourceRecords) != 0 {
		return fmt.Errorf("%s is a %s record %+v, want an alias A record", args[0], rr.Type, rr)
	}
	if !strings.EqualFold(strings.TrimSuffix(aws.ToString(at.DNSName), "."), aws.ToString(lb.DNSName)) ||
		aws.ToString(at.HostedZoneId) != aws.ToString(lb.CanonicalHostedZoneId) || !at.EvaluateTargetHealth {
		return fmt.Errorf("alias target %s (zone %s, evaluate health %v), want %s (zone %s, true)",
			aws.ToString(at.DNSName), aws.ToString(at.HostedZoneId), at.EvaluateTargetHealth, aws.ToString(lb.DNSName), aws.ToString(lb.CanonicalHostedZoneId))
	}
	return nil
}

// aws record-cname NAME: NAME is a CNAME to the load balancer, TTL 60.
func checkRecordCNAME(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws record-cname NAME")
	}
	rr, err := c.record(ctx, args[0])
	if err != nil {
		return err
	}
	lb, err := c.loadBalancer(ctx)
	if err != nil {
		return err
	}
	if rr.Type != r53types.RRTypeCname || len(rr.ResourceRecords) != 1 || aws.ToInt64(rr.TTL) != 60 ||
		!strings.EqualFold(strings.TrimSuffix(aws.ToString(rr.ResourceRecords[0].Value), "."), aws.ToString(lb.DNSName)) {
		return fmt.Errorf("%s is %+v, want a CNAME to %s with TTL 60", args[0], rr, aws.ToString(lb.DNSName))
	}
	return nil
}

// aws alb-half-built: leaves what an older or interrupted attempt might:
// a load balancer in one public subnet only (the emulator accepts it; AWS
// would not) without a listener, and a target group whose health check
// is "/". The alb rung must adopt and repair both, never duplicate them.
func makeHalfBuiltALB(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	subnets, err := c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
		c.appFilter(), {Name: aws.String("tag:wtt:role"), Values: []string{"public"}},
	}})
	if err != nil {
		return err
	}
	if len(subnets.Subnets) == 0 {
		return fmt.Errorf("the app has no public subnet; run `wtt up` first")
	}
	vpc := aws.ToString(subnets.Subnets[0].VpcId)
	if _, err := c.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(c.tgName()), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String(vpc),
		TargetType: elbtypes.TargetTypeEnumInstance, HealthCheckPath: aws.String("/"),
	}); err != nil {
		return err
	}
	_, err = c.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String(c.albName()), Scheme: elbtypes.LoadBalancerSchemeEnumInternetFacing, Type: elbtypes.LoadBalancerTypeEnumApplication,
		Subnets: []string{aws.ToString(subnets.Subnets[0].SubnetId)},
	})
	return err
}
