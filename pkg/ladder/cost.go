package ladder

import (
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/pricing"
)

// FleetOf reduces observed (or projected) state to what the bill depends on.
func FleetOf(s *observe.State) pricing.Fleet {
	f := pricing.Fleet{Instances: map[string]int{}, Reserved: map[string]pricing.ReservedCover{}}
	for _, i := range s.Instances {
		switch {
		case i.Live():
			f.Instances[i.Type]++
			if i.PublicIP != "" {
				f.PublicIPs++
			}
		case i.State == "stopped" || i.State == "stopping":
			f.Stopped++
		}
	}
	live := map[string]bool{}
	for _, i := range s.LiveInstances() {
		live[i.ID] = true
	}
	for _, e := range s.EIPs {
		if !live[e.InstanceID] {
			f.IdleEIPs++
		}
	}
	f.ALB = s.LoadBalancer != nil
	f.Zone = s.DNS != nil && s.DNS.ZoneOwned
	for _, r := range s.Reserved {
		if !r.Covering() {
			continue
		}
		c := f.Reserved[r.InstanceType]
		hours := r.End.Sub(r.Start).Hours()
		rate := r.HourlyPrice
		if hours > 0 {
			// FixedPrice is per instance, as the offering's.
			rate += r.FixedPrice / hours
		}
		// Weighted average when several reservations cover one type.
		total := c.Count + int(r.Count)
		c.Hourly = (c.Hourly*float64(c.Count) + rate*float64(r.Count)) / float64(total)
		c.Count = total
		f.Reserved[r.InstanceType] = c
	}
	return f
}

// Cost estimates the monthly bill of a state.
func Cost(s *observe.State) pricing.Estimate { return pricing.Monthly(FleetOf(s)) }
