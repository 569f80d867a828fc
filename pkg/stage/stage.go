// Package stage names the rungs of the architecture ladder and decides, from
// observed state alone, which rung an app stands on.
package stage

import (
	"fmt"
	"slices"
	"strings"

	"github.com/whatsthetime/wtt/pkg/observe"
)

// Stage is a rung of the ladder.
type Stage string

const (
	None     Stage = "none"
	Single   Stage = "single"
	EIP      Stage = "eip"
	DNS      Stage = "dns"
	ALB      Stage = "alb"
	ASG      Stage = "asg"
	MultiAZ  Stage = "multi-az"
	Reserved Stage = "reserved"
)

// Ladder is every stage in order, bottom to top.
var Ladder = []Stage{None, Single, EIP, DNS, ALB, ASG, MultiAZ, Reserved}

// Index is the stage's position on the ladder.
func (s Stage) Index() int { return slices.Index(Ladder, s) }

// Parse reads a stage name as given on the command line.
func Parse(v string) (Stage, error) {
	s := Stage(strings.ToLower(strings.TrimSpace(v)))
	if s.Index() < 0 {
		return "", fmt.Errorf("unknown stage %q (stages, in order: %s)", v, Names())
	}
	return s, nil
}

// Names lists the stages for help and error messages.
func Names() string {
	var out []string
	for _, s := range Ladder {
		out = append(out, string(s))
	}
	return strings.Join(out, ", ")
}

// MaxEIPs is AWS's default Elastic IP quota per region.
const MaxEIPs = 5

// Result is a detected stage plus why the next rung is not reached: the
// unmet conditions read as a to-do list for status and plan.
type Result struct {
	Stage Stage `json:"stage"`
	// Unmet lists, for the next rung up, the conditions that do not hold.
	Unmet []string `json:"unmet,omitempty"`
	// HalfBuilt is the highest rung above Stage whose resources exist but
	// whose conditions do not all hold (an interrupted migration), with
	// what it still lacks. Running that rung again finishes it.
	HalfBuilt      Stage    `json:"halfBuilt,omitempty"`
	HalfBuiltUnmet []string `json:"halfBuiltUnmet,omitempty"`
}

// Detect derives the stage from what exists. A stage is reached only when
// every condition of its row in the brief's table holds; a half-built rung
// shows as the stage below it.
func Detect(s *observe.State) Result {
	checks := []struct {
		stage Stage
		check func(*observe.State) []string
	}{
		{Reserved, reservedUnmet},
		{MultiAZ, multiAZUnmet},
		{ASG, asgUnmet},
		{ALB, albUnmet},
		{DNS, dnsUnmet},
		{EIP, eipUnmet},
		{Single, singleUnmet},
	}
	var below []string
	r := Result{Stage: None}
	for i, c := range checks {
		unmet := c.check(s)
		if len(unmet) == 0 {
			r.Stage = c.stage
			if i > 0 {
				r.Unmet = below
			}
			break
		}
		below = unmet
		if r.HalfBuilt == "" && started(s, c.stage) {
			r.HalfBuilt, r.HalfBuiltUnmet = c.stage, unmet
		}
	}
	if r.Stage == None {
		r.Unmet = below
	}
	return r
}

// started reports whether resources that only a rung creates exist.
func started(s *observe.State, st Stage) bool {
	switch st {
	case EIP:
		return len(s.EIPs) > 0
	case DNS:
		return s.DNS != nil && s.DNS.Type == "A" && s.DNS.AliasTarget == ""
	case ALB:
		return s.LoadBalancer != nil || s.TargetGroup != nil || s.Network.ALBSG != nil
	case ASG:
		return s.Group != nil || s.LaunchTemplate != nil
	case Reserved:
		return Covered(s) > 0
	}
	return false
}

// Reached reports whether every condition of target holds.
func Reached(s *observe.State, target Stage) bool {
	switch target {
	case None:
		return s.Empty()
	case Single:
		return len(singleUnmet(s)) == 0
	case EIP:
		return len(eipUnmet(s)) == 0
	case DNS:
		return len(dnsUnmet(s)) == 0
	case ALB:
		return len(albUnmet(s)) == 0
	case ASG:
		return len(asgUnmet(s)) == 0
	case MultiAZ:
		return len(multiAZUnmet(s)) == 0
	case Reserved:
		return len(reservedUnmet(s)) == 0
	}
	return false
}

