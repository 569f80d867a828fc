package ladder

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/pricing"
)

// Down plans deleting everything tagged for the app, in dependency order:
// what routes traffic goes before what serves it, and the network last.
func Down(s *observe.State) *plan.Plan {
	p := &plan.Plan{App: s.App, Region: s.Region, Operation: "down", From: "", To: "none", Steps: []*plan.Step{}}
	p.CostBefore = Cost(s)
	p.CostAfter = pricing.Estimate{}
	del := func(resource string, calls []string, do func(e *Env, ctx context.Context) error) {
		p.Steps = append(p.Steps, &plan.Step{Rung: "down", Action: plan.Delete, Resource: resource, Calls: calls,
			Do: func(ctx context.Context, x *plan.Exec) error { return do(env(x), ctx) }})
	}
	if s.Group != nil {
		// Only the reserved rung, which needs the group, records purchase
		// intents: an interrupted purchase is accounted for (its
		// reservations tagged) and its intent removed with the group.
		p.Steps = append(p.Steps, &plan.Step{Rung: "down", Action: plan.Delete,
			Resource: "Auto Scaling group " + s.Group.Name + fmt.Sprintf(" and its %d instance(s)", len(s.Group.Instances)),
			Calls:    append([]string{"autoscaling:DeleteAutoScalingGroup", "autoscaling:DescribeAutoScalingGroups", "ec2:CreateTags"}, reservedIntentCalls...),
			Do: func(ctx context.Context, x *plan.Exec) error {
				e := env(x)
				if err := e.reconcileReservedIntent(ctx, x); err != nil {
					return err
				}
				return e.deleteGroup(ctx)
			}})
	}
	if s.LaunchTemplate != nil {
		del("launch template "+s.LaunchTemplate.Name, []string{"ec2:DeleteLaunchTemplate"}, (*Env).deleteLaunchTemplate)
	}
	if s.DNS != nil {
		what := "DNS record " + s.DNS.Name
		if s.DNS.ZoneOwned {
			what += " and hosted zone " + s.DNS.ZoneName + " (created by wtt)"
		} else {
			what += " (the hosted zone " + s.DNS.ZoneName + " was not created by wtt and stays)"
		}
		del(what, []string{"route53:ChangeResourceRecordSets", "route53:DeleteHostedZone", "route53:ListResourceRecordSets"}, (*Env).deleteDNS)
	}
	if s.LoadBalancer != nil {
		del("load balancer "+s.LoadBalancer.Name+" and its listener",
			[]string{"elasticloadbalancing:DeleteListener", "elasticloadbalancing:DeleteLoadBalancer"}, (*Env).deleteLoadBalancer)
	}
	if s.TargetGroup != nil {
		del("target group "+s.TargetGroup.Name, []string{"elasticloadbalancing:DeleteTargetGroup"}, (*Env).deleteTargetGroup)
	}
	if n := len(s.Standalone()) + countStopped(s); n > 0 {
		del(fmt.Sprintf("%d instance(s)", n), []string{"ec2:TerminateInstances", "ec2:DescribeInstances"}, (*Env).deleteInstances)
	}
	if len(s.EIPs) > 0 {
		del(fmt.Sprintf("%d Elastic IP(s)", len(s.EIPs)), []string{"ec2:DisassociateAddress", "ec2:ReleaseAddress"}, (*Env).deleteEIPs)
	}
	if s.Network.VPCID != "" {
		what := "network " + s.Network.VPCID
		for _, n := range s.StrayNetworks {
			what += ", stray " + n.VPCID
		}
		del(what+" (security groups, endpoint, subnets, route tables, internet gateway, VPC)",
			[]string{"ec2:DeleteSecurityGroup", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteVpcEndpoints", "ec2:DeleteSubnet",
				"ec2:DeleteRouteTable", "ec2:DisassociateRouteTable", "ec2:DetachInternetGateway", "ec2:DeleteInternetGateway", "ec2:DeleteVpc"},
			(*Env).deleteNetwork)
	}
	if s.Bucket != "" {
		del("S3 bucket "+s.Bucket+" and the time server binaries in it",
			[]string{"s3:ListBucket", "s3:DeleteObject", "s3:DeleteBucket"}, (*Env).deleteBucket)
	}
	if s.Role != "" || s.InstanceProfile != "" {
		del("IAM role and instance profile "+"wtt-"+s.App+"-instance",
			[]string{"iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile", "iam:DetachRolePolicy", "iam:DeleteRolePolicy", "iam:DeleteRole"},
			(*Env).deleteRole)
	}
	if n := len(s.Reserved); n > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d Reserved Instance purchase(s) cannot be cancelled: they keep billing until their term ends (sell them on the Reserved Instance Marketplace if allowed)", n))
	}
	return p
}

