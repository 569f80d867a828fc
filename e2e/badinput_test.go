package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/emulatortest"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
)

// wttApp runs the real binary for one app, with a call log of its own (and
// the suite-wide one), stdin not a terminal, as a script in CI would.
type wttApp struct {
	t       *testing.T
	emu     *emulatortest.Emulator
	app     string
	home    string
	callLog string
}

func newWttApp(t *testing.T, emu *emulatortest.Emulator, app string) *wttApp {
	dir := t.TempDir()
	return &wttApp{t: t, emu: emu, app: app, home: dir, callLog: filepath.Join(dir, "calls.log")}
}

type wttResult struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r wttResult) String() string {
	return fmt.Sprintf("$ wtt %s (exit %d)\n[stdout]\n%s[stderr]\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs wtt with args; env entries (KEY=value) are added last, so they
// win over the defaults.
func (w *wttApp) run(args []string, env ...string) wttResult {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "wtt"), args...)
	cmd.Env = append(os.Environ(), w.emu.Env()...)
	cmd.Env = append(cmd.Env, "WTT_APP="+w.app, "WTT_MAX_BACKOFF=200ms", "HOME="+w.home, "XDG_CONFIG_HOME="+filepath.Join(w.home, ".config"),
		"NO_COLOR=1", "WTT_CALL_LOG="+w.callLog, "WTT_CALL_LOG_ALL="+callLogAll, "WTT_CONFIG=", "WTT_OUTPUT=")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(""), &stdout, &stderr
	err := cmd.Run()
	r := wttResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		w.t.Fatalf("running wtt %v: %v", args, err)
	}
	return r
}

// must runs wtt and fails the test unless it exits 0.
func (w *wttApp) must(args ...string) wttResult {
	w.t.Helper()
	r := w.run(args)
	if r.code != 0 {
		w.t.Fatalf("%s", r)
	}
	return r
}

// calls returns the actions logged since the last reset.
func (w *wttApp) calls() []string {
	w.t.Helper()
	return callLogLines(w.t, w.callLog)
}

func (w *wttApp) resetCalls() {
	if err := os.Remove(w.callLog); err != nil && !os.IsNotExist(err) {
		w.t.Fatal(err)
	}
}

