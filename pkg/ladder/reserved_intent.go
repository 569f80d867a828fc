package ladder

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// A Reserved Instance purchase has no idempotency token and cannot be
// undone, so wtt never sends one whose predecessor may have succeeded.
// Before buying it records an intent in the app's SSM namespace: what it is
// about to buy and which reservations of that type exist already. After an
// ambiguous failure (the answer lost), and in any later run that finds the
// intent (the first one crashed between buying and tagging), reservations
// of that type that are not in the before-list are the purchase: they are
// adopted (tagged) and the intent removed. Only when none appeared is the
// purchase sent again.

// maxPurchaseSends bounds how often one run sends a purchase after finding
// that the earlier send did not go through.
const maxPurchaseSends = 5

// ReservedIntent is the SSM parameter's value: a purchase about to be made.
type ReservedIntent struct {
	Offering     string    `json:"offering"`
	InstanceType string    `json:"instanceType"`
	Count        int32     `json:"count"`
	Upfront      float64   `json:"upfront"`
	At           time.Time `json:"at"`
	Before       []string  `json:"before"` // reservation ids of the type that existed before
}

var reservedIntentCalls = []string{"ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter", "ec2:DescribeReservedInstances"}

// purchaseReserved buys count reservations of offering f at most once,
// whatever answers are lost, and returns their id.
func (e *Env) purchaseReserved(ctx context.Context, x *plan.Exec, f *Offering, count int32, maxUpfront float64) (string, error) {
	before, err := e.reservationIDs(ctx, f.InstanceType)
	if err != nil {
		return "", err
	}
	intent := ReservedIntent{Offering: f.ID, InstanceType: f.InstanceType, Count: count,
		Upfront: float64(count) * f.FixedPrice, At: time.Now().UTC(), Before: before}
	if err := e.putReservedIntent(ctx, intent); err != nil {
		return "", err
	}
	in := &ec2.PurchaseReservedInstancesOfferingInput{
		ReservedInstancesOfferingId: aws.String(f.ID),
		InstanceCount:               aws.Int32(count),
	}
	if maxUpfront >= 0 {
		// AWS refuses the purchase rather than charge above the limit.
		in.LimitPrice = &ec2types.ReservedInstanceLimitPrice{Amount: aws.Float64(maxUpfront), CurrencyCode: ec2types.CurrencyCodeValuesUsd}
	}
	for send := 1; ; send++ {
		out, err := e.C.EC2.PurchaseReservedInstancesOffering(ctx, in)
		if err == nil {
			return aws.ToString(out.ReservedInstancesId), nil
		}
		if !awsclient.IsAmbiguous(err) {
			// AWS said no: nothing was bought, the intent is void.
			_ = e.deleteReservedIntent(ctx)
			return "", fmt.Errorf("buying %d × %s Reserved Instance(s) (offering %s): %w", count, f.InstanceType, f.ID, err)
		}
		x.Logf("the answer to the Reserved Instance purchase was lost; checking whether it went through before anything else")
		ids, rerr := e.intendedReservations(ctx, intent)
		if rerr != nil {
			return "", fmt.Errorf("the answer to the purchase was lost and checking for it failed: %w; run the same command again: it checks before buying", rerr)
		}
		if len(ids) > 0 {
			x.Logf("the purchase went through: adopting Reserved Instances %v instead of buying again", ids)
			return ids[0], nil
		}
		if send >= maxPurchaseSends {
			return "", fmt.Errorf("the purchase's answer was lost %d times and no reservation appeared; nothing more is sent. Run the same command again: it checks for the purchase before buying", send)
		}
		x.Logf("no reservation appeared: the purchase did not go through; sending it again (%d of %d)", send+1, maxPurchaseSends)
	}
}

// LookupReservedIntent reads the purchase intent an earlier run left, if
// any. The CLI reads it before planning the reserved rung (planning never
// calls AWS), so that a purchase whose run crashed before tagging it is
// accounted for even when it already covers the group.
func LookupReservedIntent(ctx context.Context, c *awsclient.Clients, app string) (*ReservedIntent, error) {
	e := &Env{C: c, App: app, N: names.For(app)}
	in, found, err := e.readReservedIntent(ctx)
	if err != nil || !found {
		return nil, err
	}
	return &in, nil
}

// reconcileStep accounts for the purchase an interrupted run recorded.
// buying says a purchase step follows: an intent whose purchase never
// happened is then left for that step to overwrite, so a run killed right
// after recording its intent does not make every later run start over.
func reconcileStep(in *ReservedIntent, buying bool) *plan.Step {
	return &plan.Step{
		Rung: string(stage.Reserved), Action: plan.Update,
		Resource: fmt.Sprintf("Reserved Instance purchase of %d × %s recorded by an interrupted run at %s", in.Count, in.InstanceType, in.At.Format(time.RFC3339)),
		Detail:   "tag the reservations it bought (never buy them again) and clear its intent",
		Calls:    append([]string{"ec2:CreateTags"}, reservedIntentCalls...),
		Do: func(ctx context.Context, x *plan.Exec) error {
			return env(x).reconcileIntent(ctx, x, buying)
		},
	}
}

