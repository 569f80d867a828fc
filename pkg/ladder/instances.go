package ladder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
)

// TypeInfo is what wtt needs to know about an instance type.
type TypeInfo struct {
	Name string
	Arch string // "amd64" or "arm64", as Go names them
}

// CheckInstanceType asks EC2 whether the type exists and is offered in the
// region (and, when azs are given, in each of them). The emulator accepts
// any type in ModifyInstanceAttribute, so this check is wtt's own.
func CheckInstanceType(ctx context.Context, c *awsclient.Clients, typ string, azs []string) (TypeInfo, error) {
	info, err := typeArch(ctx, c, typ)
	if err != nil {
		return TypeInfo{}, err
	}
	return info, checkOffered(ctx, c, typ, azs)
}

// checkOffered refuses a type the region (or, when azs are given, one of
// them) does not offer.
func checkOffered(ctx context.Context, c *awsclient.Clients, typ string, azs []string) error {
	offered, err := offeredAZs(ctx, c, typ)
	if err != nil {
		return err
	}
	if len(azs) == 0 && len(offered) == 0 {
		return cmdutil.Usagef("pick a type offered in "+c.Config.Region+" (aws ec2 describe-instance-type-offerings)",
			"instance type %s is not offered in region %s", typ, c.Config.Region)
	}
	for _, az := range azs {
		if !offered[az] {
			return cmdutil.Usagef("pick a type offered in every AZ the app uses (aws ec2 describe-instance-type-offerings --location-type availability-zone)",
				"instance type %s is not offered in %s", typ, az)
		}
	}
	return nil
}

// typeArchs asks in one call which architecture each type runs. A type
// EC2 does not know fails the whole question: then each is asked alone,
// so the refusal names it.
func typeArchs(ctx context.Context, c *awsclient.Clients, types []string) (map[string]TypeInfo, error) {
	in := &ec2.DescribeInstanceTypesInput{}
	for _, t := range types {
		in.InstanceTypes = append(in.InstanceTypes, ec2types.InstanceType(t))
	}
	out, err := c.EC2.DescribeInstanceTypes(ctx, in)
	if err != nil && !hasCode(err, "InvalidInstanceType") {
		return nil, fmt.Errorf("checking instance types %s: %w", strings.Join(types, ", "), err)
	}
	infos := map[string]TypeInfo{}
	if err == nil {
		for _, it := range out.InstanceTypes {
			info := TypeInfo{Name: string(it.InstanceType), Arch: "amd64"}
			if pi := it.ProcessorInfo; pi != nil && !slices.Contains(pi.SupportedArchitectures, ec2types.ArchitectureTypeX8664) {
				info.Arch = "arm64"
			}
			infos[info.Name] = info
		}
	}
	for _, t := range types {
		if _, ok := infos[t]; !ok {
			info, err := typeArch(ctx, c, t)
			if err != nil {
				return nil, err
			}
			infos[t] = info
		}
	}
	return infos, nil
}

// typeArch asks EC2 whether the type exists and which architecture it
// runs.
func typeArch(ctx context.Context, c *awsclient.Clients, typ string) (TypeInfo, error) {
	out, err := c.EC2.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{ec2types.InstanceType(typ)}})
	if err != nil || len(out.InstanceTypes) == 0 {
		if err != nil && !hasCode(err, "InvalidInstanceType") {
			return TypeInfo{}, fmt.Errorf("checking instance type %s: %w", typ, err)
		}
		return TypeInfo{}, cmdutil.Usagef("pick a type EC2 offers, e.g. t2.micro, t3.small or m5.large (aws ec2 describe-instance-types lists them)",
			"instance type %q does not exist", typ)
	}
	info := TypeInfo{Name: typ, Arch: "amd64"}
	if pi := out.InstanceTypes[0].ProcessorInfo; pi != nil && !slices.Contains(pi.SupportedArchitectures, ec2types.ArchitectureTypeX8664) {
		info.Arch = "arm64"
	}
	return info, nil
}

