package e2e

// The reliability suites (faults_test.go, crash_test.go) walk the whole
// ladder with the real binary, each walk against its own emulator, while
// something goes wrong on purpose: AWS errors, SIGKILL at every step
// boundary and after mutating calls, Ctrl-C. After every command each walk
// compares what exists in AWS with what an undisturbed walk of the same
// ladder left at the same point (the reference): the same resources of
// every kind, the same sizes, the same stage, no lease left behind.
//
// Bounds: every wtt run is killed after runTimeout; walks run in parallel
// (as many as go test's -parallel allows, or WTT_RELIABILITY_PARALLEL if
// fewer), each with its own emulator because
// Reserved Instances are per account and would leak between walks.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
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
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/emulatortest"
	"github.com/whatsthetime/wtt/pkg/names"
)

// runTimeout bounds one wtt command; a hung run fails its walk.
const runTimeout = 3 * time.Minute

// rungCommand is one command of the walk.
type rungCommand struct {
	name string
	args []string
}

func (c rungCommand) String() string { return "wtt " + strings.Join(c.args, " ") }

// ladderCommands is the walk every reliability suite takes: each rung, a
// vertical scale at the public stage (stop, modify, start) and at the group
// (launch template version, rolling replacement), a scale-out with Elastic
// IPs, a scale-in behind the DNS record, and down. The scale-in keeps one
// instance for the asg rung, so that the multi-az rung has work to do.
func ladderCommands(app string) []rungCommand {
	return []rungCommand{
		{"up", []string{"up"}},
		{"scale-vertical-single", []string{"scale", "--vertical", "t3.small"}},
		{"eip", []string{"migrate", "--to=eip"}},
		{"scale-out-eip", []string{"scale", "--horizontal", "2"}},
		// A short TTL: the alb rung keeps the public instances serving that long after the switch.
		{"dns", []string{"migrate", "--to=dns", "--dns-name", "api." + app + ".example.com", "--ttl", "3"}},
		{"scale-in-dns", []string{"scale", "--horizontal", "1"}},
		{"alb", []string{"migrate", "--to=alb"}},
		{"asg", []string{"migrate", "--to=asg"}},
		{"multi-az", []string{"migrate", "--to=multi-az"}},
		{"reserved", []string{"migrate", "--to=reserved"}},
		{"scale-vertical-group", []string{"scale", "--vertical", "t2.micro"}},
		{"down", []string{"down"}},
	}
}

// TestReliability runs the fault and crash suites. They share the
// reference walk, which runs alongside them.
func TestReliability(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (scripts_test.go)
	if testing.Short() {
		t.Skip("walks the whole ladder many times against emulators")
	}
	if os.Getenv(emulatortest.EndpointEnv) != "" {
		// Eight walks of the ladder would buy Reserved Instances (which
		// cannot be cancelled) and share one account between walks.
		t.Skipf("needs emulators of its own; not run against %s", emulatortest.EndpointEnv)
	}
	ref := startReference(t)
	t.Cleanup(func() {
		if ref.wait(); ref.err == nil {
			t.Logf("reference walk: %s", ref.summary())
		}
	})
	// The two groups run side by side (their walks share walkSlots), so the
	// crash walks need not wait for the last fault walk to end.
	t.Run("faults", func(t *testing.T) { t.Parallel(); faultSuites(t, ref) })
	t.Run("crash", func(t *testing.T) { t.Parallel(); crashSuites(t, ref) })
}

// walkSlots bounds how many walks (each an emulator plus wtt processes)
// run at once. By default go test's -parallel is the only bound (make test
// passes 8): a walk that held a -parallel slot while it queued here would
// keep the other suites' tests from running on the idle core.
var walkSlots = make(chan struct{}, relEnvInt("WTT_RELIABILITY_PARALLEL", 64))

// parallelWalk marks t parallel and holds a walk slot until it ends.
func parallelWalk(t *testing.T) {
	t.Parallel()
	walkSlots <- struct{}{}
	t.Cleanup(func() { <-walkSlots })
}

func relEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// ---------------------------------------------------------------------------
// Running wtt

// relWalker runs wtt for one app against one emulator (possibly through a
// proxy) and reads AWS back directly.
type relWalker struct {
	app      string
	emu      *emulatortest.Emulator
	endpoint string   // where wtt sends its AWS calls
	env      []string // extra environment for every run
	dir      string
	check    *checker // reads the emulator directly, never through a proxy
	ssm      *ssm.Client
	runs     int
	last     *wttRunResult // the latest run, shown when AWS is not as expected
	logf     func(format string, args ...any)
}