func callLogLines(t *testing.T, path string) []string {
	t.Helper()
	lines, err := readLines(path)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func mutating(calls []string) []string {
	var out []string
	for _, c := range calls {
		if awsclient.IsMutating(c) {
			out = append(out, c)
		}
	}
	return out
}

// badCase is one invocation that must be refused.
type badCase struct {
	name    string
	app     *wttApp // whose app it runs against
	args    []string
	env     []string
	problem string // regexp stderr must match: what is wrong
	fix     string // regexp of the fix; default: a "fix:" line
}

// fixLine is how wtt says what to do: "  fix: <text>" under the problem.
var fixLine = `(?m)^  fix: \S`

// TestBadInput runs the real binary with invalid invocations against apps
// at known stages. Every one must exit 2, say what is wrong and what to do,
// make no mutating AWS call (the binary's own call log says), and leave
// AWS as it was (spot-checked through the SDK).
func TestBadInput(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (scripts_test.go)
	if testing.Short() {
		t.Skip("starts an emulator and runs the real binary")
	}
	emu := emulatortest.Start(t)
	cfg := emu.AWSConfig(t)
	ctx := context.Background()

	// a is at stage eip (scale and "down the ladder" cases mean something
	// there); b is published at dns; fresh has nothing at all.
	a, b, fresh := newWttApp(t, emu, "e2e-bad-eip"), newWttApp(t, emu, "e2e-bad-dns"), newWttApp(t, emu, "e2e-bad-none")
	a.must("up", "--yes")
	a.must("migrate", "--to=eip", "--yes")
	bName := "api.e2e-bad-dns.com"
	b.must("migrate", "--to=dns", "--dns-name", bName, "--yes")
	t.Cleanup(func() {
		for _, w := range []*wttApp{a, b} {
			if r := w.run([]string{"down", "--yes"}); r.code != 0 {
				t.Errorf("cleanup: %s", r)
			}
		}
	})
	before := map[string]string{a.app: snapshot(t, cfg, a.app), b.app: snapshot(t, cfg, b.app)}

	badYAML := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(badYAML, []byte("app: [unclosed\n  dns:\n\tname: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notInRegion := typeNotOfferedInRegion(t, ctx, cfg)
	aAZ, notInAZ := typeNotOfferedInAZ(t, ctx, cfg, a.app)

	cases := []badCase{
		// stages and commands
		{name: "unknown stage", app: a, args: []string{"migrate", "--to=bogus", "--yes"}, problem: `unknown stage "bogus"`},
		{name: "missing --to", app: a, args: []string{"migrate", "--yes"}, problem: `--to is required`, fix: `fix: pass --to=STAGE`},
		{name: "empty --to", app: a, args: []string{"plan", "--to="}, problem: `--to is required`},
		{name: "--to=none", app: a, args: []string{"migrate", "--to=none", "--yes"}, problem: `migrating to stage none is not supported`, fix: "fix: run `wtt down`"},
		{name: "down the ladder from eip", app: a, args: []string{"migrate", "--to=single", "--yes"}, problem: `the app is at stage eip, above single`, fix: "wtt down"},
		{name: "down the ladder from dns", app: b, args: []string{"migrate", "--to=eip", "--yes"}, problem: `the app is at stage dns, above eip`, fix: "wtt down"},
		{name: "plan down the ladder", app: b, args: []string{"plan", "--to=single"}, problem: `above single`, fix: "wtt down"},
		{name: "unknown command", app: a, args: []string{"teleport"}, problem: `unknown command "teleport" for "wtt"`},
		{name: "unexpected positional arg", app: a, args: []string{"status", "extra"}, problem: `unknown command "extra" for "wtt status"`},
		{name: "positional arg to down", app: a, args: []string{"down", "everything", "--yes"}, problem: `unknown command "everything" for "wtt down"`},
		{name: "unknown flag", app: a, args: []string{"status", "--bogus"}, problem: `unknown flag: --bogus`},
		{name: "flag of another command", app: a, args: []string{"migrate", "--to=eip", "--horizontal", "3", "--yes"}, problem: `unknown flag: --horizontal`},
		{name: "iam-policy for an unknown command", app: a, args: []string{"iam-policy", "teleport"}, problem: `unknown command "teleport"`},

		// instance types: the name, existence, where offered
		{name: "malformed type", app: a, args: []string{"scale", "--vertical", "M5.LARGE", "--yes"}, problem: `--vertical "M5.LARGE" is not an instance type`},
		{name: "nonexistent type (scale)", app: a, args: []string{"scale", "--vertical", "m9.huge", "--yes"}, problem: `instance type "m9.huge" does not exist`},
		{name: "nonexistent type (up)", app: fresh, args: []string{"up", "--instance-type", "m9.huge", "--yes"}, problem: `instance type "m9.huge" does not exist`},
		{name: "type not offered in the region", app: fresh, args: []string{"up", "--instance-type", notInRegion, "--yes"}, problem: `instance type ` + regexp.QuoteMeta(notInRegion) + ` is not offered in region us-east-1`},
		{name: "type not offered in the fleet's AZ", app: a, args: []string{"scale", "--vertical", notInAZ, "--yes"}, problem: `instance type ` + regexp.QuoteMeta(notInAZ) + ` is not offered in ` + aAZ},

		// counts and sizes
		{name: "--horizontal 0", app: a, args: []string{"scale", "--horizontal", "0", "--yes"}, problem: `--horizontal 0 is out of range`},
		{name: "--horizontal -1", app: a, args: []string{"scale", "--horizontal", "-1", "--yes"}, problem: `--horizontal -1 is out of range`},
		{name: "--horizontal 1000", app: a, args: []string{"scale", "--horizontal", "1000", "--yes"}, problem: `--horizontal 1000 is out of range`},
		{name: "more instances than Elastic IPs", app: a, args: []string{"scale", "--horizontal", "6", "--yes"}, problem: `--horizontal 6 would need 6`, fix: `fix: publish the fleet under one DNS name first`},
		{name: "--min/--max without a group", app: a, args: []string{"scale", "--horizontal", "2", "--min", "1", "--max", "3", "--yes"}, problem: `has no Auto Scaling group`},
		{name: "--min above --max", app: a, args: []string{"migrate", "--to=asg", "--min", "3", "--max", "2", "--yes"}, problem: `--min 3 is above --max 2`},
		{name: "--desired outside", app: a, args: []string{"migrate", "--to=asg", "--desired", "9", "--max", "4", "--yes"}, problem: `--desired 9 is outside \[0, 4\]`},
		{name: "--min absurd", app: a, args: []string{"migrate", "--to=asg", "--min", "1000", "--yes"}, problem: `--min 1000 is out of range`},
		{name: "--azs 1", app: a, args: []string{"migrate", "--to=multi-az", "--azs", "1", "--yes"}, problem: `--azs 1 is too few`},
		{name: "--azs 7", app: a, args: []string{"migrate", "--to=multi-az", "--azs", "7", "--yes"}, problem: `--azs 7 is out of range`},
		{name: "--cpu-target 0", app: a, args: []string{"migrate", "--to=asg", "--cpu-target", "0", "--yes"}, problem: `--cpu-target 0 is not a percentage`},
		{name: "--cpu-target 150", app: a, args: []string{"migrate", "--to=asg", "--cpu-target", "150", "--yes"}, problem: `--cpu-target 150 is not a percentage`},

		// DNS
		{name: "--ttl 0", app: a, args: []string{"migrate", "--to=dns", "--dns-name", "api.e2e-bad-eip.com", "--ttl", "0", "--yes"}, problem: `--ttl 0 is out of range`},
		{name: "--ttl 86401", app: a, args: []string{"migrate", "--to=dns", "--dns-name", "api.e2e-bad-eip.com", "--ttl", "86401", "--yes"}, problem: `--ttl 86401 is out of range`},
		{name: "--ttl -5", app: a, args: []string{"migrate", "--to=dns", "--dns-name", "api.e2e-bad-eip.com", "--ttl", "-5", "--yes"}, problem: `--ttl -5 is out of range`},
		{name: "--ttl not a number", app: a, args: []string{"migrate", "--to=dns", "--dns-name", "api.e2e-bad-eip.com", "--ttl", "1.5", "--yes"}, problem: `invalid argument "1.5" for "--ttl"`},
		{name: "dns name with a space", app: a, args: []string{"migrate", "--to=dns", "--dns-name", "api x.com", "--yes"}, problem: `"api x.com" is not a valid DNS name`},
		{name: "dns name with an empty label", app: a, args: []string{"migrate", "--to=dns", "--dns-name", "api..x.com", "--yes"}, problem: `"api..x.com" is not a valid DNS name`},
		{name: "dns name of 300 characters", app: a, args: []string{"migrate", "--to=dns", "--dns-name", strings.Repeat("abcdefghi.", 29) + "abcdef.com", "--yes"}, problem: `is not a valid DNS name`},
		{name: "dns label of 64 characters", app: a, args: []string{"migrate", "--to=dns", "--dns-name", strings.Repeat("a", 64) + ".com", "--yes"}, problem: `is not a valid DNS name`},
		{name: "dns name starting with a hyphen", app: a, args: []string{"migrate", "--to=dns", "--dns-name", "-bad.com", "--yes"}, problem: `"-bad.com" is not a valid DNS name`},
		{name: "dns name with trailing garbage", app: a, args: []string{"migrate", "--to=dns", "--dns-name", "api.x.com;rm -rf /", "--yes"}, problem: `is not a valid DNS name`},
		{name: "dns name that is an address", app: a, args: []string{"migrate", "--to=dns", "--dns-name", "10.0.0.1", "--yes"}, problem: `"10.0.0.1" is not a valid DNS name`},
		// A top-level domain cannot be a Route 53 zone anyone delegates to.
		{name: "dns name that is a TLD", app: a, args: []string{"migrate", "--to=dns", "--dns-name", "com", "--yes"}, problem: `"com" is not a valid DNS name`},
		{name: "dns rung without a name", app: a, args: []string{"migrate", "--to=dns", "--yes"}, problem: `the dns rung needs a DNS name`, fix: `fix: pass --dns-name`},
		{name: "a second name for a published app (dns)", app: b, args: []string{"migrate", "--to=dns", "--dns-name", "www.elsewhere.com", "--yes"}, problem: `already published as ` + regexp.QuoteMeta(bName)},
		{name: "a second name for a published app (alb)", app: b, args: []string{"migrate", "--to=alb", "--dns-name", "www.elsewhere.com", "--dry-run"}, problem: `the app is published as ` + regexp.QuoteMeta(bName)},
		{name: "unknown record type", app: a, args: []string{"migrate", "--to=alb", "--record-type", "txt", "--yes"}, problem: `unknown --record-type "txt"`},
		{name: "--dns-drain negative", app: b, args: []string{"migrate", "--to=alb", "--dns-drain", "-1s", "--yes"}, problem: `--dns-drain -1s is out of range`},
		{name: "--dns-drain not a duration", app: b, args: []string{"migrate", "--to=alb", "--dns-drain", "300", "--yes"}, problem: `invalid argument "300" for "--dns-drain"`},

		// up --wait
		{name: "up --wait not a duration", app: a, args: []string{"up", "--wait=soon", "--yes"}, problem: `invalid argument "soon" for "--wait"`},
		{name: "up --wait=0s", app: a, args: []string{"up", "--wait=0s", "--yes"}, problem: `--wait=0s is out of range`},
		{name: "up --wait with --dry-run", app: a, args: []string{"up", "--wait", "--dry-run"}, problem: `a dry run changes nothing`},
		{name: "scale --wait=2h", app: a, args: []string{"scale", "--horizontal", "2", "--wait=2h", "--yes"}, problem: `--wait=2h0m0s is out of range`},
		{name: "scale --wait with --dry-run", app: a, args: []string{"scale", "--horizontal", "2", "--wait", "--dry-run"}, problem: `a dry run changes nothing`},

		// app names
		{name: "app name in uppercase", app: a, args: []string{"status", "--app", "BadApp"}, problem: `app name "BadApp" is not valid`},
		{name: "app name too long", app: a, args: []string{"status", "--app", strings.Repeat("a", 25)}, problem: `is 25 characters long`},
		{name: "app name with a leading digit", app: a, args: []string{"status", "--app", "1abc"}, problem: `app name "1abc" is not valid`},
		{name: "app name with an underscore", app: a, args: []string{"up", "--app", "a_b", "--yes"}, problem: `app name "a_b" is not valid`},
		{name: "app name with --", app: a, args: []string{"up", "--app", "a--b", "--yes"}, problem: `app name "a--b" is not valid`},
		{name: "app name from WTT_APP", app: a, args: []string{"down", "--yes"}, env: []string{"WTT_APP=Whats_The_Time"}, problem: `app name "Whats_The_Time" is not valid`},

		// output, dry run, confirmation, timing
		{name: "unknown output format", app: a, args: []string{"status", "-o", "xml"}, problem: `unknown output format "xml"`},
		{name: "unknown output format from WTT_OUTPUT", app: a, args: []string{"status"}, env: []string{"WTT_OUTPUT=csv"}, problem: `unknown output format "csv"`},
		{name: "--vertical with --horizontal", app: a, args: []string{"scale", "--vertical", "m5.large", "--horizontal", "2", "--yes"}, problem: `--vertical and --horizontal cannot be combined`},
		{name: "--dry-run=bogus", app: a, args: []string{"scale", "--horizontal", "2", "--dry-run=bogus"}, problem: `unknown --dry-run value "bogus"`},
		{name: "--yes=maybe", app: a, args: []string{"down", "--yes=maybe"}, problem: `invalid argument "maybe" for "-y, --yes"`},
		{name: "scale without --yes off a terminal", app: a, args: []string{"scale", "--horizontal", "2"}, problem: `--yes required when not running interactively`, fix: `fix: review the plan above, then run again with --yes`},
		{name: "down without --yes off a terminal", app: a, args: []string{"down"}, problem: `--yes required when not running interactively \(this plan changes AWS resources: deletes resources`},
		{name: "--timeout -1s", app: a, args: []string{"status", "--timeout", "-1s"}, problem: `--timeout must be positive`},
		{name: "--lock-timeout -5s", app: a, args: []string{"scale", "--horizontal", "2", "--lock-timeout", "-5s", "--yes"}, problem: `--lock-timeout must not be negative`},

		// Reserved Instances
		{name: "--term 2y", app: a, args: []string{"migrate", "--to=reserved", "--term", "2y", "--yes"}, problem: `unknown --term "2y"`},
		{name: "--payment bogus", app: a, args: []string{"migrate", "--to=reserved", "--payment", "bogus", "--yes"}, problem: `unknown --payment "bogus"`},
		{name: "--offering-class bogus", app: a, args: []string{"migrate", "--to=reserved", "--offering-class", "bogus", "--yes"}, problem: `unknown --offering-class "bogus"`},
		{name: "--max-upfront -3", app: a, args: []string{"migrate", "--to=reserved", "--max-upfront", "-3", "--yes"}, problem: `--max-upfront must not be negative`},

		// configuration and connection
		{name: "config file with bad YAML (--config)", app: a, args: []string{"status", "--config", badYAML}, problem: `reading config .*config.yaml`, fix: `fix: fix or remove the file`},
		{name: "config file with bad YAML (WTT_CONFIG)", app: a, args: []string{"down", "--yes"}, env: []string{"WTT_CONFIG=" + badYAML}, problem: `reading config .*config.yaml`},
		{name: "config file missing", app: a, args: []string{"status", "--config", "/nonexistent/wtt.yaml"}, problem: `reading config /nonexistent/wtt.yaml`},
		{name: "malformed region", app: a, args: []string{"status", "--region", "us-east-1x"}, problem: `--region "us-east-1x" is not an AWS region name`},
		{name: "malformed AWS_REGION", app: a, args: []string{"status"}, env: []string{"AWS_REGION=nowhere"}, problem: `AWS_REGION "nowhere" is not an AWS region name`},
		{name: "endpoint that is not a URL", app: a, args: []string{"status", "--endpoint-url", "localhost:4566"}, problem: `--endpoint-url "localhost:4566" is not an http\(s\) URL`},
		{name: "unknown AWS profile", app: a, args: []string{"status", "--profile", "nonexistent"}, problem: `AWS profile "nonexistent" does not exist`},

		// what up launches
		{name: "malformed --ami", app: fresh, args: []string{"up", "--ami", "bogus", "--yes"}, problem: `--ami "bogus" is not an AMI ID`},
		{name: "nonexistent --ami", app: fresh, args: []string{"up", "--ami", "ami-0123456789abcdef0", "--yes"}, problem: `AMI ami-0123456789abcdef0 does not exist in us-east-1`},
		{name: "missing --server-binary", app: fresh, args: []string{"up", "--server-binary", "/nonexistent/whatsthetime", "--yes"}, problem: `--server-binary /nonexistent/whatsthetime: no such file or directory`},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d bad inputs", len(cases))
	}

	refused := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.app.resetCalls()
			r := tc.app.run(tc.args, tc.env...)
			ok := true
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (bad input, nothing changed)", r.code)
				ok = false
			}
			if !regexp.MustCompile(tc.problem).MatchString(r.stderr) {
				t.Errorf("stderr does not say what is wrong (want /%s/)", tc.problem)
				ok = false
			}
			fix := tc.fix
			if fix == "" {
				fix = fixLine
			}
			if !regexp.MustCompile(fix).MatchString(r.stderr) {
				t.Errorf("stderr does not say what to do (want /%s/)", fix)
				ok = false
			}
			if m := mutating(tc.app.calls()); len(m) > 0 {
				t.Errorf("made mutating AWS calls: %v", m)
				ok = false
			}
			if strings.Contains(r.stderr, "Applying") {
				t.Errorf("started applying a plan")
				ok = false
			}
			if !ok {
				t.Logf("%s", r)
				return
			}
			refused++
		})
	}
	t.Logf("%d of %d bad inputs refused with exit 2, a fix, and no mutating call", refused, len(cases))

	for app, want := range before {
		if got := snapshot(t, cfg, app); got != want {
			t.Errorf("AWS state of %s changed under bad input:\nbefore:\n%s\nafter:\n%s", app, want, got)
		}
	}
	if got := snapshot(t, cfg, fresh.app); got != emptySnapshot {
		t.Errorf("bad input created resources for %s:\n%s", fresh.app, got)
	}
}

