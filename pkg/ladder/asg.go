package ladder

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// The asg rung hands the instances behind the load balancer to an Auto
// Scaling group: a launch template that launches exactly what the alb rung
// launched by hand, a group attached to the target group, a target-tracking
// policy. The group's instances serve before the standalone ones drain and
// go, so users see no downtime. See docs/rungs-asg-multiaz.md.

const (
	// healthGrace is how long a new instance may take to boot and fetch
	// the time server before a failing /healthz gets it replaced.
	healthGrace = 120
	// defaultCPUTarget is the average CPU the policy holds when no
	// --cpu-target is given.
	defaultCPUTarget = 50.0
	asgNoDowntime    = "the group's instances are healthy targets before the standalone ones drain and stop"
)

var (
	groupCalls = []string{
		"autoscaling:DescribeAutoScalingGroups", "autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup",
		"autoscaling:AttachLoadBalancerTargetGroups", "autoscaling:CreateOrUpdateTags",
		"elasticloadbalancing:DescribeTargetGroups", "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions",
		// What AWS checks on the caller when a group launches from a
		// template with an instance profile, and creates on an account's
		// first group.
		"ec2:RunInstances", "ec2:CreateTags", "iam:PassRole", "iam:CreateServiceLinkedRole",
	}
	policyCalls = []string{"autoscaling:PutScalingPolicy"}
	// retireStandaloneCalls: wait for the group, drain, terminate.
	retireStandaloneCalls = uniqueCalls(groupOpsCalls, deregisterTargetCalls, []string{"ec2:TerminateInstances", "ec2:DescribeInstances"})
)

// groupSize is the group's capacity: what the user asked for, else what
// the fleet is today.
type groupSize struct{ Min, Desired, Max int32 }

// defaultMax leaves room for the policy to scale out to twice the fleet,
// and by at least two instances for a small one.
func defaultMax(desired int32) int32 { return max(2*desired, desired+2) }

// sizeFor derives the group's sizes. An existing group keeps its sizes
// unless flags say otherwise; a new one starts at today's fleet size, with
// min = desired and room to scale out (defaultMax).
func sizeFor(s *observe.State, o Options) (groupSize, error) {
	var z groupSize
	if g := s.Group; g != nil {
		z = groupSize{Min: g.Min, Desired: g.Desired, Max: g.Max}
	} else {
		z.Desired = max(int32(len(s.Standalone())), 1)
		if o.Min > 0 {
			z.Desired = max(z.Desired, o.Min)
		}
		if o.Max > 0 {
			z.Desired = min(z.Desired, o.Max)
		}
		if o.Desired > 0 {
			z.Desired = o.Desired
		}
		z.Min, z.Max = z.Desired, defaultMax(z.Desired)
	}
	if o.Desired > 0 {
		z.Desired = o.Desired
	}
	if o.Min > 0 {
		z.Min = o.Min
	}
	if o.Max > 0 {
		z.Max = o.Max
	}
	if z.Min > z.Desired || z.Desired > z.Max || z.Max < 1 {
		return z, cmdutil.Usagef("pass sizes with --min <= --desired <= --max (and --max at least 1)",
			"Auto Scaling group sizes min %d, desired %d, max %d are inconsistent", z.Min, z.Desired, z.Max)
	}
	return z, nil
}

// groupType is the instance type the group launches: the template's when
// it exists, else the one most of today's instances run. Like the alb rung,
// the asg rung does not change the type; `wtt scale --vertical` does.
func groupType(s *observe.State, o Options) string {
	if lt := s.LaunchTemplate; lt != nil && lt.InstanceType != "" {
		return lt.InstanceType
	}
	count := map[string]int{}
	best := ""
	for _, i := range s.Standalone() {
		if i.Type == "" || i.Type == unknown {
			continue
		}
		count[i.Type]++
		if best == "" || count[i.Type] > count[best] {
			best = i.Type
		}
	}
	if best != "" {
		return best
	}
	return o.instanceType()
}

