package ladder

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// The reserved rung buys regional Reserved Instances for the baseline the
// Auto Scaling group never goes below: its minimum size, of its instance
// type. Instances above the minimum come and go with load and stay
// on-demand. Regional (not zonal) reservations, because the group moves
// instances between AZs and a regional reservation follows them.

// riProduct is the platform wtt's instances run. Accounts without
// EC2-Classic see no "(Amazon VPC)" variants.
const riProduct = "Linux/UNIX"

// AWS's term lengths, in seconds, as DescribeReservedInstancesOfferings
// reports them.
const (
	oneYear    = 31536000
	threeYears = 94608000
)

// reservedCalls are every AWS call the purchase step makes: the fresh
// coverage check, the purchase, the tag, and the wait until the purchase is
// visible (so a re-run right after counts it).
var reservedCalls = append([]string{"ec2:DescribeReservedInstances", "ec2:PurchaseReservedInstancesOffering", "ec2:CreateTags"}, reservedIntentCalls...)

// Offering is the Reserved Instance offering the reserved rung buys.
type Offering struct {
	ID           string
	InstanceType string
	Class        string // standard or convertible
	OfferingType string // AWS's name of the payment option: "No Upfront", "Partial Upfront", "All Upfront"
	Duration     time.Duration
	// FixedPrice is USD per instance, paid at purchase.
	FixedPrice float64
	// HourlyPrice is USD per instance-hour for the whole term, whether an
	// instance runs or not.
	HourlyPrice float64
}

// effectiveHourly is what one covered instance-hour really costs: the
// upfront payment spread over the term plus the recurring charge.
func (f *Offering) effectiveHourly() float64 {
	if h := f.Duration.Hours(); h > 0 {
		return f.HourlyPrice + f.FixedPrice/h
	}
	return f.HourlyPrice
}

func (f *Offering) describe() string {
	return fmt.Sprintf("%s %s %s", termName(f.Duration), f.Class, strings.ToLower(f.OfferingType))
}

func termName(d time.Duration) string {
	switch int64(d.Seconds()) {
	case oneYear:
		return "1-year"
	case threeYears:
		return "3-year"
	}
	return fmt.Sprintf("%.0f-day", d.Hours()/24)
}

func (o Options) term() string {
	if o.Term == "" {
		return "1y"
	}
	return o.Term
}

func (o Options) offeringClass() string {
	if o.OfferingClass == "" {
		return "standard"
	}
	return o.OfferingClass
}

func (o Options) payment() string {
	if o.Payment == "" {
		return "no-upfront"
	}
	return o.Payment
}

// termSeconds is the offering duration a --term asks for.
func termSeconds(term string) int64 {
	if term == "3y" {
		return threeYears
	}
	return oneYear
}

// offeringType is AWS's name for a --payment option.
func offeringType(payment string) string {
	switch payment {
	case "partial-upfront":
		return string(ec2types.OfferingTypeValuesPartialUpfront)
	case "all-upfront":
		return string(ec2types.OfferingTypeValuesAllUpfront)
	}
	return string(ec2types.OfferingTypeValuesNoUpfront)
}