func countStopped(s *observe.State) int {
	n := 0
	for _, i := range s.Instances {
		if !i.Live() && i.Group == "" {
			n++
		}
	}
	return n
}

func (e *Env) deleteGroup(ctx context.Context) error {
	g := e.State.Group
	if g == nil {
		return nil
	}
	if _, err := e.C.AutoScaling.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(g.Name), ForceDelete: aws.Bool(true),
	}); err != nil && !containsFold(err.Error(), "not found") {
		return fmt.Errorf("deleting group %s: %w", g.Name, err)
	}
	return e.poll(ctx, "Auto Scaling group "+g.Name+" to be deleted", func(ctx context.Context) (bool, error) {
		out, err := e.C.AutoScaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{g.Name}})
		if err != nil {
			return false, err
		}
		return len(out.AutoScalingGroups) == 0, nil
	})
}

func (e *Env) deleteLaunchTemplate(ctx context.Context) error {
	lt := e.State.LaunchTemplate
	if lt == nil {
		return nil
	}
	if _, err := e.C.EC2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(lt.ID)}); err != nil &&
		!hasCode(err, "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException") {
		return fmt.Errorf("deleting launch template %s: %w", lt.Name, err)
	}
	return nil
}

func (e *Env) deleteDNS(ctx context.Context) error {
	d := e.State.DNS
	if d == nil {
		return nil
	}
	rr, err := observe.FindRecord(ctx, e.C.Route53, d.ZoneID, d.Name)
	if err != nil {
		return err
	}
	if rr != nil {
		if _, err := e.C.Route53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(d.ZoneID),
			ChangeBatch:  &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionDelete, ResourceRecordSet: rr}}},
		}); err != nil && !containsFold(err.Error(), "not found") {
			return fmt.Errorf("deleting record %s: %w", d.Name, err)
		}
	}
	if d.ZoneOwned {
		if _, err := e.C.Route53.DeleteHostedZone(ctx, &route53.DeleteHostedZoneInput{Id: aws.String(d.ZoneID)}); err != nil && !hasCode(err, "NoSuchHostedZone") {
			return fmt.Errorf("deleting hosted zone %s: %w", d.ZoneName, err)
		}
	}
	return nil
}

func (e *Env) deleteLoadBalancer(ctx context.Context) error {
	lb := e.State.LoadBalancer
	if lb == nil {
		return nil
	}
	if lb.ListenerARN != "" {
		if _, err := e.C.ELB.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: aws.String(lb.ListenerARN)}); err != nil && !hasCode(err, "ListenerNotFound") {
			return fmt.Errorf("deleting listener: %w", err)
		}
	}
	if _, err := e.C.ELB.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(lb.ARN)}); err != nil && !hasCode(err, "LoadBalancerNotFound") {
		return fmt.Errorf("deleting load balancer %s: %w", lb.Name, err)
	}
	return e.poll(ctx, "load balancer "+lb.Name+" to be deleted", func(ctx context.Context) (bool, error) {
		_, err := e.C.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{lb.ARN}})
		if hasCode(err, "LoadBalancerNotFound") {
			return true, nil
		}
		return false, err
	})
}

func (e *Env) deleteTargetGroup(ctx context.Context) error {
	tg := e.State.TargetGroup
	if tg == nil {
		return nil
	}
	// A target group stays "in use" for a moment after its load balancer goes.
	return e.retryWhile(ctx, "ResourceInUse", func() error {
		_, err := e.C.ELB.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(tg.ARN)})
		if hasCode(err, "TargetGroupNotFound") {
			return nil
		}
		return err
	})
}