func planASG(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	if s.LoadBalancer == nil || s.TargetGroup == nil || s.Network.PrivateSG == nil {
		return nil, nil, fmt.Errorf("the asg rung needs the load balancer, its target group and the private security group; run `wtt migrate --to=alb` first")
	}
	size, err := sizeFor(s, o)
	if err != nil {
		return nil, nil, err
	}
	typ := groupType(s, o)
	rung := string(stage.ASG)
	var steps []*plan.Step
	var warns []string
	if o.InstanceType != "" && o.InstanceType != typ {
		warns = append(warns, fmt.Sprintf("asg: --instance-type %s is not used: the group launches the fleet's type %s; run `wtt scale --vertical %s` afterwards",
			o.InstanceType, typ, o.InstanceType))
	}
	if live := len(s.Standalone()); s.Group == nil && int(size.Desired) < live {
		warns = append(warns, fmt.Sprintf("asg: the group starts with %d instance(s) where %d run today", size.Desired, live))
	}

	if step := templateStep(s, typ, rung); step != nil {
		steps = append(steps, step)
	}
	if step := groupStep(s, o, size, rung); step != nil {
		steps = append(steps, step)
	}
	if step := policyStep(s, o, rung); step != nil {
		steps = append(steps, step)
	}
	if step := retireStandaloneStep(s, rung); step != nil {
		steps = append(steps, step)
	}
	return steps, warns, nil
}

// policyStep plans the target-tracking policy when the group has none.
func policyStep(s *observe.State, o Options, rung string) *plan.Step {
	if s.Group != nil && len(s.Group.TargetTracking) > 0 {
		return nil
	}
	target := cpuTarget(o)
	return &plan.Step{
		Rung: rung, Action: plan.Create, Resource: "scaling policy " + names.For(s.App).ScalingPolicy(),
		Detail: fmt.Sprintf("target tracking: hold average CPU at %g%% between min and max", target),
		Calls:  policyCalls, DowntimeNote: asgNoDowntime,
		Do: func(ctx context.Context, x *plan.Exec) error { return env(x).putCPUPolicy(ctx, target) },
	}
}

// retireStandaloneStep plans the end of the standalone fleet, or, when it is gone
// already, a wait for a group that is not healthy yet.
func retireStandaloneStep(s *observe.State, rung string) *plan.Step {
	if standalone := s.Standalone(); len(standalone) > 0 {
		return &plan.Step{
			Rung: rung, Action: plan.Delete, Resource: standaloneResource(standalone),
			Detail: "waits until the group's instances are healthy targets, then drains the standalone ones from the target group and terminates them",
			Calls:  retireStandaloneCalls, DowntimeNote: asgNoDowntime,
			Do: func(ctx context.Context, x *plan.Exec) error { return env(x).retireStandalone(withProgress(ctx, x)) },
		}
	}
	if groupHealthyIn(s) {
		return nil
	}
	return &plan.Step{
		Rung: rung, Action: plan.Wait, Resource: "Auto Scaling group " + names.For(s.App).ASG() + " instances healthy in the target group",
		Calls: groupOpsCalls, DowntimeNote: asgNoDowntime,
		Do: func(ctx context.Context, x *plan.Exec) error { return env(x).waitGroupHealthy(withProgress(ctx, x)) },
	}
}

func cpuTarget(o Options) float64 {
	if o.CPUTarget > 0 {
		return o.CPUTarget
	}
	return defaultCPUTarget
}

// standaloneResource names the instances to retire; in a jump they do not
// exist yet, so their count says it all.
func standaloneResource(is []observe.Instance) string {
	ids := idsOf(is)
	if slices.ContainsFunc(ids, func(id string) bool { return strings.HasPrefix(id, unknown) }) {
		return fmt.Sprintf("%d standalone instance(s) behind the load balancer", len(is))
	}
	if len(ids) > 5 {
		ids = append(ids[:5:5], fmt.Sprintf("… (+%d)", len(ids)-5))
	}
	return fmt.Sprintf("%d standalone instance(s) %s", len(is), strings.Join(ids, ", "))
}

func idsOf(is []observe.Instance) []string {
	var ids []string
	for _, i := range is {
		ids = append(ids, i.ID)
	}
	return ids
}

// groupHealthyIn reports whether, as observed, the group has its desired
// capacity of healthy targets.
func groupHealthyIn(s *observe.State) bool {
	g, tg := s.Group, s.TargetGroup
	if g == nil || tg == nil {
		return false
	}
	healthy := 0
	for _, t := range tg.Targets {
		if t.Health == "healthy" && slices.Contains(g.Instances, t.ID) {
			healthy++
		}
	}
	return int32(healthy) >= g.Desired && len(g.Instances) > 0
}

