package ladder

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/whatsthetime/wtt/pkg/plan"
)

// Operations on the app's Auto Scaling group that more than one rung needs
// (asg, multi-az, scale). Each reads AWS itself rather than e.State, so it
// can be called several times within one step.

// groupOpsCalls are the calls of setGroupCapacity and waitGroupHealthy.
var groupOpsCalls = []string{
	"autoscaling:DescribeAutoScalingGroups", "autoscaling:UpdateAutoScalingGroup",
	"elasticloadbalancing:DescribeTargetHealth",
}

// setGroupCapacity sets the group's desired capacity and, when given, its
// minimum and maximum size, in one UpdateAutoScalingGroup call (so the
// three never pass through an invalid combination). It changes nothing when
// the group already has these sizes. It does not wait: call
// waitGroupHealthy after a scale-out.
func (e *Env) setGroupCapacity(ctx context.Context, desired int32, min, max *int32) error {
	g, err := e.describeGroup(ctx)
	if err != nil {
		return err
	}
	name := aws.ToString(g.AutoScalingGroupName)
	newMin, newMax := aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize)
	if min != nil {
		newMin = *min
	}
	if max != nil {
		newMax = *max
	}
	if newMin < 0 || newMin > desired || desired > newMax {
		return fmt.Errorf("group %s: sizes min %d, desired %d, max %d are inconsistent: the minimum must not exceed the desired capacity, nor that the maximum",
			name, newMin, desired, newMax)
	}
	if newMin == aws.ToInt32(g.MinSize) && newMax == aws.ToInt32(g.MaxSize) && desired == aws.ToInt32(g.DesiredCapacity) {
		return nil
	}
	if _, err := e.C.AutoScaling.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		MinSize:              aws.Int32(newMin), MaxSize: aws.Int32(newMax), DesiredCapacity: aws.Int32(desired),
	}); err != nil {
		return fmt.Errorf("resizing group %s to min %d, desired %d, max %d: %w", name, newMin, desired, newMax, err)
	}
	return nil
}

// newTemplateVersion makes the launch template's latest version launch
// instanceType (with the AMI for its architecture and the matching time
// server build), and returns that version's number. It adds a version only
// when the latest differs, so calling it twice adds one. The group launches
// "$Latest": instances launched from now on (scale-out, instance refresh,
// replacements) use the new version; running ones keep theirs.
func (e *Env) newTemplateVersion(ctx context.Context, instanceType string) (string, error) {
	_, v, err := e.ensureLaunchTemplate(ctx, instanceType)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(v, 10), nil
}

// templateVersionCalls are the calls newTemplateVersion can make.
var templateVersionCalls = templateCalls

// waitGroupHealthy waits until the group has at least its desired capacity
// of instances that are InService, Healthy to Auto Scaling, and healthy
// targets in every target group the group is attached to. It logs progress
// (see withProgress) and gives up after the wait timeout with a *WaitError.
func (e *Env) waitGroupHealthy(ctx context.Context) error {
	_, err := e.waitGroupServing(ctx)
	return err
}

// waitGroupServing is waitGroupHealthy that returns the group as its last
// poll read it. It polls what can still change: the group alone until it
// has its desired capacity in service (no target can be healthy before),
// then the targets alone while every one of the group's is healthy or
// still on its first checks; a target in any other state may get its
// instance replaced, so the group is read again with the targets.
func (e *Env) waitGroupServing(ctx context.Context) (astypes.AutoScalingGroup, error) {
	name := e.N.ASG()
	start := time.Now()
	last, lastReport := "", time.Time{}
	poll := e.backoff(15 * time.Second)
	var g astypes.AutoScalingGroup
	members := false // g's instances are in service and still the group's
	for {
		var h groupHealthReport
		var err error
		if !members {
			if g, err = e.describeGroup(ctx); err != nil {
				return g, err
			}
			h = assessGroup(g, nil)
			h.Healthy = 0 // not read yet
			members = int32(h.InService) >= h.Desired
		}
		if members {
			if h, err = e.targetsOfGroup(ctx, g); err != nil {
				return g, err
			}
			if h.ready() {
				return g, nil
			}
			for _, st := range h.Unhealthy {
				if st != string(elbtypes.TargetHealthStateEnumInitial) {
					members = false
				}
			}
		}
		if line := h.String(); line != last || time.Since(lastReport) >= 10*time.Second {
			progressf(ctx, "group %s: %s [%s elapsed]", name, line, elapsed(time.Since(start)))
			last, lastReport = line, time.Now()
		}
		if time.Since(start) > e.waitTimeout() {
			return g, &WaitError{
				What:  fmt.Sprintf("Auto Scaling group %s to have %d healthy instance(s) in its target group", name, h.Desired),
				After: time.Since(start), Err: fmt.Errorf("%s", h.String()),
				Next: fmt.Sprintf("see why instances fail (aws autoscaling describe-scaling-activities --auto-scaling-group-name %s; "+
					"aws elbv2 describe-target-health), fix the cause, then run the same command again: it continues with the group as it is", name),
			}
		}
		if err := poll.sleep(ctx); err != nil {
			return g, err
		}
	}
}