// publicFleetUnmet is what single, eip and dns share: live standalone
// instances that answer on a public address, safely configured.
func publicFleetUnmet(s *observe.State) []string {
	var u []string
	live := s.LiveInstances()
	if len(live) == 0 {
		return []string{"no running instance"}
	}
	web := s.Network.WebSG
	if web == nil {
		u = append(u, "security group "+"for the web instances is missing")
	}
	for _, i := range live {
		if i.State != "running" {
			u = append(u, fmt.Sprintf("instance %s is %s", i.ID, i.State))
		}
		if i.PublicIP == "" {
			u = append(u, fmt.Sprintf("instance %s has no public IPv4", i.ID))
		}
		if !i.IMDSv2Required {
			u = append(u, fmt.Sprintf("instance %s does not require IMDSv2", i.ID))
		}
		if web != nil && !slices.Contains(i.SecurityGroups, web.ID) {
			u = append(u, fmt.Sprintf("instance %s is not in security group %s", i.ID, web.Name))
		}
	}
	if web != nil {
		if !admitsFromAnywhere(web, 80) {
			u = append(u, "security group "+web.Name+" does not allow tcp/80 from anywhere")
		}
		if admitsFromAnywhere(web, 22) {
			u = append(u, "security group "+web.Name+" allows SSH from anywhere")
		}
	}
	return u
}

func admitsFromAnywhere(g *observe.SecurityGroup, port int32) bool {
	for _, r := range g.Ingress {
		if r.Covers(port) && (slices.Contains(r.CIDRs, "0.0.0.0/0") || slices.Contains(r.CIDRs, "::/0")) {
			return true
		}
	}
	return false
}

func singleUnmet(s *observe.State) []string { return publicFleetUnmet(s) }

func eipUnmet(s *observe.State) []string {
	u := publicFleetUnmet(s)
	live := s.LiveInstances()
	if len(live) > MaxEIPs {
		u = append(u, fmt.Sprintf("%d instances exceed the %d Elastic IPs an account has per region", len(live), MaxEIPs))
	}
	for _, i := range live {
		if i.EIP == "" {
			u = append(u, fmt.Sprintf("instance %s has no Elastic IP", i.ID))
		}
	}
	return u
}

func dnsUnmet(s *observe.State) []string {
	u := publicFleetUnmet(s)
	if len(s.EIPs) > 0 {
		u = append(u, fmt.Sprintf("%d Elastic IP(s) still allocated", len(s.EIPs)))
	}
	if s.DNS == nil || s.DNS.Type != "A" || s.DNS.AliasTarget != "" {
		return append(u, "no A record lists the instances")
	}
	var want []string
	for _, i := range s.LiveInstances() {
		want = append(want, i.PublicIP)
	}
	slices.Sort(want)
	if !slices.Equal(want, s.DNS.Values) {
		u = append(u, fmt.Sprintf("record %s lists %v, instances answer on %v", s.DNS.Name, s.DNS.Values, want))
	}
	return u
}

func albUnmet(s *observe.State) []string {
	var u []string
	lb, tg := s.LoadBalancer, s.TargetGroup
	if lb == nil {
		return []string{"no load balancer"}
	}
	if lb.Scheme != "internet-facing" {
		u = append(u, "load balancer is not internet-facing")
	}
	if len(lb.AZs) < 2 {
		u = append(u, fmt.Sprintf("load balancer spans %d AZ(s); AWS requires 2", len(lb.AZs)))
	}
	if tg == nil {
		return append(u, "no target group")
	}
	if tg.Protocol != "HTTP" || tg.Port != 80 || tg.HealthPath != "/healthz" {
		u = append(u, "target group is not HTTP:80 with health check /healthz")
	}
	if lb.ListenerARN == "" || lb.ListenerTarget != tg.ARN {
		u = append(u, "no :80 listener forwarding to the target group")
	}
	live := s.LiveInstances()
	if len(live) == 0 {
		u = append(u, "no running instance")
	}
	health := map[string]string{}
	for _, t := range tg.Targets {
		health[t.ID] = t.Health
	}
	albSG, priv := s.Network.ALBSG, s.Network.PrivateSG
	if albSG == nil || priv == nil {
		u = append(u, "load balancer or private security group missing")
	}
	if priv != nil && albSG != nil && !privateSGExact(priv, albSG.ID) {
		u = append(u, "security group "+priv.Name+" must admit tcp/80 only from "+albSG.Name)
	}
	retiring := groupServes(s, health)
	for _, i := range live {
		// Once the group serves, the asg rung takes the standalone
		// instances out of the target group and then terminates them: one
		// already out is on its way out, not a fleet the alb rung must
		// register again (a re-run that did would undo the drain, and runs
		// killed in between would undo each other forever).
		if health[i.ID] != "healthy" && !(retiring && i.Group == "") {
			u = append(u, fmt.Sprintf("instance %s is not a healthy target", i.ID))
		}
		if i.PublicIP != "" {
			u = append(u, fmt.Sprintf("instance %s has a public IPv4", i.ID))
		}
		if priv != nil && !slices.Contains(i.SecurityGroups, priv.ID) && !groupTemplateHasSG(s, i, priv.ID) {
			u = append(u, fmt.Sprintf("instance %s is not in security group %s", i.ID, priv.Name))
		}
	}
	if len(s.EIPs) > 0 {
		u = append(u, fmt.Sprintf("%d Elastic IP(s) still allocated", len(s.EIPs)))
	}
	if d := s.DNS; d != nil && d.Name != "" {
		if !(d.Type == "A" && strings.EqualFold(d.AliasTarget, lb.DNSName)) &&
			!(d.Type == "CNAME" && len(d.Values) == 1 && strings.EqualFold(strings.TrimSuffix(d.Values[0], "."), lb.DNSName)) {
			u = append(u, fmt.Sprintf("record %s does not point at the load balancer", d.Name))
		}
	}
	return u
}