// templateStep plans the launch template when it is missing or launches
// something else than the rung wants. Differences only AWS can see (a newer
// AMI, another time server build) are found when the step runs.
func templateStep(s *observe.State, typ, rung string) *plan.Step {
	lt := s.LaunchTemplate
	action, why := plan.Create, ""
	if lt != nil {
		var d []string
		if lt.InstanceType != typ {
			d = append(d, "instance type "+lt.InstanceType+" -> "+typ)
		}
		if !lt.IMDSv2Required {
			d = append(d, "IMDSv2 required")
		}
		if lt.PublicIP {
			d = append(d, "no public IP")
		}
		if s.Network.PrivateSG != nil && !slices.Equal(lt.SecurityGroups, []string{s.Network.PrivateSG.ID}) {
			d = append(d, "security group "+s.Network.PrivateSG.Name)
		}
		if len(d) == 0 {
			return nil
		}
		action, why = plan.Update, "new version: "+strings.Join(d, ", ")
	}
	detail := "Amazon Linux 2023, the time server from the app's bucket at boot, IMDSv2 required (hop limit 1), no public IP, " +
		"security group " + names.For(s.App).PrivateSG() + ", instance profile, encrypted gp3 root volume"
	if why != "" {
		detail = why
	}
	return &plan.Step{
		Rung: rung, Action: action, Resource: fmt.Sprintf("launch template %s (%s)", names.For(s.App).LaunchTemplate(), typ),
		Detail: detail, Calls: templateCalls, DowntimeNote: asgNoDowntime,
		Do: func(ctx context.Context, x *plan.Exec) error {
			_, _, err := env(x).ensureLaunchTemplate(ctx, typ)
			return err
		},
	}
}

// groupStep plans creating the group, or bringing an existing one (from an
// interrupted run, or changed by hand) back to what the rung needs.
func groupStep(s *observe.State, o Options, size groupSize, rung string) *plan.Step {
	n := names.For(s.App)
	if g := s.Group; g != nil {
		d := groupDrift(s)
		if sizesGiven(o) && (g.Min != size.Min || g.Desired != size.Desired || g.Max != size.Max) {
			d = append(d, fmt.Sprintf("sizes min %d, desired %d, max %d", size.Min, size.Desired, size.Max))
		}
		if len(d) == 0 {
			return nil
		}
		return &plan.Step{
			Rung: rung, Action: plan.Update, Resource: "Auto Scaling group " + n.ASG(), Detail: strings.Join(d, "; "),
			Calls: groupCalls, DowntimeNote: asgNoDowntime,
			Do: func(ctx context.Context, x *plan.Exec) error { return env(x).ensureGroup(ctx, size, sizesGiven(o)) },
		}
	}
	return &plan.Step{
		Rung: rung, Action: plan.Create,
		Resource: fmt.Sprintf("Auto Scaling group %s (min %d, desired %d, max %d)", n.ASG(), size.Min, size.Desired, size.Max),
		Detail: "private subnets of the AZs today's instances run in, launch template $Latest, attached to target group " + n.TargetGroup() +
			fmt.Sprintf(", ELB health checks with %ds grace; launches %d instance(s)", healthGrace, size.Desired),
		Calls: groupCalls, DowntimeNote: asgNoDowntime,
		Do: func(ctx context.Context, x *plan.Exec) error { return env(x).ensureGroup(ctx, size, true) },
	}
}

func sizesGiven(o Options) bool { return o.Min > 0 || o.Max > 0 || o.Desired > 0 }

// groupDrift lists what an existing group does differently from the rung.
func groupDrift(s *observe.State) []string {
	g := s.Group
	var d []string
	if s.TargetGroup != nil && !slices.Contains(g.TargetGroupARNs, s.TargetGroup.ARN) {
		d = append(d, "attach to target group "+s.TargetGroup.Name)
	}
	if g.HealthCheckType != "ELB" {
		d = append(d, "ELB health checks")
	}
	if g.GracePeriod != healthGrace {
		d = append(d, fmt.Sprintf("health check grace %ds", healthGrace))
	}
	if s.LaunchTemplate == nil {
		// Deleted by hand: the group must launch the one the rung recreates.
		d = append(d, "launch template "+names.For(s.App).LaunchTemplate())
	} else if g.TemplateVersion != "$Latest" {
		d = append(d, "launch template version $Latest")
	}
	return d
}