// LookupReservedOffering finds the regional AWS (not Marketplace) offering
// for typ that matches the term, class and payment option in o. When
// several match, the cheapest over the term wins. No match is bad input:
// the message names what was searched.
func LookupReservedOffering(ctx context.Context, c *awsclient.Clients, typ string, o Options) (*Offering, error) {
	secs := termSeconds(o.term())
	// The request parameters narrow the search on AWS; the filters repeat
	// what some implementations only honour as filters. pickOffering checks
	// every field again, so neither is trusted alone.
	in := &ec2.DescribeReservedInstancesOfferingsInput{
		InstanceType:       ec2types.InstanceType(typ),
		ProductDescription: ec2types.RIProductDescription(riProduct),
		OfferingType:       ec2types.OfferingTypeValues(offeringType(o.payment())),
		OfferingClass:      ec2types.OfferingClassType(o.offeringClass()),
		InstanceTenancy:    ec2types.TenancyDefault,
		IncludeMarketplace: aws.Bool(false),
		Filters: []ec2types.Filter{
			{Name: aws.String("instance-type"), Values: []string{typ}},
			{Name: aws.String("product-description"), Values: []string{riProduct}},
			{Name: aws.String("scope"), Values: []string{string(ec2types.ScopeRegional)}},
			{Name: aws.String("duration"), Values: []string{fmt.Sprint(secs)}},
		},
	}
	var all []ec2types.ReservedInstancesOffering
	p := ec2.NewDescribeReservedInstancesOfferingsPaginator(c.EC2, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("looking up Reserved Instance offerings for %s: %w", typ, err)
		}
		all = append(all, page.ReservedInstancesOfferings...)
	}
	if off := pickOffering(all, typ, o); off != nil {
		return off, nil
	}
	return nil, cmdutil.Usagef(
		"try another --payment, --offering-class or --term; `aws ec2 describe-reserved-instances-offerings --instance-type "+typ+"` lists what is offered",
		"no Reserved Instance offering found for %s in %s: %s, %s, %s, %s term, regional scope, default tenancy, sold by AWS (not the Marketplace)",
		typ, c.Config.Region, riProduct, o.offeringClass(), offeringType(o.payment()), o.term())
}

// pickOffering keeps the offerings that match exactly and returns the
// cheapest over the term, or nil.
func pickOffering(offers []ec2types.ReservedInstancesOffering, typ string, o Options) *Offering {
	secs := termSeconds(o.term())
	var found []*Offering
	for _, r := range offers {
		regional := (r.Scope == ec2types.ScopeRegional || r.Scope == "") && aws.ToString(r.AvailabilityZone) == ""
		if string(r.InstanceType) != typ || !regional || aws.ToInt64(r.Duration) != secs ||
			string(r.OfferingClass) != o.offeringClass() || string(r.OfferingType) != offeringType(o.payment()) ||
			string(r.ProductDescription) != riProduct || aws.ToBool(r.Marketplace) ||
			(r.InstanceTenancy != "" && r.InstanceTenancy != ec2types.TenancyDefault) ||
			(r.CurrencyCode != "" && r.CurrencyCode != ec2types.CurrencyCodeValuesUsd) {
			continue
		}
		found = append(found, offeringFrom(r))
	}
	if len(found) == 0 {
		return nil
	}
	sort.Slice(found, func(i, j int) bool {
		a, b := found[i].effectiveHourly(), found[j].effectiveHourly()
		if a != b {
			return a < b
		}
		return found[i].ID < found[j].ID
	})
	return found[0]
}

func offeringFrom(r ec2types.ReservedInstancesOffering) *Offering {
	// AWS puts the hourly charge in RecurringCharges and UsagePrice is 0;
	// the emulator does the opposite. Their sum is right for both.
	hourly := float64(aws.ToFloat32(r.UsagePrice))
	for _, rc := range r.RecurringCharges {
		if rc.Frequency == ec2types.RecurringChargeFrequencyHourly || rc.Frequency == "" {
			hourly += aws.ToFloat64(rc.Amount)
		}
	}
	return &Offering{
		ID:           aws.ToString(r.ReservedInstancesOfferingId),
		InstanceType: string(r.InstanceType),
		Class:        string(r.OfferingClass),
		OfferingType: string(r.OfferingType),
		Duration:     time.Duration(aws.ToInt64(r.Duration)) * time.Second,
		FixedPrice:   float64(aws.ToFloat32(r.FixedPrice)),
		HourlyPrice:  hourly,
	}
}

// ReservedShortfall is what the reserved rung would buy starting from s: the
// group's instance type and how many instances its minimum lacks in
// coverage. For a jump, the rungs below are projected first, so the type
// and minimum are those the group will have. An empty type means there is
// no group to reserve for, even projected.
func ReservedShortfall(s *observe.State, o Options) (typ string, need int32) {
	p := projectBelow(s, stage.Reserved, o)
	if p.Group == nil {
		return "", 0
	}
	return p.Group.InstanceType, p.Group.Min - stage.Covered(p)
}

