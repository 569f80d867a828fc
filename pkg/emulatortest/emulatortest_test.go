package emulatortest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

const ami = "ami-12c6146b" // one of moto's built-in AMIs

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestEnv(t *testing.T) {
	e := &Emulator{url: "http://127.0.0.1:1234"}
	want := []string{
		"AWS_ENDPOINT_URL=http://127.0.0.1:1234",
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if got := e.Env(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Env() = %q, want %q", got, want)
	}
}

func TestExternalEndpoint(t *testing.T) {
	t.Setenv(EndpointEnv, "http://127.0.0.1:4566/")
	e := Start(t)
	if !e.External() || e.URL() != "http://127.0.0.1:4566" || e.PID() != 0 {
		t.Fatalf("external emulator = %+v", e)
	}
	e.Reset(t) // logs only
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root + "/emulator/wtt_emulator.py"); err != nil {
		t.Fatal(err)
	}
}

// TestGoSDKParsesAdditions drives each addition through aws-sdk-go-v2.
func TestGoSDKParsesAdditions(t *testing.T) {
	e := Start(t)
	cfg := e.AWSConfig(t)
	ec2c := ec2.NewFromConfig(cfg)

	t.Run("environment works for the aws cli", func(t *testing.T) {
		if e.External() {
			t.Skip("external endpoint")
		}
		aws, err := exec.LookPath("aws")
		if err != nil {
			t.Skip("aws cli not installed")
		}
		cmd := exec.Command(aws, "ec2", "describe-reserved-instances", "--output", "json")
		cmd.Env = append(os.Environ(), e.Env()...)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "ReservedInstances") {
			t.Fatalf("aws cli: %v\n%s", err, out)
		}
	})

	t.Run("reserved instances", func(t *testing.T) {
		e.Reset(t)
		offs, err := ec2c.DescribeReservedInstancesOfferings(ctx(t), &ec2.DescribeReservedInstancesOfferingsInput{
			Filters: []ec2types.Filter{
				{Name: aws.String("instance-type"), Values: []string{"t3.small"}},
				{Name: aws.String("availability-zone"), Values: []string{"us-east-1a"}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(offs.ReservedInstancesOfferings) == 0 {
			t.Fatal("no offerings")
		}
		off := offs.ReservedInstancesOfferings[0]
		buy, err := ec2c.PurchaseReservedInstancesOffering(ctx(t), &ec2.PurchaseReservedInstancesOfferingInput{
			ReservedInstancesOfferingId: off.ReservedInstancesOfferingId,
			InstanceCount:               aws.Int32(2),
		})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(buy.ReservedInstancesId)
		if id == "" {
			t.Fatal("no ReservedInstancesId")
		}
		if _, err := ec2c.CreateTags(ctx(t), &ec2.CreateTagsInput{
			Resources: []string{id},
			Tags:      []ec2types.Tag{{Key: aws.String("wtt"), Value: aws.String("rung-7")}},
		}); err != nil {
			t.Fatal(err)
		}
		out, err := ec2c.DescribeReservedInstances(ctx(t), &ec2.DescribeReservedInstancesInput{
			Filters: []ec2types.Filter{
				{Name: aws.String("instance-type"), Values: []string{"t3.small"}},
				{Name: aws.String("state"), Values: []string{"active"}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.ReservedInstances) != 1 {
			t.Fatalf("got %d reserved instances, want 1", len(out.ReservedInstances))
		}
		ri := out.ReservedInstances[0]
		switch {
		case aws.ToString(ri.ReservedInstancesId) != id,
			ri.State != ec2types.ReservedInstanceStateActive,
			ri.Scope != ec2types.ScopeAvailabilityZone,
			aws.ToString(ri.AvailabilityZone) != "us-east-1a",
			ri.InstanceType != ec2types.InstanceTypeT3Small,
			aws.ToInt32(ri.InstanceCount) != 2,
			aws.ToInt64(ri.Duration) != aws.ToInt64(off.Duration),
			aws.ToFloat32(ri.FixedPrice) != aws.ToFloat32(off.FixedPrice),
			ri.OfferingType != off.OfferingType,
			ri.Start == nil || ri.End == nil,
			len(ri.Tags) != 1 || aws.ToString(ri.Tags[0].Value) != "rung-7":
			t.Fatalf("unexpected reserved instance %+v", ri)
		}
		if got := ri.End.Sub(*ri.Start); got != time.Duration(aws.ToInt64(off.Duration))*time.Second {
			t.Fatalf("End-Start = %s, want the offering's duration", got)
		}

		e.Reset(t)
		out, err = ec2c.DescribeReservedInstances(ctx(t), &ec2.DescribeReservedInstancesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.ReservedInstances) != 0 {
			t.Fatal("Reset kept reserved instances")
		}
	})

	t.Run("instance refresh", func(t *testing.T) {
		e.Reset(t)
		asc := autoscaling.NewFromConfig(cfg)
		elb := elasticloadbalancingv2.NewFromConfig(cfg)

		vpc, err := ec2c.CreateVpc(ctx(t), &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
		if err != nil {
			t.Fatal(err)
		}
		var subnets []string
		for i, az := range []string{"us-east-1a", "us-east-1b"} {
			sn, err := ec2c.CreateSubnet(ctx(t), &ec2.CreateSubnetInput{
				VpcId:            vpc.Vpc.VpcId,
				CidrBlock:        aws.String("10.0." + string(rune('1'+i)) + ".0/24"),
				AvailabilityZone: aws.String(az),
			})
			if err != nil {
				t.Fatal(err)
			}
			subnets = append(subnets, aws.ToString(sn.Subnet.SubnetId))
		}
		sg, err := ec2c.CreateSecurityGroup(ctx(t), &ec2.CreateSecurityGroupInput{
			GroupName: aws.String("app"), Description: aws.String("app"), VpcId: vpc.Vpc.VpcId,
		})
		if err != nil {
			t.Fatal(err)
		}
		tg, err := elb.CreateTargetGroup(ctx(t), &elasticloadbalancingv2.CreateTargetGroupInput{
			Name: aws.String("app"), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
			VpcId: vpc.Vpc.VpcId, TargetType: elbtypes.TargetTypeEnumInstance,
		})
		if err != nil {
			t.Fatal(err)
		}
		tgARN := tg.TargetGroups[0].TargetGroupArn
		lt, err := ec2c.CreateLaunchTemplate(ctx(t), &ec2.CreateLaunchTemplateInput{
			LaunchTemplateName: aws.String("app"),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
				ImageId:      aws.String(ami),
				InstanceType: ec2types.InstanceTypeT3Micro,
				NetworkInterfaces: []ec2types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{{
					DeviceIndex: aws.Int32(0), AssociatePublicIpAddress: aws.Bool(false), Groups: []string{aws.ToString(sg.GroupId)},
				}},
				MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
					HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired,
				},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ltID := lt.LaunchTemplate.LaunchTemplateId
		if _, err := asc.CreateAutoScalingGroup(ctx(t), &autoscaling.CreateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String("app"),
			MinSize:              aws.Int32(1), MaxSize: aws.Int32(4), DesiredCapacity: aws.Int32(2),
			LaunchTemplate:    &astypes.LaunchTemplateSpecification{LaunchTemplateId: ltID, Version: aws.String("$Latest")},
			VPCZoneIdentifier: aws.String(strings.Join(subnets, ",")),
			TargetGroupARNs:   []string{aws.ToString(tgARN)},
		}); err != nil {
			t.Fatal(err)
		}
		old := groupInstances(t, asc)
		if _, err := ec2c.CreateLaunchTemplateVersion(ctx(t), &ec2.CreateLaunchTemplateVersionInput{
			LaunchTemplateId:   ltID,
			SourceVersion:      aws.String("1"),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{InstanceType: ec2types.InstanceTypeT3Small},
		}); err != nil {
			t.Fatal(err)
		}

		start, err := asc.StartInstanceRefresh(ctx(t), &autoscaling.StartInstanceRefreshInput{
			AutoScalingGroupName: aws.String("app"),
			Preferences:          &astypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(90)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(start.InstanceRefreshId) == "" {
			t.Fatal("no InstanceRefreshId")
		}
		// The refresh rolls: without the data plane, each describe moves it
		// on by one batch (docs/emulator.md), so poll as wtt does.
		var r astypes.InstanceRefresh
		for polls := 0; polls < 20 && r.Status != astypes.InstanceRefreshStatusSuccessful; polls++ {
			desc, err := asc.DescribeInstanceRefreshes(ctx(t), &autoscaling.DescribeInstanceRefreshesInput{
				AutoScalingGroupName: aws.String("app"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(desc.InstanceRefreshes) != 1 {
				t.Fatalf("got %d refreshes", len(desc.InstanceRefreshes))
			}
			r = desc.InstanceRefreshes[0]
			if r.Status != astypes.InstanceRefreshStatusSuccessful && r.Status != astypes.InstanceRefreshStatusInProgress && r.Status != astypes.InstanceRefreshStatusPending {
				t.Fatalf("refresh went %s: %+v", r.Status, r)
			}
		}
		if aws.ToString(r.InstanceRefreshId) != aws.ToString(start.InstanceRefreshId) ||
			r.Status != astypes.InstanceRefreshStatusSuccessful ||
			aws.ToInt32(r.PercentageComplete) != 100 ||
			r.StartTime == nil || r.EndTime == nil {
			t.Fatalf("unexpected refresh %+v", r)
		}

		now := groupInstances(t, asc)
		if len(now) != 2 {
			t.Fatalf("group has %d instances after refresh", len(now))
		}
		for id := range now {
			if _, ok := old[id]; ok {
				t.Fatalf("instance %s survived the refresh", id)
			}
		}
		insts, err := ec2c.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: keys(now)})
		if err != nil {
			t.Fatal(err)
		}
		zones := map[string]bool{}
		for _, res := range insts.Reservations {
			for _, in := range res.Instances {
				zones[aws.ToString(in.Placement.AvailabilityZone)] = true
				if in.InstanceType != ec2types.InstanceTypeT3Small || in.PublicIpAddress != nil ||
					in.MetadataOptions.HttpTokens != ec2types.HttpTokensStateRequired {
					t.Fatalf("instance not launched from version 2 settings: %+v", in)
				}
			}
		}
		if len(zones) != 2 {
			t.Fatalf("instances not spread over both AZs: %v", zones)
		}
		health, err := elb.DescribeTargetHealth(ctx(t), &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: tgARN})
		if err != nil {
			t.Fatal(err)
		}
		registered := map[string]bool{}
		for _, h := range health.TargetHealthDescriptions {
			registered[aws.ToString(h.Target.Id)] = true
		}
		if len(registered) != len(now) {
			t.Fatalf("target group holds %v, group holds %v", registered, now)
		}
		for id := range now {
			if !registered[id] {
				t.Fatalf("%s not registered in the target group", id)
			}
		}

		_, err = asc.CancelInstanceRefresh(ctx(t), &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: aws.String("app")})
		var notFound *astypes.ActiveInstanceRefreshNotFoundFault
		if !errors.As(err, &notFound) {
			t.Fatalf("CancelInstanceRefresh error = %v, want ActiveInstanceRefreshNotFoundFault", err)
		}
	})
}

func groupInstances(t *testing.T, asc *autoscaling.Client) map[string]astypes.Instance {
	t.Helper()
	out, err := asc.DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{"app"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AutoScalingGroups) != 1 {
		t.Fatalf("got %d groups", len(out.AutoScalingGroups))
	}
	m := map[string]astypes.Instance{}
	for _, in := range out.AutoScalingGroups[0].Instances {
		m[aws.ToString(in.InstanceId)] = in
	}
	return m
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