func newRelWalker(t *testing.T, app string) *relWalker {
	t.Helper()
	emu := emulatortest.Start(t)
	cfg := emu.AWSConfig(t)
	return &relWalker{
		app: app, emu: emu, endpoint: emu.URL(), dir: t.TempDir(),
		check: newChecker(cfg, app), ssm: ssm.NewFromConfig(cfg), logf: t.Logf,
	}
}

// wttRunResult is how one wtt process ended.
type wttRunResult struct {
	cmd            string
	stdout, stderr string
	code           int  // exit code; -1 when a signal ended it
	killed         bool // ended by a signal (our SIGKILL crash points)
	took           time.Duration
	calls          []string // every AWS call it made, in order (WTT_CALL_LOG)
}

// mutations are the mutating calls the run made.
func (r *wttRunResult) mutations() []string {
	var m []string
	for _, c := range r.calls {
		if awsclient.IsMutating(c) {
			m = append(m, c)
		}
	}
	return m
}

func (r *wttRunResult) String() string {
	return fmt.Sprintf("$ %s (exit %d, %s)\n[stdout]\n%s\n[stderr]\n%s", r.cmd, r.code, r.took.Round(time.Millisecond), tailText(r.stdout, 3000), tailText(r.stderr, 6000))
}

func tailText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// run runs `wtt ARGS --yes -o json` with extra environment, waiting at most
// runTimeout.
func (w *relWalker) run(args []string, extraEnv ...string) *wttRunResult {
	w.runs++
	callLog := filepath.Join(w.dir, fmt.Sprintf("calls-%03d.log", w.runs))
	full := append(append([]string{}, args...), "--yes", "-o", "json", "--timeout", runTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "wtt"), full...)
	cmd.Env = append(os.Environ(), w.emu.Env()...)
	cmd.Env = append(cmd.Env,
		"AWS_ENDPOINT_URL="+w.endpoint,
		"WTT_APP="+w.app,
		"WTT_MAX_BACKOFF=200ms",
		"WTT_CALL_LOG="+callLog,
		"WTT_CALL_LOG_ALL="+callLogAll, // the suite-wide IAM check (iampolicy_test.go)
		"HOME="+w.dir,
		"NO_COLOR=1",
	)
	cmd.Env = append(cmd.Env, w.env...)
	cmd.Env = append(cmd.Env, extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := &wttRunResult{cmd: "wtt " + strings.Join(full, " "), stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if len(extraEnv) > 0 {
		r.cmd = strings.Join(extraEnv, " ") + " " + r.cmd
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		r.killed = r.code == -1
	default:
		r.code, r.stderr = -2, r.stderr+"\nstarting wtt: "+err.Error()
	}
	if ctx.Err() != nil {
		r.code, r.killed = -3, false
		r.stderr += fmt.Sprintf("\n(the test killed wtt after %s)", runTimeout)
	}
	r.calls = readRunCallLog(callLog)
	w.last = r
	return r
}

func readRunCallLog(path string) []string {
	f, err := os.Open(path)
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

// result is the JSON a mutating command prints last with -o json.
type runJSON struct {
	Plan struct {
		Steps []json.RawMessage `json:"steps"`
	} `json:"plan"`
	Stage string `json:"stage"`
	OK    bool   `json:"ok"`
}

// completed checks that the run succeeded and returns its result.
func (r *wttRunResult) completed() (*runJSON, error) {
	if r.code != 0 {
		return nil, fmt.Errorf("exit %d, want 0\n%s", r.code, r)
	}
	var out runJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		return nil, fmt.Errorf("stdout is not the result JSON (%v)\n%s", err, r)
	}
	if !out.OK || out.Stage == "" {
		return nil, fmt.Errorf("result not ok or without a stage\n%s", r)
	}
	return &out, nil
}

var debugSummary = regexp.MustCompile(`\[debug\] (\d+) AWS calls, (\d+) retries`)

// retries reads the --debug summary: calls and retries the run made.
func (r *wttRunResult) retries() (calls, retries int) {
	m := debugSummary.FindAllStringSubmatch(r.stderr, -1)
	if len(m) == 0 {
		return 0, 0
	}
	last := m[len(m)-1]
	calls, _ = strconv.Atoi(last[1])
	retries, _ = strconv.Atoi(last[2])
	return calls, retries
}

// leaseHeld reports whether the app's lease parameter exists.
func (w *relWalker) leaseHeld(ctx context.Context) (bool, error) {
	_, err := w.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(names.For(w.app).LeaseParameter())})
	var nf *ssmtypes.ParameterNotFound
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &nf):
		return false, nil
	}
	return false, err
}

