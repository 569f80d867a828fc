package bill

import (
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/observe"
	fx "github.com/whatsthetime/wtt/pkg/statefixtures"
)

// At every rung the itemised lines add up to the total `wtt status` shows.
func TestLinesAddUpToStatusTotal(t *testing.T) {
	stopped := fx.EIP()
	stopped.Instances = append(stopped.Instances, observe.Instance{ID: "i-9", Type: "t2.micro", State: "stopped"})
	stopped.EIPs = append(stopped.EIPs, observe.EIP{AllocationID: "eipalloc-9", PublicIP: "3.3.3.9"})
	for name, s := range map[string]*observe.State{
		"single": fx.Single(), "eip": fx.EIP(), "dns": fx.DNS(3, 3600), "alb": fx.ALB(), "asg": fx.ASG(),
		"multi-az": fx.MultiAZ(), "reserved": fx.Reserved(), "idle eip and stopped instance": stopped,
	} {
		b := Of(s)
		sum := 0.0
		for _, l := range b.Lines {
			sum += l.Monthly
		}
		if b.Monthly != b.StatusMonthly || b.Monthly == 0 {
			t.Errorf("%s: bill %.2f, status %.2f", name, b.Monthly, b.StatusMonthly)
		}
		if d := sum - b.Monthly; d > 0.05 || d < -0.05 {
			t.Errorf("%s: lines sum to %.2f, total %.2f", name, sum, b.Monthly)
		}
		if len(b.Notes) != 0 {
			t.Errorf("%s: notes %v", name, b.Notes)
		}
	}
}

func items(b Bill) string {
	var out []string
	for _, l := range b.Lines {
		out = append(out, l.Item+" "+l.Note)
	}
	return strings.Join(out, "\n")
}

func TestWhatEachRungBills(t *testing.T) {
	single := items(Of(fx.Single()))
	for _, want := range []string{"t2.micro instances, on demand", "root volumes", "public IPv4 addresses on instances"} {
		if !strings.Contains(single, want) {
			t.Errorf("single lacks %q:\n%s", want, single)
		}
	}
	alb := items(Of(fx.ALB()))
	for _, want := range []string{"Application Load Balancer", "load balancer capacity units (estimate)", "Route 53 hosted zone", "alias queries to the load balancer are free"} {
		if !strings.Contains(alb, want) {
			t.Errorf("alb lacks %q:\n%s", want, alb)
		}
	}
	if strings.Contains(alb, "public IPv4") {
		t.Errorf("alb bills public addresses:\n%s", alb)
	}
	res := items(Of(fx.Reserved()))
	for _, want := range []string{"t2.micro instances, reserved billed on the reservation's line", "Reserved Instance ri-1: 3 × t2.micro, regional, No Upfront covers 3 running t2.micro until 2027-01-01"} {
		if !strings.Contains(res, want) {
			t.Errorf("reserved lacks %q:\n%s", want, res)
		}
	}
}

// A reservation bills even when nothing runs: the bill says so and exceeds
// status's estimate by exactly the unused hours.
func TestUnusedReservationStillBills(t *testing.T) {
	s := fx.Reserved()
	s.Instances = s.Instances[:1]
	b := Of(s)
	unused := 2 * 0.0072 * 730
	if d := b.Monthly - b.StatusMonthly; d < unused-0.02 || d > unused+0.02 {
		t.Errorf("bill %.2f - status %.2f = %.2f, want %.2f", b.Monthly, b.StatusMonthly, d, unused)
	}
	if len(b.Notes) != 1 || !strings.Contains(b.Notes[0], "reserved hours") {
		t.Errorf("notes %v", b.Notes)
	}
	if !strings.Contains(items(b), "covers 1 running t2.micro") {
		t.Errorf("%s", items(b))
	}
}

func TestUnpricedTypeIsNotGuessed(t *testing.T) {
	s := fx.Single()
	s.Instances[0].Type = "x9.mega"
	b := Of(s)
	if len(b.Unpriced) != 1 || b.Monthly != b.StatusMonthly || !strings.Contains(strings.Join(b.Notes, " "), "left out") {
		t.Errorf("%+v", b)
	}
}