// groupTemplateHasSG covers the emulator, whose group instances do not get
// the launch template's security groups: the template is then the truth.
func groupTemplateHasSG(s *observe.State, i observe.Instance, sg string) bool {
	return i.Group != "" && s.LaunchTemplate != nil && slices.Contains(s.LaunchTemplate.SecurityGroups, sg)
}

func privateSGExact(g *observe.SecurityGroup, albSG string) bool {
	ok := false
	for _, r := range g.Ingress {
		if len(r.CIDRs) > 0 {
			return false
		}
		for _, src := range r.SourceGroups {
			if src != albSG {
				return false
			}
			if r.Covers(80) {
				ok = true
			}
		}
	}
	return ok
}

// groupServes reports whether an Auto Scaling group attached to the
// target group has a healthy target: the asg rung has taken over serving.
func groupServes(s *observe.State, health map[string]string) bool {
	g, tg := s.Group, s.TargetGroup
	if g == nil || tg == nil || !slices.Contains(g.TargetGroupARNs, tg.ARN) {
		return false
	}
	for _, i := range s.LiveInstances() {
		if i.Group == g.Name && health[i.ID] == "healthy" {
			return true
		}
	}
	return false
}

func asgUnmet(s *observe.State) []string {
	u := albUnmet(s)
	g, lt := s.Group, s.LaunchTemplate
	if g == nil {
		return append(u, "no Auto Scaling group")
	}
	if lt == nil {
		u = append(u, "no launch template")
	} else {
		if !lt.IMDSv2Required {
			u = append(u, "launch template does not require IMDSv2")
		}
		if lt.PublicIP {
			u = append(u, "launch template assigns public IPs")
		}
	}
	if s.TargetGroup == nil || !slices.Contains(g.TargetGroupARNs, s.TargetGroup.ARN) {
		u = append(u, "group is not attached to the target group")
	}
	if g.HealthCheckType != "ELB" {
		u = append(u, "group does not use ELB health checks")
	}
	if len(g.TargetTracking) == 0 {
		u = append(u, "group has no target-tracking policy")
	}
	if n := len(s.Standalone()); n > 0 {
		u = append(u, fmt.Sprintf("%d standalone instance(s) remain outside the group", n))
	}
	if len(g.Instances) == 0 {
		u = append(u, "group has no instances")
	}
	return u
}

func multiAZUnmet(s *observe.State) []string {
	u := asgUnmet(s)
	if s.Group == nil || s.LoadBalancer == nil {
		return u
	}
	azs := groupAZs(s)
	if len(azs) < 2 {
		u = append(u, fmt.Sprintf("group spans %d AZ(s)", len(azs)))
	}
	if int(s.Group.Min) < len(azs) {
		u = append(u, fmt.Sprintf("group minimum %d is below its %d AZs", s.Group.Min, len(azs)))
	}
	for _, az := range azs {
		if !slices.Contains(s.LoadBalancer.AZs, az) {
			u = append(u, "load balancer does not span "+az)
		}
	}
	return u
}

// groupAZs are the AZs of the group's subnets (AWS reports them directly;
// reading subnets keeps the emulator honest too).
func groupAZs(s *observe.State) []string {
	var azs []string
	for _, id := range s.Group.Subnets {
		for _, sn := range s.Network.Subnets {
			if sn.ID == id && !slices.Contains(azs, sn.AZ) {
				azs = append(azs, sn.AZ)
			}
		}
	}
	if len(azs) == 0 {
		azs = slices.Clone(s.Group.AZs)
	}
	slices.Sort(azs)
	return azs
}

// GroupAZs is exported for status and planning.
func GroupAZs(s *observe.State) []string {
	if s.Group == nil {
		return nil
	}
	return groupAZs(s)
}

func reservedUnmet(s *observe.State) []string {
	u := multiAZUnmet(s)
	if s.Group == nil {
		return u
	}
	if covered := Covered(s); covered < s.Group.Min {
		u = append(u, fmt.Sprintf("Reserved Instances cover %d of the group's minimum %d %s", covered, s.Group.Min, s.Group.InstanceType))
	}
	return u
}

// Covered counts instances of the group's type that active regional
// reservations cover.
func Covered(s *observe.State) int32 {
	var n int32
	typ := ""
	if s.Group != nil {
		typ = s.Group.InstanceType
	}
	for _, r := range s.Reserved {
		if r.Covering() && r.InstanceType == typ && r.Scope != "Availability Zone" {
			n += r.Count
		}
	}
	return n
}
