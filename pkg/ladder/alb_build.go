package ladder

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
)

// What the alb rung's steps do when they run. Every function starts from
// e.State, observed just before the step, and looks up by name what the
// same step may have created in an earlier, interrupted run.

const (
	healthPath = "/healthz"
	// drainSeconds is how long a deregistered target finishes its requests.
	// AWS's default, 300 s, is made for long uploads; the time server
	// answers in milliseconds.
	drainSeconds = 30
)

func (e *Env) elbTags(role string) []elbtypes.Tag {
	return []elbtypes.Tag{
		{Key: aws.String(names.TagApp), Value: aws.String(e.App)},
		{Key: aws.String(names.TagManagedBy), Value: aws.String(names.ManagedBy)},
		{Key: aws.String(names.TagRole), Value: aws.String(role)},
	}
}

// ensureALBSecurityGroups makes the load balancer's group (open to the
// world on tcp/80) and the instances' group (tcp/80 from the load
// balancer's group and nothing else).
func (e *Env) ensureALBSecurityGroups(ctx context.Context) error {
	if e.State.Network.VPCID == "" {
		return errNoSubnets
	}
	n := &e.State.Network
	albID := ""
	var albMade *observe.SecurityGroup
	if albSGReady(e.State) {
		albID = n.ALBSG.ID
	} else {
		id, made, err := e.ensureSecurityGroup(ctx, n.ALBSG, e.N.ALBSG(), "alb", "WhatsTheTime.com load balancer, open to the internet on tcp/80", httpFromAnywhere())
		if err != nil {
			return err
		}
		albID, albMade = id, made
	}
	if n.PrivateSG != nil && admitsOnlyFrom(n.PrivateSG, albID) {
		return nil
	}
	id, privMade, err := e.ensureSecurityGroup(ctx, n.PrivateSG, e.N.PrivateSG(), privateRole, "WhatsTheTime.com instances, reachable only from the load balancer", httpFromGroup(albID))
	if err != nil {
		return err
	}
	if n.PrivateSG != nil {
		return e.revokeAllBut(ctx, n.PrivateSG, id, albID)
	}
	if albMade != nil && privMade != nil {
		// Both made by this step: their rules are exactly what it gave.
		e.took(observe.KindSecurityGroups, func(s *observe.State) { s.Network.ALBSG, s.Network.PrivateSG = albMade, privMade })
	}
	return nil
}

// revokeAllBut removes every ingress rule of the private group except
// tcp/80 from the load balancer's group: anything else would let traffic
// reach the instances around the load balancer.
func (e *Env) revokeAllBut(ctx context.Context, g *observe.SecurityGroup, id, albID string) error {
	var extra []ec2types.IpPermission
	for _, r := range g.Ingress {
		p := ec2types.IpPermission{IpProtocol: aws.String(r.Protocol)}
		if r.Protocol != "-1" {
			p.FromPort, p.ToPort = aws.Int32(r.FromPort), aws.Int32(r.ToPort)
		}
		keep := r.Protocol == "tcp" && r.FromPort == 80 && r.ToPort == 80
		for _, c := range r.CIDRs {
			if strings.Contains(c, ":") {
				p.Ipv6Ranges = append(p.Ipv6Ranges, ec2types.Ipv6Range{CidrIpv6: aws.String(c)})
			} else {
				p.IpRanges = append(p.IpRanges, ec2types.IpRange{CidrIp: aws.String(c)})
			}
		}
		for _, src := range r.SourceGroups {
			if !(keep && src == albID) {
				p.UserIdGroupPairs = append(p.UserIdGroupPairs, ec2types.UserIdGroupPair{GroupId: aws.String(src)})
			}
		}
		if len(p.IpRanges)+len(p.Ipv6Ranges)+len(p.UserIdGroupPairs) > 0 {
			extra = append(extra, p)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	if _, err := e.C.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
		GroupId: aws.String(id), IpPermissions: extra,
	}); err != nil && !hasCode(err, "InvalidPermission.NotFound") {
		return fmt.Errorf("closing %s to everything but the load balancer: %w", g.Name, err)
	}
	return nil
}