// projectBelow projects s through every rung below target that Migrate
// would plan, without planning them.
func projectBelow(s *observe.State, target stage.Stage, o Options) *observe.State {
	cur := stage.Detect(s).Stage
	p := s
	for _, st := range stage.Ladder[1:target.Index()] {
		if st.Index() <= cur.Index() {
			continue
		}
		if skip, _ := skipped(st, target, o); skip {
			continue
		}
		p = rungs[st].project(p, o)
	}
	return p
}

// reservedPrices is what a purchase costs and saves, for the plan.
type reservedPrices struct {
	Upfront          float64 // USD, paid at once
	MonthlyRecurring float64 // USD per month for the whole term
	MonthlySaving    float64 // USD per month against on-demand; negative when dearer
	SavingKnown      bool    // false when wtt has no on-demand price for the type
}

func pricesOf(f *Offering, need int32) reservedPrices {
	n := float64(need)
	p := reservedPrices{
		Upfront:          n * f.FixedPrice,
		MonthlyRecurring: n * f.HourlyPrice * pricing.HoursPerMonth,
	}
	if od, ok := pricing.OnDemandHourly[f.InstanceType]; ok {
		p.SavingKnown = true
		p.MonthlySaving = n * (od - f.effectiveHourly()) * pricing.HoursPerMonth
	}
	return p
}

func (p reservedPrices) savingText(typ string) string {
	switch {
	case !p.SavingKnown:
		return fmt.Sprintf("saving against on-demand unknown (wtt has no on-demand price for %s)", typ)
	case p.MonthlySaving >= 0:
		return fmt.Sprintf("saves about $%.2f/month against on-demand", p.MonthlySaving)
	}
	return fmt.Sprintf("costs about $%.2f/month MORE than on-demand", -p.MonthlySaving)
}

// cents compares money without float noise.
func cents(usd float64) int64 { return int64(math.Round(usd * 100)) }

// planReserved buys regional Reserved Instances for the part of the group's
// minimum that active reservations do not cover yet. Nothing is bought
// twice: coverage already there (wtt's or anyone's in the account, since
// regional reservations apply account-wide) is subtracted.
func planReserved(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	g := s.Group
	if g == nil || g.InstanceType == "" {
		return nil, nil, fmt.Errorf("the reserved rung needs an Auto Scaling group with a known instance type; run `wtt migrate --to=multi-az` first")
	}
	warnings := zonalWarnings(s)
	var steps []*plan.Step
	need := g.Min - stage.Covered(s)
	if o.ReservedIntent != nil {
		// Counted in coverage already if it went through; tagged here.
		steps = append(steps, reconcileStep(o.ReservedIntent, need > 0))
	}
	if need <= 0 {
		return steps, warnings, nil
	}
	f := o.Offering
	if f == nil {
		return nil, nil, fmt.Errorf("no Reserved Instance offering was looked up for %s before planning (LookupReservedOffering)", g.InstanceType)
	}
	if f.InstanceType != g.InstanceType {
		return nil, nil, fmt.Errorf("the Reserved Instance offering %s is for %s, but the group runs %s", f.ID, f.InstanceType, g.InstanceType)
	}
	pr := pricesOf(f, need)
	if o.MaxUpfront >= 0 && cents(pr.Upfront) > cents(o.MaxUpfront) {
		return nil, nil, cmdutil.Usagef(
			fmt.Sprintf("pass --max-upfront %.2f (or more) to accept it, or --payment no-upfront to pay nothing up front", pr.Upfront),
			"buying %d × %s Reserved Instance(s) (%s) costs $%.2f up front, above --max-upfront $%.2f",
			need, g.InstanceType, f.describe(), pr.Upfront, o.MaxUpfront)
	}
	if g.Max > g.Min {
		warnings = append(warnings, fmt.Sprintf("reserved: only the group's minimum of %d is reserved; instances it adds above that (up to %d) run on-demand", g.Min, g.Max))
	}
	step := &plan.Step{
		Rung: string(stage.Reserved), Action: plan.Buy,
		Resource: fmt.Sprintf("%d × %s Reserved Instance(s), regional, %s", need, g.InstanceType, f.describe()),
		Detail: fmt.Sprintf("offering %s: $%.2f up front, $%.2f/month recurring for the %s term; %s",
			f.ID, pr.Upfront, pr.MonthlyRecurring, termName(f.Duration), pr.savingText(g.InstanceType)),
		Calls:    reservedCalls,
		Upfront:  pr.Upfront,
		Warnings: purchaseWarnings(f, pr),
		Do: func(ctx context.Context, x *plan.Exec) error {
			return env(x).buyReserved(ctx, x, f, need, o.MaxUpfront)
		},
		Check: func(ctx context.Context, x *plan.Exec) error {
			return env(x).checkReservedPurchase(ctx, f, need)
		},
	}
	return append(steps, step), warnings, nil
}

