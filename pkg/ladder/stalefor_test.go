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
