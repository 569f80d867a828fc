package ladder

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/whatsthetime/wtt/pkg/observe"
)

// Target helpers shared by every rung and operation that changes the fleet
// behind the load balancer (the alb rung, rolling vertical and horizontal
// scaling). Which instances are registered they take from the state
// observed just before the step: only calls change that (a target's health
// changes on its own, its registration does not), and the observer reads
// the targets again after any call that may have. Registering a target
// twice or deregistering one that is gone is harmless, so each is safe to
// call twice.

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

// registeredTargets is which instances the observed state shows in the
// target group arn, and in which state; ok is false when the state does
// not show that group (a step created it after the observation).
func (e *Env) registeredTargets(arn string) (map[string]string, bool) {
	tg := e.State.TargetGroup
	if tg == nil || tg.ARN != arn {
		return nil, false
	}
	m := map[string]string{}
	for _, t := range tg.Targets {
		m[t.ID] = t.Health
	}
	return m, true
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

// targetHealthOf is the target group's members and their state: as
// observed when the state shows the group, else read.
func (e *Env) targetHealthOf(ctx context.Context, arn string) (map[string]string, error) {
	if m, ok := e.registeredTargets(arn); ok {
		return m, nil
	}
	read, err := e.targetStates(ctx, arn)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for id, d := range read {
		m[id] = ""
		if d.TargetHealth != nil {
			m[id] = string(d.TargetHealth.State)
		}
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
	have, err := e.targetHealthOf(ctx, arn)
	if err != nil {
		return err
	}
	var missing, notRunning []string
	for _, id := range ids {
		if st, ok := have[id]; !ok || st == "" || st == string(elbtypes.TargetHealthStateEnumDraining) {
			missing = append(missing, id)
			if i := findInstance(e.State, id); i == nil || i.State != "running" {
				notRunning = append(notRunning, id)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := e.waitRunning(ctx, notRunning); err != nil {
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
// It returns their states as its last poll read them.
func (e *Env) waitHealthy(ctx context.Context, ids []string) (map[string]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	arn, err := e.targetGroupARN(ctx)
	if err != nil {
		return nil, err
	}
	w := elbv2.NewTargetInServiceWaiter(e.C.ELB, func(o *elbv2.TargetInServiceWaiterOptions) {
		o.MinDelay = e.pollInterval()
		o.MaxDelay = e.maxPollDelay(15 * time.Second)
	})
	start := time.Now()
	in := &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: targetsFor(ids)}
	out, err := w.WaitForOutput(ctx, in, e.waitTimeout())
	if err != nil {
		return nil, &WaitError{What: fmt.Sprintf("target(s) %v to pass the /healthz check", ids), After: time.Since(start),
			Err:  fmt.Errorf("%w%s", err, e.unhealthyReasons(ctx, arn, ids)),
			Next: "the old instances still serve traffic; check the time server on the new ones (SSM Session Manager, `curl localhost/healthz`), then run the same command again"}
	}
	seen := map[string]string{}
	for _, d := range out.TargetHealthDescriptions {
		if d.Target != nil && d.TargetHealth != nil {
			seen[aws.ToString(d.Target.Id)] = string(d.TargetHealth.State)
		}
	}
	return seen, nil
}

// tookTargets hands the observer the target group's members after a step
// changed them: those in seen with the state the step's last poll read,
// those in gone no longer there, the others as observed. A step may do so
// only when every call it made that changes targets concerned these.
func (e *Env) tookTargets(seen map[string]string, gone []string, also observe.Kind) {
	if e.State.TargetGroup == nil {
		return
	}
	e.took(observe.KindTargets|also, func(s *observe.State) {
		if s.TargetGroup == nil {
			return
		}
		tg := *s.TargetGroup
		targets := []observe.Target{}
		for _, t := range tg.Targets {
			if _, ok := seen[t.ID]; !ok && !slices.Contains(gone, t.ID) {
				targets = append(targets, t)
			}
		}
		for id := range seen {
			if !slices.Contains(gone, id) {
				targets = append(targets, observe.Target{ID: id, Health: seen[id]})
			}
		}
		// As discovery sorts them.
		slices.SortFunc(targets, func(a, b observe.Target) int { return strings.Compare(a.ID, b.ID) })
		tg.Targets = targets
		s.TargetGroup = &tg
	})
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
// skipped. It returns those it took out: they are no longer targets.
func (e *Env) deregisterTargets(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	arn, err := e.targetGroupARN(ctx)
	if err != nil {
		return nil, err
	}
	have, err := e.targetHealthOf(ctx, arn)
	if err != nil {
		return nil, err
	}
	var registered []string
	for _, id := range ids {
		if _, ok := have[id]; ok {
			registered = append(registered, id)
		}
	}
	if len(registered) == 0 {
		return nil, nil
	}
	if _, err := e.C.ELB.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{
		TargetGroupArn: aws.String(arn), Targets: targetsFor(registered),
	}); err != nil && !hasCode(err, "InvalidTarget") {
		return nil, fmt.Errorf("deregistering %v from target group %s: %w", registered, e.N.TargetGroup(), err)
	}
	w := elbv2.NewTargetDeregisteredWaiter(e.C.ELB, func(o *elbv2.TargetDeregisteredWaiterOptions) {
		o.MinDelay = e.pollInterval()
		o.MaxDelay = e.maxPollDelay(15 * time.Second)
	})
	start := time.Now()
	if err := w.Wait(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: targetsFor(registered)}, e.waitTimeout()); err != nil {
		return nil, &WaitError{What: fmt.Sprintf("target(s) %v to drain", registered), After: time.Since(start), Err: err,
			Next: "run the same command again; draining continues in AWS meanwhile"}
	}
	return registered, nil
}
