package ladder

import (
	"testing"
	"time"

	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
	"github.com/whatsthetime/wtt/pkg/statefixtures"
)

// Every step that takes away an address clients may still use says so in
// StaleFor (which --probe judges by), and only those steps do: the rungs
// behind the load balancer take none away.
func TestStaleForMarksTheStepsThatTakeAddressesAway(t *testing.T) {
	o := Options{TTL: 60, RecordType: "alias", CPUTarget: 50, Term: "1y", OfferingClass: "standard", Payment: "no-upfront", MaxUpfront: -1}
	build := map[string]func() (*plan.Plan, error){
		"migrate --to=eip from single":         func() (*plan.Plan, error) { return Migrate(statefixtures.Single(), stage.EIP, o) },
		"scale --vertical at single":           func() (*plan.Plan, error) { return ScaleVertical(statefixtures.Single(), "m5.large", o) },
		"scale --vertical at eip":              func() (*plan.Plan, error) { return ScaleVertical(statefixtures.EIP(), "m5.large", o) },
		"scale --horizontal 1 at dns (TTL 15)": func() (*plan.Plan, error) { return ScaleHorizontal(statefixtures.DNS(2, 15), 1, o) },
		"migrate --to=alb from dns (TTL 15)":   func() (*plan.Plan, error) { return Migrate(statefixtures.DNS(2, 15), stage.ALB, o) },
		"migrate --to=multi-az from alb":       func() (*plan.Plan, error) { return Migrate(statefixtures.ALB(), stage.MultiAZ, o) },
		"scale --horizontal 3 at asg":          func() (*plan.Plan, error) { return ScaleHorizontal(statefixtures.ASG(), 3, o) },
	}
	want := map[string]map[plan.Action]time.Duration{
		"migrate --to=eip from single":         {plan.Create: plan.StaleUntilTold},
		"scale --vertical at single":           {plan.Update: plan.StaleUntilTold},
		"scale --vertical at eip":              {},
		"scale --horizontal 1 at dns (TTL 15)": {plan.Delete: 15 * time.Second},
		"migrate --to=alb from dns (TTL 15)":   {}, // the drain waits the TTL out
		"migrate --to=multi-az from alb":       {},
		"scale --horizontal 3 at asg":          {},
	}
	for name, b := range build {
		p, err := b()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, s := range p.Steps {
			if got, w := s.StaleFor, want[name][s.Action]; got != w {
				t.Errorf("%s: step %s %s: StaleFor %s, want %s", name, s.Action, s.Resource, got, w)
			}
		}
	}
}

// Only the record step of a scale-out at stage dns publishes addresses
// before they answer, and says so in UnreadyFor (a minute, as its warning
// says); a scale-in's record step publishes none.
func TestUnreadyForMarksTheRecordOfAScaleOut(t *testing.T) {
	o := Options{TTL: 60}
	out, err := ScaleHorizontal(statefixtures.DNS(2, 60), 3, o)
	if err != nil {
		t.Fatal(err)
	}
	marked := 0
	for _, s := range out.Steps {
		switch {
		case s.UnreadyFor == 0:
		case s.Action == plan.Update && s.UnreadyFor == time.Minute:
			marked++
		default:
			t.Errorf("scale-out: step %s %s: UnreadyFor %s", s.Action, s.Resource, s.UnreadyFor)
		}
	}
	if marked != 1 {
		t.Errorf("scale-out at dns: %d record step(s) with UnreadyFor, want 1: %+v", marked, out.Steps)
	}
	in, err := ScaleHorizontal(statefixtures.DNS(2, 60), 1, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range in.Steps {
		if s.UnreadyFor != 0 {
			t.Errorf("scale-in: step %s %s: UnreadyFor %s, want none", s.Action, s.Resource, s.UnreadyFor)
		}
	}
}
