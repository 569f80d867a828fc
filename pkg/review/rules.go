package review

import (
	"fmt"
	"slices"
	"strings"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Rule is one row of the findings table. Check is a pure function of the
// observed state; it returns nil when the app passes.
type Rule struct {
	ID         string
	Pillar     Pillar
	Title      string
	Why        string
	Fix        string
	References []string
	Check      func(f *facts) *hit
}

// hit is what a failing check proves. Title, why and fix override the
// rule's when a finding's wording depends on what was observed.
type hit struct {
	severity Severity
	title    string
	why      string
	fix      string
	refs     []string // replace the rule's references
	evidence []string
}

func (r Rule) finding(h *hit) Finding {
	f := Finding{ID: r.ID, Pillar: r.Pillar, Severity: h.severity, Title: r.Title, Why: r.Why, Fix: r.Fix,
		Evidence: h.evidence, References: slices.Clone(r.References)}
	if h.title != "" {
		f.Title = h.title
	}
	if h.why != "" {
		f.Why = h.why
	}
	if h.fix != "" {
		f.Fix = h.fix
	}
	if h.refs != nil {
		f.References = slices.Clone(h.refs)
	}
	if f.References == nil {
		f.References = []string{}
	}
	return f
}

// facts are what several rules derive from the state, computed once.
type facts struct {
	s      *observe.State
	stage  stage.Result
	live   []observe.Instance
	public []observe.Instance // live instances with a public IPv4
}

func factsOf(s *observe.State) *facts {
	f := &facts{s: s, stage: stage.Detect(s), live: s.LiveInstances()}
	for _, i := range f.live {
		if i.PublicIP != "" {
			f.public = append(f.public, i)
		}
	}
	return f
}

// servingAZs are the AZs the app's capacity sits in: the group's subnets
// when a group owns the fleet, else the live instances' AZs.
func (f *facts) servingAZs() []string {
	if f.s.Group != nil {
		return stage.GroupAZs(f.s)
	}
	var azs []string
	for _, i := range f.live {
		if i.AZ != "" && !slices.Contains(azs, i.AZ) {
			azs = append(azs, i.AZ)
		}
	}
	slices.Sort(azs)
	return azs
}

// Rules is the findings table, in the order a pillar lists equal
// severities. Ids are stable: scripts and suppressions rely on them.
var Rules = []Rule{
	// --- reliability ---
	{
		ID: "rel-no-self-healing", Pillar: Reliability,
		Fix:        "wtt migrate --to=asg --yes",
		References: []string{"REL11-BP03", "REL07-BP01"},
		Check: func(f *facts) *hit {
			if len(f.live) == 0 || f.s.Group != nil {
				return nil
			}
			if len(f.live) == 1 {
				i := f.live[0]
				return &hit{severity: High, title: "One instance serves every user, and nothing replaces it",
					why:      "If it stops, every user gets no answer until someone notices and launches another.",
					evidence: []string{fmt.Sprintf("instance %s (%s) in %s is the only one running; no Auto Scaling group", i.ID, i.Type, i.AZ)}}
			}
			return &hit{severity: Medium, title: "Nothing replaces a failed instance",
				why:      "A failed instance's share of users gets errors, or the rest less capacity, until someone replaces it by hand.",
				evidence: []string{fmt.Sprintf("%d standalone instances (%s); no Auto Scaling group", len(f.live), ids(f.live))}}
		},
	},
	{
		ID: "rel-single-az", Pillar: Reliability,
		Title:      "The whole app runs in one Availability Zone",
		Why:        "An outage of that AZ (the story's earthquake) takes the app down for every user.",
		Fix:        "wtt migrate --to=multi-az --yes",
		References: []string{"REL10-BP01", "autoscaling-multiple-az"},
		Check: func(f *facts) *hit {
			azs := f.servingAZs()
			if len(f.live) == 0 || len(azs) != 1 {
				return nil
			}
			ev := []string{fmt.Sprintf("instances %s all run in %s", ids(f.live), azs[0])}
			if g := f.s.Group; g != nil {
				ev = append(ev, fmt.Sprintf("Auto Scaling group %s launches only into %s (subnets %s)", g.Name, azs[0], strings.Join(g.Subnets, ", ")))
				return &hit{severity: High, evidence: ev}
			}
			return &hit{severity: High, evidence: ev, refs: []string{"REL10-BP01"}}
		},
	},
	{
		ID: "rel-load-balancer-single-az", Pillar: Reliability,
		Title:      "The load balancer has a node in only one AZ",
		Why:        "If that AZ fails, no request reaches any instance, wherever the instances run.",
		Fix:        "wtt migrate --to=multi-az --yes",
		References: []string{"elbv2-multiple-az", "REL10-BP01"},
		Check: func(f *facts) *hit {
			lb := f.s.LoadBalancer
			if lb == nil || len(lb.AZs) >= 2 {
				return nil
			}
			return &hit{severity: High, evidence: []string{fmt.Sprintf("load balancer %s spans %d AZ(s): %s", lb.Name, len(lb.AZs), strings.Join(lb.AZs, ", "))}}
		},
	},
	{
		ID: "rel-group-of-one", Pillar: Reliability,
		Title:      "The Auto Scaling group keeps a single instance",
		Why:        "When that instance fails, users get no answer until the group has launched, booted and health-checked its replacement.",
		Fix:        "wtt migrate --to=multi-az --yes",
		References: []string{"REL10-BP01", "REL11-BP03"},
		Check: func(f *facts) *hit {
			g := f.s.Group
			if g == nil || g.Desired >= 2 {
				return nil
			}
			return &hit{severity: Medium, evidence: []string{fmt.Sprintf("Auto Scaling group %s: min %d, desired %d, max %d", g.Name, g.Min, g.Desired, g.Max)}}
		},
	},
	{
		ID: "rel-dns-stale-addresses", Pillar: Reliability,
		Title:      "DNS lists instance addresses: clients keep a dead one for the TTL",
		Fix:        "wtt migrate --to=alb --yes",
		References: []string{"REL11-BP02"},
		Check: func(f *facts) *hit {
			d := f.s.DNS
			if d == nil || d.Type != "A" || d.AliasTarget != "" || len(d.Values) == 0 {
				return nil
			}
			sev := Medium
			if d.TTL > 300 {
				sev = High
			}
			return &hit{severity: sev,
				why: fmt.Sprintf("When an instance goes, clients that resolved its address (about 1 in %d) keep sending to it and fail for up to the record's TTL, %s; no health check takes it out.",
					len(d.Values), seconds(d.TTL)),
				evidence: []string{fmt.Sprintf("record %s A ttl=%d lists %s", d.Name, d.TTL, strings.Join(d.Values, ", "))}}
		},
	},
	{
		ID: "rel-address-changes", Pillar: Reliability,
		Title:      "Users reach the app on an address that changes",
		Why:        "A stop and start (a resize, a host retirement) gives the instance a new public IP, and every client still holding the old one loses the app.",
		Fix:        "wtt migrate --to=eip --yes",
		References: []string{"REL11-BP02"},
		Check: func(f *facts) *hit {
			if f.s.LoadBalancer != nil || f.s.DNS != nil {
				return nil
			}
			var bare []observe.Instance
			for _, i := range f.public {
				if i.EIP == "" {
					bare = append(bare, i)
				}
			}
			if len(bare) == 0 {
				return nil
			}
			var ev []string
			for _, i := range limitInstances(bare) {
				ev = append(ev, fmt.Sprintf("instance %s answers on %s, an auto-assigned public IP (no Elastic IP, no DNS name)", i.ID, i.PublicIP))
			}
			return &hit{severity: Medium, evidence: ev}
		},
	},
	{
		ID: "rel-group-ec2-health-check", Pillar: Reliability,
		Title:      "The Auto Scaling group does not use the load balancer's health check",
		Why:        "An instance that runs but no longer answers keeps its share of requests failing; only a stopped instance gets replaced.",
		Fix:        "wtt migrate --to=asg --yes",
		References: []string{"autoscaling-group-elb-healthcheck-required", "REL11-BP01"},
		Check: func(f *facts) *hit {
			g := f.s.Group
			if g == nil || f.s.LoadBalancer == nil || g.HealthCheckType == "ELB" {
				return nil
			}
			return &hit{severity: Medium, evidence: []string{fmt.Sprintf("Auto Scaling group %s health check type %q", g.Name, g.HealthCheckType)}}
		},
	},
	{
		ID: "rel-unhealthy-targets", Pillar: Reliability,
		Title:      "Some targets fail the load balancer's health check",
		Why:        "The load balancer sends their share of users to the others: capacity is lower than the fleet's size says.",
		Fix:        "wtt status -o wide (find the instance); an Auto Scaling group replaces it: wtt migrate --to=asg --yes",
		References: []string{"REL11-BP01"},
		Check: func(f *facts) *hit {
			tg := f.s.TargetGroup
			if tg == nil {
				return nil
			}
			var ev []string
			for _, t := range tg.Targets {
				if t.Health != "healthy" && t.Health != "draining" && t.Health != "initial" {
					ev = append(ev, fmt.Sprintf("target %s is %s in %s", t.ID, t.Health, tg.Name))
				}
			}
			if len(ev) == 0 {
				return nil
			}
			return &hit{severity: Medium, evidence: limit(ev)}
		},
	},

	// --- performance ---
	{
		ID: "perf-capacity-needs-downtime", Pillar: Performance,
		Title:      "Capacity cannot grow without downtime or without clients learning new addresses",
		Why:        "A bigger instance means stopping it (users see an outage); more instances mean addresses every client must be told about.",
		Fix:        "wtt migrate --to=alb --yes",
		References: []string{"PERF02-BP05"},
		Check: func(f *facts) *hit {
			if len(f.public) == 0 || f.s.LoadBalancer != nil {
				return nil
			}
			return &hit{severity: Medium, evidence: []string{fmt.Sprintf("%d instance(s) answer directly on public addresses (%s); no load balancer", len(f.public), ids(f.public))}}
		},
	},
	{
		ID: "perf-eip-quota", Pillar: Performance,
		Title:      "The fleet is capped by the Elastic IP quota, and clients must know every address",
		Why:        "An account has 5 Elastic IPs per region by default, so the app cannot grow past 5 instances, and each client must be told each address.",
		Fix:        "wtt migrate --to=dns --dns-name api.example.com --yes",
		References: []string{"REL01-BP01", "PERF02-BP05"},
		Check: func(f *facts) *hit {
			var used []string
			for _, e := range f.s.EIPs {
				if e.InstanceID != "" {
					used = append(used, e.PublicIP)
				}
			}
			if len(used) == 0 || f.s.LoadBalancer != nil {
				return nil
			}
			return &hit{severity: Medium, evidence: []string{fmt.Sprintf("%d of the region's default %d Elastic IPs serve the app: %s", len(used), stage.MaxEIPs, strings.Join(limit(used), ", "))}}
		},
	},
	{
		ID: "perf-no-autoscaling", Pillar: Performance,
		Title:      "Capacity does not follow load",
		Why:        "A traffic peak slows every request until someone adds instances by hand, and the quiet hours pay for the peak's capacity.",
		Fix:        "wtt migrate --to=asg --yes",
		References: []string{"PERF02-BP05", "REL07-BP01"},
		Check: func(f *facts) *hit {
			if f.s.LoadBalancer == nil || len(f.live) == 0 {
				return nil
			}
			if g := f.s.Group; g == nil {
				return &hit{severity: Medium, evidence: []string{fmt.Sprintf("%d instance(s) behind load balancer %s; no Auto Scaling group", len(f.live), f.s.LoadBalancer.Name)}}
			} else if len(g.TargetTracking) == 0 {
				return &hit{severity: Medium, evidence: []string{fmt.Sprintf("Auto Scaling group %s has no target-tracking policy", g.Name)}}
			}
			return nil
		},
	},
	{
		ID: "perf-group-at-max", Pillar: Performance,
		Title:      "The Auto Scaling group is at its maximum",
		Why:        "More load cannot add an instance: requests slow down instead.",
		References: []string{"PERF02-BP05"},
		Check: func(f *facts) *hit {
			g := f.s.Group
			if g == nil || g.Max == 0 || g.Desired < g.Max {
				return nil
			}
			return &hit{severity: Medium,
				fix:      "raise the group's maximum (AWS setting): aws autoscaling update-auto-scaling-group --auto-scaling-group-name " + g.Name + " --max-size N",
				evidence: []string{fmt.Sprintf("Auto Scaling group %s: desired %d = max %d", g.Name, g.Desired, g.Max)}}
		},
	},
	{
		ID: "perf-burstable", Pillar: Performance,
		Title:      "Burstable instances: sustained load runs out of CPU credits",
		Why:        "Above the type's baseline CPU, credits drain; a t2 is then throttled to its baseline and answers slow down (t3 and t4g bill the surplus instead).",
		Fix:        "wtt scale --vertical m5.large --yes (when load is sustained)",
		References: []string{"PERF02-BP01"},
		Check: func(f *facts) *hit {
			types := map[string]bool{}
			for _, i := range f.live {
				types[i.Type] = true
			}
			if g := f.s.Group; g != nil && g.InstanceType != "" {
				types[g.InstanceType] = true
			}
			var burst []string
			for t := range types {
				if isBurstable(t) {
					burst = append(burst, t)
				}
			}
			if len(burst) == 0 {
				return nil
			}
			slices.Sort(burst)
			return &hit{severity: Low, evidence: []string{"instance type(s) " + strings.Join(burst, ", ")}}
		},
	},

	// --- security ---
	{
		ID: "sec-public-instances", Pillar: Security,
		Title:      "Instances are reachable directly from the internet",
		Why:        "Every instance is an entry point anyone can probe; nothing in front takes health checks, drops malformed requests or hides the fleet.",
		Fix:        "wtt migrate --to=alb --yes",
		References: []string{"ec2-instance-no-public-ip", "SEC05-BP01"},
		Check: func(f *facts) *hit {
			if len(f.public) == 0 {
				return nil
			}
			var ev []string
			for _, i := range limitInstances(f.public) {
				ev = append(ev, fmt.Sprintf("instance %s has public IPv4 %s", i.ID, i.PublicIP))
			}
			if web := f.s.Network.WebSG; web != nil && admitsFromAnywhere(web, 80) {
				ev = append(ev, fmt.Sprintf("security group %s (%s) admits tcp/80 from 0.0.0.0/0", web.ID, web.Name))
			}
			return &hit{severity: Medium, evidence: ev}
		},
	},
	{
		ID: "sec-ssh-open", Pillar: Security,
		Title:      "SSH is open to the internet",
		Why:        "Anyone can try to log in to the instances; wtt needs no SSH (the time server is delivered from S3).",
		References: []string{"restricted-ssh", "SEC05-BP02"},
		Check: func(f *facts) *hit {
			var ev []string
			var fix []string
			for _, g := range appGroups(f.s) {
				if admitsFromAnywhere(g, 22) {
					ev = append(ev, fmt.Sprintf("security group %s (%s) admits tcp/22 from anywhere", g.ID, g.Name))
					fix = append(fix, "aws ec2 revoke-security-group-ingress --group-id "+g.ID+" --protocol tcp --port 22 --cidr 0.0.0.0/0")
				}
			}
			if len(ev) == 0 {
				return nil
			}
			return &hit{severity: High, evidence: ev, fix: strings.Join(fix, "; ")}
		},
	},
	{
		ID: "sec-imdsv1", Pillar: Security,
		Title:      "Instance metadata answers without a token (IMDSv1)",
		Why:        "A request forgery through the app could read the instance role's credentials from the metadata service.",
		References: []string{"ec2-imdsv2-check"},
		Check: func(f *facts) *hit {
			var ev, fix []string
			for _, i := range f.live {
				if !i.IMDSv2Required {
					ev = append(ev, fmt.Sprintf("instance %s does not require IMDSv2", i.ID))
					fix = append(fix, "aws ec2 modify-instance-metadata-options --http-tokens required --instance-id "+i.ID)
				}
			}
			if lt := f.s.LaunchTemplate; lt != nil && !lt.IMDSv2Required {
				ev = append(ev, fmt.Sprintf("launch template %s does not require IMDSv2", lt.Name))
				fix = append(fix, "wtt migrate --to=asg --yes")
			}
			if len(ev) == 0 {
				return nil
			}
			return &hit{severity: High, evidence: limit(ev), fix: strings.Join(limit(fix), "; ")}
		},
	},
	{
		ID: "sec-private-sg-open", Pillar: Security,
		Title:      "Private instances admit traffic from addresses, not only from the load balancer",
		Why:        "Traffic can reach the instances around the load balancer, skipping its health checks and limits.",
		References: []string{"SEC05-BP02"},
		Check: func(f *facts) *hit {
			g := f.s.Network.PrivateSG
			if g == nil {
				return nil
			}
			var ev, fix []string
			for _, r := range g.Ingress {
				for _, c := range r.CIDRs {
					ev = append(ev, fmt.Sprintf("security group %s (%s) admits %s %d-%d from %s", g.ID, g.Name, r.Protocol, r.FromPort, r.ToPort, c))
					fix = append(fix, fmt.Sprintf("aws ec2 revoke-security-group-ingress --group-id %s --protocol %s --port %d-%d --cidr %s", g.ID, r.Protocol, r.FromPort, r.ToPort, c))
				}
			}
			if len(ev) == 0 {
				return nil
			}
			return &hit{severity: Medium, evidence: ev, fix: strings.Join(fix, "; ")}
		},
	},
	{
		ID: "sec-template-public-ip", Pillar: Security,
		Title:      "The launch template gives new instances public addresses",
		Why:        "Every instance the group launches is reachable from the internet, around the load balancer.",
		Fix:        "wtt migrate --to=asg --yes",
		References: []string{"ec2-launch-template-public-ip-disabled", "SEC05-BP01"},
		Check: func(f *facts) *hit {
			lt := f.s.LaunchTemplate
			if lt == nil || !lt.PublicIP {
				return nil
			}
			return &hit{severity: Medium, evidence: []string{fmt.Sprintf("launch template %s (%s) associates a public IP", lt.Name, lt.ID)}}
		},
	},
	{
		ID: "sec-plain-http", Pillar: Security,
		Title:      "The app answers over plain HTTP only",
		Why:        "The time is public, but anyone on the path can read or alter requests and answers.",
		Fix:        "add an HTTPS :443 listener with an ACM certificate to the load balancer (AWS setting; wtt has no command for it yet)",
		References: []string{"alb-http-to-https-redirection-check", "SEC09-BP02"},
		Check: func(f *facts) *hit {
			if lb := f.s.LoadBalancer; lb != nil {
				return &hit{severity: Low, evidence: []string{fmt.Sprintf("load balancer %s listens on HTTP :80 only", lb.Name)}}
			}
			if len(f.public) > 0 {
				return &hit{severity: Low, fix: "wtt migrate --to=alb --yes, then an HTTPS listener with an ACM certificate",
					evidence: []string{fmt.Sprintf("instances %s answer on HTTP :80", ids(f.public))}}
			}
			return nil
		},
	},

	// --- cost ---
	{
		ID: "cost-baseline-not-reserved", Pillar: Cost,
		Title:      "The always-on baseline is billed on demand",
		Fix:        "wtt migrate --to=reserved --yes",
		References: []string{"COST07-BP01"},
		Check: func(f *facts) *hit {
			g := f.s.Group
			if g == nil || g.Min == 0 || g.InstanceType == "" {
				return nil
			}
			covered := stage.Covered(f.s)
			short := g.Min - covered
			price, ok := pricing.OnDemandHourly[g.InstanceType]
			if short <= 0 || !ok {
				return nil
			}
			onDemand := float64(short) * price * pricing.HoursPerYear
			saving := onDemand * pricing.ReservedSavingEstimate
			sev := Low
			if saving >= 100 {
				sev = Medium
			}
			return &hit{severity: sev,
				why: fmt.Sprintf("The group's minimum runs all year at the on-demand rate; a 1-year no-upfront reservation saves about %s a year.", usd(saving)),
				evidence: []string{
					fmt.Sprintf("Auto Scaling group %s keeps at least %d × %s running; reservations cover %d", g.Name, g.Min, g.InstanceType, covered),
					fmt.Sprintf("%d × %s on demand: %s a year; saving about %s a year (estimate: %.1f%% off; `wtt plan --to=reserved` prices the real offering)",
						short, g.InstanceType, usd(onDemand), usd(saving), pricing.ReservedSavingEstimate*100),
				}}
		},
	},
	{
		ID: "cost-unused-reservation", Pillar: Cost,
		Title:      "Reserved Instances are paid for but match no running instance",
		Why:        "A reservation bills every hour of its term whether or not an instance uses it.",
		Fix:        "run as many instances as reserved (wtt scale --horizontal N --yes) or sell the reservation on the Reserved Instance Marketplace",
		References: []string{"COST07-BP01"},
		Check: func(f *facts) *hit {
			running := map[string]int{}
			for _, i := range f.s.Instances {
				if i.State == "running" {
					running[i.Type]++
				}
			}
			reserved := map[string]int{}
			rate := map[string]float64{}
			var types []string
			for _, r := range f.s.Reserved {
				if !r.Covering() {
					continue
				}
				if _, seen := reserved[r.InstanceType]; !seen {
					types = append(types, r.InstanceType)
				}
				reserved[r.InstanceType] += int(r.Count)
				rate[r.InstanceType] = max(rate[r.InstanceType], EffectiveHourly(r))
			}
			slices.Sort(types)
			var ev []string
			monthly := 0.0
			for _, t := range types {
				if idle := reserved[t] - running[t]; idle > 0 {
					m := float64(idle) * rate[t] * pricing.HoursPerMonth
					monthly += m
					ev = append(ev, fmt.Sprintf("%d × %s reserved, %d running: %d unused, about %s/month", reserved[t], t, running[t], idle, usd(m)))
				}
			}
			if len(ev) == 0 {
				return nil
			}
			return &hit{severity: Medium, evidence: ev}
		},
	},
	{
		ID: "cost-idle-eip", Pillar: Cost,
		Title:      "Elastic IPs are allocated but serve nothing",
		Why:        "AWS bills every public IPv4 address by the hour, attached or not.",
		Fix:        "wtt migrate --to=alb --yes (releases the app's Elastic IPs), or wtt down --yes",
		References: []string{"eip-attached"},
		Check: func(f *facts) *hit {
			live := map[string]bool{}
			for _, i := range f.live {
				live[i.ID] = true
			}
			var ev []string
			for _, e := range f.s.EIPs {
				if !live[e.InstanceID] {
					ev = append(ev, fmt.Sprintf("Elastic IP %s (%s) is not on a running instance: %s/month", e.PublicIP, e.AllocationID, usd(pricing.PublicIPv4Hourly*pricing.HoursPerMonth)))
				}
			}
			if len(ev) == 0 {
				return nil
			}
			return &hit{severity: Medium, evidence: limit(ev)}
		},
	},
	{
		ID: "cost-stopped-instance", Pillar: Cost,
		Title:      "Stopped instances still pay for their volumes",
		Why:        "A stopped instance serves nobody but its root volume is billed every month.",
		Fix:        "run the interrupted wtt command again (it starts or replaces the instance), or wtt down --yes",
		References: []string{"ec2-stopped-instance"},
		Check: func(f *facts) *hit {
			var ev []string
			for _, i := range f.s.Instances {
				if i.State == "stopped" {
					ev = append(ev, fmt.Sprintf("instance %s (%s) is stopped: its 8 GiB root volume costs %s/month", i.ID, i.Type, usd(pricing.RootVolumeMonthly)))
				}
			}
			if len(ev) == 0 {
				return nil
			}
			return &hit{severity: Low, evidence: limit(ev)}
		},
	},
	{
		ID: "cost-idle-load-balancer", Pillar: Cost,
		Title:      "The load balancer has no targets",
		Why:        "It bills every hour and serves nobody.",
		Fix:        "wtt migrate --to=alb --yes (finishes the rung), or wtt down --yes",
		References: []string{},
		Check: func(f *facts) *hit {
			lb := f.s.LoadBalancer
			if lb == nil || (f.s.TargetGroup != nil && len(f.s.TargetGroup.Targets) > 0) {
				return nil
			}
			return &hit{severity: Medium, evidence: []string{fmt.Sprintf("load balancer %s has no registered target: %s/month", lb.Name, usd(pricing.ALBHourly*pricing.HoursPerMonth))}}
		},
	},

	// --- operational excellence ---
	{
		ID: "ops-changes-need-downtime", Pillar: OperationalEx,
		Title:      "Every change to an instance takes the app down",
		Why:        "A resize or replacement stops the instance users are talking to; there is nothing to roll over to.",
		Fix:        "wtt migrate --to=alb --yes",
		References: []string{"OPS06-BP03"},
		Check: func(f *facts) *hit {
			if len(f.live) == 0 || f.s.LoadBalancer != nil {
				return nil
			}
			return &hit{severity: Medium, evidence: []string{fmt.Sprintf("no load balancer: `wtt scale --vertical` stops and starts %s in turn", ids(f.live))}}
		},
	},
	{
		ID: "ops-half-built", Pillar: OperationalEx,
		Title:      "A rung was left half-built",
		Why:        "Its resources cost money and may confuse the next operator, without giving users anything yet.",
		References: []string{"OPS06-BP01"},
		Check: func(f *facts) *hit {
			if f.stage.HalfBuilt == "" {
				return nil
			}
			return &hit{severity: Medium, fix: fmt.Sprintf("wtt migrate --to=%s --yes", f.stage.HalfBuilt),
				evidence: limit(append([]string{fmt.Sprintf("rung %s started but not finished", f.stage.HalfBuilt)}, f.stage.HalfBuiltUnmet...))}
		},
	},
	{
		ID: "ops-stray-vpc", Pillar: OperationalEx,
		Title:      "A second VPC is tagged for the app",
		Why:        "A create retried after its answer was lost left it behind; it clutters the account and its quota of VPCs.",
		Fix:        "wtt down --yes removes it with the app",
		References: []string{},
		Check: func(f *facts) *hit {
			var ev []string
			for _, n := range f.s.StrayNetworks {
				ev = append(ev, "VPC "+n.VPCID+" is tagged for the app besides "+f.s.Network.VPCID)
			}
			if len(ev) == 0 {
				return nil
			}
			return &hit{severity: Low, evidence: ev}
		},
	},
}

// EffectiveHourly is what a reservation bills per instance-hour: the
// recurring charge plus the upfront spread over the term.
func EffectiveHourly(r observe.Reserved) float64 {
	rate := r.HourlyPrice
	if h := r.End.Sub(r.Start).Hours(); h > 0 {
		rate += r.FixedPrice / h
	}
	return rate
}

func isBurstable(t string) bool {
	return strings.HasPrefix(t, "t2.") || strings.HasPrefix(t, "t3.") || strings.HasPrefix(t, "t3a.") || strings.HasPrefix(t, "t4g.")
}

// appGroups are the app's security groups that exist.
func appGroups(s *observe.State) []*observe.SecurityGroup {
	var out []*observe.SecurityGroup
	for _, g := range []*observe.SecurityGroup{s.Network.WebSG, s.Network.ALBSG, s.Network.PrivateSG} {
		if g != nil {
			out = append(out, g)
		}
	}
	return out
}

func admitsFromAnywhere(g *observe.SecurityGroup, port int32) bool {
	for _, r := range g.Ingress {
		if r.Covers(port) && (slices.Contains(r.CIDRs, "0.0.0.0/0") || slices.Contains(r.CIDRs, "::/0")) {
			return true
		}
	}
	return false
}

// maxEvidence keeps a finding readable for a fleet of hundreds.
const maxEvidence = 5

func limit(ss []string) []string {
	if len(ss) <= maxEvidence {
		return ss
	}
	return append(ss[:maxEvidence:maxEvidence], fmt.Sprintf("and %d more", len(ss)-maxEvidence))
}

func limitInstances(is []observe.Instance) []observe.Instance {
	return is[:min(len(is), maxEvidence)]
}

func ids(is []observe.Instance) string {
	var out []string
	for _, i := range is {
		out = append(out, i.ID)
	}
	return strings.Join(limit(out), ", ")
}

func seconds(s int64) string {
	switch {
	case s >= 3600 && s%3600 == 0:
		return fmt.Sprintf("%d s (%d h)", s, s/3600)
	case s >= 60 && s%60 == 0:
		return fmt.Sprintf("%d s (%d min)", s, s/60)
	}
	return fmt.Sprintf("%d s", s)
}

func usd(v float64) string { return fmt.Sprintf("$%.2f", v) }
