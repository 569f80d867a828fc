package ladder

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Target helpers shared by every rung and operation that changes the fleet
// behind the load balancer (the alb rung, rolling vertical and horizontal
// scaling). Each one reads the target group's health fresh from AWS before
// acting, so it is safe to call with the state a step observed a moment
// ago, and safe to call twice.

// Calls the helpers make, for the Calls lists of the steps that use them.
var (
	registerTargetCalls = []string{
		"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
		"ec2:DescribeInstances", "elasticloadbalancing:RegisterTargets",
	}
	waitHealthyCalls      = []string{"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"}
	deregisterTargetCalls = []string{
		"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
		"elasticloadbalancing:DeregisterTargets",
	}
)

// targetGroupARN is the app's target group: as observed, or looked up by
// name when the calling step created it after the state was observed.
func (e *Env) targetGroupARN(ctx context.Context) (string, error) {
	if tg := e.State.TargetGroup; tg != nil && tg.ARN != "" {
		return tg.ARN, nil
	}
	out, err := e.C.ELB.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{e.N.TargetGroup()}})
	if hasCode(err, "TargetGroupNotFound") || (err == nil && len(out.TargetGroups) == 0) {
		return "", fmt.Errorf("target group %s does not exist; run `wtt migrate --to=alb` to create it", e.N.TargetGroup())
	}
	if err != nil {
		return "", fmt.Errorf("looking up target group %s: %w", e.N.TargetGroup(), err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn), nil
}

// targetStates reads the health of every target registered in the group.
func (e *Env) targetStates(ctx context.Context, arn string) (map[string]elbtypes.TargetHealthDescription, error) {
	out, err := e.C.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("reading target health of %s: %w", e.N.TargetGroup(), err)
	}
	m := map[string]elbtypes.TargetHealthDescription{}
	for _, d := range out.TargetHealthDescriptions {
		m[aws.ToString(d.Target.Id)] = d
	}
	return m, nil
}

func targetsFor(ids []string) []elbtypes.TargetDescription {
	ts := make([]elbtypes.TargetDescription, 0, len(ids))
	for _, id := range ids {
		ts = append(ts, elbtypes.TargetDescription{Id: aws.String(id)})
	}
	return ts
}

// registerTargets puts instances into the app's target group. Instances must
// be running to be registered, so it waits for pending ones first (an
// earlier, interrupted run may have left some). Already registered
// instances are left alone.
func (e *Env) registerTargets(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	arn, err := e.targetGroupARN(ctx)
	if err != nil {
		return err
	}
	have, err := e.targetStates(ctx, arn)
	if err != nil {
		return err
	}
	var missing []string
	for _, id := range ids {
		if d, ok := have[id]; !ok || d.TargetHealth == nil || d.TargetHealth.State == elbtypes.TargetHealthStateEnumDraining {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := e.waitRunning(ctx, missing); err != nil {
		return err
	}
	if _, err := e.C.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(arn), Targets: targetsFor(missing),
	}); err != nil {
		return fmt.Errorf("registering %v in target group %s: %w", missing, e.N.TargetGroup(), err)
	}
	return nil
}

// waitHealthy waits until every given instance is a healthy target: only
// then does the load balancer send it traffic, so nothing that removes the
// old way in (a DNS switch, a deregistration) may run before it returns.
func (e *Env) waitHealthy(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	arn, err := e.targetGroupARN(ctx)
	if err != nil {
		return err
	}
	w := elbv2.NewTargetInServiceWaiter(e.C.ELB, func(o *elbv2.TargetInServiceWaiterOptions) {
		o.MinDelay = e.pollInterval()
		o.MaxDelay = e.maxPollDelay(15 * time.Second)
	})
	start := time.Now()
	in := &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: targetsFor(ids)}
	if err := w.Wait(ctx, in, e.waitTimeout()); err != nil {
		return &WaitError{What: fmt.Sprintf("target(s) %v to pass the /healthz check", ids), After: time.Since(start),
			Err:  fmt.Errorf("%w%s", err, e.unhealthyReasons(ctx, arn, ids)),
			Next: "the old instances still serve traffic; check the time server on the new ones (SSM Session Manager, `curl localhost/healthz`), then run the same command again"}
	}
	return nil
}

// unhealthyReasons says why targets are not healthy, as the load balancer
// sees it; the best hint a failed wait can give.
func (e *Env) unhealthyReasons(ctx context.Context, arn string, ids []string) string {
	have, err := e.targetStates(ctx, arn)
	if err != nil {
		return ""
	}
	var parts []string
	for _, id := range ids {
		d, ok := have[id]
		switch {
		case !ok:
			parts = append(parts, id+": not registered")
		case d.TargetHealth != nil && d.TargetHealth.State != elbtypes.TargetHealthStateEnumHealthy:
			p := fmt.Sprintf("%s: %s", id, d.TargetHealth.State)
			if r := string(d.TargetHealth.Reason); r != "" {
				p += " (" + r + ": " + aws.ToString(d.TargetHealth.Description) + ")"
			}
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

// deregisterTargets takes instances out of the target group and waits until
// their connections have drained (the group's deregistration delay, which
// the alb rung sets to drainSeconds), so the caller may stop or terminate
// them without cutting a request. Instances that are not registered are
// skipped.
func (e *Env) deregisterTargets(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	arn, err := e.targetGroupARN(ctx)
	if err != nil {
		return err
	}
	have, err := e.targetStates(ctx, arn)
	if err != nil {
		return err
	}
	var registered []string
	for _, id := range ids {
		if _, ok := have[id]; ok {
			registered = append(registered, id)
		}
	}
	if len(registered) == 0 {
		return nil
	}
	if _, err := e.C.ELB.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{
		TargetGroupArn: aws.String(arn), Targets: targetsFor(registered),
	}); err != nil && !hasCode(err, "InvalidTarget") {
		return fmt.Errorf("deregistering %v from target group %s: %w", registered, e.N.TargetGroup(), err)
	}
	w := elbv2.NewTargetDeregisteredWaiter(e.C.ELB, func(o *elbv2.TargetDeregisteredWaiterOptions) {
		o.MinDelay = e.pollInterval()
		o.MaxDelay = e.maxPollDelay(15 * time.Second)
	})
	start := time.Now()
	if err := w.Wait(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: targetsFor(registered)}, e.waitTimeout()); err != nil {
		return &WaitError{What: fmt.Sprintf("target(s) %v to drain", registered), After: time.Since(start), Err: err,
			Next: "run the same command again; draining continues in AWS meanwhile"}
	}
	return nil
}
