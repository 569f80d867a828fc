package ladder

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Scaling is an operation, not a rung: it keeps the app at its stage and
// changes the fleet's instance type (vertical) or size (horizontal). How it
// does so depends on how traffic reaches the instances: a public fleet is
// stopped and started in place (with downtime, said in the plan), a fleet
// behind the load balancer is replaced by rolling (none), and a group is
// refreshed or resized by Auto Scaling itself. See docs/scaling.md.

// fleetKind is how traffic reaches the instances, which decides how they
// can be scaled.
type fleetKind int

const (
	kindPublic  fleetKind = iota // single, eip, dns: clients reach instances directly
	kindPrivate                  // alb: standalone private instances behind the load balancer
	kindGroup                    // asg and above: the Auto Scaling group owns the instances
)

// scene is what a scale plan starts from.
type scene struct {
	kind  fleetKind
	stage stage.Stage
	// warnings explain a state that is not exactly a stage, typically an
	// earlier scale interrupted half-way.
	warnings []string
}

// sceneOf decides how to scale from what exists. stage.Detect alone is not
// enough: a scale interrupted half-way (an instance stopped, a new target
// not yet healthy) fails some condition of the stage, and the re-run must
// still see which way the fleet is scaled to finish the job.
func sceneOf(s *observe.State) (scene, error) {
	det := stage.Detect(s).Stage
	interrupted := func(st stage.Stage) []string {
		if det == st || (st == stage.ASG && det.Index() > st.Index()) {
			return nil
		}
		return []string{fmt.Sprintf("the app does not meet every condition of stage %s right now (detected: %s), probably because an earlier change was interrupted; this plan works from what exists", st, det)}
	}
	switch {
	case s.Group != nil:
		if det.Index() >= stage.ASG.Index() {
			return scene{kind: kindGroup, stage: det}, nil
		}
		if len(s.Standalone()) == 0 && s.LaunchTemplate != nil {
			return scene{kind: kindGroup, stage: stage.ASG, warnings: interrupted(stage.ASG)}, nil
		}
		return scene{}, cmdutil.Usagef("finish the move first: wtt migrate --to=asg",
			"the app is between stages %s and asg: an Auto Scaling group exists but %d standalone instance(s) remain", det, len(s.Standalone()))
	case s.LoadBalancer != nil:
		if det == stage.ALB {
			return scene{kind: kindPrivate, stage: det}, nil
		}
		if s.TargetGroup != nil && s.Network.PrivateSG != nil && len(s.Standalone()) > 0 && allPrivate(s.Standalone()) {
			return scene{kind: kindPrivate, stage: stage.ALB, warnings: interrupted(stage.ALB)}, nil
		}
		return scene{}, cmdutil.Usagef("finish the move first: wtt migrate --to=alb",
			"the app is between stages %s and alb: a load balancer exists but the fleet is not behind it yet", det)
	case len(standaloneFleet(s)) > 0:
		st := det
		if st.Index() < stage.Single.Index() || st.Index() > stage.DNS.Index() {
			st = publicStage(s)
		}
		return scene{kind: kindPublic, stage: st, warnings: interrupted(st)}, nil
	}
	return scene{}, cmdutil.Usagef("run `wtt up` first", "the app %s does not exist yet (nothing is tagged wtt:app=%s in %s)", s.App, s.App, s.Region)
}

// publicStage names the stage a public fleet is meant to be at, from the
// resources that exist rather than from conditions that hold.
func publicStage(s *observe.State) stage.Stage {
	switch {
	case usesEIPs(s):
		return stage.EIP
	case instanceRecord(s.DNS):
		return stage.DNS
	}
	return stage.Single
}

func allPrivate(is []observe.Instance) bool {
	for _, i := range is {
		if i.PublicIP != "" {
			return false
		}
	}
	return true
}

// standaloneFleet is every instance of the app outside a group that is not
// going away, stopped ones included: a stopped instance is one an
// interrupted vertical scale still has to start.
func standaloneFleet(s *observe.State) []observe.Instance {
	var out []observe.Instance
	for _, i := range s.Instances {
		if i.Group == "" && i.State != "shutting-down" && i.State != "terminated" {
			out = append(out, i)
		}
	}
	return out
}

// usesEIPs reports whether the public fleet holds Elastic IPs.
func usesEIPs(s *observe.State) bool {
	for _, a := range s.EIPs {
		if a.InstanceID != "" {
			return true
		}
	}
	return false
}

