package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/emulatortest"
	"github.com/whatsthetime/wtt/pkg/iampolicy"
)

// The IAM policy `wtt iam-policy` prints is checked against what the binary
// really calls, twice:
//
//   - checkSuiteCallsInPolicy (after every test of the package, from
//     TestMain): every action any wtt run of the suite called is in the
//     policy for all commands. It holds however few tests ran.
//   - TestIAMPolicyExact walks one app through the whole ladder, records the
//     calls of each command, and requires the policy of each command to be
//     exactly what it called (plus the actions AWS implies, which no call
//     log can show): nothing missing, nothing extra, except the actions
//     listed in notExercised with the reason the emulator walk cannot reach
//     them.

// checkSuiteCallsInPolicy reads the suite-wide call log and fails (returns
// 1) if any action called is missing from the policy.
func checkSuiteCallsInPolicy() int {
	calls, err := readLines(callLogAll)
	if err != nil {
		fmt.Fprintln(os.Stderr, "iam-policy check:", err)
		return 1
	}
	if len(calls) == 0 {
		return 0 // no test ran wtt against AWS
	}
	policy, err := policyActions()
	if err != nil {
		fmt.Fprintln(os.Stderr, "iam-policy check:", err)
		return 1
	}
	called := map[string]bool{}
	for _, c := range calls {
		called[awsclient.IAMAction(c)] = true
	}
	var missing []string
	for a := range called {
		if !slices.Contains(policy, a) {
			missing = append(missing, a)
		}
	}
	sort.Strings(missing)
	fmt.Printf("iam-policy check: the tests called %d distinct AWS actions (%d calls); the policy for all commands allows %d actions\n",
		len(called), len(calls), len(policy))
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "iam-policy check: FAIL: the tests called %d action(s) `wtt iam-policy` does not allow: %s\n"+
			"  add each to the Calls of the step (or to observe.Calls / ladder's check lists) that makes it\n",
			len(missing), strings.Join(missing, ", "))
		return 1
	}
	return 0
}

// policyActions runs `wtt iam-policy --actions COMMAND...`.
func policyActions(commands ...string) ([]string, error) {
	home, err := os.MkdirTemp("", "wtt-iam-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	cmd := exec.Command(filepath.Join(binDir, "wtt"), append([]string{"iam-policy", "--actions"}, commands...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "WTT_CONFIG=", "WTT_APP=", "WTT_OUTPUT=", "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL=")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("wtt iam-policy %v: %v", commands, err)
	}
	return strings.Fields(string(out)), nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}

