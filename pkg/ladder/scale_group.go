package ladder

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Scaling an Auto Scaling group (asg, multi-az, reserved). The group owns
// the instances, so wtt changes what the group is asked for and lets Auto
// Scaling do the work: a new launch template version and an instance
// refresh for a new type, a new desired capacity for a new size.

var refreshCalls = joinCalls([]string{
	"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeInstanceRefreshes", "autoscaling:StartInstanceRefresh",
}, groupOpsCalls)

// refreshReplaceDowntime is what users of a one-instance group at its
// maximum size see when its instance is replaced terminate-then-launch.
const refreshReplaceDowntime = 3 * time.Minute

func groupMembers(s *observe.State) []observe.Instance {
	var out []observe.Instance
	for _, i := range s.LiveInstances() {
		if s.Group != nil && i.Group == s.Group.Name {
			out = append(out, i)
		}
	}
	return out
}

func planGroupVertical(s *observe.State, typ string) ([]*plan.Step, []string) {
	g, lt := s.Group, s.LaunchTemplate
	stale, _ := splitByType(groupMembers(s), typ)
	templateOK := lt != nil && lt.InstanceType == typ
	if templateOK && len(stale) == 0 {
		return nil, nil
	}
	var steps []*plan.Step
	var warns []string
	if !templateOK {
		steps = append(steps, &plan.Step{
			Action:   plan.Update,
			Resource: fmt.Sprintf("launch template %s: new version launching %s", ltName(s), typ),
			Detail:   "the group launches $Latest, so instances launched from now on are " + typ + "; running ones are replaced next",
			Calls:    slices.Clone(templateVersionCalls),
			Do: func(ctx context.Context, x *plan.Exec) error {
				_, err := env(x).newTemplateVersion(withProgress(ctx, x), typ)
				return err
			},
		})
	}
	minH, maxH := refreshPreferences(g.Desired, g.Max)
	refresh := &plan.Step{
		Action:   plan.Replace,
		Resource: fmt.Sprintf("instance refresh of group %s: %d instance(s) -> %s", g.Name, max(len(stale), int(g.Desired)), typ),
		Detail: fmt.Sprintf("Auto Scaling replaces the instances not yet %s (min healthy %d%%, max healthy %d%%); waits until the refresh succeeds and every instance is a healthy target",
			typ, minH, maxH),
		Calls:        slices.Clone(refreshCalls),
		DowntimeNote: "a new instance is a healthy target before an old one is drained and terminated",
		Do: func(ctx context.Context, x *plan.Exec) error {
			return env(x).refreshGroup(withProgress(ctx, x), typ)
		},
	}
	if minH < 100 {
		warns = append(warns, fmt.Sprintf("group %s is at its maximum size (%d), so the refresh terminates an instance before it launches its replacement; raise the maximum first for a zero-downtime refresh: wtt scale --horizontal %d --max %d",
			g.Name, g.Max, g.Desired, g.Max+1))
		refresh.DowntimeNote = "capacity drops by one instance during each replacement"
		if g.Desired <= 1 {
			refresh.Downtime = refreshReplaceDowntime
			refresh.DowntimeNote = "the group's only instance is terminated before its replacement is healthy: the whole app is down meanwhile"
		}
	}
	steps = append(steps, refresh)
	if w := reservedTypeWarning(s, typ); w != "" {
		warns = append(warns, w)
	}
	return steps, warns
}

// refreshPreferences chooses the refresh's healthy percentages. With room
// under the maximum, the group launches one extra instance, waits for it
// to be healthy, then terminates an old one (min 100%, max one instance
// above 100%). At its maximum it cannot launch first: it replaces one
// instance at a time, terminate then launch.
func refreshPreferences(desired, maxSize int32) (minHealthy, maxHealthy int32) {
	if desired <= 0 {
		return 100, 200
	}
	if maxSize > desired {
		// ceil(100*(d+1)/d): exactly one instance over the desired capacity.
		return 100, min(200, (100*(desired+1)+desired-1)/desired)
	}
	return 100 * (desired - 1) / desired, 100
}

