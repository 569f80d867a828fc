package ladder

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/whatsthetime/wtt/pkg/observe"
)

// The AWS side of scaling a public fleet. Every function reads the
// instance (or address, or record) before it changes it, so it can be
// called again after an interruption at any point.

// describeInstance reads one instance fresh from EC2.
func (e *Env) describeInstance(ctx context.Context, id string) (ec2types.Instance, error) {
	out, err := e.C.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return ec2types.Instance{}, fmt.Errorf("reading instance %s: %w", id, err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			return in, nil
		}
	}
	return ec2types.Instance{}, fmt.Errorf("instance %s not found", id)
}

func stateOf(in ec2types.Instance) string {
	if in.State == nil {
		return ""
	}
	return string(in.State.Name)
}

// stopAndWait stops the instance (waiting for a pending one to run first,
// as EC2 cannot stop it before) and waits until it is stopped. It returns
// the instance as the wait last described it.
func (e *Env) stopAndWait(ctx context.Context, in observe.Instance) (ec2types.Instance, error) {
	id := in.ID
	switch in.State {
	case "pending":
		if _, err := e.waitRunning(ctx, []string{id}); err != nil {
			return ec2types.Instance{}, err
		}
		fallthrough
	case "running":
		if _, err := e.C.EC2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
			return ec2types.Instance{}, fmt.Errorf("stopping instance %s: %w", id, err)
		}
		progressf(ctx, "stopping %s", id)
	}
	return e.waitStopped(ctx, id)
}

func (e *Env) waitStopped(ctx context.Context, id string) (ec2types.Instance, error) {
	w := ec2.NewInstanceStoppedWaiter(e.C.EC2, func(o *ec2.InstanceStoppedWaiterOptions) {
		o.MinDelay = e.pollInterval()
		o.MaxDelay = e.maxPollDelay(15 * time.Second)
	})
	start := time.Now()
	out, err := w.WaitForOutput(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, e.waitTimeout())
	if err != nil {
		return ec2types.Instance{}, &WaitError{What: fmt.Sprintf("instance %s to stop", id), After: time.Since(start), Err: err,
			Next: "run the same command again: it continues from the instance's state (AWS keeps stopping it meanwhile)"}
	}
	for _, in := range described(out) {
		return in, nil
	}
	return ec2types.Instance{}, fmt.Errorf("instance %s not found", id)
}

// modifyType changes a stopped instance's type. AWS refuses the change on
// a running instance (the emulator does not): the state is checked here,
// on the instance as the wait for it to stop last described it, so wtt
// never relies on that leniency.
func (e *Env) modifyType(ctx context.Context, in ec2types.Instance, typ string) error {
	id := aws.ToString(in.InstanceId)
	if st := stateOf(in); st != "stopped" {
		return fmt.Errorf("instance %s is %s, and its type can change only while it is stopped; run the same command again", id, st)
	}
	if string(in.InstanceType) == typ {
		return nil
	}
	if _, err := e.C.EC2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
		InstanceId: aws.String(id), InstanceType: &ec2types.AttributeValue{Value: aws.String(typ)},
	}); err != nil {
		return fmt.Errorf("changing instance %s to %s (it is stopped; `wtt scale --vertical %s` starts it again with its old type): %w",
			id, typ, in.InstanceType, err)
	}
	progressf(ctx, "%s is now %s", id, typ)
	return nil
}

// startAndWait starts the instance if it is stopped and waits until it
// runs; it returns the instance as the wait last described it. stopped
// says the step has just seen it stopped (and resized it); otherwise its
// state is read first.
func (e *Env) startAndWait(ctx context.Context, id, typ string, stopped bool) (ec2types.Instance, error) {
	st := "stopped"
	if !stopped {
		in, err := e.describeInstance(ctx, id)
		if err != nil {
			return ec2types.Instance{}, err
		}
		st = stateOf(in)
	}
	switch st {
	case "stopped":
		if _, err := e.C.EC2.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
			return ec2types.Instance{}, fmt.Errorf("starting instance %s as %s: %w\n  it is stopped with the new type: run the same command again later "+
				"(AWS may lack %s capacity in its AZ for a while), or go back with `wtt scale --vertical` and the old type", id, typ, err, typ)
		}
		progressf(ctx, "starting %s", id)
	case "pending", "running":
	default:
		return ec2types.Instance{}, fmt.Errorf("instance %s is %s; run the same command again once it has stopped", id, st)
	}
	running, err := e.waitRunning(ctx, []string{id})
	if err != nil {
		return ec2types.Instance{}, err
	}
	for _, in := range running {
		return in, nil
	}
	return ec2types.Instance{}, fmt.Errorf("instance %s not found", id)
}

// checkStop asks EC2 whether stopping would be allowed (--dry-run=server).
func (e *Env) checkStop(ctx context.Context, id string) error {
	_, err := e.C.EC2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}, DryRun: aws.Bool(true)})
	if err == nil || isDryRunOK(err) {
		return nil
	}
	return err
}

// checkStart asks EC2 whether starting would be allowed (--dry-run=server).
func (e *Env) checkStart(ctx context.Context, id string) error {
	_, err := e.C.EC2.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}, DryRun: aws.Bool(true)})
	if err == nil || isDryRunOK(err) {
		return nil
	}
	return err
}