// ensureGroup creates the group, or updates the one a previous run (or a
// person) left. The group's name is unique in the region: there is never a
// second group.
func (e *Env) ensureGroup(ctx context.Context, size groupSize, setSizes bool) error {
	ltID, err := e.findLaunchTemplate(ctx)
	if err != nil {
		return err
	}
	if ltID == "" {
		return fmt.Errorf("launch template %s is missing; run the same command again to create it", e.N.LaunchTemplate())
	}
	tgARN, err := e.targetGroupARN(ctx)
	if err != nil {
		return err
	}
	lt := &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID), Version: aws.String("$Latest")}
	if e.State.Group == nil {
		subnets, err := groupSubnets(e.State)
		if err != nil {
			return err
		}
		created, err := createOrAdopt(ctx, "creating Auto Scaling group "+e.N.ASG(), func(ctx context.Context) (bool, error) {
			_, err := e.C.AutoScaling.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
				AutoScalingGroupName: aws.String(e.N.ASG()), LaunchTemplate: lt,
				MinSize: aws.Int32(size.Min), MaxSize: aws.Int32(size.Max), DesiredCapacity: aws.Int32(size.Desired),
				VPCZoneIdentifier: aws.String(strings.Join(subnets, ",")),
				TargetGroupARNs:   []string{tgARN},
				HealthCheckType:   aws.String("ELB"), HealthCheckGracePeriod: aws.Int32(healthGrace),
				Tags: e.groupTags(),
			})
			return err == nil, err
		}, func(ctx context.Context) (bool, bool, error) {
			// Found: fall through to the update below, which makes its
			// settings exactly these.
			out, err := e.C.AutoScaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{e.N.ASG()}})
			if err != nil {
				return false, false, err
			}
			return false, len(out.AutoScalingGroups) > 0, nil
		})
		if created {
			e.tookGroup(size, subnets, ltID, tgARN)
			return nil
		}
		if err != nil && !hasCode(err, "AlreadyExists") {
			return fmt.Errorf("creating Auto Scaling group %s: %w", e.N.ASG(), err)
		}
		// Created by a call whose answer was lost: update it to these settings.
	}
	return e.updateGroup(ctx, lt, tgARN, size, setSizes)
}

// tookGroup hands the observer the group as this step created it. It
// launches its instances from now on, on its own, as a group does at any
// time: the observer reads them when a step has watched them (the wait for
// the group), and they are no part of what the creation changed. The
// policies come with the policy step.
func (e *Env) tookGroup(size groupSize, subnets []string, ltID, tgARN string) {
	g := &observe.Group{
		Name: e.N.ASG(), Min: size.Min, Max: size.Max, Desired: size.Desired,
		AZs: subnetAZs(e.State, subnets), Subnets: slices.Clone(subnets),
		TemplateVersion: "$Latest", TargetGroupARNs: []string{tgARN}, HealthCheckType: "ELB", GracePeriod: healthGrace,
	}
	if lt := e.State.LaunchTemplate; lt == nil || lt.ID != ltID {
		return // a template the observation does not show: read it all again
	}
	e.took(observe.KindGroup|observe.KindInstances|observe.KindTargets, func(s *observe.State) { s.Group = g })
}

func (e *Env) updateGroup(ctx context.Context, lt *astypes.LaunchTemplateSpecification, tgARN string, size groupSize, setSizes bool) error {
	g, err := e.describeGroup(ctx)
	if err != nil {
		return err
	}
	in := &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: g.AutoScalingGroupName, LaunchTemplate: lt,
		HealthCheckType: aws.String("ELB"), HealthCheckGracePeriod: aws.Int32(healthGrace),
	}
	if setSizes {
		in.MinSize, in.DesiredCapacity, in.MaxSize = aws.Int32(size.Min), aws.Int32(size.Desired), aws.Int32(size.Max)
	}
	if _, err := e.C.AutoScaling.UpdateAutoScalingGroup(ctx, in); err != nil {
		return fmt.Errorf("updating Auto Scaling group %s: %w", e.N.ASG(), err)
	}
	if !slices.Contains(g.TargetGroupARNs, tgARN) {
		if _, err := e.C.AutoScaling.AttachLoadBalancerTargetGroups(ctx, &autoscaling.AttachLoadBalancerTargetGroupsInput{
			AutoScalingGroupName: g.AutoScalingGroupName, TargetGroupARNs: []string{tgARN},
		}); err != nil {
			return fmt.Errorf("attaching group %s to target group %s: %w", e.N.ASG(), e.N.TargetGroup(), err)
		}
	}
	if !hasAppTag(g.Tags, e.App) {
		if _, err := e.C.AutoScaling.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: e.groupTags()}); err != nil {
			return fmt.Errorf("tagging group %s: %w", e.N.ASG(), err)
		}
	}
	return nil
}