// groupHealthReport is the group as seen by Auto Scaling and by the load
// balancer at one moment.
type groupHealthReport struct {
	Desired   int32
	InService int // InService and Healthy to Auto Scaling
	Healthy   int // of those, healthy targets in every target group
	Pending   []string
	Unhealthy map[string]string // instance -> target state (or reason)
}

func (h groupHealthReport) ready() bool { return int32(h.Healthy) >= h.Desired }

func (h groupHealthReport) String() string {
	s := fmt.Sprintf("%d/%d in service, %d/%d healthy in the target group", h.InService, h.Desired, h.Healthy, h.Desired)
	if len(h.Unhealthy) > 0 {
		var parts []string
		for id, st := range h.Unhealthy {
			parts = append(parts, id+" "+st)
		}
		sort.Strings(parts)
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// targetsOfGroup reads the health of the group's instances in each of its
// target groups.
func (e *Env) targetsOfGroup(ctx context.Context, g astypes.AutoScalingGroup) (groupHealthReport, error) {
	targets := map[string]map[string]string{} // target group -> instance -> state
	for _, arn := range g.TargetGroupARNs {
		out, err := e.C.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
		if err != nil {
			return groupHealthReport{}, fmt.Errorf("reading target health of %s: %w", arn, err)
		}
		m := map[string]string{}
		for _, d := range out.TargetHealthDescriptions {
			if d.Target != nil && d.TargetHealth != nil {
				m[aws.ToString(d.Target.Id)] = string(d.TargetHealth.State)
			}
		}
		targets[arn] = m
	}
	return assessGroup(g, targets), nil
}

// assessGroup judges the group and its targets' health (target group ->
// instance -> state) as read.
func assessGroup(g astypes.AutoScalingGroup, targets map[string]map[string]string) groupHealthReport {
	h := groupHealthReport{Desired: aws.ToInt32(g.DesiredCapacity), Unhealthy: map[string]string{}}
	for _, in := range g.Instances {
		id := aws.ToString(in.InstanceId)
		if in.LifecycleState != astypes.LifecycleStateInService || !strings.EqualFold(aws.ToString(in.HealthStatus), "Healthy") {
			if !strings.HasPrefix(string(in.LifecycleState), "Terminat") && in.LifecycleState != astypes.LifecycleStateDetaching {
				h.Pending = append(h.Pending, id)
			}
			continue
		}
		h.InService++
		ok := true
		for _, m := range targets {
			st := m[id]
			if st == "" {
				st = "not registered"
			}
			if st != "healthy" {
				ok = false
				h.Unhealthy[id] = st
			}
		}
		if ok {
			h.Healthy++
		}
	}
	return h
}

// describeGroup reads the app's group; a missing group is an error that
// says which rung makes it.
func (e *Env) describeGroup(ctx context.Context) (astypes.AutoScalingGroup, error) {
	name := e.N.ASG()
	out, err := e.C.AutoScaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return astypes.AutoScalingGroup{}, fmt.Errorf("reading Auto Scaling group %s: %w", name, err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return astypes.AutoScalingGroup{}, fmt.Errorf("Auto Scaling group %s does not exist; run `wtt migrate --to=asg` first", name)
	}
	return out.AutoScalingGroups[0], nil
}

// elapsed formats a wait as Terraform does: 01m05s.
func elapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%02dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// progressKey carries a step's progress log in its context, so helpers
// with plain (ctx) signatures can report long waits.
type progressKey struct{}

// withProgress makes progressf calls under ctx write to the step's log.
// A step's Do passes it on: `return e.waitGroupHealthy(withProgress(ctx, x))`.
func withProgress(ctx context.Context, x *plan.Exec) context.Context {
	if x == nil {
		return ctx
	}
	return context.WithValue(ctx, progressKey{}, x)
}

// progressf writes one progress line when ctx carries a step's log.
func progressf(ctx context.Context, format string, args ...any) {
	if x, ok := ctx.Value(progressKey{}).(*plan.Exec); ok {
		x.Logf(format, args...)
	}
}

// inServiceAZs are the distinct AZs of a group's InService instances.
func inServiceAZs(instances []astypes.Instance) []string {
	var azs []string
	for _, in := range instances {
		az := aws.ToString(in.AvailabilityZone)
		if in.LifecycleState == astypes.LifecycleStateInService && az != "" && !slices.Contains(azs, az) {
			azs = append(azs, az)
		}
	}
	slices.Sort(azs)
	return azs
}