func purchaseWarnings(f *Offering, pr reservedPrices) []string {
	w := []string{fmt.Sprintf("a Reserved Instance purchase cannot be cancelled: it bills for the whole %s term, even after `wtt down`", termName(f.Duration))}
	if f.Class == string(ec2types.OfferingClassTypeStandard) {
		w = append(w, "standard reservations cannot be exchanged for another instance family; pass --offering-class convertible if the type may change")
	}
	if pr.SavingKnown && pr.MonthlySaving < 0 {
		w = append(w, "this offering costs more than running the same instances on-demand")
	}
	return w
}

// zonalWarnings explains reservations that exist but do not count: a
// zonal reservation covers one AZ only, while the group moves instances
// between AZs.
func zonalWarnings(s *observe.State) []string {
	var w []string
	for _, r := range s.Reserved {
		if r.Covering() && r.InstanceType == s.Group.InstanceType && r.Scope == string(ec2types.ScopeAvailabilityZone) {
			w = append(w, fmt.Sprintf("reserved: zonal reservation %s (%d × %s in %s) is not counted; only regional reservations follow the group across AZs", r.ID, r.Count, r.InstanceType, r.AZ))
		}
	}
	return w
}

// buyReserved purchases the shortfall as observed now, right before buying
// (the executor re-discovered AWS, reservations included, just before this
// step): a run killed after an earlier purchase must not buy again. It
// never buys more than the plan showed.
func (e *Env) buyReserved(ctx context.Context, x *plan.Exec, f *Offering, planned int32, maxUpfront float64) error {
	g := e.State.Group
	if g == nil {
		return fmt.Errorf("the Auto Scaling group is gone; run `wtt migrate --to=multi-az` first")
	}
	if g.InstanceType != f.InstanceType {
		return fmt.Errorf("the group now runs %s but the plan reserved %s; run the same command again to plan for %s", g.InstanceType, f.InstanceType, g.InstanceType)
	}
	covered := stage.Covered(e.State)
	need := g.Min - covered
	if need <= 0 {
		x.Logf("Reserved Instances already cover %d of the group's minimum %d %s; nothing to buy", covered, g.Min, g.InstanceType)
		return nil
	}
	if need > planned {
		return fmt.Errorf("the group's minimum %d now lacks %d reserved instance(s), more than the %d the plan showed; run the same command again to see the new plan", g.Min, need, planned)
	}
	id, err := e.purchaseReserved(ctx, x, f, need, maxUpfront)
	if err != nil {
		return err
	}
	x.Logf("bought %d × %s Reserved Instance(s): %s", need, f.InstanceType, id)
	if err := e.tagReserved(ctx, id); err != nil {
		return err
	}
	bought, err := e.waitReserved(ctx, id)
	if err != nil {
		return err
	}
	// Tagged and visible: the purchase is accounted for, and the
	// reservations of the type are those observed and this one.
	e.took(observe.KindReserved, func(s *observe.State) {
		rs := slices.DeleteFunc(slices.Clone(s.Reserved), func(r observe.Reserved) bool { return r.ID == bought.ID })
		s.Reserved = append(rs, bought)
	})
	return e.deleteReservedIntent(ctx)
}

