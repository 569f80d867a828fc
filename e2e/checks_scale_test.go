package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/rogpeppe/go-internal/testscript"
)

// Checks of `wtt scale`: whether it changed instances in place or replaced
// them, and whether Elastic IPs stayed where they were. A snapshot is kept
// in a script variable, so a script says `aws save-fleet BEFORE`, scales,
// then `aws same-fleet BEFORE` (or `! aws same-fleet BEFORE`).
func init() {
	checks["save-fleet"] = saveFleet
	checks["same-fleet"] = checkSameFleet
	checks["save-eips"] = saveEIPs
	checks["same-eips"] = checkSameEIPs
	checks["stop-instances"] = stopInstances
}

// runningIDs are the sorted IDs of the app's running instances.
func (c *checker) runningIDs(ctx context.Context) ([]string, error) {
	is, err := c.instances(ctx, "running")
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, i := range is {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	slices.Sort(ids)
	return ids, nil
}

// aws save-fleet VAR: remember the running app instances' IDs in $VAR.
func saveFleet(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws save-fleet VAR")
	}
	ids, err := c.runningIDs(ctx)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("no running instance to remember")
	}
	ts.Setenv(args[0], strings.Join(ids, ","))
	return nil
}

// aws same-fleet VAR: the running app instances are exactly those saved in
// $VAR (changed in place, not replaced), and none is stopped.
func checkSameFleet(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws same-fleet VAR")
	}
	ids, err := c.runningIDs(ctx)
	if err != nil {
		return err
	}
	if got, want := strings.Join(ids, ","), ts.Getenv(args[0]); got != want {
		return fmt.Errorf("running instances %s, saved %s", got, want)
	}
	stopped, err := c.instances(ctx, "stopping", "stopped")
	if err != nil {
		return err
	}
	if len(stopped) > 0 {
		return fmt.Errorf("%d instance(s) left stopped", len(stopped))
	}
	return nil
}

// eipMap reads the app's Elastic IPs as "address=instance" pairs, through
// DescribeAddresses: after a stop and start the emulator shows a new
// PublicIpAddress on the instance while the address stays associated.
func (c *checker) eipMap(ctx context.Context) ([]string, error) {
	out, err := c.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{c.appFilter()}})
	if err != nil {
		return nil, err
	}
	var pairs []string
	for _, a := range out.Addresses {
		pairs = append(pairs, aws.ToString(a.PublicIp)+"="+aws.ToString(a.InstanceId))
	}
	slices.Sort(pairs)
	return pairs, nil
}

// aws save-eips VAR: remember which instance each Elastic IP of the app is
// associated with; every one must be associated.
func saveEIPs(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws save-eips VAR")
	}
	pairs, err := c.eipMap(ctx)
	if err != nil {
		return err
	}
	if len(pairs) == 0 {
		return fmt.Errorf("the app has no Elastic IP")
	}
	for _, p := range pairs {
		if strings.HasSuffix(p, "=") {
			return fmt.Errorf("Elastic IP %s is not associated", strings.TrimSuffix(p, "="))
		}
	}
	ts.Setenv(args[0], strings.Join(pairs, ","))
	return nil
}

// aws same-eips VAR: every Elastic IP saved in $VAR is still associated
// with the same instance, and that instance is running.
func checkSameEIPs(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws same-eips VAR")
	}
	pairs, err := c.eipMap(ctx)
	if err != nil {
		return err
	}
	if got, want := strings.Join(pairs, ","), ts.Getenv(args[0]); got != want {
		return fmt.Errorf("Elastic IPs %s, saved %s", got, want)
	}
	running, err := c.runningIDs(ctx)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if _, id, _ := strings.Cut(p, "="); !slices.Contains(running, id) {
			return fmt.Errorf("Elastic IP %s: instance %s is not running", p, id)
		}
	}
	return nil
}

// aws stop-instances [TYPE]: stop the app's running instances and, when
// TYPE is given, change their type: what a vertical scale killed after the
// stop (or after the change) leaves behind.
func stopInstances(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	ids, err := c.runningIDs(ctx)
	if err != nil || len(ids) == 0 {
		return fmt.Errorf("no running instance to stop (%v)", err)
	}
	if _, err := c.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids}); err != nil {
		return err
	}
	if err := ec2.NewInstanceStoppedWaiter(c.ec2).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 50*time.Second); err != nil {
		return err
	}
	if len(args) == 0 {
		return nil
	}
	for _, id := range ids {
		if _, err := c.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(id), InstanceType: &ec2types.AttributeValue{Value: aws.String(args[0])},
		}); err != nil {
			return err
		}
	}
	return nil
}