// reservedTypeWarning says what happens to Reserved Instances bought for
// the type the group is leaving.
func reservedTypeWarning(s *observe.State, typ string) string {
	n := int32(0)
	old := ""
	for _, r := range s.Reserved {
		if r.Covering() && r.InstanceType != typ {
			n += r.Count
			old = r.InstanceType
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d Reserved Instance(s) of %s keep billing until their term ends but no longer cover the group once it runs %s; "+
		"a convertible reservation can be exchanged for %s, a standard one sold on the Reserved Instance Marketplace, or run `wtt migrate --to=reserved` to buy for %s",
		n, old, typ, typ, typ)
}

func ltName(s *observe.State) string {
	if s.LaunchTemplate != nil {
		return s.LaunchTemplate.Name
	}
	return "(missing)"
}

// refreshGroup replaces the group's instances that are not of typ with an
// instance refresh, and waits until the group is healthy. A refresh an
// interrupted run started is waited for, not started twice.
func (e *Env) refreshGroup(ctx context.Context, typ string) error {
	lt := e.State.LaunchTemplate
	if lt == nil || lt.InstanceType != typ {
		return fmt.Errorf("launch template %s does not launch %s yet; run the same command again", e.N.LaunchTemplate(), typ)
	}
	id, err := e.activeRefresh(ctx)
	if err != nil {
		return err
	}
	if id == "" {
		g, err := e.describeGroup(ctx)
		if err != nil {
			return err
		}
		if groupAllOfType(g, typ) {
			progressf(ctx, "every instance of group %s is already %s", e.N.ASG(), typ)
			return e.waitGroupHealthy(ctx)
		}
		if id, err = e.startRefresh(ctx, g, lt); err != nil {
			return err
		}
	}
	if err := e.waitRefresh(ctx, id); err != nil {
		return err
	}
	return e.waitGroupHealthy(ctx)
}

// refreshWarmup is how long a refresh waits after a new instance is in
// service and healthy before it moves on. Unset, AWS uses the group's
// health-check grace period (healthGrace, 120 s) for every batch; but the
// ELB health checks already hold a new instance back until /healthz
// answers, and the time server has nothing to warm up, so a short margin
// is enough and a group of four refreshes minutes sooner.
const refreshWarmup = 30

func (e *Env) startRefresh(ctx context.Context, g astypes.AutoScalingGroup, lt *observe.LaunchTemplate) (string, error) {
	// Keep the group on "$Latest" if that is how it launches; a group
	// pinned to a version moves to the new one.
	version := strconv.FormatInt(lt.LatestVersion, 10)
	if g.LaunchTemplate != nil && aws.ToString(g.LaunchTemplate.Version) == "$Latest" {
		version = "$Latest"
	}
	minH, maxH := refreshPreferences(aws.ToInt32(g.DesiredCapacity), aws.ToInt32(g.MaxSize))
	out, err := e.C.AutoScaling.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: g.AutoScalingGroupName,
		Strategy:             astypes.RefreshStrategyRolling,
		DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: &astypes.LaunchTemplateSpecification{
			LaunchTemplateId: aws.String(lt.ID), Version: aws.String(version),
		}},
		Preferences: &astypes.RefreshPreferences{
			MinHealthyPercentage: aws.Int32(minH), MaxHealthyPercentage: aws.Int32(maxH),
			InstanceWarmup: aws.Int32(refreshWarmup),
			// Instances already of the new configuration stay: a re-run
			// after an interrupted refresh replaces only the rest.
			SkipMatching: aws.Bool(true),
		},
	})
	if hasCode(err, "InstanceRefreshInProgress") {
		return e.activeRefresh(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("starting an instance refresh of group %s: %w", e.N.ASG(), err)
	}
	progressf(ctx, "instance refresh %s started (min healthy %d%%, max healthy %d%%)", aws.ToString(out.InstanceRefreshId), minH, maxH)
	return aws.ToString(out.InstanceRefreshId), nil
}

func groupAllOfType(g astypes.AutoScalingGroup, typ string) bool {
	n := int32(0)
	for _, in := range g.Instances {
		if strings.HasPrefix(string(in.LifecycleState), "Terminat") {
			continue
		}
		if aws.ToString(in.InstanceType) != typ {
			return false
		}
		n++
	}
	return n >= aws.ToInt32(g.DesiredCapacity)
}