// instanceRecord reports whether the app's DNS record lists instance
// addresses (the dns stage), as opposed to pointing at a load balancer.
func instanceRecord(d *observe.DNS) bool {
	return d != nil && d.Type == "A" && d.AliasTarget == "" && len(d.Values) > 0
}

func newScalePlan(s *observe.State, sc scene, op string) *plan.Plan {
	return &plan.Plan{App: s.App, Region: s.Region, Operation: op, From: string(sc.stage), To: string(sc.stage),
		Steps: []*plan.Step{}, Warnings: slices.Clone(sc.warnings), CostBefore: Cost(s)}
}

// ScaleVertical plans changing the fleet's instance type. The type must
// have been checked against EC2 already (CheckVerticalType): planning is
// pure and makes no AWS call.
func ScaleVertical(s *observe.State, typ string, o Options) (*plan.Plan, error) {
	sc, err := sceneOf(s)
	if err != nil {
		return nil, err
	}
	p := newScalePlan(s, sc, "scale --vertical "+typ)
	var steps []*plan.Step
	var warns []string
	var projected *observe.State
	switch sc.kind {
	case kindPublic:
		steps, warns = planPublicVertical(s, typ)
		projected = projectPublicVertical(s, typ)
	case kindPrivate:
		steps, warns = planPrivateVertical(s, typ)
		projected = projectPrivateVertical(s, typ)
	case kindGroup:
		steps, warns = planGroupVertical(s, typ)
		projected = projectGroupVertical(s, typ)
	}
	for _, st := range steps {
		st.Rung = "scale"
	}
	p.Steps = append(p.Steps, steps...)
	p.Warnings = append(p.Warnings, warns...)
	p.CostAfter = Cost(projected)
	leaveReserved(p, sc, projected)
	return p, nil
}

// ScaleHorizontal plans changing the number of instances (at a group, its
// desired capacity; o.Min and o.Max, when not zero, set its bounds too).
func ScaleHorizontal(s *observe.State, n int, o Options) (*plan.Plan, error) {
	if n < 1 || n > maxHorizontal {
		return nil, cmdutil.Usagef(fmt.Sprintf("pass a count between 1 and %d", maxHorizontal), "--horizontal %d is out of range", n)
	}
	sc, err := sceneOf(s)
	if err != nil {
		return nil, err
	}
	if sc.kind != kindGroup && (o.Min > 0 || o.Max > 0) {
		return nil, cmdutil.Usagef("drop --min and --max: they bound an Auto Scaling group (stage asg and above)",
			"the app is at stage %s, which has no Auto Scaling group", sc.stage)
	}
	p := newScalePlan(s, sc, fmt.Sprintf("scale --horizontal %d", n))
	var steps []*plan.Step
	var warns []string
	var projected *observe.State
	switch sc.kind {
	case kindPublic:
		if steps, warns, err = planPublicHorizontal(s, sc, n); err != nil {
			return nil, err
		}
		projected = projectPublicHorizontal(s, n)
	case kindPrivate:
		steps, warns = planPrivateHorizontal(s, n)
		projected = projectPrivateHorizontal(s, n)
	case kindGroup:
		if steps, warns, err = planGroupHorizontal(s, sc, n, o); err != nil {
			return nil, err
		}
		projected = projectGroupHorizontal(s, n, o)
	}
	for _, st := range steps {
		st.Rung = "scale"
	}
	p.Steps = append(p.Steps, steps...)
	p.Warnings = append(p.Warnings, warns...)
	p.CostAfter = Cost(projected)
	leaveReserved(p, sc, projected)
	return p, nil
}

// leaveReserved says so when scaling takes the app off stage reserved: its
// reservations no longer cover the group's minimum of its type.
func leaveReserved(p *plan.Plan, sc scene, projected *observe.State) {
	if sc.stage != stage.Reserved || projected.Group == nil || len(p.Steps) == 0 {
		return
	}
	if covered := stage.Covered(projected); covered < projected.Group.Min {
		p.To = string(stage.MultiAZ)
		p.Warnings = append(p.Warnings, fmt.Sprintf("the app leaves stage reserved: Reserved Instances cover %d of the group's minimum %d %s",
			covered, projected.Group.Min, projected.Group.InstanceType))
	}
}