// notExercised are the actions a command's policy must allow that the walk
// below does not make it call, each with the reason. Nearly all are
// repairs: a step finds a resource wtt made but someone changed (or an
// interrupted run left), and puts it back. The walk makes no such drift.
// The test fails if one of them gets called after all, so the list cannot
// go stale.
var notExercised = map[string]map[string]string{
	"migrate": {
		"ec2:DescribeInternetGateways":               "discovery describes the gateways only when no active default route proves the app's gateway attached (an interrupted up, a gateway detached by hand)",
		"ec2:DescribeVpcEndpoints":                   "discovery describes the endpoints only when the route tables do not prove the S3 endpoint (an interrupted up, an endpoint deleted by hand)",
		"autoscaling:AttachLoadBalancerTargetGroups": "asg rung repair: the group exists but was detached from the target group; wtt creates it attached",
		"ec2:CreateLaunchTemplateVersion":            "asg rung repair: the launch template's latest version differs from what the rung launches (changed by hand)",
		"ec2:RevokeSecurityGroupIngress":             "alb rung repair: the private security group admits more than tcp/80 from the load balancer (a rule added by hand)",
		"elasticloadbalancing:ModifyListener":        "alb rung repair: the :80 listener forwards somewhere else than the app's target group",
		"elasticloadbalancing:ModifyTargetGroup":     "alb rung repair: the target group's health check is not GET /healthz",
		"elasticloadbalancing:SetSecurityGroups":     "alb rung repair: the load balancer lost the app's security group",
		"elasticloadbalancing:SetSubnets":            "alb rung repair of a load balancer in fewer than 2 AZs, and multi-az when the load balancer lacks an AZ the group spans; the alb rung already spans every AZ of wtt's network",
		"route53:ListHostedZonesByName":              "dns rung recovery: CreateHostedZone says an interrupted earlier run already created the zone with this caller reference",
		"route53:ListTagsForResource":                "dns rung recovery: a zone wtt created (found by its comment) whose tags an interrupted run never added; discovery reads ownership from the comment",
		"route53:GetChange":                          routeChangePoll,
		"ec2:DescribeLaunchTemplates":                "asg rung recovery: the template is looked up by name only when CreateLaunchTemplate says one of that name exists that discovery (by name too) did not find: an interrupted run's",
	},
	"down": {
		"ec2:CreateTags":        "tags the Reserved Instances an interrupted purchase bought, only when its intent is still pending (lostanswers_test.go kills a run there)",
		"sts:GetCallerIdentity": "a run's lease read is its preflight; STS is asked for the account only while the app has no VPC (a half-made app: a bucket or role left without a network)",
	},
	"plan": {
		"ec2:DescribeInternetGateways": "discovery describes the gateways only when no active default route proves the app's gateway attached (an interrupted up, a gateway detached by hand)",
		"ec2:DescribeVpcEndpoints":     "discovery describes the endpoints only when the route tables do not prove the S3 endpoint (an interrupted up, an endpoint deleted by hand)",
	},
	"status": {
		"ec2:DescribeInternetGateways": "discovery describes the gateways only when no active default route proves the app's gateway attached (an interrupted up, a gateway detached by hand)",
		"ec2:DescribeVpcEndpoints":     "discovery describes the endpoints only when the route tables do not prove the S3 endpoint (an interrupted up, an endpoint deleted by hand)",
	},
	"up": {
		"ec2:DescribeInternetGateways": "discovery describes the gateways only when no active default route proves the app's gateway attached (an interrupted up, a gateway detached by hand)",
		"ec2:DescribeVpcEndpoints":     "discovery describes the endpoints only when the route tables do not prove the S3 endpoint (an interrupted up, an endpoint deleted by hand)",
		"s3:GetObject":                 "implied by s3:HeadObject, which ensureDelivery sends only to a bucket that was there before (a re-run of an interrupted up): a bucket up has just created holds nothing",
	},
	"scale": {
		"ec2:DescribeInternetGateways":  "discovery describes the gateways only when no active default route proves the app's gateway attached (an interrupted up, a gateway detached by hand)",
		"ec2:DescribeVpcEndpoints":      "discovery describes the endpoints only when the route tables do not prove the S3 endpoint (an interrupted up, an endpoint deleted by hand)",
		"sts:GetCallerIdentity":         "a run's lease read is its preflight; STS is asked for the account only while the app has no VPC (a half-made app: a bucket or role left without a network)",
		"ec2:DescribeLaunchTemplates":   "findLaunchTemplate looks the template up by name only when discovery (which reads it by name too) found none: a vertical scale at a group whose template was deleted by hand",
		"iam:GetRole":                   "discovery finds the instance role in the instance profile; it asks for the role only when the profile does not hold it (removed by hand, or an interrupted up)",
		"iam:PutRolePolicy":             "ensureDelivery puts the role's policies only when the profile does not hold the role (wtt adds it there last, after them): an interrupted up, or a role removed by hand",
		"iam:AttachRolePolicy":          "as iam:PutRolePolicy",
		"ec2:CreateLaunchTemplate":      "vertical scale at a group whose launch template was deleted by hand: ensureLaunchTemplate makes it again",
		"iam:CreateRole":                "launching instances goes through ensureDelivery, which recreates the instance role only if it was deleted since up",
		"iam:TagRole":                   "implied by iam:CreateRole (tags given at creation)",
		"iam:CreateInstanceProfile":     "as iam:CreateRole: only if the instance profile was deleted since up",
		"iam:TagInstanceProfile":        "implied by iam:CreateInstanceProfile",
		"iam:AddRoleToInstanceProfile":  "as iam:CreateRole: only if the role was removed from the instance profile",
		"s3:CreateBucket":               "launching instances goes through ensureDelivery, which recreates the delivery bucket only if it was deleted since up",
		"s3:PutBucketPublicAccessBlock": "as s3:CreateBucket",
		"s3:PutBucketTagging":           "as s3:CreateBucket",
		"route53:GetChange":             routeChangePoll,
	},
}

// routeChangePoll is why no walk polls a Route 53 change: AWS answers a
// change PENDING and wtt polls GetChange until INSYNC; the emulator
// answers INSYNC at once, and an answer that says so is not polled.
const routeChangePoll = "Route 53 answers a record change PENDING and wtt polls it until INSYNC; the emulator answers INSYNC at once, which needs no poll"

// walkStep is one command of the walk and the exit code it must give.
type walkStep struct {
	app  *wttApp
	args []string
	code int
}

