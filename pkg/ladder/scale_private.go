package ladder

import (
	"context"
	"fmt"
	"slices"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

// Scaling the private fleet behind the load balancer (stage alb). Clients
// reach only the load balancer, so nothing changes for them as long as a
// healthy target answers: new instances become healthy targets before old
// ones are drained and terminated. No downtime.

const rollingNoDowntime = "the old instances keep serving until the new ones are healthy targets, and they are drained (open requests finish) before they are terminated"

var (
	rollInCalls  = joinCalls(scaleLaunchCalls, registerTargetCalls, waitHealthyCalls)
	rollOutCalls = joinCalls(waitHealthyCalls, deregisterTargetCalls, []string{"ec2:TerminateInstances", "ec2:DescribeInstances"})
)

func planPrivateVertical(s *observe.State, typ string) ([]*plan.Step, []string) {
	old, nw := splitByType(liveByAge(s), typ)
	if len(old) == 0 && allHealthy(s, nw) {
		return nil, nil
	}
	want := max(len(old), len(nw))
	in := &plan.Step{
		Action:   plan.Create,
		Resource: fmt.Sprintf("%d private instance(s) %s behind the load balancer", want-len(nw), typ),
		Detail: "launched in the private subnets of the load balancer's AZs (no public IPv4), registered in the target group; " +
			"waits until every one passes /healthz",
		Calls:        slices.Clone(rollInCalls),
		DowntimeNote: rollingNoDowntime,
		Do: func(ctx context.Context, x *plan.Exec) error {
			return env(x).rollIn(withProgress(ctx, x), typ)
		},
	}
	if want == len(nw) {
		in.Resource = fmt.Sprintf("register the %d %s instance(s) with the load balancer", len(nw), typ)
	}
	steps := []*plan.Step{in}
	var warns []string
	if len(old) > 0 {
		steps = append(steps, &plan.Step{
			Action:   plan.Delete,
			Resource: fmt.Sprintf("%d old instance(s) %s: %s", len(old), old[0].Type, idList(old)),
			Detail: "once the new instances are healthy: deregistered from the target group, drained (open requests finish), " +
				"then terminated",
			Calls:        slices.Clone(rollOutCalls),
			DowntimeNote: rollingNoDowntime,
			Do: func(ctx context.Context, x *plan.Exec) error {
				return env(x).rollOut(withProgress(ctx, x), typ)
			},
		})
		warns = append(warns, fmt.Sprintf("for a few minutes the app runs %d instances, old and new, and pays for both", len(old)+want))
	}
	return steps, warns
}

// rollIn launches instances of typ until there are as many as the fleet
// had (max of old and new counts: neither shrinks during the roll, so a
// re-run computes the same size), and makes them healthy targets.
func (e *Env) rollIn(ctx context.Context, typ string) error {
	old, nw := splitByType(liveByAge(e.State), typ)
	spec, err := e.privateSpec(typ)
	if err != nil {
		return err
	}
	ids, err := e.scaleLaunch(ctx, spec, max(len(old), len(nw)), func(i observe.Instance) bool { return i.Type == typ })
	if err != nil {
		return err
	}
	return e.registerHealthy(ctx, ids)
}

// rollOut drains and terminates the instances not of typ, but only while
// every instance of typ is a healthy target: the old ones are the app's
// only capacity until then.
func (e *Env) rollOut(ctx context.Context, typ string) error {
	old, nw := splitByType(liveByAge(e.State), typ)
	if len(old) == 0 {
		return nil
	}
	if len(nw) == 0 {
		return fmt.Errorf("no %s instance runs yet, so the old ones keep serving; run the same command again", typ)
	}
	healthy, err := e.waitHealthy(ctx, instanceIDs(nw))
	if err != nil {
		return err
	}
	e.tookTargets(healthy, nil, 0)
	return e.drainAndTerminate(ctx, instanceIDs(old))
}

// registerHealthy registers instances in the target group and waits until
// every one is healthy. It comes after the step's launch and before
// anything else the step does to targets, so it hands the observer the
// targets as its wait last saw them.
func (e *Env) registerHealthy(ctx context.Context, ids []string) error {
	if err := e.registerTargets(ctx, ids); err != nil {
		return err
	}
	healthy, err := e.waitHealthy(ctx, ids)
	if err != nil {
		return err
	}
	e.tookTargets(healthy, nil, 0)
	return nil
}

// drainAndTerminate takes instances out of the target group, waits until
// their requests have drained and terminates them. It is the last thing
// its step does to these instances and targets, and the only thing it
// does to others: the observer is handed both as its waits last saw them.
func (e *Env) drainAndTerminate(ctx context.Context, ids []string) error {
	progressf(ctx, "draining %v", ids)
	gone, err := e.deregisterTargets(ctx, ids)
	if err != nil {
		return err
	}
	progressf(ctx, "terminating %v", ids)
	terminated, err := e.terminate(ctx, ids)
	if err != nil {
		return err
	}
	e.tookInstances(terminated, 0)
	e.tookTargets(nil, gone, 0)
	return nil
}

// privateSpec launches an instance like those the alb rung put behind the
// load balancer.
func (e *Env) privateSpec(typ string) (launchSpec, error) {
	priv := e.State.Network.PrivateSG
	subnets := privateSubnetsFor(e.State)
	if priv == nil || len(subnets) == 0 {
		return launchSpec{}, fmt.Errorf("the private subnets or security group %s are missing; run `wtt migrate --to=alb` to repair them", e.N.PrivateSG())
	}
	return launchSpec{Role: privateRole, Type: typ, Subnets: subnets, SG: priv.ID, Public: false}, nil
}

func planPrivateHorizontal(s *observe.State, n int) ([]*plan.Step, []string) {
	live := liveByAge(s)
	c := len(live)
	typ := majorityType(live)
	switch {
	case n > c:
		return []*plan.Step{{
			Action:   plan.Create,
			Resource: fmt.Sprintf("%d private instance(s) %s behind the load balancer, %d -> %d", n-c, typ, c, n),
			Detail:   "launched in the private subnets of the load balancer's AZs, registered in the target group; waits until every one passes /healthz",
			Calls:    slices.Clone(rollInCalls),
			Do: func(ctx context.Context, x *plan.Exec) error {
				return env(x).growPrivate(withProgress(ctx, x), typ, n)
			},
		}}, nil
	case n < c:
		victims := live[n:]
		return []*plan.Step{{
			Action:       plan.Delete,
			Resource:     fmt.Sprintf("%d instance(s), newest first: %s", len(victims), idList(victims)),
			Detail:       "deregistered from the target group, drained (open requests finish), then terminated",
			Calls:        joinCalls(deregisterTargetCalls, []string{"ec2:TerminateInstances", "ec2:DescribeInstances"}),
			DowntimeNote: "the load balancer stops sending them new requests before they go",
			Do: func(ctx context.Context, x *plan.Exec) error {
				e := env(x)
				return e.drainAndTerminate(withProgress(ctx, x), instanceIDs(newestBeyond(e.State, n)))
			},
		}}, []string{fmt.Sprintf("%d instance(s) remain to carry the load: check they can (`wtt status`)", n)}
	}
	if !allHealthy(s, live) {
		return []*plan.Step{{
			Action:   plan.Update,
			Resource: fmt.Sprintf("register the %d instance(s) with the load balancer", c),
			Detail:   "registers the instances that are not targets yet and waits until every one passes /healthz",
			Calls:    joinCalls(registerTargetCalls, waitHealthyCalls),
			Do: func(ctx context.Context, x *plan.Exec) error {
				return env(x).growPrivate(withProgress(ctx, x), typ, n)
			},
		}}, nil
	}
	return nil, nil
}

// growPrivate launches private instances until n run, and makes every one
// a healthy target.
func (e *Env) growPrivate(ctx context.Context, typ string, n int) error {
	spec, err := e.privateSpec(typ)
	if err != nil {
		return err
	}
	ids, err := e.scaleLaunch(ctx, spec, n, func(observe.Instance) bool { return true })
	if err != nil {
		return err
	}
	return e.registerHealthy(ctx, ids)
}

func splitByType(is []observe.Instance, typ string) (old, nw []observe.Instance) {
	for _, i := range is {
		if i.Type == typ {
			nw = append(nw, i)
		} else {
			old = append(old, i)
		}
	}
	return old, nw
}

// allHealthy reports whether every instance is a healthy target.
func allHealthy(s *observe.State, is []observe.Instance) bool {
	if s.TargetGroup == nil {
		return len(is) == 0
	}
	health := map[string]string{}
	for _, t := range s.TargetGroup.Targets {
		health[t.ID] = t.Health
	}
	for _, i := range is {
		if health[i.ID] != "healthy" {
			return false
		}
	}
	return true
}

// projectPrivateVertical: the same number of instances, all of typ, all
// healthy targets.
func projectPrivateVertical(s *observe.State, typ string) *observe.State {
	p := clone(s)
	old, nw := splitByType(liveByAge(s), typ)
	want := max(len(old), len(nw))
	gone := map[string]bool{}
	for _, i := range old {
		gone[i.ID] = true
	}
	p.Instances = slices.DeleteFunc(p.Instances, func(i observe.Instance) bool { return gone[i.ID] })
	for k := len(nw); k < want; k++ {
		addPrivate(p, fmt.Sprintf("%s-p%d", unknown, k+1), typ, k)
	}
	dropTargets(p, gone)
	return p
}

// projectPrivateHorizontal: n instances, the newest removed first.
func projectPrivateHorizontal(s *observe.State, n int) *observe.State {
	p := clone(s)
	live := liveByAge(s)
	gone := map[string]bool{}
	for _, v := range newestBeyond(s, n) {
		gone[v.ID] = true
	}
	p.Instances = slices.DeleteFunc(p.Instances, func(i observe.Instance) bool { return gone[i.ID] })
	dropTargets(p, gone)
	for k := len(live); k < n; k++ {
		addPrivate(p, fmt.Sprintf("%s-p%d", unknown, k+1), majorityType(live), k)
	}
	return p
}

func addPrivate(p *observe.State, id, typ string, k int) {
	i := observe.Instance{ID: id, Type: typ, State: "running", IMDSv2Required: true, Role: privateRole}
	if p.Network.PrivateSG != nil {
		i.SecurityGroups = []string{p.Network.PrivateSG.ID}
	}
	if subnets := privateSubnetsFor(p); len(subnets) > 0 {
		sn := subnets[k%len(subnets)]
		i.SubnetID, i.AZ = sn.ID, sn.AZ
	}
	p.Instances = append(p.Instances, i)
	if p.TargetGroup != nil {
		p.TargetGroup.Targets = append(p.TargetGroup.Targets, observe.Target{ID: id, Health: "healthy"})
	}
}

func dropTargets(p *observe.State, gone map[string]bool) {
	if p.TargetGroup != nil {
		p.TargetGroup.Targets = slices.DeleteFunc(p.TargetGroup.Targets, func(t observe.Target) bool { return gone[t.ID] })
	}
}
