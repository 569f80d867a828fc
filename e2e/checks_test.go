package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/whatsthetime/wtt/pkg/awsclient"
)

type checkerKey struct{}

// checker reads AWS through the SDK directly, never through wtt, so a test
// sees what any other client of the account would see.
type checker struct {
	app string
	cfg aws.Config // for checks in other files that need clients of their own
	ec2 *ec2.Client
	elb *elbv2.Client
	asg *autoscaling.Client
	r53 *route53.Client
	s3  *s3.Client
	iam *iam.Client
}

func newChecker(cfg aws.Config, app string) *checker {
	return &checker{
		app: app, cfg: cfg,
		ec2: ec2.NewFromConfig(cfg), elb: elbv2.NewFromConfig(cfg), asg: autoscaling.NewFromConfig(cfg),
		r53: route53.NewFromConfig(cfg), iam: iam.NewFromConfig(cfg),
		s3: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
	}
}

// check is one assertion about AWS state; it returns an error saying what it
// found when the assertion does not hold.
type check func(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error

// checks are the subcommands of the script command `aws`. Files for each
// rung add theirs in init.
var checks = map[string]check{
	"instances":      checkInstances,
	"instance-types": checkInstanceTypes,
	"public-ips":     checkPublicIPs,
	"imdsv2":         checkIMDSv2,
	"web-sg":         checkWebSG,
	"eips":           checkEIPs,
	"tagged":         checkTagged,
	"mutations":      checkMutations,
	"calls":          checkCallCount,
	"calls-reset":    resetCalls,
}

func checkCommands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"aws": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) == 0 {
				ts.Fatalf("usage: aws CHECK [args...]")
			}
			f, ok := checks[args[0]]
			if !ok {
				ts.Fatalf("aws: unknown check %q", args[0])
			}
			c := ts.Value(checkerKey{}).(*checker)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := f(ctx, c, ts, args[1:])
			switch {
			case err != nil && !neg:
				ts.Fatalf("aws %s: %v", strings.Join(args, " "), err)
			case err == nil && neg:
				ts.Fatalf("aws %s: unexpectedly held", strings.Join(args, " "))
			}
		},
	}
}

func atoi(ts *testscript.TestScript, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		ts.Fatalf("not a number: %q", s)
	}
	return n
}

func (c *checker) appFilter() ec2types.Filter {
	return ec2types.Filter{Name: aws.String("tag:wtt:app"), Values: []string{c.app}}
}

// instances returns the app's instances in the given states.
func (c *checker) instances(ctx context.Context, states ...string) ([]ec2types.Instance, error) {
	out, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		c.appFilter(), {Name: aws.String("instance-state-name"), Values: states},
	}})
	if err != nil {
		return nil, err
	}
	var is []ec2types.Instance
	for _, r := range out.Reservations {
		is = append(is, r.Instances...)
	}
	return is, nil
}

// aws instances STATE N: exactly N app instances are in STATE.
func checkInstances(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 2 {
		ts.Fatalf("usage: aws instances STATE N")
	}
	is, err := c.instances(ctx, args[0])
	if err != nil {
		return err
	}
	if want := atoi(ts, args[1]); len(is) != want {
		return fmt.Errorf("%d instance(s) %s, want %d", len(is), args[0], want)
	}
	return nil
}

// aws instance-types TYPE: every running app instance has TYPE.
func checkInstanceTypes(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	is, err := c.instances(ctx, "running")
	if err != nil {
		return err
	}
	if len(is) == 0 {
		return fmt.Errorf("no running instance")
	}
	for _, i := range is {
		if string(i.InstanceType) != args[0] {
			return fmt.Errorf("instance %s is %s, want %s", aws.ToString(i.InstanceId), i.InstanceType, args[0])
		}
	}
	return nil
}