// waitReserved waits until the purchase is visible as covering, so that a
// run started right after this one counts it instead of buying again. It
// returns the reservation as discovery would read it.
func (e *Env) waitReserved(ctx context.Context, id string) (observe.Reserved, error) {
	var seen observe.Reserved
	err := e.poll(ctx, "Reserved Instances "+id+" to be visible", func(ctx context.Context) (bool, error) {
		out, err := e.C.EC2.DescribeReservedInstances(ctx, &ec2.DescribeReservedInstancesInput{ReservedInstancesIds: []string{id}})
		if hasCode(err, "InvalidReservedInstancesId", "InvalidReservedInstancesId.NotFound") {
			return false, nil // not visible yet
		}
		if err != nil {
			return false, fmt.Errorf("checking Reserved Instances %s: %w", id, err)
		}
		for _, r := range out.ReservedInstances {
			switch st := string(r.State); st {
			case "active", "payment-pending":
				seen = reservedFrom(r, e.App)
				return true, nil
			case "payment-failed":
				return false, fmt.Errorf("the payment for Reserved Instances %s failed; check the account's payment method, then run the same command again", id)
			}
		}
		return false, nil
	})
	return seen, err
}

// reservedFrom is a reservation as discovery reads it.
func reservedFrom(r ec2types.ReservedInstances, app string) observe.Reserved {
	ri := observe.Reserved{
		ID: aws.ToString(r.ReservedInstancesId), InstanceType: string(r.InstanceType), Count: aws.ToInt32(r.InstanceCount),
		State: string(r.State), Scope: string(r.Scope), AZ: aws.ToString(r.AvailabilityZone),
		OfferingClass: string(r.OfferingClass), OfferingType: string(r.OfferingType),
		FixedPrice: float64(aws.ToFloat32(r.FixedPrice)), Start: aws.ToTime(r.Start), End: aws.ToTime(r.End),
		// AWS bills the hour in RecurringCharges; the emulator in UsagePrice.
		HourlyPrice: float64(aws.ToFloat32(r.UsagePrice)),
	}
	for _, t := range r.Tags {
		if aws.ToString(t.Key) == names.TagApp && aws.ToString(t.Value) == app {
			ri.BoughtByWtt = true
		}
	}
	for _, rc := range r.RecurringCharges {
		ri.HourlyPrice += aws.ToFloat64(rc.Amount)
	}
	return ri
}

// checkReservedPurchase asks EC2 to validate the purchase with DryRun.
func (e *Env) checkReservedPurchase(ctx context.Context, f *Offering, need int32) error {
	_, err := e.C.EC2.PurchaseReservedInstancesOffering(ctx, &ec2.PurchaseReservedInstancesOfferingInput{
		ReservedInstancesOfferingId: aws.String(f.ID), InstanceCount: aws.Int32(need), DryRun: aws.Bool(true),
	})
	if err == nil || isDryRunOK(err) {
		return nil
	}
	return err
}

// projectReserved adds the reservation the rung buys, so the plan's cost
// after shows the saving. Start and End are a term apart (the cost model
// amortises the upfront payment over them); the dates themselves are known
// only after the purchase.
func projectReserved(s *observe.State, o Options) *observe.State {
	p := clone(s)
	f := o.Offering
	if p.Group == nil || f == nil || f.InstanceType != p.Group.InstanceType {
		return p
	}
	need := p.Group.Min - stage.Covered(p)
	if need <= 0 {
		return p
	}
	var start time.Time
	p.Reserved = append(p.Reserved, observe.Reserved{
		ID: unknown, InstanceType: f.InstanceType, Count: need, State: "active", Scope: string(ec2types.ScopeRegional),
		OfferingClass: f.Class, OfferingType: f.OfferingType,
		FixedPrice: f.FixedPrice, HourlyPrice: f.HourlyPrice,
		Start: start, End: start.Add(f.Duration), BoughtByWtt: true,
	})
	return p
}
