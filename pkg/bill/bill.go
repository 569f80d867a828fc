// Package bill itemises an app's monthly bill from the observed state: one
// line per billed resource, with quantity, unit price and where the price
// comes from. Its lines add up to the same total `wtt status` shows (both
// use pkg/pricing), except that a reservation bills every hour of its term
// even when nothing runs, which the bill counts and status does not.
package bill

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/review"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// PriceSource says where the unit prices come from.
const PriceSource = "AWS public list prices, us-east-1, Linux, USD (EC2 on-demand, VPC public IPv4, Elastic Load Balancing, Route 53 and EBS pricing pages); Reserved Instances at their own prices from DescribeReservedInstances"

// PriceDate is when the list prices in pkg/pricing were published.
const PriceDate = "2025"

// Line is one billed item.
type Line struct {
	Item      string   `json:"item"`
	Resources []string `json:"resources,omitempty"`
	Quantity  float64  `json:"quantity"`
	Unit      string   `json:"unit"`
	UnitPrice float64  `json:"unitPrice"`
	Monthly   float64  `json:"monthly"`
	Note      string   `json:"note,omitempty"`
}

// Bill is the month's itemised estimate.
type Bill struct {
	App     string      `json:"app"`
	Region  string      `json:"region"`
	Stage   stage.Stage `json:"stage"`
	Lines   []Line      `json:"lines"`
	Monthly float64     `json:"monthly"`
	// StatusMonthly is the estimate `wtt status` shows; it differs from
	// Monthly only by reserved hours nothing uses.
	StatusMonthly float64  `json:"statusMonthly"`
	PriceSource   string   `json:"priceSource"`
	PriceDate     string   `json:"priceDate"`
	Unpriced      []string `json:"unpriced,omitempty"`
	Notes         []string `json:"notes,omitempty"`
}

const (
	albHour = 0.0225 // per load balancer hour
	lcuHour = 0.008  // per LCU hour
	// r53Queries is per million standard queries; alias queries to a load
	// balancer are free.
	r53Queries = 0.40
)