// aws public-ips N: N running app instances have a public IPv4.
func checkPublicIPs(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	is, err := c.instances(ctx, "running")
	if err != nil {
		return err
	}
	n := 0
	for _, i := range is {
		if aws.ToString(i.PublicIpAddress) != "" {
			n++
		}
	}
	if want := atoi(ts, args[0]); n != want {
		return fmt.Errorf("%d running instance(s) with a public IPv4, want %d", n, want)
	}
	return nil
}

// aws imdsv2: every running app instance requires IMDSv2 tokens.
func checkIMDSv2(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	is, err := c.instances(ctx, "running")
	if err != nil {
		return err
	}
	for _, i := range is {
		if i.MetadataOptions == nil || i.MetadataOptions.HttpTokens != ec2types.HttpTokensStateRequired {
			return fmt.Errorf("instance %s does not require IMDSv2", aws.ToString(i.InstanceId))
		}
	}
	return nil
}

// aws web-sg: the web security group admits tcp/80 from anywhere and no SSH.
func checkWebSG(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	out, err := c.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		c.appFilter(), {Name: aws.String("group-name"), Values: []string{"wtt-" + c.app + "-web"}},
	}})
	if err != nil {
		return err
	}
	if len(out.SecurityGroups) != 1 {
		return fmt.Errorf("%d web security groups", len(out.SecurityGroups))
	}
	http := false
	for _, p := range out.SecurityGroups[0].IpPermissions {
		from, to := aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort)
		for _, r := range p.IpRanges {
			if aws.ToString(r.CidrIp) != "0.0.0.0/0" {
				continue
			}
			if aws.ToString(p.IpProtocol) == "-1" || (from <= 22 && 22 <= to) {
				return fmt.Errorf("SSH is open to the world")
			}
			if from <= 80 && 80 <= to {
				http = true
			}
		}
	}
	if !http {
		return fmt.Errorf("tcp/80 is not open to the world")
	}
	return nil
}

// aws eips N: N Elastic IPs are tagged for the app.
func checkEIPs(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	out, err := c.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{c.appFilter()}})
	if err != nil {
		return err
	}
	if want := atoi(ts, args[0]); len(out.Addresses) != want {
		return fmt.Errorf("%d Elastic IP(s), want %d", len(out.Addresses), want)
	}
	return nil
}