// activeRefresh returns the group's refresh in progress, if any.
func (e *Env) activeRefresh(ctx context.Context) (string, error) {
	out, err := e.C.AutoScaling.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(e.N.ASG()), MaxRecords: aws.Int32(10),
	})
	if err != nil {
		return "", fmt.Errorf("reading instance refreshes of group %s: %w", e.N.ASG(), err)
	}
	for _, r := range out.InstanceRefreshes {
		switch r.Status {
		case astypes.InstanceRefreshStatusPending, astypes.InstanceRefreshStatusInProgress, astypes.InstanceRefreshStatusBaking:
			return aws.ToString(r.InstanceRefreshId), nil
		case astypes.InstanceRefreshStatusCancelling, astypes.InstanceRefreshStatusRollbackInProgress:
			return "", fmt.Errorf("an instance refresh of group %s is %s; run the same command again once it has finished", e.N.ASG(), r.Status)
		}
	}
	return "", nil
}

// waitRefresh polls the refresh until it succeeds, fails or times out.
func (e *Env) waitRefresh(ctx context.Context, id string) error {
	start := time.Now()
	last := ""
	for {
		out, err := e.C.AutoScaling.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{
			AutoScalingGroupName: aws.String(e.N.ASG()), InstanceRefreshIds: []string{id},
		})
		if err != nil {
			return fmt.Errorf("reading instance refresh %s: %w", id, err)
		}
		if len(out.InstanceRefreshes) == 0 {
			return fmt.Errorf("instance refresh %s of group %s not found", id, e.N.ASG())
		}
		r := out.InstanceRefreshes[0]
		switch r.Status {
		case astypes.InstanceRefreshStatusSuccessful:
			progressf(ctx, "instance refresh %s successful", id)
			return nil
		case astypes.InstanceRefreshStatusFailed, astypes.InstanceRefreshStatusCancelled,
			astypes.InstanceRefreshStatusRollbackSuccessful, astypes.InstanceRefreshStatusRollbackFailed:
			return fmt.Errorf("instance refresh %s of group %s ended %s: %s\n  the group keeps its healthy instances; see `aws autoscaling describe-instance-refreshes --auto-scaling-group-name %s`, fix the cause, then run the same command again",
				id, e.N.ASG(), r.Status, aws.ToString(r.StatusReason), e.N.ASG())
		}
		if line := fmt.Sprintf("instance refresh %s: %s, %d%% done", id, r.Status, aws.ToInt32(r.PercentageComplete)); line != last {
			progressf(ctx, "%s [%s elapsed]", line, elapsed(time.Since(start)))
			last = line
		}
		if time.Since(start) > e.waitTimeout() {
			return &WaitError{What: "instance refresh " + id + " of group " + e.N.ASG(), After: time.Since(start),
				Err:  fmt.Errorf("still %s, %d%% done", r.Status, aws.ToInt32(r.PercentageComplete)),
				Next: "run the same command again: it waits for this refresh rather than starting another"}
		}
		if err := sleep(ctx, e.pollInterval()); err != nil {
			return err
		}
	}
}

func planGroupHorizontal(s *observe.State, sc scene, n int, o Options) ([]*plan.Step, []string, error) {
	g := s.Group
	want := int32(n)
	newMin, newMax := g.Min, g.Max
	if o.Min > 0 {
		newMin = o.Min
	}
	if o.Max > 0 {
		newMax = o.Max
	}
	if err := checkGroupSizes(s, sc, want, newMin, newMax, o); err != nil {
		return nil, nil, err
	}
	if want == g.Desired && newMin == g.Min && newMax == g.Max {
		return nil, nil, nil
	}
	resource := fmt.Sprintf("Auto Scaling group %s: desired %d -> %d", g.Name, g.Desired, want)
	if newMin != g.Min {
		resource += fmt.Sprintf(", min %d -> %d", g.Min, newMin)
	}
	if newMax != g.Max {
		resource += fmt.Sprintf(", max %d -> %d", g.Max, newMax)
	}
	var minP, maxP *int32
	if newMin != g.Min {
		minP = aws.Int32(newMin)
	}
	if newMax != g.Max {
		maxP = aws.Int32(newMax)
	}
	st := &plan.Step{
		Action:       plan.Update,
		Resource:     resource,
		Detail:       "one UpdateAutoScalingGroup call; Auto Scaling launches or drains and terminates instances (balanced over the AZs), then wtt waits until the desired number are healthy targets",
		Calls:        slices.Clone(groupOpsCalls),
		DowntimeNote: "new instances join the target group when healthy; removed ones are drained first",
		Do: func(ctx context.Context, x *plan.Exec) error {
			e := env(x)
			ctx = withProgress(ctx, x)
			if err := e.setGroupCapacity(ctx, want, minP, maxP); err != nil {
				return err
			}
			return e.waitGroupHealthy(ctx)
		},
	}
	var warns []string
	if len(g.TargetTracking) > 0 && want > newMin {
		warns = append(warns, fmt.Sprintf("the group's target-tracking policy keeps adjusting the desired capacity between %d and %d as the load changes, so %d holds until it acts; pass --min %d to keep at least %d",
			newMin, newMax, want, want, want))
	}
	if covered := stage.Covered(s); covered > 0 && newMin > covered {
		warns = append(warns, fmt.Sprintf("Reserved Instances cover %d of the new minimum %d: the rest run on-demand; `wtt migrate --to=reserved` buys the difference", covered, newMin))
	}
	return []*plan.Step{st}, warns, nil
}

