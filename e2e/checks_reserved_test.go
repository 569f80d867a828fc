package e2e

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/rogpeppe/go-internal/testscript"
)

// Checks of the reserved rung, read through the SDK directly.
//
// Reservations are account-wide and cannot be cancelled, so they outlive
// `wtt down` and every script sharing the emulator sees them: each reserved
// script uses an instance type no other script reserves.
func init() {
	checks["reserved-cover"] = checkReservedCover
	checks["reserved-purchases"] = checkReservedPurchases
	checks["set-group-min"] = setGroupMin
}

// groupTypeAndMin reads the app's Auto Scaling group: the type its launch
// template launches, and its minimum size.
func (c *checker) groupTypeAndMin(ctx context.Context) (string, int32, error) {
	name := "wtt-" + c.app + "-asg"
	out, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return "", 0, err
	}
	if len(out.AutoScalingGroups) != 1 {
		return "", 0, fmt.Errorf("%d groups named %s", len(out.AutoScalingGroups), name)
	}
	g := out.AutoScalingGroups[0]
	if g.LaunchTemplate == nil {
		return "", 0, fmt.Errorf("group %s has no launch template", name)
	}
	v, err := c.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: g.LaunchTemplate.LaunchTemplateId, Versions: []string{"$Latest"},
	})
	if err != nil {
		return "", 0, err
	}
	if len(v.LaunchTemplateVersions) == 0 || v.LaunchTemplateVersions[0].LaunchTemplateData == nil {
		return "", 0, fmt.Errorf("launch template of %s has no version", name)
	}
	return string(v.LaunchTemplateVersions[0].LaunchTemplateData.InstanceType), aws.ToInt32(g.MinSize), nil
}

// coveringReservations lists active (or payment-pending) reservations of a
// type, all of them or only those tagged for the app.
func (c *checker) coveringReservations(ctx context.Context, typ string, tagged bool) ([]ec2types.ReservedInstances, error) {
	f := []ec2types.Filter{{Name: aws.String("state"), Values: []string{"active", "payment-pending"}}}
	if typ != "" {
		f = append(f, ec2types.Filter{Name: aws.String("instance-type"), Values: []string{typ}})
	}
	if tagged {
		f = append(f, c.appFilter())
	}
	out, err := c.ec2.DescribeReservedInstances(ctx, &ec2.DescribeReservedInstancesInput{Filters: f})
	if err != nil {
		return nil, err
	}
	return out.ReservedInstances, nil
}

// aws reserved-cover: regional reservations of the group's instance type,
// tagged for the app, cover exactly the group's minimum size, and no
// untagged reservation of that type exists (the purchase was tagged, and
// nothing was bought twice).
func checkReservedCover(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	typ, min, err := c.groupTypeAndMin(ctx)
	if err != nil {
		return err
	}
	tagged, err := c.coveringReservations(ctx, typ, true)
	if err != nil {
		return err
	}
	var n int32
	for _, r := range tagged {
		if r.Scope != ec2types.ScopeRegional {
			return fmt.Errorf("reservation %s is zonal (%s), want regional", aws.ToString(r.ReservedInstancesId), aws.ToString(r.AvailabilityZone))
		}
		n += aws.ToInt32(r.InstanceCount)
	}
	if n != min {
		return fmt.Errorf("reservations tagged for the app cover %d × %s, want the group's minimum %d", n, typ, min)
	}
	all, err := c.coveringReservations(ctx, typ, false)
	if err != nil {
		return err
	}
	if len(all) != len(tagged) {
		return fmt.Errorf("%d reservation(s) of %s in the account, %d tagged for the app", len(all), typ, len(tagged))
	}
	return nil
}

// aws reserved-purchases N: N reservations (purchases, of any type) are
// tagged for the app.
func checkReservedPurchases(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws reserved-purchases N")
	}
	rs, err := c.coveringReservations(ctx, "", true)
	if err != nil {
		return err
	}
	if want := atoi(ts, args[0]); len(rs) != want {
		return fmt.Errorf("%d reservation(s) tagged for the app, want %d", len(rs), want)
	}
	return nil
}

// aws set-group-min N: an operator raises the group's minimum (and its
// desired capacity with it) behind wtt's back.
func setGroupMin(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws set-group-min N")
	}
	n := int32(atoi(ts, args[0]))
	_, err := c.asg.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("wtt-" + c.app + "-asg"), MinSize: aws.Int32(n), DesiredCapacity: aws.Int32(n),
	})
	return err
}
