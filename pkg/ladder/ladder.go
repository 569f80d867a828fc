package ladder

import (
	"fmt"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// rung plans one move up the ladder from a (possibly projected) state, and
// projects the state it leaves behind so the next rung can be planned
// before anything has run.
type rung struct {
	plan    func(s *observe.State, o Options) (steps []*plan.Step, warnings []string, err error)
	project func(s *observe.State, o Options) *observe.State
}

var rungs = map[stage.Stage]rung{
	stage.Single:   {planUp, projectUp},
	stage.EIP:      {planEIP, projectEIP},
	stage.DNS:      {planDNS, projectDNS},
	stage.ALB:      {planALB, projectALB},
	stage.ASG:      {planASG, projectASG},
	stage.MultiAZ:  {planMultiAZ, projectMultiAZ},
	stage.Reserved: {planReserved, projectReserved},
}

// Migrate plans the move from the observed stage to target, every rung in
// between included, as one plan.
func Migrate(s *observe.State, target stage.Stage, o Options) (*plan.Plan, error) {
	p, _, err := MigrateProjected(s, target, o)
	return p, err
}

// MigrateProjected is Migrate that also returns the state the plan is
// expected to leave, so a runbook can plan its next operation from it.
func MigrateProjected(s *observe.State, target stage.Stage, o Options) (*plan.Plan, *observe.State, error) {
	cur := stage.Detect(s).Stage
	p := &plan.Plan{App: s.App, Region: s.Region, Operation: "migrate --to=" + string(target), From: string(cur), To: string(target), Steps: []*plan.Step{}}
	if target == stage.None {
		return nil, nil, cmdutil.Usagef("run `wtt down` to delete the app", "migrating to stage none is not supported")
	}
	if target.Index() < cur.Index() && target.Index() >= stage.ALB.Index() && stage.Reached(s, target) {
		// From alb up the stages are cumulative: an app at multi-az is also
		// at asg, so re-running `migrate --to=asg` there has nothing to do.
		p.CostBefore, p.CostAfter, p.Projected = Cost(s), Cost(s), s
		p.Warnings = append(p.Warnings, fmt.Sprintf("the app is at stage %s, which already meets every condition of %s", cur, target))
		return p, s, nil
	}
	if target.Index() < cur.Index() {
		return nil, nil, cmdutil.Usagef("moving down the ladder is not supported; run `wtt down` and start again, or migrate to "+string(cur)+" or above",
			"the app is at stage %s, above %s", cur, target)
	}
	p.CostBefore = Cost(s)
	projected := s
	if repair, why := networkRepair(s, cur); repair != nil {
		p.Steps = append(p.Steps, repair)
		p.Warnings = append(p.Warnings, why)
	}
	for _, st := range stage.Ladder[1 : target.Index()+1] {
		// Rungs at or below the observed stage are behind the app: the
		// public-fleet rungs' conditions (public IPs) no longer hold above
		// them by design, so they are not planned again.
		if st.Index() <= cur.Index() {
			continue
		}
		if skip, why := skipped(st, target, o); skip {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: skipped, %s", st, why))
			continue
		}
		r := rungs[st]
		steps, warns, err := r.plan(projected, o)
		if err != nil {
			return nil, nil, err
		}
		p.Steps = append(p.Steps, steps...)
		p.Warnings = append(p.Warnings, warns...)
		projected = r.project(projected, o)
	}
	if target == stage.Reserved && cur == stage.Reserved && o.ReservedIntent != nil {
		// The rung is behind the app, but a purchase of an interrupted run
		// still needs accounting for (its reservations are what reached it).
		p.Steps = append(p.Steps, reconcileStep(o.ReservedIntent, false))
	}
	p.CostAfter = Cost(projected)
	p.Upfront = upfront(p)
	p.Projected = projected
	return p, projected, nil
}

// skipped decides which rungs a jump passes over. Elastic IPs and a DNS
// record of instance addresses only serve the public fleet: allocating them
// on the way to a load balancer would cost money to be undone a minute
// later. The load balancer rung publishes the DNS name itself when one is
// given.
func skipped(st, target stage.Stage, o Options) (bool, string) {
	if target == st {
		return false, ""
	}
	// The dns rung releases every Elastic IP: allocating them on the way
	// would cost quota (the very thing dns is the way out of) for nothing.
	if st == stage.EIP && target == stage.DNS {
		return true, "the dns rung publishes the instances' own addresses; Elastic IPs would be released again at once"
	}
	if target.Index() < stage.ALB.Index() {
		return false, ""
	}
	switch st {
	case stage.EIP:
		return true, "Elastic IPs would be released again by a later rung"
	case stage.DNS:
		if o.DNSName == "" {
			return true, "no --dns-name given: the app stays on the load balancer's own DNS name"
		}
		return true, "the load balancer rung publishes " + o.DNSName + " as an alias directly"
	}
	return false, ""
}

func upfront(p *plan.Plan) float64 {
	var u float64
	for _, s := range p.Steps {
		u += s.Upfront
	}
	return u
}