func hasAppTag(tags []astypes.TagDescription, app string) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == names.TagApp && aws.ToString(t.Value) == app {
			return true
		}
	}
	return false
}

// groupTags propagate to every instance the group launches, so discovery
// and `down` see them even if the launch template lost its tags.
func (e *Env) groupTags() []astypes.Tag {
	tag := func(k, v string) astypes.Tag {
		return astypes.Tag{
			Key: aws.String(k), Value: aws.String(v), PropagateAtLaunch: aws.Bool(true),
			ResourceId: aws.String(e.N.ASG()), ResourceType: aws.String("auto-scaling-group"),
		}
	}
	return []astypes.Tag{tag(names.TagApp, e.App), tag(names.TagManagedBy, names.ManagedBy), tag(names.TagRole, groupRole)}
}

// groupSubnets are the private subnets of the AZs today's instances run in:
// the asg rung changes who owns the fleet, not where it runs (the multi-az
// rung widens it). With no instance to go by, the first private subnet.
func groupSubnets(s *observe.State) ([]string, error) {
	priv := s.Network.SubnetsWhere(false)
	if len(priv) == 0 {
		return nil, errNoSubnets
	}
	azs := map[string]bool{}
	for _, i := range s.Standalone() {
		az := i.AZ
		for _, sn := range s.Network.Subnets {
			if sn.ID == i.SubnetID {
				az = sn.AZ
			}
		}
		azs[az] = true
	}
	var out []string
	for _, sn := range priv {
		if azs[sn.AZ] {
			out = append(out, sn.ID)
		}
	}
	if len(out) == 0 {
		out = []string{priv[0].ID}
	}
	return out, nil
}

// putCPUPolicy creates or updates the target-tracking policy; AWS replaces
// a policy of the same name, so running it twice is harmless. The group
// then has it among its target-tracking policies.
func (e *Env) putCPUPolicy(ctx context.Context, target float64) error {
	_, err := e.C.AutoScaling.PutScalingPolicy(ctx, &autoscaling.PutScalingPolicyInput{
		AutoScalingGroupName: aws.String(e.N.ASG()), PolicyName: aws.String(e.N.ScalingPolicy()),
		PolicyType: aws.String("TargetTrackingScaling"),
		TargetTrackingConfiguration: &astypes.TargetTrackingConfiguration{
			PredefinedMetricSpecification: &astypes.PredefinedMetricSpecification{PredefinedMetricType: astypes.MetricTypeASGAverageCPUUtilization},
			TargetValue:                   aws.Float64(target),
		},
	})
	if err != nil {
		return fmt.Errorf("putting scaling policy %s on group %s: %w", e.N.ScalingPolicy(), e.N.ASG(), err)
	}
	if e.State.Group != nil {
		name := e.N.ScalingPolicy()
		e.took(observe.KindPolicies, func(s *observe.State) {
			if s.Group == nil || slices.Contains(s.Group.TargetTracking, name) {
				return
			}
			g := *s.Group
			g.TargetTracking = append(slices.Clone(g.TargetTracking), name)
			s.Group = &g
		})
	}
	return nil
}

