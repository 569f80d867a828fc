package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/rogpeppe/go-internal/testscript"
)

// Checks of the asg and multi-az rungs, read through the SDK directly.
func init() {
	checks["asg-ready"] = checkASGReady
	checks["asg-template"] = checkASGTemplate
	checks["asg-size"] = checkASGSize
	checks["asg-healthy"] = checkASGHealthy
	checks["no-standalone"] = checkNoStandalone
	checks["asg-azs"] = checkASGAZs
	checks["asg-instance-azs"] = checkASGInstanceAZs
	checks["alb-covers-asg"] = checkALBCoversASG
	checks["capacity-rebalance"] = checkCapacityRebalance
}

func (c *checker) asgName() string { return "wtt-" + c.app + "-asg" }

// group returns the app's only Auto Scaling group: a second one of the app
// (any name starting wtt-<app>) fails the check.
func (c *checker) group(ctx context.Context) (astypes.AutoScalingGroup, error) {
	out, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		return astypes.AutoScalingGroup{}, err
	}
	var found []astypes.AutoScalingGroup
	for _, g := range out.AutoScalingGroups {
		if strings.HasPrefix(aws.ToString(g.AutoScalingGroupName), "wtt-"+c.app+"-") {
			found = append(found, g)
		}
	}
	if len(found) != 1 || aws.ToString(found[0].AutoScalingGroupName) != c.asgName() {
		return astypes.AutoScalingGroup{}, fmt.Errorf("%d Auto Scaling group(s) of the app, want exactly %s", len(found), c.asgName())
	}
	return found[0], nil
}

// aws asg-ready: the group launches the app's template at $Latest, is
// attached to the app's target group with ELB health checks, carries the
// app's tags to its instances, and has a CPU target-tracking policy.
func checkASGReady(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	g, err := c.group(ctx)
	if err != nil {
		return err
	}
	if g.LaunchTemplate == nil || aws.ToString(g.LaunchTemplate.Version) != "$Latest" {
		return fmt.Errorf("group does not launch a launch template at $Latest: %+v", g.LaunchTemplate)
	}
	tg, err := c.targetGroup(ctx)
	if err != nil {
		return err
	}
	if !slices.Equal(g.TargetGroupARNs, []string{aws.ToString(tg.TargetGroupArn)}) {
		return fmt.Errorf("group attached to %v, want the app's target group only", g.TargetGroupARNs)
	}
	if aws.ToString(g.HealthCheckType) != "ELB" || aws.ToInt32(g.HealthCheckGracePeriod) != 120 {
		return fmt.Errorf("health checks %s with %ds grace, want ELB with 120s", aws.ToString(g.HealthCheckType), aws.ToInt32(g.HealthCheckGracePeriod))
	}
	propagated := false
	for _, t := range g.Tags {
		if aws.ToString(t.Key) == "wtt:app" && aws.ToString(t.Value) == c.app && aws.ToBool(t.PropagateAtLaunch) {
			propagated = true
		}
	}
	if !propagated {
		return fmt.Errorf("group does not propagate wtt:app=%s to its instances", c.app)
	}
	pols, err := c.asg.DescribePolicies(ctx, &autoscaling.DescribePoliciesInput{AutoScalingGroupName: g.AutoScalingGroupName})
	if err != nil {
		return err
	}
	for _, p := range pols.ScalingPolicies {
		tt := p.TargetTrackingConfiguration
		if aws.ToString(p.PolicyType) == "TargetTrackingScaling" && tt != nil && tt.PredefinedMetricSpecification != nil &&
			tt.PredefinedMetricSpecification.PredefinedMetricType == astypes.MetricTypeASGAverageCPUUtilization && aws.ToFloat64(tt.TargetValue) > 0 {
			return nil
		}
	}
	return fmt.Errorf("no CPU target-tracking policy among %d policies", len(pols.ScalingPolicies))
}

