// Package diagram draws the live app as a person thinks of it: what a
// user's request crosses (internet, Route 53 record, load balancer, target
// group, instances by AZ and subnet), the security-group rule on each hop,
// Elastic IPs, the Auto Scaling group's boundary and Reserved Instance
// coverage — nothing else (no route tables, no tags), as InfraMap does.
// One graph value is rendered three ways: SVG laid out in-process (no
// external program), Graphviz dot and Mermaid.
package diagram

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Node kinds, used for shapes and colours.
const (
	KindInternet = "internet"
	KindDNS      = "dns"
	KindLB       = "load-balancer"
	KindTG       = "target-group"
	KindInstance = "instance"
	KindEIP      = "eip"
	KindNote     = "note"
)

// Node is one box. Lines are its text, the first in bold: resource ids
// first, so a picture can be checked against `wtt status`.
type Node struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Lines  []string `json:"lines"`
	AZ     string   `json:"az,omitempty"`
	Subnet string   `json:"subnet,omitempty"`
	// Of is the instance an Elastic IP is associated with.
	Of string `json:"of,omitempty"`
}

// Edge is a hop a request takes (or, dashed, a relation such as
// reservation coverage). Label names the security-group rule that admits
// the hop, where there is one.
type Edge struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Label  string `json:"label,omitempty"`
	Dashed bool   `json:"dashed,omitempty"`
}

// Subnet groups instances inside an AZ.
type Subnet struct {
	ID     string `json:"id"`
	AZ     string `json:"az"`
	Public bool   `json:"public"`
}

// Graph is the picture's content.
type Graph struct {
	App      string      `json:"app"`
	Stage    stage.Stage `json:"stage"`
	Nodes    []Node      `json:"nodes"`
	Edges    []Edge      `json:"edges"`
	AZs      []string    `json:"azs"`
	Subnets  []Subnet    `json:"subnets"`
	ASG      string      `json:"autoScalingGroup,omitempty"`
	ASGLabel string      `json:"autoScalingGroupLabel,omitempty"`
}

// MaxInstances per subnet drawn one by one; the rest are summed up in one
// box, so a fleet of hundreds still makes a readable picture.
const MaxInstances = 6