// checkGroupSizes refuses sizes Auto Scaling would refuse, or that would
// break the stage: every refusal says which flag fixes it.
func checkGroupSizes(s *observe.State, sc scene, want, newMin, newMax int32, o Options) error {
	g := s.Group
	if azs := int32(len(stage.GroupAZs(s))); sc.stage.Index() >= stage.MultiAZ.Index() {
		switch {
		case want < azs:
			return cmdutil.Usagef(fmt.Sprintf("scale to %d or more", azs),
				"at stage %s the group keeps at least one instance in each of its %d AZs; --horizontal %d is too few", sc.stage, azs, want)
		case newMin < azs:
			return cmdutil.Usagef(fmt.Sprintf("keep --min at %d or more", azs),
				"at stage %s the group's minimum must stay at least its number of AZs (%d), so every AZ keeps an instance; --min %d is too low", sc.stage, azs, newMin)
		}
	}
	switch {
	case newMin > newMax:
		return cmdutil.Usagef("pass both --min and --max", "a minimum of %d would be above the maximum %d of group %s", newMin, newMax, g.Name)
	case want > newMax:
		return cmdutil.Usagef(fmt.Sprintf("raise the maximum too: wtt scale --horizontal %d --max %d", want, want),
			"--horizontal %d is above the maximum size %d of group %s", want, newMax, g.Name)
	case want < newMin:
		return cmdutil.Usagef(fmt.Sprintf("lower the minimum too: wtt scale --horizontal %d --min %d", want, want),
			"--horizontal %d is below the minimum size %d of group %s", want, newMin, g.Name)
	}
	return nil
}

// projectGroupVertical: the template and every instance run typ.
func projectGroupVertical(s *observe.State, typ string) *observe.State {
	p := clone(s)
	if p.LaunchTemplate != nil {
		p.LaunchTemplate.InstanceType = typ
	}
	if p.Group != nil {
		p.Group.InstanceType = typ
		for k, i := range p.Instances {
			if i.Group == p.Group.Name && i.Live() {
				p.Instances[k].Type = typ
			}
		}
	}
	return p
}

// projectGroupHorizontal: the group at its new size, the newest instances
// gone on a scale-in (Auto Scaling balances AZs first; for the bill the
// count is what matters).
func projectGroupHorizontal(s *observe.State, n int, o Options) *observe.State {
	p := clone(s)
	g := p.Group
	if o.Min > 0 {
		g.Min = o.Min
	}
	if o.Max > 0 {
		g.Max = o.Max
	}
	g.Desired = int32(n)
	members := groupMembers(p)
	if len(members) > n {
		gone := map[string]bool{}
		for _, v := range members[n:] {
			gone[v.ID] = true
		}
		p.Instances = slices.DeleteFunc(p.Instances, func(i observe.Instance) bool { return gone[i.ID] })
		g.Instances = slices.DeleteFunc(g.Instances, func(id string) bool { return gone[id] })
		dropTargets(p, gone)
	}
	for k := len(members); k < n; k++ {
		id := fmt.Sprintf("%s-g%d", unknown, k+1)
		i := observe.Instance{ID: id, Type: g.InstanceType, State: "running", IMDSv2Required: true, Group: g.Name, Role: groupRole}
		if len(g.AZs) > 0 {
			i.AZ = g.AZs[k%len(g.AZs)]
		}
		p.Instances = append(p.Instances, i)
		g.Instances = append(g.Instances, id)
		if p.TargetGroup != nil {
			p.TargetGroup.Targets = append(p.TargetGroup.Targets, observe.Target{ID: id, Health: "healthy"})
		}
	}
	return p
}
