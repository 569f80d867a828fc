package ladder

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/emulatortest"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/plan"
)

// asgEmulatorEnv starts an emulator and lays out what the group helpers
// need and the alb rung would have made: the app's VPC with two private
// subnets, the private security group and the target group.
func asgEmulatorEnv(t *testing.T) *Env {
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
	const app = "ops"
	n := names.For(app)
	e := &Env{C: c, N: n, App: app, Opts: Options{
		PollInterval: 20 * time.Millisecond, WaitTimeout: 5 * time.Second, ServerBinary: asgFakeBinary(t),
	}}
	vpc, err := c.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.40.0.0/16"),
		TagSpecifications: e.tagSpec(ec2types.ResourceTypeVpc, "vpc", n.VPC())})
	if err != nil {
		t.Fatal(err)
	}
	for i, az := range []string{"us-east-1a", "us-east-1b"} {
		if _, err := c.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(privateCIDR(i)),
			AvailabilityZone: aws.String(az), TagSpecifications: e.tagSpec(ec2types.ResourceTypeSubnet, "private", "")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(n.PrivateSG()),
		Description: aws.String("private"), VpcId: vpc.Vpc.VpcId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(n.TargetGroup()),
		Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: vpc.Vpc.VpcId, HealthCheckPath: aws.String("/healthz")}); err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if e.State.Network.PrivateSG == nil || e.State.TargetGroup == nil || len(e.State.Network.SubnetsWhere(false)) != 2 {
		t.Fatalf("fixture not discovered: %+v", e.State.Network)
	}
	return e
}

func asgFakeBinary(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "whatsthetime-linux-amd64")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho time\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func mutationsSince(c *awsclient.Clients, before map[string]int) []string {
	var out []string
	for a, n := range c.Recorder.Calls() {
		if awsclient.IsMutating(a) && n > before[a] {
			out = append(out, a)
		}
	}
	return out
}

// TestGroupOpsAgainstTheEmulator drives the helpers the asg, multi-az and
// scale code share, in the order a rung uses them.
func TestGroupOpsAgainstTheEmulator(t *testing.T) {
	e := asgEmulatorEnv(t)
	ctx := context.Background()

	v, err := e.newTemplateVersion(ctx, "t2.micro")
	if err != nil || v != "1" {
		t.Fatalf("first template: version %q, %v", v, err)
	}
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	lt := e.State.LaunchTemplate
	if lt == nil || !lt.IMDSv2Required || lt.PublicIP || lt.InstanceType != "t2.micro" ||
		len(lt.SecurityGroups) != 1 || lt.SecurityGroups[0] != e.State.Network.PrivateSG.ID {
		t.Fatalf("template not discovered as made: %+v", lt)
	}

	before := e.C.Recorder.Calls()
	if v, err := e.newTemplateVersion(ctx, "t2.micro"); err != nil || v != "1" {
		t.Fatalf("same type again: version %q, %v; want 1 and no new version", v, err)
	}
	for _, m := range mutationsSince(e.C, before) {
		if strings.Contains(m, "LaunchTemplate") {
			t.Errorf("unchanged template got %s", m)
		}
	}
	if v, err := e.newTemplateVersion(ctx, "t3.small"); err != nil || v != "2" {
		t.Fatalf("new type: version %q, %v; want 2", v, err)
	}
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if lt := e.State.LaunchTemplate; lt.InstanceType != "t3.small" || !lt.IMDSv2Required || lt.PublicIP || lt.LatestVersion != 2 {
		t.Fatalf("version 2 lost settings: %+v", lt)
	}

	if err := e.ensureGroup(ctx, groupSize{Min: 1, Desired: 1, Max: 3}, true); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	pctx := withProgress(ctx, &plan.Exec{Log: &log})
	if err := e.waitGroupHealthy(pctx); err != nil {
		t.Fatalf("new group: %v", err)
	}

	if err := e.setGroupCapacity(ctx, 2, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.waitGroupHealthy(pctx); err != nil {
		t.Fatalf("after scale-out: %v", err)
	}
	g, err := e.describeGroup(ctx)
	if err != nil || len(g.Instances) != 2 || aws.ToInt32(g.MinSize) != 1 || aws.ToInt32(g.MaxSize) != 3 {
		t.Fatalf("group after setGroupCapacity(2): %d instances, min %d max %d, %v", len(g.Instances), aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize), err)
	}
	if azs := inServiceAZs(g.Instances); len(azs) != 1 {
		t.Errorf("a group on one subnet runs in %v", azs)
	}

	before = e.C.Recorder.Calls()
	if err := e.setGroupCapacity(ctx, 2, aws.Int32(1), aws.Int32(3)); err != nil {
		t.Fatal(err)
	}
	if m := mutationsSince(e.C, before); len(m) != 0 {
		t.Errorf("setting the sizes the group has made %v", m)
	}
	if err := e.setGroupCapacity(ctx, 4, nil, nil); err == nil || !strings.Contains(err.Error(), "max 3") {
		t.Errorf("desired above max: %v", err)
	}
	if err := e.setGroupCapacity(ctx, 1, aws.Int32(2), nil); err == nil {
		t.Error("min above desired was accepted")
	}
	if err := e.setGroupCapacity(ctx, 4, aws.Int32(2), aws.Int32(6)); err != nil {
		t.Fatal(err)
	}
	if g, _ := e.describeGroup(ctx); aws.ToInt32(g.MinSize) != 2 || aws.ToInt32(g.DesiredCapacity) != 4 || aws.ToInt32(g.MaxSize) != 6 {
		t.Errorf("sizes not applied together: %d/%d/%d", aws.ToInt32(g.MinSize), aws.ToInt32(g.DesiredCapacity), aws.ToInt32(g.MaxSize))
	}
	if err := e.waitGroupHealthy(pctx); err != nil {
		t.Fatal(err)
	}

	// An instance the load balancer does not know keeps the wait waiting.
	g, _ = e.describeGroup(ctx)
	victim := aws.ToString(g.Instances[0].InstanceId)
	if _, err := e.C.ELB.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(e.State.TargetGroup.ARN),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(victim)}}}); err != nil {
		t.Fatal(err)
	}
	e.Opts.WaitTimeout = 300 * time.Millisecond
	err = e.waitGroupHealthy(pctx)
	var we *WaitError
	if !errors.As(err, &we) {
		t.Fatalf("err %v, want a WaitError", err)
	}
	for _, want := range []string{e.N.ASG(), "3/4 healthy", victim + " not registered", "run the same command again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("timeout error %q does not say %q", err, want)
		}
	}
	if !strings.Contains(log.String(), "group "+e.N.ASG()+": 4/4 in service, 3/4 healthy in the target group") {
		t.Errorf("no progress line for the wait; log:\n%s", log.String())
	}

	// While the group is short of healthy targets, a standalone instance
	// still serving is neither drained nor terminated.
	standalone := asgRunStandalone(t, e)
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before = e.C.Recorder.Calls()
	if err := e.retireStandalone(pctx); !errors.As(err, &we) {
		t.Fatalf("retiring beside an unhealthy group: %v, want a WaitError", err)
	}
	if m := mutationsSince(e.C, before); len(m) != 0 {
		t.Errorf("retiring beside an unhealthy group made %v", m)
	}

	// Once the group is healthy again, the standalone instance goes, and
	// the group's own instances stay.
	if _, err := e.C.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(e.State.TargetGroup.ARN),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(victim)}}}); err != nil {
		t.Fatal(err)
	}
	e.Opts.WaitTimeout = 5 * time.Second
	if err := e.retireStandalone(pctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if len(e.State.Standalone()) != 0 || len(e.State.LiveInstances()) != 4 {
		t.Errorf("after retiring %s: %d standalone, %d live", standalone, len(e.State.Standalone()), len(e.State.LiveInstances()))
	}
}

