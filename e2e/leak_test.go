package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/whatsthetime/wtt/pkg/emulatortest"
)

// TestNothingLeaks walks the whole ladder on an emulator of its own and
// compares, per resource type, everything in it — tagged or not — before
// `up` and after `down`. Only Reserved Instances may remain: AWS cannot
// cancel them, and down says so.
func TestNothingLeaks(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (scripts_test.go)
	if os.Getenv(emulatortest.EndpointEnv) != "" {
		t.Skip("compares a whole account: only on an emulator of its own")
	}
	emu := emulatortest.Start(t)
	cfg := emu.AWSConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	before := everything(ctx, t, cfg)
	wtt := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "wtt"), args...)
		cmd.Env = append(os.Environ(), emu.Env()...)
		cmd.Env = append(cmd.Env, "WTT_APP=leakcheck", "NO_COLOR=1", "HOME="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("wtt %v: %v\n%s", args, err, out)
		}
	}
	wtt("up", "--yes")
	wtt("migrate", "--to=eip", "--yes")
	wtt("scale", "--horizontal", "2", "--yes")
	wtt("migrate", "--to=dns", "--dns-name", "api.leakcheck.com", "--ttl", "2", "--yes") // the alb rung drains for the TTL
	wtt("migrate", "--to=reserved", "--max-upfront", "0", "--yes")
	during := everything(ctx, t, cfg)
	if during["instance"] == 0 || during["load-balancer"] == 0 || during["auto-scaling-group"] == 0 || during["hosted-zone"] == 0 {
		t.Fatalf("the ladder did not build what it should: %v", during)
	}
	wtt("down", "--yes")
	after := everything(ctx, t, cfg)

	for kind, n := range after {
		if n != before[kind] {
			t.Errorf("%s: %d before up, %d after down", kind, before[kind], n)
		}
	}
	for kind, n := range before {
		if _, ok := after[kind]; !ok && n != 0 {
			t.Errorf("%s: %d before up, none after down", kind, n)
		}
	}
	t.Logf("before up: %v; at reserved: %v; after down: %v", before, during, after)
}

// everything counts every resource of each type wtt could create, across
// the account, not only what carries the app's tag.
func everything(ctx context.Context, t *testing.T, cfg aws.Config) map[string]int {
	t.Helper()
	e, lb, as, r53, s3c, iamc, ssmc := ec2.NewFromConfig(cfg), elbv2.NewFromConfig(cfg), autoscaling.NewFromConfig(cfg),
		route53.NewFromConfig(cfg), s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), iam.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	n := map[string]int{}
	must := func(what string, err error) {
		if err != nil {
			t.Fatalf("counting %s: %v", what, err)
		}
	}
	vpcs, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	must("VPCs", err)
	n["vpc"] = len(vpcs.Vpcs)
	sn, err := e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	must("subnets", err)
	n["subnet"] = len(sn.Subnets)
	sgs, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	must("security groups", err)
	n["security-group"] = len(sgs.SecurityGroups)
	igw, err := e.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{})
	must("internet gateways", err)
	n["internet-gateway"] = len(igw.InternetGateways)
	rt, err := e.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{})
	must("route tables", err)
	n["route-table"] = len(rt.RouteTables)
	ep, err := e.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{})
	must("VPC endpoints", err)
	for _, v := range ep.VpcEndpoints {
		if s := string(v.State); s != "deleted" && s != "deleting" {
			n["vpc-endpoint"]++
		}
	}
	is, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}}}})
	must("instances", err)
	for _, r := range is.Reservations {
		n["instance"] += len(r.Instances)
	}
	addrs, err := e.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
	must("addresses", err)
	n["eip"] = len(addrs.Addresses)
	vols, err := e.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
	must("volumes", err)
	for _, v := range vols.Volumes {
		if v.State != ec2types.VolumeStateDeleted {
			n["volume"]++
		}
	}
	lts, err := e.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
	must("launch templates", err)
	n["launch-template"] = len(lts.LaunchTemplates)
	lbs, err := lb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	must("load balancers", err)
	n["load-balancer"] = len(lbs.LoadBalancers)
	tgs, err := lb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
	must("target groups", err)
	n["target-group"] = len(tgs.TargetGroups)
	groups, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	must("groups", err)
	n["auto-scaling-group"] = len(groups.AutoScalingGroups)
	zones, err := r53.ListHostedZones(ctx, &route53.ListHostedZonesInput{})
	must("hosted zones", err)
	n["hosted-zone"] = len(zones.HostedZones)
	buckets, err := s3c.ListBuckets(ctx, &s3.ListBucketsInput{})
	must("buckets", err)
	n["bucket"] = len(buckets.Buckets)
	roles, err := iamc.ListRoles(ctx, &iam.ListRolesInput{})
	must("roles", err)
	n["iam-role"] = len(roles.Roles)
	profiles, err := iamc.ListInstanceProfiles(ctx, &iam.ListInstanceProfilesInput{})
	must("instance profiles", err)
	n["instance-profile"] = len(profiles.InstanceProfiles)
	params, err := ssmc.DescribeParameters(ctx, &ssm.DescribeParametersInput{})
	must("parameters", err)
	for _, p := range params.Parameters {
		// AWS's own public parameters (the AMI pointers) are not ours.
		if !strings.HasPrefix(aws.ToString(p.Name), "/aws/") {
			n["ssm-parameter"]++
		}
	}
	for k, v := range n {
		if v == 0 {
			delete(n, k)
		}
	}
	return n
}