// ladderWalk is the walk TestIAMPolicyExact records. One app climbs every
// rung one at a time, scaling both ways at each kind of fleet, with the
// checks before planning (an explicit type and AMI, the zone preview, the
// Reserved Instance offering) and the read-only commands; at the top, `up`
// has nothing to do (it still observes everything there is). A second app is
// bootstrapped by migrate (not up) and deleted from eip; a third jumps
// from nothing to reserved, publishing a CNAME from the load balancer rung.
func ladderWalk(one, boot, jump *wttApp, ami, newServer string) []walkStep {
	name := "api." + one.app + ".com"
	s := func(w *wttApp, args ...string) walkStep { return walkStep{app: w, args: args} }
	return []walkStep{
		s(one, "status"),
		s(one, "plan", "--to=single", "--instance-type", "t2.micro", "--ami", ami),
		s(one, "up", "--instance-type", "t2.micro", "--ami", ami, "--yes"),
		s(one, "plan", "--to=eip"),                         // the Elastic IP quota check
		s(one, "scale", "--vertical", "t3.small", "--yes"), // single: stop, modify, start
		s(one, "migrate", "--to=eip", "--yes"),
		s(one, "scale", "--horizontal", "2", "--yes"), // eip: launch, allocate (quota checked)
		s(one, "scale", "--vertical", "t2.micro", "--yes"),
		s(one, "scale", "--horizontal", "1", "--yes"), // eip: terminate, release
		s(one, "plan", "--to=dns", "--dns-name", name),
		s(one, "migrate", "--to=dns", "--dns-name", name, "--ttl", "3", "--yes"), // the alb rung drains for the TTL
		s(one, "scale", "--horizontal", "2", "--yes"),                            // dns: launch, update the record
		s(one, "scale", "--horizontal", "1", "--yes"),
		s(one, "plan", "--to=alb"),
		s(one, "migrate", "--to=alb", "--yes"),
		s(one, "scale", "--horizontal", "2", "--yes"), // alb: launch, register
		// alb: rolling replacement, delivering a new build of the server
		s(one, "scale", "--vertical", "t3.small", "--server-binary", newServer, "--yes"),
		s(one, "scale", "--horizontal", "1", "--yes"), // alb: drain, terminate
		s(one, "migrate", "--to=asg", "--yes"),
		s(one, "scale", "--horizontal", "2", "--yes"),      // asg: desired capacity
		s(one, "scale", "--vertical", "t2.micro", "--yes"), // asg: template version, refresh
		s(one, "migrate", "--to=multi-az", "--yes"),
		s(one, "plan", "--to=reserved"),
		s(one, "migrate", "--to=reserved", "--yes"),
		s(one, "status", "-o", "json"),
		s(one, "up", "--yes"), // nothing to do at the top, after observing it all
		s(one, "down", "--yes"),
		s(one, "status"),

		s(boot, "migrate", "--to=eip", "--instance-type", "t2.micro", "--ami", ami, "--yes"),
		s(boot, "down", "--yes"),

		s(jump, "migrate", "--to=reserved", "--dns-name", "api."+jump.app+".com", "--record-type", "cname", "--yes"),
		s(jump, "down", "--yes"),
	}
}