func (e *Env) deleteInstances(ctx context.Context) error {
	var ids []string
	for _, i := range e.State.Instances {
		if i.Group == "" {
			ids = append(ids, i.ID)
		}
	}
	_, err := e.terminate(ctx, ids)
	return err
}

func (e *Env) deleteEIPs(ctx context.Context) error {
	for _, a := range e.State.EIPs {
		if a.AssociationID != "" {
			if _, err := e.C.EC2.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: aws.String(a.AssociationID)}); err != nil &&
				!hasCode(err, "InvalidAssociationID.NotFound") {
				return fmt.Errorf("disassociating %s: %w", a.PublicIP, err)
			}
		}
		if _, err := e.C.EC2.ReleaseAddress(ctx, &ec2.ReleaseAddressInput{AllocationId: aws.String(a.AllocationID)}); err != nil &&
			!hasCode(err, "InvalidAllocationID.NotFound") {
			return fmt.Errorf("releasing %s: %w", a.PublicIP, err)
		}
	}
	return nil
}

// deleteNetwork deletes the app's VPC and any stray one in one step: once
// the main VPC is gone a stray would be observed as the main one.
func (e *Env) deleteNetwork(ctx context.Context) error {
	for _, n := range append([]observe.Network{e.State.Network}, e.State.StrayNetworks...) {
		if err := e.deleteNetworkOf(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// deleteNetworkOf deletes one VPC and everything in it wtt made.
func (e *Env) deleteNetworkOf(ctx context.Context, n observe.Network) error {
	if n.VPCID == "" {
		return nil
	}
	// Security groups that reference each other must lose those rules first.
	for _, g := range []*observe.SecurityGroup{n.PrivateSG, n.ALBSG, n.WebSG} {
		if g == nil {
			continue
		}
		for _, r := range g.Ingress {
			if len(r.SourceGroups) == 0 {
				continue
			}
			var pairs []ec2types.UserIdGroupPair
			for _, sg := range r.SourceGroups {
				pairs = append(pairs, ec2types.UserIdGroupPair{GroupId: aws.String(sg)})
			}
			_, _ = e.C.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(g.ID),
				IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String(r.Protocol), FromPort: aws.Int32(r.FromPort), ToPort: aws.Int32(r.ToPort), UserIdGroupPairs: pairs}}})
		}
	}
	for _, g := range []*observe.SecurityGroup{n.PrivateSG, n.ALBSG, n.WebSG} {
		if g == nil {
			continue
		}
		// Network interfaces of terminated instances and deleted load
		// balancers linger for a while on AWS.
		if err := e.retryWhile(ctx, "DependencyViolation", func() error {
			_, err := e.C.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(g.ID)})
			if hasCode(err, "InvalidGroup.NotFound") {
				return nil
			}
			return err
		}); err != nil {
			return fmt.Errorf("deleting security group %s: %w", g.Name, err)
		}
	}
	if n.S3EndpointID != "" {
		// A repeat of a delete whose answer was lost: AWS lists the endpoint
		// as unsuccessful (not found), the emulator fails on the route the
		// first call removed. Both mean it is gone.
		if _, err := e.C.EC2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{n.S3EndpointID}}); err != nil &&
			!hasCode(err, "InvalidVpcEndpointId.NotFound", "InvalidRoute.NotFound") {
			return fmt.Errorf("deleting the S3 endpoint: %w", err)
		}
	}
	for _, rt := range n.RouteTables {
		for _, a := range rt.AssociationIDs {
			if _, err := e.C.EC2.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: aws.String(a)}); err != nil &&
				!hasCode(err, "InvalidAssociationID.NotFound") {
				return fmt.Errorf("disassociating route table %s: %w", rt.ID, err)
			}
		}
	}
	for _, sn := range n.Subnets {
		if err := e.retryWhile(ctx, "DependencyViolation", func() error {
			_, err := e.C.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(sn.ID)})
			if hasCode(err, "InvalidSubnetID.NotFound") {
				return nil
			}
			return err
		}); err != nil {
			return fmt.Errorf("deleting subnet %s: %w", sn.ID, err)
		}
	}
	for _, rt := range n.RouteTables {
		if _, err := e.C.EC2.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String(rt.ID)}); err != nil && !hasCode(err, "InvalidRouteTableID.NotFound") {
			return fmt.Errorf("deleting route table %s: %w", rt.ID, err)
		}
	}
	if n.IGWID != "" {
		if n.IGWAttached {
			if _, err := e.C.EC2.DetachInternetGateway(ctx, &ec2.DetachInternetGatewayInput{InternetGatewayId: aws.String(n.IGWID), VpcId: aws.String(n.VPCID)}); err != nil &&
				!hasCode(err, "Gateway.NotAttached", "InvalidInternetGatewayID.NotFound") {
				return fmt.Errorf("detaching internet gateway: %w", err)
			}
		}
		if _, err := e.C.EC2.DeleteInternetGateway(ctx, &ec2.DeleteInternetGatewayInput{InternetGatewayId: aws.String(n.IGWID)}); err != nil &&
			!hasCode(err, "InvalidInternetGatewayID.NotFound") {
			return fmt.Errorf("deleting internet gateway: %w", err)
		}
	}
	return e.retryWhile(ctx, "DependencyViolation", func() error {
		_, err := e.C.EC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(n.VPCID)})
		if hasCode(err, "InvalidVpcID.NotFound") {
			return nil
		}
		return err
	})
}