// inventory counts, per resource type, what is tagged for (or named after)
// the app: the leak check compares it with zero after `down`.
func (c *checker) inventory(ctx context.Context) (map[string]int, error) {
	inv := map[string]int{}
	f := []ec2types.Filter{c.appFilter()}
	vpcs, err := c.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: f})
	if err != nil {
		return nil, err
	}
	inv["vpc"] = len(vpcs.Vpcs)
	sn, err := c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: f})
	if err != nil {
		return nil, err
	}
	inv["subnet"] = len(sn.Subnets)
	sgs, err := c.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: f})
	if err != nil {
		return nil, err
	}
	inv["security-group"] = len(sgs.SecurityGroups)
	igw, err := c.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: f})
	if err != nil {
		return nil, err
	}
	inv["internet-gateway"] = len(igw.InternetGateways)
	rt, err := c.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: f})
	if err != nil {
		return nil, err
	}
	inv["route-table"] = len(rt.RouteTables)
	ep, err := c.ec2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: f})
	if err != nil {
		return nil, err
	}
	for _, e := range ep.VpcEndpoints {
		if s := string(e.State); s != "deleted" && s != "deleting" {
			inv["vpc-endpoint"]++
		}
	}
	is, err := c.instances(ctx, "pending", "running", "stopping", "stopped")
	if err != nil {
		return nil, err
	}
	inv["instance"] = len(is)
	addrs, err := c.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: f})
	if err != nil {
		return nil, err
	}
	inv["eip"] = len(addrs.Addresses)
	lts, err := c.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{Filters: f})
	if err != nil {
		return nil, err
	}
	inv["launch-template"] = len(lts.LaunchTemplates)
	lbs, err := c.elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	if err != nil {
		return nil, err
	}
	for _, lb := range lbs.LoadBalancers {
		if strings.HasPrefix(aws.ToString(lb.LoadBalancerName), "wtt-"+c.app) {
			inv["load-balancer"]++
		}
	}
	tgs, err := c.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
	if err != nil {
		return nil, err
	}
	for _, tg := range tgs.TargetGroups {
		if strings.HasPrefix(aws.ToString(tg.TargetGroupName), "wtt-"+c.app) {
			inv["target-group"]++
		}
	}
	groups, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		return nil, err
	}
	for _, g := range groups.AutoScalingGroups {
		if strings.HasPrefix(aws.ToString(g.AutoScalingGroupName), "wtt-"+c.app) {
			inv["auto-scaling-group"]++
		}
	}
	buckets, err := c.s3.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return nil, err
	}
	for _, b := range buckets.Buckets {
		if strings.HasPrefix(aws.ToString(b.Name), "wtt-"+c.app+"-") {
			inv["bucket"]++
		}
	}
	if _, err := c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("wtt-" + c.app + "-instance")}); err == nil {
		inv["iam-role"]++
	}
	if _, err := c.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("wtt-" + c.app + "-instance")}); err == nil {
		inv["instance-profile"]++
	}
	zones, err := c.r53.ListHostedZones(ctx, &route53.ListHostedZonesInput{})
	if err != nil {
		return nil, err
	}
	for _, z := range zones.HostedZones {
		if strings.Contains(aws.ToString(z.Config.Comment), "wtt app "+c.app+" ") || strings.HasSuffix(aws.ToString(z.Config.Comment), "wtt app "+c.app) {
			inv["hosted-zone"]++
		}
	}
	for k, v := range inv {
		if v == 0 {
			delete(inv, k)
		}
	}
	return inv, nil
}

func formatInventory(inv map[string]int) string {
	var parts []string
	for k, v := range inv {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " ")
}

// aws tagged none | aws tagged TYPE=N...: what exists for the app, per type.
func checkTagged(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	inv, err := c.inventory(ctx)
	if err != nil {
		return err
	}
	if len(args) == 1 && args[0] == "none" {
		if len(inv) > 0 {
			return fmt.Errorf("left behind: %s", formatInventory(inv))
		}
		return nil
	}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		if inv[k] != atoi(ts, v) {
			return fmt.Errorf("%s: %d, want %s (all: %s)", k, inv[k], v, formatInventory(inv))
		}
	}
	return nil
}

func readCalls(ts *testscript.TestScript) []string {
	f, err := os.Open(filepath.Join(ts.Getenv("WORK"), "calls.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var calls []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		calls = append(calls, sc.Text())
	}
	return calls
}

// aws mutations N: the wtt runs since the last calls-reset made N mutating
// AWS calls (dry runs and bad input must make none).
func checkMutations(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	var mut []string
	for _, a := range readCalls(ts) {
		if awsclient.IsMutating(a) {
			mut = append(mut, a)
		}
	}
	if want := atoi(ts, args[0]); len(mut) != want {
		return fmt.Errorf("%d mutating call(s), want %d: %v", len(mut), want, mut)
	}
	return nil
}

// aws calls OP N: the runs since the last reset called OP exactly N times;
// `aws calls total-max N` bounds all calls.
func checkCallCount(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	calls := readCalls(ts)
	if args[0] == "total-max" {
		if max := atoi(ts, args[1]); len(calls) > max {
			return fmt.Errorf("%d calls, want at most %d", len(calls), max)
		}
		return nil
	}
	n := 0
	for _, a := range calls {
		if a == args[0] {
			n++
		}
	}
	if want := atoi(ts, args[1]); n != want {
		return fmt.Errorf("%s called %d time(s), want %d", args[0], n, want)
	}
	return nil
}

func resetCalls(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	err := os.Remove(filepath.Join(ts.Getenv("WORK"), "calls.log"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