// ensureTargetGroup creates the target group, or fixes its health check.
func (e *Env) ensureTargetGroup(ctx context.Context) error {
	tg := e.State.TargetGroup
	if tg != nil {
		if tg.HealthPath == healthPath {
			return nil
		}
		if _, err := e.C.ELB.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{
			TargetGroupArn: aws.String(tg.ARN), HealthCheckPath: aws.String(healthPath), HealthCheckProtocol: elbtypes.ProtocolEnumHttp,
			HealthCheckIntervalSeconds: aws.Int32(10), HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2),
		}); err != nil {
			return fmt.Errorf("setting the health check of %s: %w", tg.Name, err)
		}
		return nil
	}
	if e.State.Network.VPCID == "" {
		return errNoSubnets
	}
	out, err := e.C.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(e.N.TargetGroup()), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
		VpcId: aws.String(e.State.Network.VPCID), TargetType: elbtypes.TargetTypeEnumInstance,
		HealthCheckEnabled: aws.Bool(true), HealthCheckProtocol: elbtypes.ProtocolEnumHttp, HealthCheckPath: aws.String(healthPath),
		HealthCheckIntervalSeconds: aws.Int32(10), HealthCheckTimeoutSeconds: aws.Int32(5),
		HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2),
		Matcher: &elbtypes.Matcher{HttpCode: aws.String("200")},
		Tags:    e.elbTags("target-group"),
	})
	arn := ""
	var made *observe.TargetGroup
	switch {
	case err == nil:
		tg := out.TargetGroups[0]
		arn = aws.ToString(tg.TargetGroupArn)
		made = &observe.TargetGroup{
			ARN: arn, Name: aws.ToString(tg.TargetGroupName), Protocol: string(tg.Protocol), Port: aws.ToInt32(tg.Port),
			HealthPath: aws.ToString(tg.HealthCheckPath), Targets: []observe.Target{},
			HealthInterval: aws.ToInt32(tg.HealthCheckIntervalSeconds), HealthTimeout: aws.ToInt32(tg.HealthCheckTimeoutSeconds),
			HealthyThreshold: aws.ToInt32(tg.HealthyThresholdCount), UnhealthyThreshold: aws.ToInt32(tg.UnhealthyThresholdCount),
		}
	case hasCode(err, "DuplicateTargetGroupName"):
		// Created by an earlier run after this step's state was observed.
		if arn, err = e.targetGroupARN(ctx); err != nil {
			return err
		}
	default:
		return fmt.Errorf("creating target group %s: %w", e.N.TargetGroup(), err)
	}
	if _, err := e.C.ELB.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
		TargetGroupArn: aws.String(arn),
		Attributes:     []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String(strconv.Itoa(drainSeconds))}},
	}); err != nil {
		return fmt.Errorf("setting the drain time of %s: %w", e.N.TargetGroup(), err)
	}
	if made != nil {
		// Made by this step, as its answer describes it: no targets yet.
		e.took(observe.KindTargetGroup|observe.KindTargets, func(s *observe.State) { s.TargetGroup = made })
	}
	return nil
}

// ensureLoadBalancer creates the internet-facing load balancer in one
// public subnet per AZ (or repairs one that lacks AZs or the security
// group), waits until it is active, and makes its :80 listener forward to
// the target group.
func (e *Env) ensureLoadBalancer(ctx context.Context) error {
	subnets, err := albSubnets(e.State.Network)
	if err != nil {
		return err
	}
	albSG := e.State.Network.ALBSG
	if albSG == nil {
		return fmt.Errorf("security group %s is missing; run the same command again to create it", e.N.ALBSG())
	}
	tgARN, err := e.targetGroupARN(ctx)
	if err != nil {
		return err
	}
	var subnetIDs []string
	for _, sn := range subnets {
		subnetIDs = append(subnetIDs, sn.ID)
	}
	arn, created, err := e.createOrRepairLoadBalancer(ctx, subnetIDs, albSG.ID)
	if err != nil {
		return err
	}
	active, err := e.waitLoadBalancerActive(ctx, arn)
	if err != nil {
		return err
	}
	listener, err := e.ensureListener(ctx, arn, tgARN, created)
	if err != nil || !created || listener == "" {
		return err
	}
	// Made by this step: as the wait last described it, with the
	// listener it added. A target group without targets has none whose
	// state a new listener changes.
	lb := observe.LoadBalancerFrom(active)
	lb.ListenerARN, lb.ListenerTarget = listener, tgARN
	k := observe.KindBalancer
	if tg := e.State.TargetGroup; tg != nil && tg.ARN == tgARN && len(tg.Targets) == 0 {
		k |= observe.KindTargets
	}
	e.took(k, func(s *observe.State) { s.LoadBalancer = lb })
	return nil
}