// retireStandalone drains and terminates the instances no group owns, but
// only once the group serves: a run that cannot get the group healthy stops
// here with the old instances still serving.
func (e *Env) retireStandalone(ctx context.Context) error {
	g, err := e.waitGroupServing(ctx)
	if err != nil {
		return err
	}
	owned := map[string]bool{}
	for _, in := range g.Instances {
		owned[aws.ToString(in.InstanceId)] = true
	}
	var ids []string
	for _, i := range e.State.Standalone() {
		// The group tags its instances at launch; its own list is the
		// authority for one launched a moment ago.
		if !owned[i.ID] {
			ids = append(ids, i.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	progressf(ctx, "draining %s from target group %s", strings.Join(ids, ", "), e.N.TargetGroup())
	if _, err := e.deregisterTargets(ctx, ids); err != nil {
		return err
	}
	progressf(ctx, "terminating %s", strings.Join(ids, ", "))
	_, err = e.terminate(ctx, ids)
	return err
}

// projectASG is the state after the rung: the template, the group with its
// new instances registered healthy, no standalone instance left.
func projectASG(s *observe.State, o Options) *observe.State {
	p := clone(s)
	n := names.For(s.App)
	size, err := sizeFor(s, o)
	if err != nil {
		size = groupSize{Min: 1, Desired: 1, Max: 3}
	}
	typ := groupType(s, o)
	var privSG string
	if p.Network.PrivateSG != nil {
		privSG = p.Network.PrivateSG.ID
	}
	p.LaunchTemplate = projectTemplate(p.LaunchTemplate, n, typ, privSG)
	subnets, _ := groupSubnets(s)

	standalone := map[string]bool{}
	for _, i := range s.Standalone() {
		standalone[i.ID] = true
	}
	var kept []observe.Instance
	for _, i := range p.Instances {
		if !standalone[i.ID] {
			kept = append(kept, i)
		}
	}
	p.Instances = kept
	if p.TargetGroup != nil {
		var targets []observe.Target
		for _, t := range p.TargetGroup.Targets {
			if !standalone[t.ID] {
				targets = append(targets, t)
			}
		}
		p.TargetGroup.Targets = targets
	}

	g := p.Group
	if g == nil {
		g = &observe.Group{Name: n.ASG(), Min: size.Min, Desired: size.Desired, Max: size.Max, Subnets: subnets}
		p.Group = g
	} else if sizesGiven(o) {
		g.Min, g.Desired, g.Max = size.Min, size.Desired, size.Max
	}
	g.InstanceType, g.TemplateVersion, g.HealthCheckType, g.GracePeriod = typ, "$Latest", "ELB", healthGrace
	if p.TargetGroup != nil && !slices.Contains(g.TargetGroupARNs, p.TargetGroup.ARN) {
		g.TargetGroupARNs = append(g.TargetGroupARNs, p.TargetGroup.ARN)
	}
	if len(g.TargetTracking) == 0 {
		g.TargetTracking = []string{n.ScalingPolicy()}
	}
	g.AZs = subnetAZs(p, g.Subnets)
	fillGroup(p, privSG)
	return p
}

func projectTemplate(lt *observe.LaunchTemplate, n names.Names, typ, privSG string) *observe.LaunchTemplate {
	if lt == nil {
		lt = &observe.LaunchTemplate{ID: unknown, Name: n.LaunchTemplate(), LatestVersion: 1, DefaultVersion: 1}
	} else if lt.InstanceType != typ {
		lt.LatestVersion++
	}
	lt.InstanceType, lt.IMDSv2Required, lt.PublicIP = typ, true, false
	if privSG != "" {
		lt.SecurityGroups = []string{privSG}
	}
	return lt
}

// fillGroup projects the instances a group launches up to its desired
// capacity, round-robin over its subnets as Auto Scaling balances AZs, each
// registered and healthy (the rung waits for that).
func fillGroup(p *observe.State, privSG string) {
	g := p.Group
	var live []string
	perSubnet := map[string]int{}
	for _, i := range p.LiveInstances() {
		if i.Group == g.Name {
			live = append(live, i.ID)
			perSubnet[i.SubnetID]++
		}
	}
	g.Instances = live
	for k := len(live); k < int(g.Desired); k++ {
		sn := leastUsedID(g.Subnets, perSubnet)
		perSubnet[sn]++
		id := fmt.Sprintf("%s-asg-%d", unknown, k+1)
		p.Instances = append(p.Instances, observe.Instance{
			ID: id, Type: g.InstanceType, State: "running", AZ: subnetAZ(p, sn), SubnetID: sn,
			IMDSv2Required: true, Group: g.Name, Role: groupRole, SecurityGroups: nonEmpty(privSG),
		})
		g.Instances = append(g.Instances, id)
		if p.TargetGroup != nil {
			p.TargetGroup.Targets = append(p.TargetGroup.Targets, observe.Target{ID: id, Health: "healthy"})
		}
	}
}

func leastUsedID(ids []string, used map[string]int) string {
	if len(ids) == 0 {
		return ""
	}
	best := ids[0]
	for _, id := range ids[1:] {
		if used[id] < used[best] {
			best = id
		}
	}
	return best
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func subnetAZ(s *observe.State, id string) string {
	for _, sn := range s.Network.Subnets {
		if sn.ID == id {
			return sn.AZ
		}
	}
	return ""
}

// subnetAZs are the distinct AZs of the given subnets, sorted.
func subnetAZs(s *observe.State, ids []string) []string {
	var azs []string
	for _, id := range ids {
		if az := subnetAZ(s, id); az != "" && !slices.Contains(azs, az) {
			azs = append(azs, az)
		}
	}
	slices.Sort(azs)
	return azs
}

// uniqueCalls joins call lists, each call once, in first-seen order.
func uniqueCalls(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, c := range l {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}