// ---------------------------------------------------------------------------
// What exists: the shape of the app in AWS

// appShape is what exists for the app, counted by kind: the inventory of
// checks_test.go (what `down` must remove) plus what a duplicate or a
// half-done step would change — instances by state and type, addresses,
// records, targets, listeners, group sizes, template versions, policies,
// rules, Reserved Instances, objects, the lease.
type appShape map[string]int

func (s appShape) String() string {
	var parts []string
	for k, v := range s {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// diff lists the kinds whose counts differ, "kind: got N, want M".
func (s appShape) diff(want appShape) []string {
	keys := map[string]bool{}
	for k := range s {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		if s[k] != want[k] {
			out = append(out, fmt.Sprintf("%s: got %d, want %d", k, s[k], want[k]))
		}
	}
	sort.Strings(out)
	return out
}

func (w *relWalker) shape(ctx context.Context) (appShape, error) {
	c := w.check
	inv, err := c.inventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	s := appShape{}
	for k, v := range inv {
		s[k] = v
	}
	for _, add := range []func(context.Context, *checker, appShape) error{
		shapeInstances, shapeAddresses, shapeRecords, shapeLoadBalancing, shapeGroup,
		shapeTemplates, shapeSecurityRules, shapeReserved, shapeRole, shapeObjects,
	} {
		if err := add(ctx, c, s); err != nil {
			return nil, err
		}
	}
	if held, err := w.leaseHeld(ctx); err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	} else if held {
		s["lease"] = 1
	}
	for k, v := range s {
		if v == 0 {
			delete(s, k)
		}
	}
	return s, nil
}

func shapeInstances(ctx context.Context, c *checker, s appShape) error {
	is, err := c.instances(ctx, "pending", "running", "stopping", "stopped")
	if err != nil {
		return fmt.Errorf("instances: %w", err)
	}
	for _, i := range is {
		s[fmt.Sprintf("instance/%s/%s", i.State.Name, i.InstanceType)]++
		if aws.ToString(i.PublicIpAddress) != "" {
			s["instance/public-ipv4"]++
		}
	}
	return nil
}

func shapeAddresses(ctx context.Context, c *checker, s appShape) error {
	out, err := c.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{c.appFilter()}})
	if err != nil {
		return fmt.Errorf("addresses: %w", err)
	}
	for _, a := range out.Addresses {
		if aws.ToString(a.AssociationId) != "" {
			s["eip/associated"]++
		}
	}
	return nil
}

// shapeRecords counts the records in the zones wtt created for the app,
// by type (NS and SOA come with every zone).
func shapeRecords(ctx context.Context, c *checker, s appShape) error {
	zones, err := c.r53.ListHostedZones(ctx, &route53.ListHostedZonesInput{})
	if err != nil {
		return fmt.Errorf("hosted zones: %w", err)
	}
	for _, z := range zones.HostedZones {
		comment := ""
		if z.Config != nil {
			comment = aws.ToString(z.Config.Comment)
		}
		if !strings.Contains(comment, "wtt app "+c.app) {
			continue
		}
		rr, err := c.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: z.Id})
		if err != nil {
			return fmt.Errorf("records of %s: %w", aws.ToString(z.Name), err)
		}
		for _, r := range rr.ResourceRecordSets {
			if r.Type == "NS" || r.Type == "SOA" {
				continue
			}
			kind := "record/" + string(r.Type)
			if r.AliasTarget != nil {
				kind += "/alias"
			}
			s[kind]++
			s[kind+"/values"] += len(r.ResourceRecords)
		}
	}
	return nil
}

func shapeLoadBalancing(ctx context.Context, c *checker, s appShape) error {
	lbs, err := c.elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	if err != nil {
		return fmt.Errorf("load balancers: %w", err)
	}
	for _, lb := range lbs.LoadBalancers {
		if !strings.HasPrefix(aws.ToString(lb.LoadBalancerName), "wtt-"+c.app) {
			continue
		}
		s["load-balancer/azs"] += len(lb.AvailabilityZones)
		ls, err := c.elb.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
		if err != nil {
			return fmt.Errorf("listeners: %w", err)
		}
		s["listener"] += len(ls.Listeners)
	}
	tgs, err := c.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
	if err != nil {
		return fmt.Errorf("target groups: %w", err)
	}
	for _, tg := range tgs.TargetGroups {
		if !strings.HasPrefix(aws.ToString(tg.TargetGroupName), "wtt-"+c.app) {
			continue
		}
		th, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
		if err != nil {
			return fmt.Errorf("target health: %w", err)
		}
		for _, d := range th.TargetHealthDescriptions {
			state := "unknown"
			if d.TargetHealth != nil {
				state = string(d.TargetHealth.State)
			}
			s["target/"+state]++
		}
	}
	return nil
}