// Build turns observed state into the graph.
func Build(s *observe.State) Graph {
	g := Graph{App: s.App, Stage: stage.Detect(s).Stage}
	add := func(n Node) { g.Nodes = append(g.Nodes, n) }
	edge := func(from, to, label string) { g.Edges = append(g.Edges, Edge{From: from, To: to, Label: label}) }
	add(Node{ID: "internet", Kind: KindInternet, Lines: []string{"Internet", "users of " + s.App}})

	// In an order that does not depend on IDs (AWS's are random): by AZ,
	// then private address, so the same fleet always draws the same.
	live := slices.Clone(s.LiveInstances())
	sort.SliceStable(live, func(a, b int) bool {
		if live[a].AZ != live[b].AZ {
			return live[a].AZ < live[b].AZ
		}
		return ipLess(live[a].PrivateIP, live[b].PrivateIP)
	})
	lb, tg, d := s.LoadBalancer, s.TargetGroup, s.DNS
	entry := "internet" // where requests come from on the last hop

	if d != nil {
		lines := []string{"Route 53 " + d.Name, "zone " + d.ZoneName + " (" + d.ZoneID + ")"}
		switch {
		case d.AliasTarget != "":
			lines = append(lines, "A alias -> load balancer")
		case d.Type == "CNAME":
			lines = append(lines, "CNAME -> "+strings.Join(d.Values, ","))
		case d.Type == "A":
			lines = append(lines, fmt.Sprintf("A ttl=%d: %d address(es)", d.TTL, len(d.Values)))
		}
		add(Node{ID: "dns", Kind: KindDNS, Lines: lines})
		edge("internet", "dns", "resolves")
	}
	if lb != nil {
		lines := []string{"load balancer " + lb.Name, lb.DNSName, lb.Scheme + ", nodes in " + strings.Join(lb.AZs, ", ")}
		add(Node{ID: "lb", Kind: KindLB, Lines: lines})
		label := "tcp/80"
		if sg := s.Network.ALBSG; sg != nil {
			label = "tcp/80 " + sg.ID + " " + admits(sg, 80)
		}
		if d != nil && (d.AliasTarget != "" || d.Type == "CNAME") {
			g.Edges = append(g.Edges, Edge{From: "dns", To: "lb", Label: "points at", Dashed: true})
		}
		edge("internet", "lb", label)
		entry = "lb"
		if tg != nil {
			tl := []string{"target group " + tg.Name, fmt.Sprintf("%s:%d health %s", tg.Protocol, tg.Port, tg.HealthPath)}
			if tg.HealthInterval > 0 {
				tl = append(tl, fmt.Sprintf("every %d s; %d down, %d up", tg.HealthInterval, tg.UnhealthyThreshold, tg.HealthyThreshold))
			}
			add(Node{ID: "tg", Kind: KindTG, Lines: tl})
			edge("lb", "tg", "forwards :80")
			entry = "tg"
		}
	}

	health := map[string]string{}
	if tg != nil {
		for _, t := range tg.Targets {
			health[t.ID] = t.Health
		}
	}
	eipOf := map[string]observe.EIP{}
	for _, e := range s.EIPs {
		if e.InstanceID != "" {
			eipOf[e.InstanceID] = e
		}
	}
	subnetOf := map[string]observe.Subnet{}
	for _, sn := range s.Network.Subnets {
		subnetOf[sn.ID] = sn
	}
	sgByID := map[string]*observe.SecurityGroup{}
	for _, sg := range []*observe.SecurityGroup{s.Network.WebSG, s.Network.ALBSG, s.Network.PrivateSG} {
		if sg != nil {
			sgByID[sg.ID] = sg
		}
	}

	// Instances, grouped by AZ and subnet; beyond MaxInstances per subnet,
	// one box counts the rest.
	perSubnet := map[string]int{}
	hidden := map[string][]observe.Instance{}
	for _, i := range live {
		key := i.SubnetID
		if key == "" {
			key = "subnet?" + i.AZ
		}
		if !slices.Contains(g.AZs, i.AZ) {
			g.AZs = append(g.AZs, i.AZ)
		}
		if !slices.ContainsFunc(g.Subnets, func(x Subnet) bool { return x.ID == key }) {
			g.Subnets = append(g.Subnets, Subnet{ID: key, AZ: i.AZ, Public: subnetOf[i.SubnetID].Public})
		}
		perSubnet[key]++
		if perSubnet[key] > MaxInstances {
			hidden[key] = append(hidden[key], i)
			continue
		}
		lines := []string{i.ID, i.Type + " " + i.State}
		if i.PrivateIP != "" {
			lines = append(lines, "private "+i.PrivateIP)
		}
		if i.PublicIP != "" && i.EIP == "" {
			lines = append(lines, "public "+i.PublicIP)
		}
		if h := health[i.ID]; h != "" {
			lines = append(lines, "target "+h)
		}
		if s.Group != nil && i.Group == "" {
			lines = append(lines, "outside the group")
		}
		if i.Spot {
			lines = append(lines, "spot")
		}
		add(Node{ID: i.ID, Kind: KindInstance, Lines: lines, AZ: i.AZ, Subnet: key})
		label := sgLabel(i, sgByID)
		if e, ok := eipOf[i.ID]; ok {
			add(Node{ID: e.AllocationID, Kind: KindEIP, Lines: []string{"Elastic IP " + e.PublicIP, e.AllocationID}, AZ: i.AZ, Subnet: key, Of: i.ID})
			// The rule admits what arrives at the address: label that hop.
			if entry == "internet" {
				edge("internet", e.AllocationID, label)
				edge(e.AllocationID, i.ID, "")
			} else {
				edge(e.AllocationID, i.ID, label)
			}
			continue
		}
		from := entry
		if from == "internet" && d != nil && d.Type == "A" && d.AliasTarget == "" && slices.Contains(d.Values, i.PublicIP) {
			g.Edges = append(g.Edges, Edge{From: "dns", To: i.ID, Label: "A record", Dashed: true})
		}
		edge(from, i.ID, label)
	}
	for _, sn := range g.Subnets {
		if rest := hidden[sn.ID]; len(rest) > 0 {
			id := "more-" + sn.ID
			add(Node{ID: id, Kind: KindInstance, Lines: []string{fmt.Sprintf("and %d more instance(s)", len(rest)), rest[0].Type + " ..."}, AZ: sn.AZ, Subnet: sn.ID})
			edge(entry, id, "")
		}
	}
	sort.Strings(g.AZs)
	sort.SliceStable(g.Subnets, func(i, j int) bool {
		if g.Subnets[i].AZ != g.Subnets[j].AZ {
			return g.Subnets[i].AZ < g.Subnets[j].AZ
		}
		if g.Subnets[i].Public != g.Subnets[j].Public {
			return g.Subnets[i].Public
		}
		return g.Subnets[i].ID < g.Subnets[j].ID
	})

	if gr := s.Group; gr != nil {
		g.ASG = gr.Name
		g.ASGLabel = fmt.Sprintf("Auto Scaling group %s: %s, min %d, desired %d, max %d, AZs %s",
			gr.Name, gr.InstanceType, gr.Min, gr.Desired, gr.Max, strings.Join(stage.GroupAZs(s), ", "))
	}

	// Notes: reservation coverage, Elastic IPs that serve nothing.
	if len(s.Reserved) > 0 {
		lines := []string{"Reserved Instances"}
		for _, r := range s.Reserved {
			if !r.Covering() {
				continue
			}
			running := 0
			for _, i := range live {
				if i.Type == r.InstanceType {
					running++
				}
			}
			scope := "regional"
			if r.Scope == "Availability Zone" {
				scope = "zonal (" + r.AZ + ")"
			}
			lines = append(lines, fmt.Sprintf("%s: %d × %s, %s, until %s (covers %d running)", r.ID, r.Count, r.InstanceType, scope, r.End.Format("2006-01-02"), min(int(r.Count), running)))
		}
		if len(lines) > 1 {
			add(Node{ID: "reserved", Kind: KindNote, Lines: lines})
			if g.ASG != "" {
				g.Edges = append(g.Edges, Edge{From: "reserved", To: firstInstance(g), Label: "billing", Dashed: true})
			}
		}
	}
	liveIDs := map[string]bool{}
	for _, i := range live {
		liveIDs[i.ID] = true
	}
	for _, e := range s.EIPs {
		if !liveIDs[e.InstanceID] {
			add(Node{ID: e.AllocationID, Kind: KindEIP, Lines: []string{"Elastic IP " + e.PublicIP, e.AllocationID, "idle: serves nothing"}})
		}
	}
	if len(live) == 0 {
		add(Node{ID: "empty", Kind: KindNote, Lines: []string{"no running instance"}})
	}
	return g
}

