package ladder

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/emulatortest"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// multiAZState is an app at stage multi-az: a group of min 2 (max 4) m5.large
// behind an ALB, over two AZs.
func multiAZState(t *testing.T) *observe.State {
	t.Helper()
	albSG := &observe.SecurityGroup{ID: "sg-alb", Name: "wtt-ri-alb",
		Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}}
	privSG := &observe.SecurityGroup{ID: "sg-priv", Name: "wtt-ri-private",
		Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, SourceGroups: []string{"sg-alb"}}}}
	s := &observe.State{
		App: "ri", Region: "us-east-1",
		Network: observe.Network{VPCID: "vpc-1", Subnets: []observe.Subnet{
			{ID: "subnet-pa", AZ: "us-east-1a", Public: true}, {ID: "subnet-qa", AZ: "us-east-1a"},
			{ID: "subnet-pb", AZ: "us-east-1b", Public: true}, {ID: "subnet-qb", AZ: "us-east-1b"},
		}, IGWID: "igw-1", IGWAttached: true, S3EndpointID: "vpce-1",
			RouteTables: []observe.RouteTable{{ID: "rtb-pub", Public: true}, {ID: "rtb-priv"}},
			WebSG: &observe.SecurityGroup{ID: "sg-web", Name: "wtt-ri-web",
				Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}},
			ALBSG: albSG, PrivateSG: privSG},
		Instances: []observe.Instance{
			{ID: "i-1", Type: "m5.large", State: "running", AZ: "us-east-1a", IMDSv2Required: true, Group: "wtt-ri-asg", SecurityGroups: []string{"sg-priv"}},
			{ID: "i-2", Type: "m5.large", State: "running", AZ: "us-east-1b", IMDSv2Required: true, Group: "wtt-ri-asg", SecurityGroups: []string{"sg-priv"}},
		},
		EIPs: []observe.EIP{},
		LoadBalancer: &observe.LoadBalancer{ARN: "arn:lb", Name: "wtt-ri", DNSName: "wtt-ri.elb.amazonaws.com", Scheme: "internet-facing",
			State: "active", AZs: []string{"us-east-1a", "us-east-1b"}, Subnets: []string{"subnet-pa", "subnet-pb"},
			SecurityGroups: []string{"sg-alb"}, ListenerARN: "arn:listener", ListenerTarget: "arn:tg"},
		TargetGroup: &observe.TargetGroup{ARN: "arn:tg", Name: "wtt-ri-tg", Protocol: "HTTP", Port: 80, HealthPath: "/healthz",
			Targets: []observe.Target{{ID: "i-1", Health: "healthy"}, {ID: "i-2", Health: "healthy"}}},
		LaunchTemplate: &observe.LaunchTemplate{ID: "lt-1", Name: "wtt-ri-lt", InstanceType: "m5.large", IMDSv2Required: true, SecurityGroups: []string{"sg-priv"}},
		Group: &observe.Group{Name: "wtt-ri-asg", Min: 2, Max: 4, Desired: 2, AZs: []string{"us-east-1a", "us-east-1b"},
			Subnets: []string{"subnet-qa", "subnet-qb"}, InstanceType: "m5.large", TargetGroupARNs: []string{"arn:tg"},
			HealthCheckType: "ELB", TargetTracking: []string{"cpu"}, Instances: []string{"i-1", "i-2"}},
		Reserved: []observe.Reserved{},
	}
	if st := stage.Detect(s); st.Stage != stage.MultiAZ {
		t.Fatalf("fixture is at %s, want multi-az; unmet: %v", st.Stage, st.Unmet)
	}
	return s
}

// noUpfront is a 1-year standard no-upfront m5.large offering at AWS's
// list price shape: nothing up front, a discounted hourly charge.
func noUpfront() *Offering {
	return &Offering{ID: "off-nu", InstanceType: "m5.large", Class: "standard", OfferingType: "No Upfront",
		Duration: oneYear * time.Second, HourlyPrice: 0.06}
}

func allUpfront() *Offering {
	return &Offering{ID: "off-au", InstanceType: "m5.large", Class: "standard", OfferingType: "All Upfront",
		Duration: oneYear * time.Second, FixedPrice: 500}
}

func reservedOpts(f *Offering, maxUpfront float64) Options {
	return Options{Term: "1y", OfferingClass: "standard", Payment: "no-upfront", MaxUpfront: maxUpfront, Offering: f}
}