// offeredAZs are the AZs of the region that offer typ. Every check asks
// this one question (a type is offered in the region when some AZ offers
// it), so a command asks it once: the answer is a fact (awsclient).
func offeredAZs(ctx context.Context, c *awsclient.Clients, typ string) (map[string]bool, error) {
	offs, err := c.EC2.DescribeInstanceTypeOfferings(ctx, &ec2.DescribeInstanceTypeOfferingsInput{
		LocationType: ec2types.LocationTypeAvailabilityZone,
		Filters:      []ec2types.Filter{{Name: aws.String("instance-type"), Values: []string{typ}}},
	})
	if err != nil {
		return nil, fmt.Errorf("checking where %s is offered: %w", typ, err)
	}
	offered := map[string]bool{}
	for _, o := range offs.InstanceTypeOfferings {
		offered[aws.ToString(o.Location)] = true
	}
	return offered, nil
}

// launchType is what a launch needs to know of its type: the
// architecture, and that it is offered, which instances of the type the
// app runs already prove.
func (e *Env) launchType(ctx context.Context, typ string) (TypeInfo, error) {
	for _, i := range e.State.LiveInstances() {
		if i.Type == typ {
			return e.archOf(ctx, typ)
		}
	}
	return CheckInstanceType(ctx, e.C, typ, nil)
}

// archOf is the architecture typ runs: that of an instance of the type the
// app runs (EC2 describes it with the instance), else EC2's answer.
func (e *Env) archOf(ctx context.Context, typ string) (TypeInfo, error) {
	for _, i := range e.State.LiveInstances() {
		switch {
		case i.Type != typ:
		case i.Arch == string(ec2types.ArchitectureValuesX8664):
			return TypeInfo{Name: typ, Arch: "amd64"}, nil
		case i.Arch == string(ec2types.ArchitectureValuesArm64):
			return TypeInfo{Name: typ, Arch: "arm64"}, nil
		}
	}
	return typeArch(ctx, e.C, typ)
}

// amiParameter is AWS's public pointer to the newest Amazon Linux 2023.
func amiParameter(arch string) string {
	a := "x86_64"
	if arch == "arm64" {
		a = "arm64"
	}
	return "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-" + a
}

func (e *Env) resolveAMI(ctx context.Context, arch string) (string, error) {
	if e.Opts.AMI != "" {
		return e.Opts.AMI, nil
	}
	out, err := e.C.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(amiParameter(arch))})
	if err != nil {
		return "", fmt.Errorf("looking up the Amazon Linux 2023 AMI (%s): %w; pass --ami to choose one", amiParameter(arch), err)
	}
	return aws.ToString(out.Parameter.Value), nil
}

var launchCalls = []string{
	"ec2:DescribeInstanceTypes", "ec2:DescribeInstanceTypeOfferings", "ssm:GetParameter",
	"ec2:RunInstances", "ec2:CreateTags", "iam:PassRole", "ec2:DescribeInstances",
}

// launchSpec says what kind of instance to launch.
type launchSpec struct {
	Role    string // wtt:role tag: "web" (public) or "private"
	Type    string
	Subnets []observe.Subnet // spread round-robin
	SG      string
	Public  bool
}

// ensureInstances launches instances until `want` live ones of the role
// exist. Instances are counted by tag first, so a run killed after
// RunInstances returned (or before it answered) never launches twice. The
// instances it launched are handed to the observer as its wait last saw
// them: running.
func (e *Env) ensureInstances(ctx context.Context, spec launchSpec, want int) ([]string, error) {
	var have []string
	used := map[string]int{}
	for _, i := range e.State.Standalone() {
		if i.Role == spec.Role {
			have = append(have, i.ID)
			used[i.SubnetID]++
		}
	}
	if len(have) >= want {
		return have, nil
	}
	info, err := e.launchType(ctx, spec.Type)
	if err != nil {
		return nil, err
	}
	script, err := e.ensureDelivery(ctx, info.Arch)
	if err != nil {
		return nil, err
	}
	ami, err := e.resolveAMI(ctx, info.Arch)
	if err != nil {
		return nil, err
	}
	var launched []string
	for n := len(have); n < want; n++ {
		sn := leastUsed(spec.Subnets, used)
		used[sn.ID]++
		id, err := e.runInstance(ctx, spec, sn, ami, script, n)
		if err != nil {
			return nil, err
		}
		launched = append(launched, id)
	}
	running, err := e.waitRunning(ctx, launched)
	if err != nil {
		return nil, err
	}
	e.tookInstances(running, 0)
	return append(have, launched...), nil
}