// reconcileReservedIntent finishes the purchase an earlier run recorded but
// may not have seen through: the reservations it made are tagged and the
// intent removed.
func (e *Env) reconcileReservedIntent(ctx context.Context, x *plan.Exec) error {
	return e.reconcileIntent(ctx, x, false)
}

func (e *Env) reconcileIntent(ctx context.Context, x *plan.Exec, buying bool) error {
	intent, found, err := e.readReservedIntent(ctx)
	if err != nil || !found {
		return err
	}
	ids, err := e.intendedReservations(ctx, intent)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		x.Logf("an earlier run meant to buy %d × %s Reserved Instance(s) at %s; none appeared, so it did not buy", intent.Count, intent.InstanceType, intent.At.Format(time.RFC3339))
		if buying {
			return nil // this run's purchase records its own intent over it
		}
	}
	for _, id := range ids {
		x.Logf("an earlier run bought Reserved Instances %s without seeing the answer; adopting them", id)
		if err := e.tagReserved(ctx, id); err != nil {
			return err
		}
		e.markReservedOurs(id)
	}
	return e.deleteReservedIntent(ctx)
}

// intendedReservations are the reservations of the intent's type that did
// not exist when the intent was recorded. The emulator shows a purchase at
// once and AWS within seconds (payment-pending); a few reads cover both.
func (e *Env) intendedReservations(ctx context.Context, intent ReservedIntent) ([]string, error) {
	var found []string
	for read := 0; read < 3; read++ {
		ids, err := e.reservationIDs(ctx, intent.InstanceType)
		if err != nil {
			return nil, err
		}
		found = found[:0]
		for _, id := range ids {
			if !slices.Contains(intent.Before, id) {
				found = append(found, id)
			}
		}
		if len(found) > 0 {
			return found, nil
		}
		if err := sleep(ctx, min(e.pollInterval(), 2*time.Second)); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// reservationIDs lists every reservation of the type in the region, in any
// state: a purchase shows first as payment-pending.
func (e *Env) reservationIDs(ctx context.Context, typ string) ([]string, error) {
	out, err := e.C.EC2.DescribeReservedInstances(ctx, &ec2.DescribeReservedInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("instance-type"), Values: []string{typ}},
	}})
	if err != nil {
		return nil, fmt.Errorf("listing %s Reserved Instances: %w", typ, err)
	}
	var ids []string
	for _, r := range out.ReservedInstances {
		ids = append(ids, aws.ToString(r.ReservedInstancesId))
	}
	return ids, nil
}

func (e *Env) tagReserved(ctx context.Context, id string) error {
	if _, err := e.C.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: e.tags("reserved", "")}); err != nil {
		return fmt.Errorf("Reserved Instances %s were bought and already count, but tagging them failed: %w\n  tag them by hand: aws ec2 create-tags --resources %s --tags Key=wtt:app,Value=%s", id, err, id, e.App)
	}
	return nil
}

// markReservedOurs records in the state that wtt bought a reservation. One
// an earlier run bought was there when this run observed AWS, so coverage
// already counts it.
func (e *Env) markReservedOurs(id string) {
	for i := range e.State.Reserved {
		if e.State.Reserved[i].ID == id {
			e.State.Reserved[i].BoughtByWtt = true
		}
	}
}

func (e *Env) readReservedIntent(ctx context.Context) (ReservedIntent, bool, error) {
	out, err := e.C.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(e.N.ReservedIntentParameter())})
	if hasCode(err, "ParameterNotFound") {
		return ReservedIntent{}, false, nil
	}
	if err != nil {
		return ReservedIntent{}, false, fmt.Errorf("reading the Reserved Instance purchase intent: %w", err)
	}
	var in ReservedIntent
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &in); err != nil || in.InstanceType == "" {
		return ReservedIntent{}, false, fmt.Errorf("the Reserved Instance purchase intent %s is unreadable; check `aws ec2 describe-reserved-instances` for a recent purchase, then delete it: aws ssm delete-parameter --name %s",
			e.N.ReservedIntentParameter(), e.N.ReservedIntentParameter())
	}
	return in, true, nil
}

func (e *Env) putReservedIntent(ctx context.Context, in ReservedIntent) error {
	b, _ := json.Marshal(in)
	// Overwrite: writing the same intent twice (a retried put) is harmless.
	if _, err := e.C.SSM.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(e.N.ReservedIntentParameter()), Value: aws.String(string(b)),
		Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
		Description: aws.String("wtt: a Reserved Instance purchase in progress; removed once it is accounted for"),
	}); err != nil {
		return fmt.Errorf("recording the Reserved Instance purchase intent (nothing was bought): %w", err)
	}
	return nil
}

func (e *Env) deleteReservedIntent(ctx context.Context) error {
	_, err := e.C.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(e.N.ReservedIntentParameter())})
	if err != nil && !hasCode(err, "ParameterNotFound") {
		return fmt.Errorf("removing the Reserved Instance purchase intent: %w", err)
	}
	return nil
}