func regional(id string, n int32, state string) observe.Reserved {
	return observe.Reserved{ID: id, InstanceType: "m5.large", Count: n, State: state, Scope: "Region", HourlyPrice: 0.06,
		Start: time.Unix(0, 0), End: time.Unix(oneYear, 0)}
}

func TestPlanReservedBuysTheGroupMinimum(t *testing.T) {
	s := multiAZState(t)
	steps, warns, err := planReserved(s, reservedOpts(noUpfront(), 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 {
		t.Fatalf("%d steps, want 1", len(steps))
	}
	st := steps[0]
	if st.Action != plan.Buy || st.Rung != "reserved" {
		t.Errorf("step is %s on rung %s, want a purchase on reserved", st.Action, st.Rung)
	}
	for _, c := range []string{"ec2:PurchaseReservedInstancesOffering", "ec2:CreateTags", "ec2:DescribeReservedInstances"} {
		if !slices.Contains(st.Calls, c) {
			t.Errorf("calls %v lack %s", st.Calls, c)
		}
	}
	if st.Downtime != 0 || st.Upfront != 0 {
		t.Errorf("downtime %s, upfront %.2f; want none", st.Downtime, st.Upfront)
	}
	if st.Do == nil || st.Check == nil {
		t.Error("the step has no Do or no server-side Check")
	}
	// 2 × 0.06 × 730 = 87.60 recurring; on-demand 2 × 0.096 × 730 = 140.16.
	for _, want := range []string{"2 × m5.large", "regional", "1-year standard no upfront"} {
		if !strings.Contains(st.Resource, want) {
			t.Errorf("resource %q lacks %q", st.Resource, want)
		}
	}
	for _, want := range []string{"off-nu", "$0.00 up front", "$87.60/month recurring", "saves about $52.56/month"} {
		if !strings.Contains(st.Detail, want) {
			t.Errorf("detail %q lacks %q", st.Detail, want)
		}
	}
	if !anyContains(st.Warnings, "cannot be cancelled") || !anyContains(st.Warnings, "convertible") {
		t.Errorf("step warnings %v should say it cannot be cancelled and mention convertible", st.Warnings)
	}
	if !anyContains(warns, "only the group's minimum of 2 is reserved") {
		t.Errorf("plan warnings %v should say instances above the minimum stay on-demand", warns)
	}
}

func TestProjectReservedReachesTheStage(t *testing.T) {
	s := multiAZState(t)
	o := reservedOpts(noUpfront(), 0)
	p := projectReserved(s, o)
	if !stage.Reached(p, stage.Reserved) {
		t.Fatalf("projection does not reach reserved: %v", stage.Detect(p).Unmet)
	}
	if len(s.Reserved) != 0 {
		t.Error("projection changed the observed state")
	}
	r := p.Reserved[0]
	if r.Count != 2 || r.State != "active" || r.Scope != "Region" || r.End.Sub(r.Start) != oneYear*time.Second {
		t.Errorf("projected reservation %+v", r)
	}
	// Planning the rung again from its own projection buys nothing.
	steps, _, err := planReserved(p, o)
	if err != nil || len(steps) != 0 {
		t.Errorf("re-planning the projection: %d steps, %v; want none", len(steps), err)
	}
}

func TestMigrateToReservedShowsTheSaving(t *testing.T) {
	s := multiAZState(t)
	p, err := Migrate(s, stage.Reserved, reservedOpts(noUpfront(), 0))
	if err != nil {
		t.Fatal(err)
	}
	if p.From != "multi-az" || len(p.Steps) != 1 || p.Upfront != 0 {
		t.Fatalf("plan from %s: %d steps, upfront %.2f", p.From, len(p.Steps), p.Upfront)
	}
	saving := p.CostBefore.Monthly - p.CostAfter.Monthly
	// (0.096 - 0.06) × 2 × 730 = 52.56, give or take rounding.
	if saving < 52.5 || saving > 52.6 {
		t.Errorf("cost %.2f -> %.2f saves %.2f/month, want 52.56", p.CostBefore.Monthly, p.CostAfter.Monthly, saving)
	}
	if !anyLine(p.CostAfter.Lines, "2 × m5.large reserved") {
		t.Errorf("cost after %v has no reserved line", p.CostAfter.Lines)
	}
}

func TestMigrateToReservedAmortisesTheUpfront(t *testing.T) {
	s := multiAZState(t)
	o := reservedOpts(allUpfront(), -1)
	o.Payment = "all-upfront"
	p, err := Migrate(s, stage.Reserved, o)
	if err != nil {
		t.Fatal(err)
	}
	if p.Upfront != 1000 || p.Steps[0].Upfront != 1000 {
		t.Errorf("upfront %.2f (step %.2f), want 2 × 500", p.Upfront, p.Steps[0].Upfront)
	}
	// $500 per instance over 8760 hours is 0.0571/h: 2 × 0.0571 × 730 = 83.33.
	want := 2 * 500.0 / 8760 * pricing.HoursPerMonth
	if got := reservedLine(t, p.CostAfter.Lines); got < want-0.01 || got > want+0.01 {
		t.Errorf("reserved line %.2f/month, want %.2f", got, want)
	}
	if !p.Destructive() {
		t.Error("a purchase must need --yes off a terminal")
	}
}

func TestPlanReservedCountsExistingCoverage(t *testing.T) {
	cases := []struct {
		name     string
		reserved []observe.Reserved
		want     int32 // instances to buy; 0: no step
		warning  string
	}{
		{"none", nil, 2, ""},
		{"one active", []observe.Reserved{regional("ri-1", 1, "active")}, 1, ""},
		{"payment pending counts", []observe.Reserved{regional("ri-1", 1, "payment-pending")}, 1, ""},
		{"fully covered", []observe.Reserved{regional("ri-1", 2, "active")}, 0, ""},
		{"covered by two", []observe.Reserved{regional("ri-1", 1, "active"), regional("ri-2", 1, "active")}, 0, ""},
		{"more than needed", []observe.Reserved{regional("ri-1", 5, "active")}, 0, ""},
		{"retired does not count", []observe.Reserved{regional("ri-1", 2, "retired")}, 2, ""},
		{"another type does not count", []observe.Reserved{func() observe.Reserved {
			r := regional("ri-1", 2, "active")
			r.InstanceType = "t3.small"
			return r
		}()}, 2, ""},
		{"zonal does not count", []observe.Reserved{func() observe.Reserved {
			r := regional("ri-z", 2, "active")
			r.Scope, r.AZ = "Availability Zone", "us-east-1a"
			return r
		}()}, 2, "zonal reservation ri-z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := multiAZState(t)
			s.Reserved = c.reserved
			steps, warns, err := planReserved(s, reservedOpts(noUpfront(), 0))
			if err != nil {
				t.Fatal(err)
			}
			if c.want == 0 {
				if len(steps) != 0 {
					t.Fatalf("%d steps, want none: nothing is bought twice", len(steps))
				}
				return
			}
			if len(steps) != 1 || !strings.HasPrefix(steps[0].Resource, fmt.Sprintf("%d × m5.large", c.want)) {
				t.Fatalf("steps %v, want one buying %d", resources(steps), c.want)
			}
			if c.warning != "" && !anyContains(warns, c.warning) {
				t.Errorf("warnings %v lack %q", warns, c.warning)
			}
			if got := stage.Covered(projectReserved(s, reservedOpts(noUpfront(), 0))); got < s.Group.Min {
				t.Errorf("projection covers %d of %d", got, s.Group.Min)
			}
		})
	}
}

func TestMigrateToReservedWhenCoveredIsEmpty(t *testing.T) {
	s := multiAZState(t)
	s.Reserved = []observe.Reserved{regional("ri-1", 2, "active")}
	if st := stage.Detect(s).Stage; st != stage.Reserved {
		t.Fatalf("stage %s, want reserved", st)
	}
	// No offering is needed when nothing is to be bought.
	p, err := Migrate(s, stage.Reserved, Options{MaxUpfront: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Errorf("plan has %v, want no changes", resources(p.Steps))
	}
}

func TestPlanReservedMaxUpfront(t *testing.T) {
	cases := []struct {
		name       string
		offering   *Offering
		maxUpfront float64
		usage      bool
	}{
		{"no upfront within 0", noUpfront(), 0, false},
		{"all upfront above 1", allUpfront(), 1, true},
		{"all upfront above 0", allUpfront(), 0, true},
		{"all upfront just below the price", allUpfront(), 999.99, true},
		{"all upfront at the price", allUpfront(), 1000, false},
		{"all upfront without a limit", allUpfront(), -1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := planReserved(multiAZState(t), reservedOpts(c.offering, c.maxUpfront))
			if c.usage {
				if !cmdutil.IsUsage(err) {
					t.Fatalf("err %v, want a usage error (exit 2)", err)
				}
				if !strings.Contains(err.Error(), "$1000.00 up front") || !strings.Contains(err.Error(), "--max-upfront") {
					t.Errorf("error %q should name the price and the flag", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPlanReservedRefuses(t *testing.T) {
	t.Run("no group", func(t *testing.T) {
		s := multiAZState(t)
		s.Group = nil
		if _, _, err := planReserved(s, reservedOpts(noUpfront(), 0)); err == nil || !strings.Contains(err.Error(), "multi-az") {
			t.Errorf("err %v, want one pointing at multi-az", err)
		}
	})
	t.Run("no offering", func(t *testing.T) {
		if _, _, err := planReserved(multiAZState(t), reservedOpts(nil, 0)); err == nil {
			t.Error("planned a purchase without an offering")
		}
	})
	t.Run("offering for another type", func(t *testing.T) {
		f := noUpfront()
		f.InstanceType = "t2.micro"
		if _, _, err := planReserved(multiAZState(t), reservedOpts(f, 0)); err == nil || !strings.Contains(err.Error(), "t2.micro") {
			t.Errorf("err %v, want a type mismatch", err)
		}
	})
}

func TestPlanReservedWarnsWhenDearerThanOnDemand(t *testing.T) {
	f := noUpfront()
	f.HourlyPrice = 0.2 // the emulator's random prices can exceed on-demand
	steps, _, err := planReserved(multiAZState(t), reservedOpts(f, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(steps[0].Detail, "MORE than on-demand") || !anyContains(steps[0].Warnings, "costs more") {
		t.Errorf("detail %q / warnings %v should say it costs more", steps[0].Detail, steps[0].Warnings)
	}
}

func TestPlanReservedUnknownOnDemandPrice(t *testing.T) {
	s := multiAZState(t)
	s.Group.InstanceType, s.LaunchTemplate.InstanceType = "x9.huge", "x9.huge"
	f := noUpfront()
	f.InstanceType = "x9.huge"
	steps, _, err := planReserved(s, reservedOpts(f, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(steps[0].Detail, "saving against on-demand unknown") {
		t.Errorf("detail %q should not guess a saving", steps[0].Detail)
	}
}

func TestReservedShortfall(t *testing.T) {
	s := multiAZState(t)
	if typ, need := ReservedShortfall(s, Options{}); typ != "m5.large" || need != 2 {
		t.Errorf("shortfall %s × %d, want m5.large × 2", typ, need)
	}
	s.Reserved = []observe.Reserved{regional("ri-1", 2, "active")}
	if _, need := ReservedShortfall(s, Options{}); need != 0 {
		t.Errorf("covered group still lacks %d", need)
	}
	// A jump from nothing reserves what the lower rungs will launch.
	empty := &observe.State{App: "x", Region: "us-east-1", Instances: []observe.Instance{}, EIPs: []observe.EIP{}}
	if typ, need := ReservedShortfall(empty, Options{InstanceType: "t3.small"}); typ != "t3.small" || need < 1 {
		t.Errorf("jump from none: shortfall %q × %d, want t3.small × the projected minimum", typ, need)
	}
}

func TestPickOffering(t *testing.T) {
	o := Options{Term: "1y", OfferingClass: "standard", Payment: "no-upfront"}
	base := func(id string) ec2types.ReservedInstancesOffering {
		return ec2types.ReservedInstancesOffering{
			ReservedInstancesOfferingId: aws.String(id), InstanceType: "m5.large", Scope: ec2types.ScopeRegional,
			Duration: aws.Int64(oneYear), OfferingClass: "standard", OfferingType: "No Upfront",
			ProductDescription: "Linux/UNIX", InstanceTenancy: "default", CurrencyCode: "USD",
			FixedPrice: aws.Float32(0), UsagePrice: aws.Float32(0.07),
		}
	}
	with := func(id string, f func(*ec2types.ReservedInstancesOffering)) ec2types.ReservedInstancesOffering {
		r := base(id)
		f(&r)
		return r
	}
	rejected := []ec2types.ReservedInstancesOffering{
		with("zonal", func(r *ec2types.ReservedInstancesOffering) {
			r.Scope, r.AvailabilityZone = ec2types.ScopeAvailabilityZone, aws.String("us-east-1a")
		}),
		with("az-without-scope", func(r *ec2types.ReservedInstancesOffering) {
			r.Scope, r.AvailabilityZone = "", aws.String("us-east-1a")
		}),
		with("3y", func(r *ec2types.ReservedInstancesOffering) { r.Duration = aws.Int64(threeYears) }),
		with("convertible", func(r *ec2types.ReservedInstancesOffering) { r.OfferingClass = "convertible" }),
		with("partial", func(r *ec2types.ReservedInstancesOffering) { r.OfferingType = "Partial Upfront" }),
		with("windows", func(r *ec2types.ReservedInstancesOffering) { r.ProductDescription = "Windows" }),
		with("marketplace", func(r *ec2types.ReservedInstancesOffering) { r.Marketplace = aws.Bool(true) }),
		with("dedicated", func(r *ec2types.ReservedInstancesOffering) { r.InstanceTenancy = "dedicated" }),
		with("other-type", func(r *ec2types.ReservedInstancesOffering) { r.InstanceType = "t2.micro" }),
	}
	if f := pickOffering(rejected, "m5.large", o); f != nil {
		t.Fatalf("picked %s, which does not match", f.ID)
	}
	// AWS's shape: hourly charge in RecurringCharges, UsagePrice 0.
	aws1 := with("aws-shape", func(r *ec2types.ReservedInstancesOffering) {
		r.UsagePrice = aws.Float32(0)
		r.RecurringCharges = []ec2types.RecurringCharge{{Amount: aws.Float64(0.06), Frequency: ec2types.RecurringChargeFrequencyHourly}}
	})
	f := pickOffering(append(rejected, base("dearer"), aws1), "m5.large", o)
	if f == nil || f.ID != "aws-shape" {
		t.Fatalf("picked %+v, want the cheapest match aws-shape", f)
	}
	if f.HourlyPrice != 0.06 || f.Duration != oneYear*time.Second || f.Class != "standard" || f.OfferingType != "No Upfront" {
		t.Errorf("offering read as %+v", f)
	}
	// The emulator's shape: the hourly price in UsagePrice.
	if f := pickOffering([]ec2types.ReservedInstancesOffering{base("emu")}, "m5.large", o); f == nil || f.HourlyPrice < 0.0699 || f.HourlyPrice > 0.0701 {
		t.Errorf("emulator-shaped offering read as %+v", f)
	}
	o3 := Options{Term: "3y", OfferingClass: "convertible", Payment: "all-upfront"}
	three := with("3y-conv-au", func(r *ec2types.ReservedInstancesOffering) {
		r.Duration, r.OfferingClass, r.OfferingType = aws.Int64(threeYears), "convertible", "All Upfront"
	})
	if f := pickOffering(append(rejected, base("1y"), three), "m5.large", o3); f == nil || f.ID != "3y-conv-au" {
		t.Errorf("picked %+v for 3y convertible all-upfront", f)
	}
}

func TestOfferingTypeNames(t *testing.T) {
	for payment, want := range map[string]string{"no-upfront": "No Upfront", "partial-upfront": "Partial Upfront", "all-upfront": "All Upfront", "": "No Upfront"} {
		if got := offeringType(Options{Payment: payment}.payment()); got != want {
			t.Errorf("payment %q -> %q, want %q", payment, got, want)
		}
	}
	if termSeconds("1y") != 31536000 || termSeconds("3y") != 94608000 {
		t.Error("term lengths differ from AWS's")
	}
}

func TestFleetOfAmortisesPerInstanceFixedPrice(t *testing.T) {
	s := multiAZState(t)
	// AWS and the emulator report a reservation's FixedPrice per instance.
	r := regional("ri-1", 2, "active")
	r.FixedPrice, r.HourlyPrice = 876, 0
	s.Reserved = []observe.Reserved{r}
	c := FleetOf(s).Reserved["m5.large"]
	if c.Count != 2 || c.Hourly < 0.0999 || c.Hourly > 0.1001 {
		t.Errorf("reserved cover %+v, want 2 at $0.10/h (876 over 8760 h)", c)
	}
}

// The step's Do against a fake-free path: the shortfall is taken from the
// state observed right before the step, so a re-run buys nothing.
func TestBuyReservedBuysNothingWhenCovered(t *testing.T) {
	s := multiAZState(t)
	s.Reserved = []observe.Reserved{regional("ri-1", 2, "payment-pending")}
	e := &Env{App: "ri", State: s} // no clients: any AWS call would panic
	var log strings.Builder
	if err := e.buyReserved(context.Background(), &plan.Exec{Env: e, Log: &log}, noUpfront(), 2, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "nothing to buy") {
		t.Errorf("log %q should say nothing was bought", log.String())
	}
}

func TestBuyReservedNeverSpendsMoreThanPlanned(t *testing.T) {
	s := multiAZState(t)
	s.Group.Min = 3
	e := &Env{App: "ri", State: s}
	err := e.buyReserved(context.Background(), &plan.Exec{Env: e}, noUpfront(), 2, 0)
	if err == nil || !strings.Contains(err.Error(), "more than the 2 the plan showed") {
		t.Errorf("err %v, want a refusal to buy 3 after planning 2", err)
	}
}

func TestBuyReservedRefusesATypeChange(t *testing.T) {
	s := multiAZState(t)
	s.Group.InstanceType = "t3.small"
	e := &Env{App: "ri", State: s}
	if err := e.buyReserved(context.Background(), &plan.Exec{Env: e}, noUpfront(), 2, 0); err == nil || !strings.Contains(err.Error(), "t3.small") {
		t.Errorf("err %v, want a refusal naming the new type", err)
	}
}

func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func anyLine(lines []pricing.Line, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l.Item, sub) {
			return true
		}
	}
	return false
}

func reservedLine(t *testing.T, lines []pricing.Line) float64 {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l.Item, "reserved") {
			return l.Monthly
		}
	}
	t.Fatalf("no reserved line in %v", lines)
	return 0
}

func resources(steps []*plan.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, string(s.Action)+" "+s.Resource)
	}
	return out
}

// riEmulatorEnv starts an emulator with the app's launch template (of typ),
// which is what discovery reads reservations for; the group itself is
// hand-made on top of what discovery returns.
func riEmulatorEnv(t *testing.T, typ string, min int32) (*Env, func()) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the emulator")
	}
	emu := emulatortest.Start(t)
	for _, kv := range emu.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	c, err := awsclient.Load(ctx, awsclient.Options{EndpointURL: emu.URL(), Region: emulatortest.Region, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	const app = "ri"
	e := &Env{C: c, N: names.For(app), App: app, Opts: Options{PollInterval: 20 * time.Millisecond, WaitTimeout: 5 * time.Second}}
	// The template is made here without the alb rung's security groups,
	// which an observation takes as proof that there is none: read all.
	e.Observer = observe.NewObserver(c, app)
	e.Observer.ReadEverything()
	if _, err := c.EC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(e.N.LaunchTemplate()),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{InstanceType: ec2types.InstanceType(typ)},
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate,
			Tags: e.tags("launch-template", "")}},
	}); err != nil {
		t.Fatal(err)
	}
	refresh := func() {
		t.Helper()
		if err := e.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		e.State.Group = &observe.Group{Name: e.N.ASG(), Min: min, Max: min, InstanceType: typ}
	}
	refresh()
	return e, refresh
}

// TestReservedAgainstTheEmulator runs the lookup and the purchase step
// against the emulator, on one emulator (it takes seconds to start). The
// subtests run in order: only the last one buys.
func TestReservedAgainstTheEmulator(t *testing.T) {
	e, refresh := riEmulatorEnv(t, "t3.small", 2)
	t.Run("no matching offering", func(t *testing.T) {
		// The emulator has only 1-year standard offerings.
		_, err := LookupReservedOffering(context.Background(), e.C, "t3.small", Options{Term: "3y", OfferingClass: "convertible", Payment: "all-upfront"})
		if !cmdutil.IsUsage(err) {
			t.Fatalf("err %v, want a usage error", err)
		}
		for _, want := range []string{"t3.small", "convertible", "All Upfront", "3y", "regional"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
	})
	t.Run("limit price", func(t *testing.T) {
		ctx := context.Background()
		o := Options{Payment: "all-upfront", MaxUpfront: -1}
		f, err := LookupReservedOffering(ctx, e.C, "t3.small", o)
		if err != nil {
			t.Fatal(err)
		}
		if f.FixedPrice <= 1 {
			t.Skipf("the emulator's all-upfront t3.small costs %.2f; the limit cannot bite", f.FixedPrice)
		}
		// The plan refuses above --max-upfront; should the price rise between
		// plan and purchase, AWS's LimitPrice refuses too.
		err = e.buyReserved(ctx, &plan.Exec{Env: e}, f, 2, 1)
		if err == nil || !strings.Contains(err.Error(), "LimitPrice") {
			t.Errorf("err %v, want the purchase refused by its limit price", err)
		}
	})
	t.Run("purchase", func(t *testing.T) {
		ctx := context.Background()
		o := Options{Term: "1y", OfferingClass: "standard", Payment: "no-upfront", MaxUpfront: 0}

		f, err := LookupReservedOffering(ctx, e.C, "t3.small", o)
		if err != nil {
			t.Fatal(err)
		}
		if f.InstanceType != "t3.small" || f.OfferingType != "No Upfront" || f.FixedPrice != 0 || f.Duration != oneYear*time.Second {
			t.Fatalf("offering %+v", f)
		}
		o.Offering = f
		steps, _, err := planReserved(e.State, o)
		if err != nil || len(steps) != 1 {
			t.Fatalf("plan: %d steps, %v", len(steps), err)
		}
		x := &plan.Exec{Env: e}

		// --dry-run=server validates the purchase and buys nothing.
		purchases := func() int { return e.C.Recorder.Calls()["ec2:PurchaseReservedInstancesOffering"] }
		before := purchases()
		if err := steps[0].Check(ctx, x); err != nil {
			t.Fatalf("server dry run: %v", err)
		}
		if n := purchases() - before; n != 1 {
			t.Errorf("the dry run made %d purchase call(s), want 1 with DryRun", n)
		}
		refresh()
		if len(e.State.Reserved) != 0 {
			t.Fatalf("a dry run bought %+v", e.State.Reserved)
		}

		if err := steps[0].Do(ctx, x); err != nil {
			t.Fatal(err)
		}
		refresh()
		if got := stage.Covered(e.State); got != 2 {
			t.Fatalf("coverage after the purchase is %d, want 2: %+v", got, e.State.Reserved)
		}
		r := e.State.Reserved[0]
		if r.Scope != "Region" || r.State != "active" || r.End.Sub(r.Start) != oneYear*time.Second || !r.BoughtByWtt {
			t.Errorf("reservation %+v", r)
		}
		tagged, err := e.C.EC2.DescribeReservedInstances(ctx, &ec2.DescribeReservedInstancesInput{Filters: []ec2types.Filter{
			{Name: aws.String("tag:wtt:app"), Values: []string{e.App}}}})
		if err != nil || len(tagged.ReservedInstances) != 1 {
			t.Fatalf("reservations tagged for the app: %v, %v", tagged, err)
		}

		// A re-run of the same step (as after a run killed once it had bought)
		// sees the coverage and buys nothing.
		before = purchases()
		if err := steps[0].Do(ctx, x); err != nil {
			t.Fatal(err)
		}
		if after := purchases(); after != before {
			t.Errorf("the re-run bought again (%d purchase calls, was %d)", after, before)
		}
		refresh()
		if steps, _, err := planReserved(e.State, o); err != nil || len(steps) != 0 {
			t.Errorf("re-planning: %d steps, %v; want none", len(steps), err)
		}
	})
}

// A purchase whose run crashed before tagging it already covers the group,
// so the stage is reached; the pending intent still gets a step that tags
// it and clears the intent, and nothing is bought.
func TestPendingIntentIsReconciledEvenWhenCovered(t *testing.T) {
	s := multiAZState(t)
	s.Reserved = []observe.Reserved{regional("ri-untagged", s.Group.Min, "active")}
	o := Options{Offering: noUpfront(), MaxUpfront: 0,
		ReservedIntent: &ReservedIntent{InstanceType: s.Group.InstanceType, Count: s.Group.Min, Before: []string{}}}
	p, err := Migrate(s, stage.Reserved, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 1 || p.Steps[0].Action == plan.Buy || !strings.Contains(p.Steps[0].Resource, "interrupted run") {
		t.Fatalf("want one reconcile step and no purchase, got %d steps: %+v", len(p.Steps), p.Steps)
	}
	o.ReservedIntent = nil
	if p, err := Migrate(s, stage.Reserved, o); err != nil || len(p.Steps) != 0 {
		t.Errorf("without an intent a covered group needs nothing: %v, %d steps", err, len(p.Steps))
	}
}