func (e *Env) deleteBucket(ctx context.Context) error {
	b := aws.String(e.State.Bucket)
	p := s3.NewListObjectsV2Paginator(e.C.S3, &s3.ListObjectsV2Input{Bucket: b})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing bucket %s: %w", e.State.Bucket, err)
		}
		for _, o := range page.Contents {
			if _, err := e.C.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: o.Key}); err != nil {
				return fmt.Errorf("deleting s3://%s/%s: %w", e.State.Bucket, aws.ToString(o.Key), err)
			}
		}
	}
	if _, err := e.C.S3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b}); err != nil && !hasCode(err, "NoSuchBucket") {
		return fmt.Errorf("deleting bucket %s: %w", e.State.Bucket, err)
	}
	return nil
}

func (e *Env) deleteRole(ctx context.Context) error {
	role, profile := aws.String(e.N.Role()), aws.String(e.N.InstanceProfile())
	gone := func(err error) bool { return err == nil || hasCode(err, "NoSuchEntity") }
	if e.State.InstanceProfile != "" {
		if _, err := e.C.IAM.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: profile, RoleName: role}); !gone(err) {
			return fmt.Errorf("removing role from instance profile: %w", err)
		}
		if _, err := e.C.IAM.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: profile}); !gone(err) {
			return fmt.Errorf("deleting instance profile: %w", err)
		}
	}
	if e.State.Role != "" {
		if _, err := e.C.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: role, PolicyArn: aws.String(ssmManagedPolicy)}); !gone(err) {
			return fmt.Errorf("detaching the Session Manager policy: %w", err)
		}
		if _, err := e.C.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: role, PolicyName: aws.String("read-time-server")}); !gone(err) {
			return fmt.Errorf("deleting the role's policy: %w", err)
		}
		if _, err := e.C.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: role}); !gone(err) {
			return fmt.Errorf("deleting role: %w", err)
		}
	}
	return nil
}

// poll checks done every poll interval until it is true or the wait times out.
func (e *Env) poll(ctx context.Context, what string, done func(context.Context) (bool, error)) error {
	start := time.Now()
	for {
		ok, err := done(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Since(start) > e.waitTimeout() {
			return &WaitError{What: what, After: time.Since(start), Err: fmt.Errorf("still not done"),
				Next: "run the same command again; AWS continues the work meanwhile"}
		}
		if err := sleep(ctx, e.pollInterval()); err != nil {
			return err
		}
	}
}

// retryWhile repeats f while it fails with the given API error code, which
// AWS uses for "a dependency is still going away".
func (e *Env) retryWhile(ctx context.Context, code string, f func() error) error {
	start := time.Now()
	for {
		err := f()
		if err == nil || !hasCode(err, code) {
			return err
		}
		if time.Since(start) > e.waitTimeout() {
			return fmt.Errorf("still %s after %s: %w", strings.ToLower(code), time.Since(start).Round(time.Second), err)
		}
		if err := sleep(ctx, e.pollInterval()); err != nil {
			return err
		}
	}
}