// aws asg-template [TYPE]: the group's template (as DescribeLaunchTemplate-
// Versions reports $Latest) requires IMDSv2 with hop limit 1, gives no
// public IP, puts instances in the private security group only, has the
// instance profile and an encrypted gp3 root volume, tags its instances
// with the app, and launches TYPE if given.
func checkASGTemplate(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	g, err := c.group(ctx)
	if err != nil {
		return err
	}
	if g.LaunchTemplate == nil {
		return fmt.Errorf("group has no launch template")
	}
	out, err := c.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: g.LaunchTemplate.LaunchTemplateId, Versions: []string{"$Latest"},
	})
	if err != nil {
		return err
	}
	if len(out.LaunchTemplateVersions) != 1 || out.LaunchTemplateVersions[0].LaunchTemplateData == nil {
		return fmt.Errorf("no $Latest version of %s", aws.ToString(g.LaunchTemplate.LaunchTemplateId))
	}
	d := out.LaunchTemplateVersions[0].LaunchTemplateData
	if mo := d.MetadataOptions; mo == nil || mo.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired || aws.ToInt32(mo.HttpPutResponseHopLimit) != 1 {
		return fmt.Errorf("template does not require IMDSv2 with hop limit 1: %+v", d.MetadataOptions)
	}
	priv, err := c.securityGroup(ctx, "wtt-"+c.app+"-private")
	if err != nil {
		return err
	}
	if len(d.NetworkInterfaces) != 1 {
		return fmt.Errorf("template has %d network interfaces, want 1", len(d.NetworkInterfaces))
	}
	ni := d.NetworkInterfaces[0]
	if aws.ToInt32(ni.DeviceIndex) != 0 || ni.AssociatePublicIpAddress == nil || aws.ToBool(ni.AssociatePublicIpAddress) ||
		!slices.Equal(ni.Groups, []string{aws.ToString(priv.GroupId)}) || len(d.SecurityGroupIds) > 0 {
		return fmt.Errorf("template interface: device %d, public IP %v, groups %v (+%v), want no public IP and only %s",
			aws.ToInt32(ni.DeviceIndex), aws.ToBool(ni.AssociatePublicIpAddress), ni.Groups, d.SecurityGroupIds, aws.ToString(priv.GroupId))
	}
	if d.IamInstanceProfile == nil || aws.ToString(d.IamInstanceProfile.Name) != "wtt-"+c.app+"-instance" {
		return fmt.Errorf("template instance profile %+v", d.IamInstanceProfile)
	}
	if len(d.BlockDeviceMappings) == 0 || d.BlockDeviceMappings[0].Ebs == nil || !aws.ToBool(d.BlockDeviceMappings[0].Ebs.Encrypted) ||
		d.BlockDeviceMappings[0].Ebs.VolumeType != ec2types.VolumeTypeGp3 {
		return fmt.Errorf("template root volume is not encrypted gp3")
	}
	tagged := false
	for _, s := range d.TagSpecifications {
		for _, t := range s.Tags {
			if s.ResourceType == ec2types.ResourceTypeInstance && aws.ToString(t.Key) == "wtt:app" && aws.ToString(t.Value) == c.app {
				tagged = true
			}
		}
	}
	if !tagged {
		return fmt.Errorf("template does not tag its instances wtt:app=%s", c.app)
	}
	if len(args) == 1 && string(d.InstanceType) != args[0] {
		return fmt.Errorf("template launches %s, want %s", d.InstanceType, args[0])
	}
	return nil
}

// aws asg-size MIN DESIRED MAX
func checkASGSize(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 3 {
		ts.Fatalf("usage: aws asg-size MIN DESIRED MAX")
	}
	g, err := c.group(ctx)
	if err != nil {
		return err
	}
	got := fmt.Sprintf("%d %d %d", aws.ToInt32(g.MinSize), aws.ToInt32(g.DesiredCapacity), aws.ToInt32(g.MaxSize))
	if want := strings.Join(args, " "); got != want {
		return fmt.Errorf("min desired max = %s, want %s", got, want)
	}
	return nil
}

// aws asg-healthy: the group has exactly its desired number of instances,
// all InService and Healthy, each a healthy target of the app's target group.
func checkASGHealthy(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	g, err := c.group(ctx)
	if err != nil {
		return err
	}
	if len(g.Instances) == 0 || len(g.Instances) != int(aws.ToInt32(g.DesiredCapacity)) {
		return fmt.Errorf("%d instance(s) in the group, desired %d", len(g.Instances), aws.ToInt32(g.DesiredCapacity))
	}
	tg, err := c.targetGroup(ctx)
	if err != nil {
		return err
	}
	th, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
	if err != nil {
		return err
	}
	health := map[string]string{}
	for _, d := range th.TargetHealthDescriptions {
		health[aws.ToString(d.Target.Id)] = string(d.TargetHealth.State)
	}
	for _, in := range g.Instances {
		id := aws.ToString(in.InstanceId)
		if in.LifecycleState != astypes.LifecycleStateInService || aws.ToString(in.HealthStatus) != "Healthy" {
			return fmt.Errorf("group instance %s is %s/%s", id, in.LifecycleState, aws.ToString(in.HealthStatus))
		}
		if health[id] != "healthy" {
			return fmt.Errorf("group instance %s is %q in the target group", id, health[id])
		}
	}
	return nil
}