func firstInstance(g Graph) string {
	for _, n := range g.Nodes {
		if n.Kind == KindInstance {
			return n.ID
		}
	}
	return "internet"
}

// sgLabel is the security-group rule that admits tcp/80 to the instance.
func sgLabel(i observe.Instance, groups map[string]*observe.SecurityGroup) string {
	for _, id := range i.SecurityGroups {
		if sg := groups[id]; sg != nil {
			if a := admits(sg, 80); a != "" {
				return "tcp/80 " + sg.ID + " " + a
			}
		}
	}
	return "tcp/80"
}

// admits says whom a group admits on port, e.g. "from 0.0.0.0/0".
func admits(sg *observe.SecurityGroup, port int32) string {
	var from []string
	for _, r := range sg.Ingress {
		if r.Covers(port) {
			from = append(from, r.CIDRs...)
			from = append(from, r.SourceGroups...)
		}
	}
	if len(from) == 0 {
		return ""
	}
	return "from " + strings.Join(from, ",")
}

func (g Graph) node(id string) *Node {
	for k := range g.Nodes {
		if g.Nodes[k].ID == id {
			return &g.Nodes[k]
		}
	}
	return nil
}

// ipLess orders dotted addresses numerically (10.40.9.5 before 10.40.10.5);
// what does not parse sorts after what does, as text.
func ipLess(a, b string) bool {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	switch {
	case errA == nil && errB == nil:
		return pa.Less(pb)
	case errA == nil:
		return true
	case errB == nil:
		return false
	}
	return a < b
}
