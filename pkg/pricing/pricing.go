// Package pricing estimates what an app costs per month, so every plan can
// show the bill before and after it runs.
//
// Prices are AWS's public on-demand list prices for us-east-1 (Linux, USD,
// https://aws.amazon.com/ec2/pricing/on-demand/, the public IPv4 charge from
// https://aws.amazon.com/vpc/pricing/, Elastic Load Balancing and Route 53
// pricing pages), as published in 2025. Other regions differ by a few
// percent; the plan says these are estimates. Reserved Instance prices are
// not in this table: they come from DescribeReservedInstancesOfferings.
package pricing

import (
	"fmt"
	"sort"
)

// HoursPerMonth is AWS's own convention for monthly estimates.
const HoursPerMonth = 730

// OnDemandHourly is USD per hour for the instance types wtt knows prices for.
var OnDemandHourly = map[string]float64{
	"t2.micro":   0.0116,
	"t2.small":   0.023,
	"t2.medium":  0.0464,
	"t3.micro":   0.0104,
	"t3.small":   0.0208,
	"t3.medium":  0.0416,
	"t3.large":   0.0832,
	"m5.large":   0.096,
	"m5.xlarge":  0.192,
	"m5.2xlarge": 0.384,
	"m6i.large":  0.096,
	"m6i.xlarge": 0.192,
	"c5.large":   0.085,
	"c5.xlarge":  0.17,
	"c6i.large":  0.085,
	"r5.large":   0.126,
}

const (
	// PublicIPv4Hourly is charged for every public IPv4 address, in use or
	// idle, Elastic or not (since February 2024).
	PublicIPv4Hourly = 0.005
	// ALBHourly is the load balancer hour plus one LCU, a small app's load.
	ALBHourly = 0.0225 + 0.008
	// HostedZoneMonthly is one public hosted zone.
	HostedZoneMonthly = 0.50
	// RootVolumeMonthly is an 8 GiB gp3 root volume at $0.08/GB-month.
	RootVolumeMonthly = 8 * 0.08
)

// Known reports whether the type has a price in the table.
func Known(instanceType string) bool {
	_, ok := OnDemandHourly[instanceType]
	return ok
}

// KnownTypes lists the priced types, for help text.
func KnownTypes() []string {
	out := make([]string, 0, len(OnDemandHourly))
	for t := range OnDemandHourly {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Fleet is what a bill is computed from: the shape of an app, not its IDs.
type Fleet struct {
	Instances map[string]int // instance type -> running count
	Stopped   int            // stopped instances still pay for their volume
	PublicIPs int            // public IPv4 addresses, EIPs included
	IdleEIPs  int            // EIPs not associated with a running instance
	ALB       bool
	Zone      bool // a hosted zone wtt pays for
	// ReservedHourly is the effective hourly rate of covered instances by
	// type (upfront amortised over the term plus the recurring charge).
	Reserved map[string]ReservedCover
}

// ReservedCover is how many instances of a type a reservation covers, at
// what effective hourly rate.
type ReservedCover struct {
	Count  int
	Hourly float64
}

// Line is one row of a cost breakdown.
type Line struct {
	Item    string  `json:"item"`
	Monthly float64 `json:"monthly"`
}

// Estimate is a monthly bill with its breakdown.
type Estimate struct {
	Monthly float64 `json:"monthly"`
	Lines   []Line  `json:"lines"`
	// Unpriced lists instance types missing from the table; their cost is
	// left out rather than guessed.
	Unpriced []string `json:"unpriced,omitempty"`
}

// Monthly estimates the monthly bill of a fleet.
func Monthly(f Fleet) Estimate {
	var e Estimate
	add := func(item string, usd float64) {
		if usd != 0 {
			e.Lines = append(e.Lines, Line{Item: item, Monthly: round2(usd)})
			e.Monthly += usd
		}
	}
	types := make([]string, 0, len(f.Instances))
	for t := range f.Instances {
		types = append(types, t)
	}
	sort.Strings(types)
	total := 0
	for _, t := range types {
		n := f.Instances[t]
		total += n
		price, ok := OnDemandHourly[t]
		if !ok {
			e.Unpriced = append(e.Unpriced, t)
			continue
		}
		covered := min(f.Reserved[t].Count, n)
		if covered > 0 {
			add(fmt.Sprintf("%d × %s reserved", covered, t), float64(covered)*f.Reserved[t].Hourly*HoursPerMonth)
		}
		if n-covered > 0 {
			add(fmt.Sprintf("%d × %s on-demand", n-covered, t), float64(n-covered)*price*HoursPerMonth)
		}
	}
	add(fmt.Sprintf("%d × 8 GiB gp3 root volume", total+f.Stopped), float64(total+f.Stopped)*RootVolumeMonthly)
	add(fmt.Sprintf("%d × public IPv4 address", f.PublicIPs+f.IdleEIPs), float64(f.PublicIPs+f.IdleEIPs)*PublicIPv4Hourly*HoursPerMonth)
	if f.ALB {
		add("Application Load Balancer (1 LCU)", ALBHourly*HoursPerMonth)
	}
	if f.Zone {
		add("Route 53 hosted zone", HostedZoneMonthly)
	}
	e.Monthly = round2(e.Monthly)
	return e
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