func leastUsed(subnets []observe.Subnet, used map[string]int) observe.Subnet {
	best := subnets[0]
	for _, s := range subnets[1:] {
		if used[s.ID] < used[best.ID] {
			best = s
		}
	}
	return best
}

func (e *Env) runInstance(ctx context.Context, spec launchSpec, sn observe.Subnet, ami, script string, ordinal int) (string, error) {
	in := &ec2.RunInstancesInput{
		ImageId:      aws.String(ami),
		InstanceType: ec2types.InstanceType(spec.Type),
		MinCount:     aws.Int32(1),
		MaxCount:     aws.Int32(1),
		UserData:     aws.String(userdataB64(script)),
		ClientToken:  e.launchToken(spec, sn, ordinal),
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{
			HttpTokens: ec2types.HttpTokensStateRequired, HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled,
			HttpPutResponseHopLimit: aws.Int32(1),
		},
		IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String(e.N.InstanceProfile())},
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{
			DeviceName: aws.String("/dev/xvda"),
			Ebs:        &ec2types.EbsBlockDevice{Encrypted: aws.Bool(true), VolumeType: ec2types.VolumeTypeGp3, VolumeSize: aws.Int32(8), DeleteOnTermination: aws.Bool(true)},
		}},
		NetworkInterfaces: []ec2types.InstanceNetworkInterfaceSpecification{{
			DeviceIndex: aws.Int32(0), SubnetId: aws.String(sn.ID), Groups: []string{spec.SG},
			AssociatePublicIpAddress: aws.Bool(spec.Public), DeleteOnTermination: aws.Bool(true),
		}},
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeInstance, Tags: e.tags(spec.Role, fmt.Sprintf("wtt-%s-%s", e.App, spec.Role))},
			{ResourceType: ec2types.ResourceTypeVolume, Tags: e.tags(spec.Role, "")},
		},
		DryRun: e.dryRun(),
	}
	// A new instance profile takes seconds to become usable by EC2.
	for attempt := 0; ; attempt++ {
		out, err := e.C.EC2.RunInstances(ctx, in)
		if err == nil {
			return aws.ToString(out.Instances[0].InstanceId), nil
		}
		if hasCode(err, "InvalidParameterValue") && attempt < 10 && isProfilePropagation(err) {
			if err := sleep(ctx, 3*time.Second); err != nil {
				return "", err
			}
			continue
		}
		return "", fmt.Errorf("launching a %s instance in %s: %w", spec.Type, sn.AZ, err)
	}
}