// aws no-standalone: every running app instance belongs to the group (its
// aws:autoscaling:groupName tag says so), and there is at least one.
func checkNoStandalone(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	is, err := c.instances(ctx, "pending", "running", "stopping", "stopped")
	if err != nil {
		return err
	}
	if len(is) == 0 {
		return fmt.Errorf("no app instance at all")
	}
	for _, i := range is {
		owner := ""
		for _, t := range i.Tags {
			if aws.ToString(t.Key) == "aws:autoscaling:groupName" {
				owner = aws.ToString(t.Value)
			}
		}
		if owner != c.asgName() {
			return fmt.Errorf("instance %s (%s) is not in group %s (groupName tag %q)", aws.ToString(i.InstanceId), i.State.Name, c.asgName(), owner)
		}
	}
	return nil
}

// groupAZs are the distinct AZs of the group's subnets.
func (c *checker) groupAZs(ctx context.Context, g astypes.AutoScalingGroup) ([]string, error) {
	var ids []string
	for _, id := range strings.Split(aws.ToString(g.VPCZoneIdentifier), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		// An empty id list would describe every subnet of the account.
		return nil, fmt.Errorf("group has no subnets")
	}
	out, err := c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: ids})
	if err != nil {
		return nil, err
	}
	var azs []string
	for _, sn := range out.Subnets {
		if aws.ToBool(sn.MapPublicIpOnLaunch) {
			return nil, fmt.Errorf("group subnet %s is public", aws.ToString(sn.SubnetId))
		}
		if az := aws.ToString(sn.AvailabilityZone); !slices.Contains(azs, az) {
			azs = append(azs, az)
		}
	}
	slices.Sort(azs)
	return azs, nil
}

// aws asg-azs N: the group's subnets are private and span exactly N AZs.
func checkASGAZs(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	g, err := c.group(ctx)
	if err != nil {
		return err
	}
	azs, err := c.groupAZs(ctx, g)
	if err != nil {
		return err
	}
	if want := atoi(ts, args[0]); len(azs) != want {
		return fmt.Errorf("group subnets span %v, want %d AZs", azs, want)
	}
	return nil
}

// aws asg-instance-azs N: the group's instances really run in at least N
// distinct AZs (as EC2 places them, not as the group is configured).
func checkASGInstanceAZs(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	is, err := c.instances(ctx, "running")
	if err != nil {
		return err
	}
	var azs []string
	for _, i := range is {
		if i.Placement == nil {
			continue
		}
		if az := aws.ToString(i.Placement.AvailabilityZone); !slices.Contains(azs, az) {
			azs = append(azs, az)
		}
	}
	if want := atoi(ts, args[0]); len(azs) < want {
		return fmt.Errorf("running instances in %v, want at least %d AZs", azs, want)
	}
	return nil
}

// aws alb-covers-asg: the load balancer has a subnet in every AZ of the group.
func checkALBCoversASG(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	g, err := c.group(ctx)
	if err != nil {
		return err
	}
	azs, err := c.groupAZs(ctx, g)
	if err != nil {
		return err
	}
	lb, err := c.loadBalancer(ctx)
	if err != nil {
		return err
	}
	var lbAZs []string
	for _, z := range lb.AvailabilityZones {
		lbAZs = append(lbAZs, aws.ToString(z.ZoneName))
	}
	for _, az := range azs {
		if !slices.Contains(lbAZs, az) {
			return fmt.Errorf("load balancer spans %v, not the group's %s", lbAZs, az)
		}
	}
	return nil
}

// aws capacity-rebalance: the group has capacity rebalancing on.
func checkCapacityRebalance(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	g, err := c.group(ctx)
	if err != nil {
		return err
	}
	if !aws.ToBool(g.CapacityRebalance) {
		return fmt.Errorf("capacity rebalancing is off")
	}
	return nil
}