// asgRunStandalone launches an app instance no group owns, registered in
// the target group, as the alb rung leaves them.
func asgRunStandalone(t *testing.T, e *Env) string {
	t.Helper()
	ctx := context.Background()
	out, err := e.C.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType: ec2types.InstanceTypeT2Micro, SubnetId: aws.String(e.State.Network.SubnetsWhere(false)[0].ID),
		TagSpecifications: e.tagSpec(ec2types.ResourceTypeInstance, privateRole, "")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	if _, err := e.C.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(e.State.TargetGroup.ARN),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(id)}}}); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAssessGroup(t *testing.T) {
	in := func(id string, st astypes.LifecycleState, health string) astypes.Instance {
		return astypes.Instance{InstanceId: aws.String(id), LifecycleState: st, HealthStatus: aws.String(health), AvailabilityZone: aws.String("us-east-1a")}
	}
	g := astypes.AutoScalingGroup{DesiredCapacity: aws.Int32(3), Instances: []astypes.Instance{
		in("i-1", astypes.LifecycleStateInService, "Healthy"),
		in("i-2", astypes.LifecycleStateInService, "Healthy"),
		in("i-3", astypes.LifecycleStatePending, "Healthy"),
		in("i-4", astypes.LifecycleStateTerminating, "Unhealthy"),
		in("i-5", astypes.LifecycleStateInService, "Unhealthy"),
	}}
	h := assessGroup(g, map[string]map[string]string{"tg": {"i-1": "healthy", "i-2": "initial"}})
	if h.InService != 2 || h.Healthy != 1 || h.ready() {
		t.Errorf("report %+v", h)
	}
	if len(h.Pending) != 2 || h.Pending[0] != "i-3" || h.Pending[1] != "i-5" {
		t.Errorf("pending %v, want i-3 and i-5 (a terminating instance is not pending)", h.Pending)
	}
	if got := h.String(); got != "2/3 in service, 1/3 healthy in the target group (i-2 initial)" {
		t.Errorf("String() = %q", got)
	}
	h = assessGroup(g, map[string]map[string]string{"tg": {"i-1": "healthy", "i-2": "healthy"}, "tg2": {"i-1": "healthy"}})
	if h.Healthy != 1 || h.Unhealthy["i-2"] != "not registered" {
		t.Errorf("an instance missing from one of two target groups counted healthy: %+v", h)
	}
	g.DesiredCapacity = aws.Int32(0)
	if !assessGroup(g, nil).ready() {
		t.Error("a group asked for no instances is not ready")
	}
}

func TestElapsed(t *testing.T) {
	if got := elapsed(65*time.Second + 400*time.Millisecond); got != "01m05s" {
		t.Errorf("elapsed = %q", got)
	}
}