func isProfilePropagation(err error) bool {
	return err != nil && (containsFold(err.Error(), "instance profile") || containsFold(err.Error(), "iamInstanceProfile"))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitRunning waits for instances to run, bounded by the wait timeout, and
// returns them as its last poll described them.
func (e *Env) waitRunning(ctx context.Context, ids []string) ([]ec2types.Instance, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	w := ec2.NewInstanceRunningWaiter(e.C.EC2, func(o *ec2.InstanceRunningWaiterOptions) {
		o.MinDelay = e.pollInterval()
		o.MaxDelay = e.maxPollDelay(15 * time.Second)
	})
	start := time.Now()
	out, err := w.WaitForOutput(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, e.waitTimeout())
	if err != nil {
		return nil, &WaitError{What: fmt.Sprintf("instance(s) %v to be running", ids), After: time.Since(start), Err: err,
			Next: "check them with `wtt status`; run the same command again to continue (it finds these instances by their tags)"}
	}
	return described(out), nil
}

// described flattens a DescribeInstances answer.
func described(out *ec2.DescribeInstancesOutput) []ec2types.Instance {
	if out == nil {
		return nil
	}
	var is []ec2types.Instance
	for _, r := range out.Reservations {
		is = append(is, r.Instances...)
	}
	return is
}

// tookInstances hands the observer the instances as a step's last describe
// of them returned (a waiter's final poll), in place of what it had of
// them; also names other kinds the step's calls touched and it knows
// unchanged. A step may do so only when every call it made that changes
// instances concerned these and came before that describe: the app's other
// instances are then as observed, and these as described.
func (e *Env) tookInstances(is []ec2types.Instance, also observe.Kind) {
	if len(is) == 0 {
		return
	}
	fresh := map[string]observe.Instance{}
	for _, in := range is {
		i := observe.InstanceFrom(in)
		fresh[i.ID] = i
	}
	e.took(observe.KindInstances|also, func(s *observe.State) {
		var out []observe.Instance
		for _, i := range s.Instances {
			if _, ok := fresh[i.ID]; !ok {
				out = append(out, i)
			}
		}
		for _, i := range fresh {
			// Discovery lists every state but terminated.
			if i.State == string(ec2types.InstanceStateNameTerminated) {
				continue
			}
			if a := eipFor(s, i.ID); a != nil {
				i.EIP, i.PublicIP = a.PublicIP, a.PublicIP
			}
			out = append(out, i)
		}
		// As discovery sorts them: oldest first.
		slices.SortFunc(out, func(a, b observe.Instance) int {
			if c := a.LaunchTime.Compare(b.LaunchTime); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		s.Instances = out
	})
}

// terminate terminates instances and waits until they are gone; it returns
// them as its wait last described them.
func (e *Env) terminate(ctx context.Context, ids []string) ([]ec2types.Instance, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := e.C.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil && !hasCode(err, "InvalidInstanceID.NotFound") {
		// A repeat of a call whose answer was lost: AWS accepts it, the
		// emulator fails on the network interface the first call removed.
		// Either way, instances already going are what was asked for.
		if going, derr := e.allTerminating(ctx, ids); derr != nil || !going {
			return nil, fmt.Errorf("terminating %v: %w", ids, err)
		}
	}
	w := ec2.NewInstanceTerminatedWaiter(e.C.EC2, func(o *ec2.InstanceTerminatedWaiterOptions) {
		o.MinDelay = e.pollInterval()
		o.MaxDelay = e.maxPollDelay(15 * time.Second)
	})
	start := time.Now()
	out, err := w.WaitForOutput(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, e.waitTimeout())
	if err != nil {
		return nil, &WaitError{What: fmt.Sprintf("instance(s) %v to terminate", ids), After: time.Since(start), Err: err,
			Next: "run the same command again; termination continues in AWS meanwhile"}
	}
	return described(out), nil
}

var errNoSubnets = errors.New("the app's network has no subnets; run `wtt up` first")

// tagFilter narrows describes to the app.
func (e *Env) tagFilter() ec2types.Filter {
	return ec2types.Filter{Name: aws.String("tag:" + names.TagApp), Values: []string{e.App}}
}

// launchToken identifies one intended launch, so the SDK's retry of a
// RunInstances whose answer was lost does not launch twice on AWS. It is
// unique to the fleet as it stands (its instance IDs), so scaling in and out
// again never reuses a token: AWS would answer a reused one with the old,
// terminated instance. The fleet alone is not enough across runs: once the
// app's last instance is terminated (by hand, say), the next `up` would
// launch into the same subnet with the same empty fleet as the first one
// and get the terminated instance back; the run's nonce keeps each run's
// tokens its own. Across runs, tags are what find earlier work.
func (e *Env) launchToken(spec launchSpec, sn observe.Subnet, ordinal int) *string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%d", e.App, e.runNonce(), spec.Role, sn.ID, ordinal)
	for _, i := range e.State.LiveInstances() {
		fmt.Fprintf(h, "|%s", i.ID)
	}
	return aws.String("wtt-" + hex.EncodeToString(h.Sum(nil))[:32])
}

// allTerminating reports whether every instance is shutting down or gone.
func (e *Env) allTerminating(ctx context.Context, ids []string) (bool, error) {
	out, err := e.C.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		return false, err
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			if st := i.State.Name; st != ec2types.InstanceStateNameShuttingDown && st != ec2types.InstanceStateNameTerminated {
				return false, nil
			}
		}
	}
	return true, nil
}
