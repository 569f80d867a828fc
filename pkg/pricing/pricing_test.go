package pricing

import (
	"math"
	"testing"
)

func TestMonthly(t *testing.T) {
	e := Monthly(Fleet{Instances: map[string]int{"t2.micro": 1}, PublicIPs: 1})
	want := 0.0116*730 + 0.64 + 0.005*730
	if math.Abs(e.Monthly-want) > 0.01 {
		t.Errorf("one t2.micro with a public IP: $%.2f, want $%.2f", e.Monthly, want)
	}
	alb := Monthly(Fleet{Instances: map[string]int{"m5.large": 2}, ALB: true, Zone: true})
	want = 2*0.096*730 + 2*0.64 + ALBHourly*730 + 0.5
	if math.Abs(alb.Monthly-want) > 0.01 {
		t.Errorf("ALB fleet: $%.2f, want $%.2f", alb.Monthly, want)
	}
}

func TestReservedCoverageLowersTheBill(t *testing.T) {
	onDemand := Monthly(Fleet{Instances: map[string]int{"m5.large": 3}})
	covered := Monthly(Fleet{Instances: map[string]int{"m5.large": 3}, Reserved: map[string]ReservedCover{"m5.large": {Count: 2, Hourly: 0.06}}})
	want := onDemand.Monthly - 2*(0.096-0.06)*730
	if math.Abs(covered.Monthly-want) > 0.01 {
		t.Errorf("2 of 3 covered: $%.2f, want $%.2f", covered.Monthly, want)
	}
	// More reservations than instances never make the bill negative.
	over := Monthly(Fleet{Instances: map[string]int{"m5.large": 1}, Reserved: map[string]ReservedCover{"m5.large": {Count: 5, Hourly: 0.06}}})
	if over.Monthly <= 0 {
		t.Errorf("over-covered fleet costs $%.2f", over.Monthly)
	}
}

func TestUnknownTypesAreNotGuessed(t *testing.T) {
	e := Monthly(Fleet{Instances: map[string]int{"x9.mega": 1}})
	if len(e.Unpriced) != 1 || e.Unpriced[0] != "x9.mega" {
		t.Errorf("Unpriced = %v", e.Unpriced)
	}
}
