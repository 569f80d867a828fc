package printers

import (
	"fmt"
	"io"
	"strings"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Status is what `wtt status` shows; its JSON field names are part of the
// command-line contract that scripts rely on.
type Status struct {
	App               string             `json:"app"`
	Region            string             `json:"region"`
	Stage             stage.Stage        `json:"stage"`
	NextStageUnmet    []string           `json:"nextStageUnmet,omitempty"`
	Instances         []observe.Instance `json:"instances"`
	EIPs              []observe.EIP      `json:"eips"`
	DNS               *observe.DNS       `json:"dns"`
	LoadBalancer      *LoadBalancerView  `json:"loadBalancer"`
	AutoScalingGroup  *observe.Group     `json:"autoScalingGroup"`
	ReservedInstances []observe.Reserved `json:"reservedInstances"`
	Network           NetworkView        `json:"network"`
	MonthlyCost       pricing.Estimate   `json:"monthlyCost"`
	Findings          []Finding          `json:"findings"`
}

// LoadBalancerView joins the load balancer with its target group's health.
type LoadBalancerView struct {
	Name        string           `json:"name"`
	DNSName     string           `json:"dnsName"`
	Scheme      string           `json:"scheme"`
	AZs         []string         `json:"azs"`
	TargetGroup string           `json:"targetGroup,omitempty"`
	Targets     []observe.Target `json:"targets"`
}

type NetworkView struct {
	VPCID   string           `json:"vpcId,omitempty"`
	Subnets []observe.Subnet `json:"subnets,omitempty"`
}

// Finding is something that costs money or risks an outage for no benefit:
// an idle Elastic IP, a stopped instance, a load balancer with no targets,
// a half-built rung.
type Finding struct {
	Kind     string  `json:"kind"`
	Resource string  `json:"resource"`
	Message  string  `json:"message"`
	Monthly  float64 `json:"monthlyCost,omitempty"`
}

// NewStatus assembles the view from observed state.
func NewStatus(s *observe.State, r stage.Result, cost pricing.Estimate) *Status {
	st := &Status{
		App: s.App, Region: s.Region, Stage: r.Stage, NextStageUnmet: r.Unmet,
		Instances: s.Instances, EIPs: s.EIPs, DNS: s.DNS, AutoScalingGroup: s.Group,
		ReservedInstances: s.Reserved, MonthlyCost: cost, Findings: []Finding{},
		Network: NetworkView{VPCID: s.Network.VPCID, Subnets: s.Network.Subnets},
	}
	if s.Group != nil {
		g := *s.Group
		g.AZs = stage.GroupAZs(s)
		st.AutoScalingGroup = &g
	}
	if lb := s.LoadBalancer; lb != nil {
		v := &LoadBalancerView{Name: lb.Name, DNSName: lb.DNSName, Scheme: lb.Scheme, AZs: lb.AZs, Targets: []observe.Target{}}
		if s.TargetGroup != nil {
			v.TargetGroup = s.TargetGroup.Name
			v.Targets = s.TargetGroup.Targets
		}
		st.LoadBalancer = v
	}
	st.Findings = findings(s)
	if r.HalfBuilt != "" {
		st.Findings = append(st.Findings, Finding{Kind: "half-built", Resource: "rung " + string(r.HalfBuilt),
			Message: fmt.Sprintf("run `wtt migrate --to=%s` to finish it; missing: %s", r.HalfBuilt, strings.Join(limit(r.HalfBuiltUnmet, 3), "; "))})
	}
	return st
}

func findings(s *observe.State) []Finding {
	out := []Finding{}
	live := map[string]bool{}
	for _, i := range s.LiveInstances() {
		live[i.ID] = true
	}
	ipMonthly := pricing.PublicIPv4Hourly * pricing.HoursPerMonth
	for _, e := range s.EIPs {
		if !live[e.InstanceID] {
			out = append(out, Finding{Kind: "idle-eip", Resource: e.PublicIP + " (" + e.AllocationID + ")",
				Message: "Elastic IP not associated with a running instance; `wtt down` or `wtt migrate` releases it", Monthly: round2(ipMonthly)})
		}
	}
	for _, i := range s.Instances {
		if i.State == "stopped" {
			out = append(out, Finding{Kind: "stopped-instance", Resource: i.ID,
				Message: "stopped instance still pays for its volume; run the interrupted command again or `wtt down`", Monthly: pricing.RootVolumeMonthly})
		}
	}
	for _, n := range s.StrayNetworks {
		out = append(out, Finding{Kind: "stray-vpc", Resource: n.VPCID,
			Message: "a second VPC tagged for the app (a create retried after its answer was lost); `wtt down` removes it"})
	}
	if s.LoadBalancer != nil && (s.TargetGroup == nil || len(s.TargetGroup.Targets) == 0) {
		out = append(out, Finding{Kind: "idle-load-balancer", Resource: s.LoadBalancer.Name,
			Message: "load balancer has no targets; run `wtt migrate --to=alb` to finish the rung or `wtt down`", Monthly: round2(pricing.ALBHourly * pricing.HoursPerMonth)})
	}
	return out
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// PrintStatus renders a status in the requested format.
func PrintStatus(w io.Writer, format string, st *Status) error {
	if ok, err := Structured(w, format, st); ok {
		return err
	}
	wide := format == "wide"
	fmt.Fprintf(w, "App:     %s (%s)\n", st.App, st.Region)
	fmt.Fprintf(w, "Stage:   %s\n", st.Stage)
	if len(st.NextStageUnmet) > 0 {
		next := "next rung"
		if i := st.Stage.Index(); i+1 < len(stage.Ladder) {
			next = string(stage.Ladder[i+1])
		}
		fmt.Fprintf(w, "Next:    %s needs: %s\n", next, strings.Join(limit(st.NextStageUnmet, 3), "; "))
	}
	fmt.Fprintf(w, "Cost:    %s/month (estimate)\n", usd(st.MonthlyCost.Monthly))
	if len(st.Instances) > 0 {
		fmt.Fprintln(w)
		header := []string{"INSTANCE", "TYPE", "STATE", "AZ", "PUBLIC IP", "PRIVATE IP", "EIP"}
		if wide {
			header = append(header, "GROUP", "IMDSV2", "SUBNET")
		}
		var rows [][]string
		for _, i := range st.Instances {
			r := []string{i.ID, i.Type, i.State, i.AZ, dash(i.PublicIP), dash(i.PrivateIP), dash(i.EIP)}
			if wide {
				r = append(r, dash(i.Group), fmt.Sprint(i.IMDSv2Required), dash(i.SubnetID))
			}
			rows = append(rows, r)
		}
		if err := table(w, header, rows); err != nil {
			return err
		}
	}
	if d := st.DNS; d != nil {
		fmt.Fprintln(w)
		target := strings.Join(d.Values, ",")
		// An alias record has no TTL of its own: Route 53 answers with the
		// target's, so showing ttl=0 would mislead.
		ttl := fmt.Sprintf(" ttl=%d", d.TTL)
		if d.AliasTarget != "" {
			target, ttl = "alias "+d.AliasTarget, ""
		}
		fmt.Fprintf(w, "DNS:     %s %s%s -> %s (zone %s)\n", d.Name, dash(d.Type), ttl, dash(target), d.ZoneName)
	}
	if lb := st.LoadBalancer; lb != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Load balancer: %s (%s) in %s\n", lb.DNSName, lb.Scheme, strings.Join(lb.AZs, ", "))
		var rows [][]string
		for _, t := range lb.Targets {
			rows = append(rows, []string{t.ID, t.Health})
		}
		if len(rows) > 0 {
			if err := table(w, []string{"TARGET", "HEALTH"}, rows); err != nil {
				return err
			}
		}
	}
	if g := st.AutoScalingGroup; g != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Auto Scaling group: %s  %s  min=%d max=%d desired=%d  AZs %s\n", g.Name, g.InstanceType, g.Min, g.Max, g.Desired, strings.Join(g.AZs, ", "))
	}
	if len(st.ReservedInstances) > 0 {
		fmt.Fprintln(w)
		var rows [][]string
		for _, r := range st.ReservedInstances {
			// Reservations are account-wide: say which ones wtt bought for
			// this app, the others only happen to cover it.
			by := "other"
			if r.BoughtByWtt {
				by = "wtt"
			}
			rows = append(rows, []string{r.ID, r.InstanceType, fmt.Sprint(r.Count), r.State, r.Scope, r.End.Format("2006-01-02"), by})
		}
		if err := table(w, []string{"RESERVATION", "TYPE", "COUNT", "STATE", "SCOPE", "ENDS", "BOUGHT BY"}, rows); err != nil {
			return err
		}
	}
	if len(st.Findings) > 0 {
		fmt.Fprintln(w)
		var rows [][]string
		for _, f := range st.Findings {
			rows = append(rows, []string{"!", f.Kind, f.Resource, usd(f.Monthly) + "/mo", f.Message})
		}
		if err := table(w, []string{"", "FINDING", "RESOURCE", "COST", "WHAT TO DO"}, rows); err != nil {
			return err
		}
	}
	return nil
}

func limit(ss []string, n int) []string {
	if len(ss) <= n {
		return ss
	}
	return append(ss[:n:n], fmt.Sprintf("and %d more", len(ss)-n))
}