// typeNotOfferedInRegion is a type EC2 knows but does not offer in the
// region: the offering check must refuse it, not only the existence check.
func typeNotOfferedInRegion(t *testing.T, ctx context.Context, cfg aws.Config) string {
	t.Helper()
	c := ec2.NewFromConfig(cfg)
	for _, typ := range []string{"hpc7a.12xlarge", "hpc6a.48xlarge", "trn2.48xlarge", "p5e.48xlarge"} {
		if exists, offered := typeStatus(t, ctx, c, typ, ec2types.LocationTypeRegion, cfg.Region); exists && !offered {
			return typ
		}
	}
	t.Fatalf("no candidate type exists but is not offered in %s: extend the candidates", cfg.Region)
	return ""
}

// typeNotOfferedInAZ returns the AZ app's instance runs in and a type EC2
// offers in the region but not there.
func typeNotOfferedInAZ(t *testing.T, ctx context.Context, cfg aws.Config, app string) (string, string) {
	t.Helper()
	c := ec2.NewFromConfig(cfg)
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + names.TagApp), Values: []string{app}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
	}})
	if err != nil || len(out.Reservations) == 0 {
		t.Fatalf("finding %s's instance: %v", app, err)
	}
	az := aws.ToString(out.Reservations[0].Instances[0].Placement.AvailabilityZone)
	for _, typ := range []string{"p3dn.24xlarge", "p4de.24xlarge", "trn1.2xlarge", "dl1.24xlarge", "vt1.3xlarge", "hpc7g.4xlarge", "g7e.2xlarge"} {
		_, inRegion := typeStatus(t, ctx, c, typ, ec2types.LocationTypeRegion, cfg.Region)
		_, inAZ := typeStatus(t, ctx, c, typ, ec2types.LocationTypeAvailabilityZone, az)
		if inRegion && !inAZ {
			return az, typ
		}
	}
	t.Fatalf("no candidate type is offered in %s but not in %s: extend the candidates", cfg.Region, az)
	return "", ""
}