func shapeGroup(ctx context.Context, c *checker, s appShape) error {
	out, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		return fmt.Errorf("groups: %w", err)
	}
	for _, g := range out.AutoScalingGroups {
		name := aws.ToString(g.AutoScalingGroupName)
		if !strings.HasPrefix(name, "wtt-"+c.app) {
			continue
		}
		s["group/min"] += int(aws.ToInt32(g.MinSize))
		s["group/max"] += int(aws.ToInt32(g.MaxSize))
		s["group/desired"] += int(aws.ToInt32(g.DesiredCapacity))
		s["group/azs"] += len(g.AvailabilityZones)
		s["group/instances"] += len(g.Instances)
		s["group/target-groups"] += len(g.TargetGroupARNs)
		pol, err := c.asg.DescribePolicies(ctx, &autoscaling.DescribePoliciesInput{AutoScalingGroupName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("scaling policies: %w", err)
		}
		s["group/policies"] += len(pol.ScalingPolicies)
	}
	return nil
}

func shapeTemplates(ctx context.Context, c *checker, s appShape) error {
	lts, err := c.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{Filters: []ec2types.Filter{c.appFilter()}})
	if err != nil {
		return fmt.Errorf("launch templates: %w", err)
	}
	for _, lt := range lts.LaunchTemplates {
		s["launch-template/latest-version"] += int(aws.ToInt64(lt.LatestVersionNumber))
	}
	return nil
}

func shapeSecurityRules(ctx context.Context, c *checker, s appShape) error {
	sgs, err := c.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{c.appFilter()}})
	if err != nil {
		return fmt.Errorf("security groups: %w", err)
	}
	for _, g := range sgs.SecurityGroups {
		for _, p := range g.IpPermissions {
			s["security-group/ingress-sources"] += len(p.IpRanges) + len(p.Ipv6Ranges) + len(p.UserIdGroupPairs) + len(p.PrefixListIds)
		}
	}
	return nil
}

// shapeReserved counts the account's covering Reserved Instances: each walk
// has an emulator (an account) of its own.
func shapeReserved(ctx context.Context, c *checker, s appShape) error {
	out, err := c.ec2.DescribeReservedInstances(ctx, &ec2.DescribeReservedInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("state"), Values: []string{"active", "payment-pending"}},
	}})
	if err != nil {
		return fmt.Errorf("reserved instances: %w", err)
	}
	for _, r := range out.ReservedInstances {
		s["reserved/"+string(r.InstanceType)] += int(aws.ToInt32(r.InstanceCount))
		s["reserved/purchases"]++
		for _, tag := range r.Tags {
			if aws.ToString(tag.Key) == names.TagApp && aws.ToString(tag.Value) == c.app {
				s["reserved/tagged-for-app"]++
			}
		}
	}
	return nil
}

func shapeRole(ctx context.Context, c *checker, s appShape) error {
	role := aws.String("wtt-" + c.app + "-instance")
	inline, err := c.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: role})
	if err != nil {
		return nil // no role: counted as absent by the inventory
	}
	attached, err := c.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: role})
	if err != nil {
		return fmt.Errorf("attached role policies: %w", err)
	}
	s["iam-role/policies"] += len(inline.PolicyNames) + len(attached.AttachedPolicies)
	return nil
}

func shapeObjects(ctx context.Context, c *checker, s appShape) error {
	buckets, err := c.s3.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return fmt.Errorf("buckets: %w", err)
	}
	for _, b := range buckets.Buckets {
		if !strings.HasPrefix(aws.ToString(b.Name), "wtt-"+c.app+"-") {
			continue
		}
		objs, err := c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b.Name})
		if err != nil {
			return fmt.Errorf("objects of %s: %w", aws.ToString(b.Name), err)
		}
		s["bucket/objects"] += len(objs.Contents)
	}
	return nil
}

// ---------------------------------------------------------------------------
// The reference walk

// refPoint is what the reference walk saw after one command.
type refPoint struct {
	shape     appShape
	stage     string
	steps     int // steps of the plan it ran
	mutations int // mutating calls it made, the lease's included
	calls     int
	took      time.Duration
}