// TestIAMPolicyExact compares, command by command, the policy `wtt
// iam-policy COMMAND` prints with the actions the command called on walks
// up the whole ladder and down again.
func TestIAMPolicyExact(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (scripts_test.go)
	if testing.Short() {
		t.Skip("starts an emulator and walks the whole ladder with the real binary")
	}
	emu := emulatortest.Start(t)
	cfg := emu.AWSConfig(t)
	one, boot, jump := newWttApp(t, emu, "e2e-iam-one"), newWttApp(t, emu, "e2e-iam-boot"), newWttApp(t, emu, "e2e-iam-jump")
	t.Cleanup(func() {
		for _, w := range []*wttApp{one, boot, jump} {
			w.run([]string{"down", "--yes"})
		}
	})

	p, err := ssm.NewFromConfig(cfg).GetParameter(context.Background(), &ssm.GetParameterInput{
		Name: aws.String("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")})
	if err != nil {
		t.Fatalf("looking up the AMI: %v", err)
	}
	ami := aws.ToString(p.Parameter.Value)
	newServer := newServerBuild(t)

	called := map[string][]string{} // command -> calls, as recorded
	total := 0
	for _, st := range ladderWalk(one, boot, jump, ami, newServer) {
		st.app.resetCalls()
		r := st.app.run(st.args)
		if r.code != st.code {
			t.Fatalf("the walk failed (want exit %d):\n%s", st.code, r)
		}
		calls := st.app.calls()
		total += len(calls)
		called[st.args[0]] = append(called[st.args[0]], calls...)
	}

	commands := make([]string, 0, len(called))
	for c := range called {
		commands = append(commands, c)
	}
	sort.Strings(commands)
	var union []string
	for _, cmd := range commands {
		t.Run(cmd, func(t *testing.T) {
			policy, err := policyActions(cmd)
			if err != nil {
				t.Fatal(err)
			}
			union = append(union, called[cmd]...)
			want := iampolicy.Actions(called[cmd]) // what it called, and what AWS implies
			missing, extra := difference(want, policy), difference(policy, want)
			for _, a := range missing {
				t.Errorf("`wtt %s` called %s, which `wtt iam-policy %s` does not allow", cmd, a, cmd)
			}
			for _, a := range extra {
				if _, ok := notExercised[cmd][a]; !ok {
					t.Errorf("`wtt iam-policy %s` allows %s, which the walk never needed (remove it from the step's Calls, or list it in notExercised with the reason)", cmd, a)
				}
			}
			for a := range notExercised[cmd] {
				if slices.Contains(want, a) {
					t.Errorf("%s is listed as not exercised by %s, but the walk called it: remove it from notExercised", a, cmd)
				}
				if !slices.Contains(policy, a) {
					t.Errorf("%s is listed as not exercised by %s, but its policy does not allow it: remove it from notExercised", a, cmd)
				}
			}
			t.Logf("wtt %s: %d distinct actions called (%d with implied ones); the policy allows %d; %d listed as not exercised",
				cmd, len(distinct(called[cmd])), len(want), len(policy), len(notExercised[cmd]))
		})
	}

	// The policy for several commands is the union of theirs.
	all, err := policyActions(commands...)
	if err != nil {
		t.Fatal(err)
	}
	want := iampolicy.Actions(union)
	if len(difference(want, all)) > 0 {
		t.Errorf("`wtt iam-policy %s` misses %v", strings.Join(commands, " "), difference(want, all))
	}
	t.Logf("the walk made %d AWS calls over %d commands: %d distinct IAM actions; `wtt iam-policy %s` allows %d",
		total, len(commands), len(want), strings.Join(commands, " "), len(all))
}

// newServerBuild is the time server TestMain built with one byte more: a
// new build, so a scale that launches instances must upload it.
func newServerBuild(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(binDir, "whatsthetime-linux-amd64"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "whatsthetime-linux-amd64")
	if err := os.WriteFile(path, append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// difference is a minus b, sorted.
func difference(a, b []string) []string {
	var out []string
	for _, x := range distinct(a) {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func distinct(xs []string) []string {
	out := slices.Clone(xs)
	for i := range out {
		out[i] = awsclient.IAMAction(out[i])
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// TestDebugTraceHasNoSecrets runs commands with --debug, credentials and a
// session token set to markers, through success, EC2's DryRun refusals and
// injected faults: the trace must name the calls and never a credential.
func TestDebugTraceHasNoSecrets(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (scripts_test.go)
	if testing.Short() {
		t.Skip("starts an emulator and runs the real binary")
	}
	emu := emulatortest.Start(t)
	w := newWttApp(t, emu, "e2e-debug")
	const (
		keyID   = "AKIAWTTDEBUGMARKER01"
		secret  = "wttSecretMarker/0123456789abcdefghijklmnopqrstu"
		session = "wttSessionTokenMarker0123456789"
	)
	creds := []string{"AWS_ACCESS_KEY_ID=" + keyID, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_SESSION_TOKEN=" + session}
	runs := []struct {
		args []string
		env  []string
	}{
		{[]string{"status", "--debug"}, nil},
		{[]string{"up", "--debug", "--dry-run=server"}, nil},
		{[]string{"up", "--debug", "--yes"}, []string{"WTT_FAULT_RATE=0.2", "WTT_FAULT_SEED=7"}},
		{[]string{"status", "--debug", "-o", "json"}, nil},
		{[]string{"down", "--debug", "--yes"}, []string{"WTT_FAULT_RATE=0.2", "WTT_FAULT_SEED=11"}},
	}
	for _, run := range runs {
		r := w.run(run.args, append(slices.Clone(creds), run.env...)...)
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		out := r.stdout + r.stderr
		if !strings.Contains(r.stderr, "[debug] ec2:DescribeVpcs") || !strings.Contains(r.stderr, "AWS calls,") {
			t.Errorf("wtt %s: no trace of the calls on stderr:\n%s", strings.Join(run.args, " "), r)
		}
		for _, leak := range []string{secret, session, keyID, "Signature=", "X-Amz-Security-Token", "Authorization"} {
			if strings.Contains(out, leak) {
				t.Errorf("wtt %s: the output contains %q:\n%s", strings.Join(run.args, " "), leak, r)
			}
		}
	}
}