func typeStatus(t *testing.T, ctx context.Context, c *ec2.Client, typ string, loc ec2types.LocationType, where string) (exists, offered bool) {
	t.Helper()
	it, err := c.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{ec2types.InstanceType(typ)}})
	exists = err == nil && len(it.InstanceTypes) == 1
	offs, err := c.DescribeInstanceTypeOfferings(ctx, &ec2.DescribeInstanceTypeOfferingsInput{LocationType: loc, Filters: []ec2types.Filter{
		{Name: aws.String("instance-type"), Values: []string{typ}}, {Name: aws.String("location"), Values: []string{where}},
	}})
	if err != nil {
		t.Fatalf("DescribeInstanceTypeOfferings: %v", err)
	}
	return exists, len(offs.InstanceTypeOfferings) > 0
}

const emptySnapshot = "instances: []\naddresses: []\nvpcs: 0\nrecords: []\n"

// snapshot is what bad input must not change: the app's instances (id,
// type, state), Elastic IPs, VPCs, and its DNS record.
func snapshot(t *testing.T, cfg aws.Config, app string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := ec2.NewFromConfig(cfg)
	tag := []ec2types.Filter{{Name: aws.String("tag:" + names.TagApp), Values: []string{app}}}
	is, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: tag})
	if err != nil {
		t.Fatal(err)
	}
	instances := []string{}
	for _, r := range is.Reservations {
		for _, i := range r.Instances {
			if i.State != nil && i.State.Name == ec2types.InstanceStateNameTerminated {
				continue
			}
			instances = append(instances, fmt.Sprintf("%s/%s/%s", aws.ToString(i.InstanceId), i.InstanceType, i.State.Name))
		}
	}
	addrs, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: tag})
	if err != nil {
		t.Fatal(err)
	}
	eips := []string{}
	for _, a := range addrs.Addresses {
		eips = append(eips, aws.ToString(a.AllocationId)+"->"+aws.ToString(a.InstanceId))
	}
	vpcs, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: tag})
	if err != nil {
		t.Fatal(err)
	}
	records := []string{}
	for _, v := range vpcs.Vpcs {
		var name, zone string
		for _, tg := range v.Tags {
			switch aws.ToString(tg.Key) {
			case observe.TagDNSName:
				name = aws.ToString(tg.Value)
			case observe.TagDNSZone:
				zone = aws.ToString(tg.Value)
			}
		}
		if zone != "" {
			records = append(records, dnsRecord(t, ctx, cfg, zone, name))
		}
	}
	sort.Strings(instances)
	sort.Strings(eips)
	return fmt.Sprintf("instances: %v\naddresses: %v\nvpcs: %d\nrecords: %v\n", instances, eips, len(vpcs.Vpcs), records)
}

func dnsRecord(t *testing.T, ctx context.Context, cfg aws.Config, zone, name string) string {
	t.Helper()
	out, err := route53.NewFromConfig(cfg).ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone)})
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, rr := range out.ResourceRecordSets {
		if strings.TrimSuffix(aws.ToString(rr.Name), ".") != name {
			continue
		}
		for _, v := range rr.ResourceRecords {
			vals = append(vals, aws.ToString(v.Value))
		}
		vals = append(vals, fmt.Sprintf("%s ttl=%d", rr.Type, aws.ToInt64(rr.TTL)))
	}
	slices.Sort(vals)
	return name + "=" + strings.Join(vals, ",")
}