// createOrRepairLoadBalancer returns the load balancer's ARN, and whether
// it created it. The emulator creates a second load balancer for a
// repeated name, so the observed state comes first: discovery looks the
// load balancer up by its name, and the lease keeps any other run from
// making it since.
func (e *Env) createOrRepairLoadBalancer(ctx context.Context, subnetIDs []string, sg string) (string, bool, error) {
	lb := e.State.LoadBalancer
	if lb == nil {
		created := false
		arn, err := createOrAdopt(ctx, "creating load balancer "+e.N.ALB(), func(ctx context.Context) (string, error) {
			out, err := e.C.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
				Name: aws.String(e.N.ALB()), Type: elbtypes.LoadBalancerTypeEnumApplication,
				Scheme: elbtypes.LoadBalancerSchemeEnumInternetFacing, IpAddressType: elbtypes.IpAddressTypeIpv4,
				Subnets: subnetIDs, SecurityGroups: []string{sg}, Tags: e.elbTags("load-balancer"),
			})
			if err != nil {
				return "", err
			}
			created = true
			return aws.ToString(out.LoadBalancers[0].LoadBalancerArn), nil
		}, func(ctx context.Context) (string, bool, error) {
			found, err := e.C.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{e.N.ALB()}})
			if hasCode(err, "LoadBalancerNotFound") {
				return "", false, nil
			}
			if err != nil || len(found.LoadBalancers) == 0 {
				return "", false, err
			}
			return aws.ToString(found.LoadBalancers[0].LoadBalancerArn), true, nil
		})
		if err != nil {
			return "", false, fmt.Errorf("creating load balancer %s: %w", e.N.ALB(), err)
		}
		return arn, created, nil
	}
	if len(lb.AZs) < 2 {
		if _, err := e.C.ELB.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: aws.String(lb.ARN), Subnets: subnetIDs}); err != nil {
			return "", false, fmt.Errorf("spreading load balancer %s over %d AZs: %w", lb.Name, len(subnetIDs), err)
		}
	}
	if !slices.Contains(lb.SecurityGroups, sg) {
		if _, err := e.C.ELB.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: aws.String(lb.ARN), SecurityGroups: []string{sg}}); err != nil {
			return "", false, fmt.Errorf("giving load balancer %s security group %s: %w", lb.Name, e.N.ALBSG(), err)
		}
	}
	return lb.ARN, false, nil
}

// waitLoadBalancerActive waits until the load balancer is active and
// returns it as the last poll described it.
func (e *Env) waitLoadBalancerActive(ctx context.Context, arn string) (elbtypes.LoadBalancer, error) {
	w := elbv2.NewLoadBalancerAvailableWaiter(e.C.ELB, func(o *elbv2.LoadBalancerAvailableWaiterOptions) {
		o.MinDelay = e.pollInterval()
		o.MaxDelay = e.maxPollDelay(15 * time.Second)
	})
	start := time.Now()
	out, err := w.WaitForOutput(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}}, e.waitTimeout())
	if err != nil {
		return elbtypes.LoadBalancer{}, &WaitError{What: "load balancer " + e.N.ALB() + " to become active", After: time.Since(start), Err: err,
			Next: "run the same command again; AWS keeps provisioning it meanwhile (it usually takes 2 to 4 minutes)"}
	}
	for _, lb := range out.LoadBalancers {
		return lb, nil
	}
	return elbtypes.LoadBalancer{}, fmt.Errorf("load balancer %s not found", arn)
}