// reference is the undisturbed walk, published command by command so the
// other walks can compare while it is still running.
type reference struct {
	cmds   []rungCommand // for its own app; others differ only in names
	ready  []chan struct{}
	points []refPoint
	done   chan struct{}
	err    error
}

// startReference starts the reference walk in the background on its own
// emulator.
func startReference(t *testing.T) *reference {
	app := "rel-ref"
	w := newRelWalker(t, app)
	r := &reference{cmds: ladderCommands(app), done: make(chan struct{})}
	r.points = make([]refPoint, len(r.cmds))
	for range r.cmds {
		r.ready = append(r.ready, make(chan struct{}))
	}
	go func() {
		defer close(r.done)
		r.err = r.walk(w)
	}()
	t.Cleanup(func() { <-r.done }) // the emulator outlives the walk
	return r
}

func (r *reference) walk(w *relWalker) error {
	for i, c := range r.cmds {
		res := w.run(c.args)
		out, err := res.completed()
		if err != nil {
			return fmt.Errorf("reference walk, %s: %w", c, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		sh, err := w.shape(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("reference walk, after %s: %w", c, err)
		}
		r.points[i] = refPoint{shape: sh, stage: out.Stage, steps: len(out.Plan.Steps), mutations: len(res.mutations()), calls: len(res.calls), took: res.took}
		close(r.ready[i])
	}
	return nil
}

func (r *reference) wait() { <-r.done }

// at waits for the reference's point after command i; it fails the test if
// the reference walk failed before reaching it.
func (r *reference) at(t *testing.T, i int) refPoint {
	t.Helper()
	select {
	case <-r.ready[i]:
		return r.points[i]
	case <-r.done:
		select {
		case <-r.ready[i]:
			return r.points[i]
		default:
		}
		t.Fatalf("no reference to compare with: %v", r.err)
	}
	return refPoint{}
}

func (r *reference) summary() string {
	var b strings.Builder
	for i, c := range r.cmds {
		p := r.points[i]
		fmt.Fprintf(&b, "\n  %-22s %d step(s), %3d calls, %2d mutating, %6s -> %s", c.name, p.steps, p.calls, p.mutations, p.took.Round(time.Millisecond), p.stage)
	}
	return b.String()
}

// knownDifferences are kinds in which a crash may leave AWS different from
// an undisturbed walk for a reason wtt cannot remove. They are logged, not
// failed; docs/reliability-faults.md lists them.
var knownDifferences = map[string]string{
	"reserved/tagged-for-app": "EC2 cannot tag Reserved Instances in the purchase call; a crash between " +
		"PurchaseReservedInstancesOffering and CreateTags leaves them untagged, and the next run sees the coverage and buys (and tags) nothing",
}

// expect compares what exists after command i with the reference. stage is
// the stage the last run reported; applied says it applied steps, so it held
// the lease and must have released it. (A run with nothing to do never
// takes the lease, so it leaves a crashed predecessor's stale lease for the
// next mutating run to break.)
func (w *relWalker) expect(t *testing.T, ref *reference, i int, stage string, applied bool) {
	t.Helper()
	want := ref.at(t, i)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := w.shape(ctx)
	if err != nil {
		t.Fatalf("after %s: reading AWS: %v", ref.cmds[i].name, err)
	}
	if applied && got["lease"] > 0 {
		t.Fatalf("after %s: the run finished but its lease is still there", ref.cmds[i].name)
	}
	delete(got, "lease")
	for kind, why := range knownDifferences {
		if got[kind] != want.shape[kind] {
			w.logf("known difference after %s: %s %d, undisturbed %d: %s", ref.cmds[i].name, kind, got[kind], want.shape[kind], why)
			got[kind] = want.shape[kind]
		}
	}
	if d := got.diff(want.shape); len(d) > 0 {
		t.Fatalf("after %s, AWS differs from the undisturbed walk:\n  %s\n  got:  %s\n  want: %s\nlast run:\n%s",
			ref.cmds[i].name, strings.Join(d, "\n  "), got, want.shape, w.last)
	}
	if stage != want.stage {
		t.Fatalf("after %s: stage %s, want %s", ref.cmds[i].name, stage, want.stage)
	}
	if ref.cmds[i].name == "down" {
		inv, err := w.check.inventory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(inv) > 0 {
			t.Fatalf("after down, left behind: %s", formatInventory(inv))
		}
	}
}