// keepEIP makes sure the Elastic IP that was on the instance before its
// restart is on it afterwards. An address in a VPC stays associated across
// stop and start on AWS; this is the check that it did. moved says it had
// to associate it again.
func (e *Env) keepEIP(ctx context.Context, id string, eip *observe.EIP) (moved bool, err error) {
	if eip == nil {
		return false, nil
	}
	out, err := e.C.EC2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{eip.AllocationID}})
	if err != nil {
		return false, fmt.Errorf("reading Elastic IP %s: %w", eip.PublicIP, err)
	}
	if len(out.Addresses) == 0 {
		return false, fmt.Errorf("Elastic IP %s of instance %s was released meanwhile; run `wtt migrate --to=eip` to give it one", eip.PublicIP, id)
	}
	if aws.ToString(out.Addresses[0].InstanceId) == id {
		progressf(ctx, "Elastic IP %s still on %s", eip.PublicIP, id)
		return false, nil
	}
	if _, err := e.associateEIP(ctx, *eip, id); err != nil {
		return true, err
	}
	progressf(ctx, "Elastic IP %s associated with %s again", eip.PublicIP, id)
	return true, nil
}

// syncInstanceRecord makes the app's A record list the addresses the
// instances answer on now, read fresh from EC2: an instance without an
// Elastic IP gets a new public IPv4 each time it starts.
func (e *Env) syncInstanceRecord(ctx context.Context) error {
	d := e.State.DNS
	if !instanceRecord(d) {
		return nil
	}
	addrs, err := e.runningAddresses(ctx)
	if err != nil {
		return err
	}
	return e.writeRecord(ctx, addrs)
}

// runningAddresses are the public addresses of the app's running
// standalone instances, their Elastic IP where they have one.
func (e *Env) runningAddresses(ctx context.Context) ([]string, error) {
	out, err := e.C.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		e.tagFilter(), {Name: aws.String("instance-state-name"), Values: []string{"running"}},
	}})
	if err != nil {
		return nil, fmt.Errorf("reading the app's instances: %w", err)
	}
	var addrs []string
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if inGroup(in) {
				continue
			}
			addr := aws.ToString(in.PublicIpAddress)
			if a := eipFor(e.State, aws.ToString(in.InstanceId)); a != nil {
				addr = a.PublicIP
			}
			if addr != "" {
				addrs = append(addrs, addr)
			}
		}
	}
	slices.Sort(addrs)
	return addrs, nil
}

func inGroup(in ec2types.Instance) bool {
	for _, t := range in.Tags {
		if aws.ToString(t.Key) == "aws:autoscaling:groupName" {
			return true
		}
	}
	return false
}

// publishFirst makes the record list the first n live instances (oldest
// first), as observed just before the step.
func (e *Env) publishFirst(ctx context.Context, n int) error {
	if !instanceRecord(e.State.DNS) {
		return fmt.Errorf("the app has no A record of instance addresses any more; run `wtt migrate --to=dns`")
	}
	live := liveByAge(e.State)
	return e.writeRecord(ctx, publicAddresses(live[:min(n, len(live))]))
}

// writeRecord UPSERTs the A record when it lists anything else than addrs.
func (e *Env) writeRecord(ctx context.Context, addrs []string) error {
	d := e.State.DNS
	if len(addrs) == 0 {
		return fmt.Errorf("no instance has a public address to publish in %s; the record stays as it is", d.Name)
	}
	if slices.Equal(addrs, d.Values) {
		return nil
	}
	ttl := d.TTL
	if ttl <= 0 {
		ttl = 300
	}
	progressf(ctx, "record %s: %v -> %v", d.Name, d.Values, addrs)
	return e.upsertA(ctx, d.ZoneID, d.Name, ttl, addrs)
}

// removeNewest terminates the newest live standalone instances beyond n,
// releasing their Elastic IPs first (an idle address is billed).
func (e *Env) removeNewest(ctx context.Context, n int) error {
	victims := newestBeyond(e.State, n)
	if len(victims) == 0 {
		return nil
	}
	for _, v := range victims {
		if err := e.releaseEIPOf(ctx, v.ID); err != nil {
			return err
		}
	}
	progressf(ctx, "terminating %v", instanceIDs(victims))
	_, err := e.terminate(ctx, instanceIDs(victims))
	return err
}

func (e *Env) releaseEIPOf(ctx context.Context, instanceID string) error {
	a := eipFor(e.State, instanceID)
	if a == nil {
		return nil
	}
	if a.AssociationID != "" {
		if _, err := e.C.EC2.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: aws.String(a.AssociationID)}); err != nil &&
			!hasCode(err, "InvalidAssociationID.NotFound") {
			return fmt.Errorf("disassociating Elastic IP %s from %s: %w", a.PublicIP, instanceID, err)
		}
	}
	if _, err := e.C.EC2.ReleaseAddress(ctx, &ec2.ReleaseAddressInput{AllocationId: aws.String(a.AllocationID)}); err != nil &&
		!hasCode(err, "InvalidAllocationID.NotFound") {
		return fmt.Errorf("releasing Elastic IP %s: %w", a.PublicIP, err)
	}
	progressf(ctx, "released Elastic IP %s of %s", a.PublicIP, instanceID)
	return nil
}