// ensureListener makes port 80 forward to the target group, reusing a
// listener already on the port: AWS allows one per port. A load balancer
// this step created has none to look for. It returns the listener's ARN
// when it created it.
func (e *Env) ensureListener(ctx context.Context, lbARN, tgARN string, newLB bool) (string, error) {
	forward := []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}}
	if !newLB {
		out, err := e.C.ELB.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
		if err != nil {
			return "", fmt.Errorf("listing listeners of %s: %w", e.N.ALB(), err)
		}
		for _, l := range out.Listeners {
			if aws.ToInt32(l.Port) != 80 {
				continue
			}
			if slices.ContainsFunc(l.DefaultActions, func(a elbtypes.Action) bool { return aws.ToString(a.TargetGroupArn) == tgARN }) {
				return "", nil
			}
			if _, err := e.C.ELB.ModifyListener(ctx, &elbv2.ModifyListenerInput{
				ListenerArn: l.ListenerArn, Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80), DefaultActions: forward,
			}); err != nil {
				return "", fmt.Errorf("pointing the :80 listener of %s at %s: %w", e.N.ALB(), e.N.TargetGroup(), err)
			}
			return "", nil
		}
	}
	arn, err := createOrAdopt(ctx, "creating the :80 listener of "+e.N.ALB(), func(ctx context.Context) (string, error) {
		out, err := e.C.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{
			LoadBalancerArn: aws.String(lbARN), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80), DefaultActions: forward,
		})
		if err != nil || len(out.Listeners) == 0 {
			return "", err
		}
		return aws.ToString(out.Listeners[0].ListenerArn), nil
	}, func(ctx context.Context) (string, bool, error) {
		out, err := e.C.ELB.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
		if err != nil {
			return "", false, err
		}
		for _, l := range out.Listeners {
			if aws.ToInt32(l.Port) == 80 {
				return aws.ToString(l.ListenerArn), true, nil
			}
		}
		return "", false, nil
	})
	if err != nil && !hasCode(err, "DuplicateListener") {
		return "", fmt.Errorf("creating the :80 listener of %s: %w", e.N.ALB(), err)
	}
	return arn, nil
}

// ensurePrivateFleet launches the private instances that replace the public
// ones, registers them and waits until every one is healthy: only then may
// DNS move and the old instances go.
func (e *Env) ensurePrivateFleet(ctx context.Context, o Options) error {
	priv := e.State.Network.PrivateSG
	if priv == nil {
		return fmt.Errorf("security group %s is missing; run the same command again to create it", e.N.PrivateSG())
	}
	subnets := e.State.Network.SubnetsWhere(false)
	if len(subnets) == 0 {
		return errNoSubnets
	}
	spec := launchSpec{Role: privateRole, Type: albInstanceType(e.State, o), Subnets: subnets, SG: priv.ID, Public: false}
	ids, err := e.ensureInstances(ctx, spec, albFleetSize(e.State))
	if err != nil {
		return err
	}
	return e.registerHealthy(ctx, ids)
}

// retirePublicFleet removes the old way in, once the new one works: the
// public instances (out of the target group first, should anyone have
// registered them) and the app's Elastic IPs.
func (e *Env) retirePublicFleet(ctx context.Context) error {
	old := retiringFleet(e.State)
	var ids []string
	for _, i := range old {
		ids = append(ids, i.ID)
	}
	if len(ids) > 0 {
		if err := e.checkServingBehindALB(); err != nil {
			return err
		}
		if err := e.drainAndTerminate(ctx, ids); err != nil {
			return err
		}
	}
	return e.deleteEIPs(ctx)
}

// checkServingBehindALB refuses to take the public instances away unless
// the load balancer has a healthy private target and the published name
// points at it: the guarantee of zero downtime, checked against AWS rather
// than assumed from the order of steps.
func (e *Env) checkServingBehindALB() error {
	s := e.State
	if s.LoadBalancer == nil || s.TargetGroup == nil {
		return fmt.Errorf("refusing to terminate the public instances: load balancer %s is not there to take their traffic; run the same command again", e.N.ALB())
	}
	healthy := 0
	for _, i := range behindALB(s) {
		if slices.ContainsFunc(s.TargetGroup.Targets, func(t observe.Target) bool { return t.ID == i.ID && t.Health == "healthy" }) {
			healthy++
		}
	}
	if healthy == 0 {
		return fmt.Errorf("refusing to terminate the public instances: no private instance is a healthy target of %s yet; run the same command again", e.N.TargetGroup())
	}
	if d := s.DNS; d != nil && d.Name != "" && !albRecordReady(s, publication{name: normalizeName(d.Name), cname: d.Type == "CNAME"}) {
		return fmt.Errorf("refusing to terminate the public instances: DNS record %s does not point at the load balancer yet; run the same command again", d.Name)
	}
	return nil
}