// maxHorizontal bounds --horizontal: beyond it an app wants its own
// capacity planning, not a ladder tool.
const maxHorizontal = 100

// CheckVerticalType refuses, before anything is planned, a type EC2 does not
// have, does not offer in every AZ the fleet uses, or (for a fleet that is
// stopped and started in place) cannot run the instances' AMI. Every refusal
// is bad input: exit 2, nothing changed.
func CheckVerticalType(ctx context.Context, e *Env, typ string) error {
	s := e.State
	if s.Group != nil || s.LoadBalancer != nil {
		// New instances launch with an AMI for the type's architecture.
		_, err := CheckInstanceType(ctx, e.C, typ, fleetAZs(s))
		return err
	}
	// Stop, modify, start keeps the instance's AMI: its architecture must
	// match the new type's, which AWS checks only when the instance starts.
	// The new type and the current ones are asked about in one call.
	var current []observe.Instance
	types := []string{typ}
	for _, i := range standaloneFleet(s) {
		if i.Type != "" && !slices.Contains(types, i.Type) {
			current = append(current, i)
			types = append(types, i.Type)
		}
	}
	infos, err := typeArchs(ctx, e.C, types)
	if err != nil {
		return err
	}
	if err := checkOffered(ctx, e.C, typ, fleetAZs(s)); err != nil {
		return err
	}
	info := infos[typ]
	for _, i := range current {
		if cur := infos[i.Type]; cur.Arch != info.Arch {
			return cmdutil.Usagef(fmt.Sprintf("pick a %s type, or move behind a load balancer first (wtt migrate --to=alb), where scaling launches new instances with an AMI for the new type", archName(cur.Arch)),
				"instance type %s is %s but instance %s runs a %s AMI: stopping and starting it with the new type would fail", typ, archName(info.Arch), i.ID, archName(cur.Arch))
		}
	}
	return nil
}

// CheckHorizontal refuses, before anything changes, a scale-out at stage
// eip that the region's Elastic IP quota cannot hold (every address in the
// region counts, not only the app's). Beyond stage.MaxEIPs the plan itself
// refuses, with the way out.
func CheckHorizontal(ctx context.Context, e *Env, n int) error {
	sc, err := sceneOf(e.State)
	if err != nil || sc.kind != kindPublic || n > stage.MaxEIPs || !(sc.stage == stage.EIP || usesEIPs(e.State)) {
		return nil // the plan reports these
	}
	live := liveByAge(e.State)
	return e.CheckEIPQuota(ctx, n-len(live)-len(idleEIPs(e.State)))
}

func archName(goArch string) string {
	if goArch == "arm64" {
		return "arm64"
	}
	return "x86_64"
}

// fleetAZs are the AZs the fleet runs in (or, behind a load balancer or in
// a group, launches into): a new type must be offered in each.
func fleetAZs(s *observe.State) []string {
	var azs []string
	add := func(az string) {
		if az != "" && !slices.Contains(azs, az) {
			azs = append(azs, az)
		}
	}
	switch {
	case s.Group != nil:
		for _, az := range stage.GroupAZs(s) {
			add(az)
		}
	case s.LoadBalancer != nil:
		for _, sn := range privateSubnetsFor(s) {
			add(sn.AZ)
		}
	default:
		for _, i := range standaloneFleet(s) {
			add(i.AZ)
		}
	}
	slices.Sort(azs)
	return azs
}

// majorityType is the instance type most of the instances run (the first
// seen on a tie): what new instances of a horizontal scale-out get.
func majorityType(is []observe.Instance) string {
	count := map[string]int{}
	best := ""
	for _, i := range is {
		count[i.Type]++
		if best == "" || count[i.Type] > count[best] {
			best = i.Type
		}
	}
	if best == "" {
		return DefaultInstanceType
	}
	return best
}

func instanceIDs(is []observe.Instance) []string {
	ids := make([]string, 0, len(is))
	for _, i := range is {
		ids = append(ids, i.ID)
	}
	return ids
}

// idList shows a few IDs in a plan line, not a hundred.
func idList(is []observe.Instance) string {
	ids := instanceIDs(is)
	if len(ids) > 4 {
		return strings.Join(ids[:4], ", ") + fmt.Sprintf(" and %d more", len(ids)-4)
	}
	return strings.Join(ids, ", ")
}