// Of itemises the bill of an observed state.
func Of(s *observe.State) Bill {
	b := Bill{App: s.App, Region: s.Region, Stage: stage.Detect(s).Stage, PriceSource: PriceSource, PriceDate: PriceDate,
		StatusMonthly: ladder.Cost(s).Monthly, Lines: []Line{}}
	total := 0.0
	add := func(l Line) {
		total += l.Monthly
		l.Monthly = round2(l.Monthly)
		b.Lines = append(b.Lines, l)
	}

	// Instances by type: reserved hours are billed on the reservation's
	// line below, the rest on demand.
	byType := map[string][]string{}
	var stopped []string
	for _, i := range s.Instances {
		switch {
		case i.Live():
			byType[i.Type] = append(byType[i.Type], i.ID)
		case i.State == "stopped" || i.State == "stopping":
			stopped = append(stopped, i.ID)
		}
	}
	reserved := map[string]int{}
	for _, r := range s.Reserved {
		if r.Covering() {
			reserved[r.InstanceType] += int(r.Count)
		}
	}
	types := make([]string, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	sort.Strings(types)
	running := 0
	for _, t := range types {
		ids := byType[t]
		running += len(ids)
		price, ok := pricing.OnDemandHourly[t]
		if !ok {
			b.Unpriced = append(b.Unpriced, t)
			continue
		}
		covered := min(reserved[t], len(ids))
		if covered > 0 {
			add(Line{Item: fmt.Sprintf("%s instances, reserved", t), Resources: shortList(ids[:covered]), Quantity: float64(covered * pricing.HoursPerMonth),
				Unit: "instance-hours", Note: "billed on the reservation's line"})
		}
		if n := len(ids) - covered; n > 0 {
			add(Line{Item: fmt.Sprintf("%s instances, on demand", t), Resources: shortList(ids[covered:]), Quantity: float64(n * pricing.HoursPerMonth),
				Unit: "instance-hours", UnitPrice: price, Monthly: float64(n) * price * pricing.HoursPerMonth})
		}
	}
	if n := running + len(stopped); n > 0 {
		l := Line{Item: "root volumes, 8 GiB gp3", Quantity: float64(n * 8), Unit: "GB-months", UnitPrice: pricing.RootVolumeMonthly / 8, Monthly: float64(n) * pricing.RootVolumeMonthly}
		if len(stopped) > 0 {
			l.Resources = shortList(stopped)
			l.Note = fmt.Sprintf("%d of them on stopped instances, billed while they serve nobody", len(stopped))
		}
		add(l)
	}

	// Public IPv4: on instances, and Elastic IPs that serve nothing.
	live := map[string]bool{}
	var public []string
	for _, i := range s.LiveInstances() {
		live[i.ID] = true
		if i.PublicIP != "" {
			public = append(public, i.PublicIP)
		}
	}
	ipHour := pricing.PublicIPv4Hourly
	if len(public) > 0 {
		add(Line{Item: "public IPv4 addresses on instances (Elastic or not)", Resources: shortList(public), Quantity: float64(len(public) * pricing.HoursPerMonth),
			Unit: "address-hours", UnitPrice: ipHour, Monthly: float64(len(public)) * ipHour * pricing.HoursPerMonth})
	}
	var idle []string
	for _, e := range s.EIPs {
		if !live[e.InstanceID] {
			idle = append(idle, e.PublicIP+" ("+e.AllocationID+")")
		}
	}
	if len(idle) > 0 {
		add(Line{Item: "idle Elastic IPs", Resources: shortList(idle), Quantity: float64(len(idle) * pricing.HoursPerMonth),
			Unit: "address-hours", UnitPrice: ipHour, Monthly: float64(len(idle)) * ipHour * pricing.HoursPerMonth, Note: "not on a running instance"})
	}

	if lb := s.LoadBalancer; lb != nil {
		add(Line{Item: "Application Load Balancer", Resources: []string{lb.Name}, Quantity: pricing.HoursPerMonth, Unit: "hours", UnitPrice: albHour, Monthly: albHour * pricing.HoursPerMonth})
		add(Line{Item: "load balancer capacity units (estimate)", Resources: []string{lb.Name}, Quantity: pricing.HoursPerMonth, Unit: "LCU-hours", UnitPrice: lcuHour,
			Monthly: lcuHour * pricing.HoursPerMonth, Note: "1 LCU on average, a small app's load; the real figure follows traffic"})
	}
	if id := s.Network.S3EndpointID; id != "" {
		add(Line{Item: "S3 gateway endpoint", Resources: []string{id}, Unit: "endpoint", Note: "gateway endpoints are free; wtt uses no NAT gateway"})
	}
	if d := s.DNS; d != nil {
		if d.ZoneOwned {
			add(Line{Item: "Route 53 hosted zone", Resources: []string{d.ZoneName + " (" + d.ZoneID + ")"}, Quantity: 1, Unit: "zone-months", UnitPrice: pricing.HostedZoneMonthly, Monthly: pricing.HostedZoneMonthly})
		}
		note := fmt.Sprintf("$%.2f per million queries; not in the total: it follows traffic", r53Queries)
		if d.AliasTarget != "" {
			note = "alias queries to the load balancer are free"
		}
		add(Line{Item: "Route 53 queries for " + d.Name, Unit: "million queries", UnitPrice: r53Queries, Note: note})
	}

	// Reservations bill every hour of their term, used or not.
	for _, r := range s.Reserved {
		if !r.Covering() {
			continue
		}
		rate := review.EffectiveHourly(r)
		scope := "regional"
		if r.Scope == "Availability Zone" {
			scope = "zonal (" + r.AZ + ")"
		}
		l := Line{Item: fmt.Sprintf("Reserved Instance %s: %d × %s, %s, %s", r.ID, r.Count, r.InstanceType, scope, r.OfferingType),
			Resources: []string{r.ID}, Quantity: float64(int(r.Count) * pricing.HoursPerMonth), Unit: "reserved instance-hours", UnitPrice: round4(rate),
			Monthly: float64(r.Count) * rate * pricing.HoursPerMonth}
		covers := min(int(r.Count), len(byType[r.InstanceType]))
		l.Note = fmt.Sprintf("covers %d running %s until %s", covers, r.InstanceType, r.End.Format("2006-01-02"))
		if r.FixedPrice > 0 {
			l.Note += fmt.Sprintf("; $%.2f per instance paid up front, spread over the term", r.FixedPrice)
		}
		add(l)
	}

	b.Monthly = round2(total)
	if d := round2(b.Monthly - b.StatusMonthly); math.Abs(d) >= 0.01 {
		b.Notes = append(b.Notes, fmt.Sprintf("$%.2f more than `wtt status` shows: reserved hours no running instance uses are billed all the same", d))
	}
	if len(b.Unpriced) > 0 {
		b.Notes = append(b.Notes, "no list price for "+strings.Join(b.Unpriced, ", ")+": left out rather than guessed")
	}
	return b
}

// shortList keeps a line readable for a fleet of hundreds.
func shortList(ids []string) []string {
	if len(ids) <= 5 {
		return slices.Clone(ids)
	}
	return append(slices.Clone(ids[:5]), fmt.Sprintf("and %d more", len(ids)-5))
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round4(v float64) float64 { return math.Round(v*10000) / 10000 }
