//go:build linux

package emulatortest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestForkedEmulatorsAreIsolated: two emulators forked from the same fork
// server share nothing: their own ports and processes, their own state, and
// ids drawn from their own random sequence (each child reseeds moto's).
func TestForkedEmulatorsAreIsolated(t *testing.T) {
	if os.Getenv(EndpointEnv) != "" {
		t.Skip("no emulator is started in this run")
	}
	t.Setenv(ForkServerEnv, "1") // whatever the run sets
	a, b := Start(t), Start(t)
	if a.proc.how() != b.proc.how() || !strings.Contains(a.proc.how(), "fork server") {
		t.Fatalf("not forked: %q, %q", a.proc.how(), b.proc.how())
	}
	if a.URL() == b.URL() || a.PID() == b.PID() {
		t.Fatalf("shared port or process: %s pid %d, %s pid %d", a.URL(), a.PID(), b.URL(), b.PID())
	}
	ca, cb := ec2.NewFromConfig(a.AWSConfig(t)), ec2.NewFromConfig(b.AWSConfig(t))
	va, err := ca.CreateVpc(ctx(t), &ec2.CreateVpcInput{CidrBlock: aws.String("10.1.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	vb, err := cb.CreateVpc(ctx(t), &ec2.CreateVpcInput{CidrBlock: aws.String("10.1.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	if *va.Vpc.VpcId == *vb.Vpc.VpcId {
		t.Fatalf("both emulators drew the id %s: the random sequence was not reseeded after the fork", *va.Vpc.VpcId)
	}
	seen, err := cb.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{*va.Vpc.VpcId}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen.Vpcs) != 0 {
		t.Fatalf("emulator b sees emulator a's VPC %s", *va.Vpc.VpcId)
	}

	a.Reset(t)
	after, err := ca.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{*va.Vpc.VpcId}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Vpcs) != 0 {
		t.Fatalf("Reset kept VPC %s", *va.Vpc.VpcId)
	}
	still, err := cb.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{VpcIds: []string{*vb.Vpc.VpcId}})
	if err != nil || len(still.Vpcs) != 1 {
		t.Fatalf("resetting a emptied b too: %v", err)
	}
}

// TestForkedEmulatorReportsItsOutput: a child that fails (here, a bad
// option) ends with its exit status and its own output, as a plain start does.
func TestForkedEmulatorReportsItsOutput(t *testing.T) {
	if os.Getenv(EndpointEnv) != "" {
		t.Skip("no emulator is started in this run")
	}
	t.Setenv(ForkServerEnv, "1") // whatever the run sets
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := forkServerFor(t, "python3", root)
	if err != nil {
		t.Fatal(err)
	}
	out := &tailBuffer{max: logTailBytes}
	p, _, err := fs.startEmulator([]string{"--no-dataplane", "--port", "0", "--boot-delay=-1"}, true, out)
	if p == nil || !errors.Is(err, errExited) {
		t.Fatalf("want the child to exit, got process %v, error %v", p, err)
	}
	if got := p.exitStatus(); got != "exit status 2" {
		t.Errorf("exit status: %q, want exit status 2", got)
	}
	if !strings.Contains(out.String(), "--boot-delay must not be negative") {
		t.Errorf("the child's output did not come through:\n%s", out.String())
	}
}

// TestForkServerThatCannotStart: a fork server that exits before it is
// ready is an error carrying its output (Start then runs the emulator
// plainly).
func TestForkServerThatCannotStart(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := startForkServer("false", root)
	if err == nil {
		fs.conn.Close()
		t.Fatal("a fork server that exits at once was taken as ready")
	}
	if !strings.Contains(err.Error(), "not ready") {
		t.Errorf("error: %v", err)
	}
}

// TestSeededForkedEmulatorDrawsLikeAFreshOne: a seed sent first
// (scripts/tutorial does) gives a forked emulator the ids it gives a plain,
// freshly started one, including those of what the backends make on their
// own (the default VPC), which the fork server made before the seed.
func TestSeededForkedEmulatorDrawsLikeAFreshOne(t *testing.T) {
	if os.Getenv(EndpointEnv) != "" {
		t.Skip("no emulator is started in this run")
	}
	t.Setenv(ForkServerEnv, "1") // whatever the run sets
	plain := Start(t, func(o *options) { o.plain = true })
	forked := Start(t)
	ids := func(e *Emulator) []string {
		resp, err := http.Post(e.URL()+"/moto-api/seed?a=42", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c := ec2.NewFromConfig(e.AWSConfig(t))
		vpcs, err := c.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{})
		if err != nil {
			t.Fatal(err)
		}
		made, err := c.CreateVpc(ctx(t), &ec2.CreateVpcInput{CidrBlock: aws.String("10.1.0.0/16")})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range vpcs.Vpcs {
			out = append(out, *v.VpcId)
		}
		return append(out, *made.Vpc.VpcId)
	}
	want, got := ids(plain), ids(forked)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("seeded with 42, the forked emulator drew %v, a fresh one %v", got, want)
	}
	if !strings.Contains(plain.proc.how(), "own process") || !strings.Contains(forked.proc.how(), "fork server") {
		t.Fatalf("started as %q and %q", plain.proc.how(), forked.proc.how())
	}
}

// TestForkedEmulatorIsNicedLikeAPlainOne: a forked emulator without the
// data plane runs at nice 10 in the test binary's scheduling group, as a
// plain one does. Under Linux's autogroup a session is a scheduling group of
// its own: a child in a session of its own got as much CPU as the test's
// whole session, nice 10 or not, and under load answered wtt before wtt's
// own write goroutine ran again (the race pkg/sdkhttp closes).
func TestForkedEmulatorIsNicedLikeAPlainOne(t *testing.T) {
	if os.Getenv(EndpointEnv) != "" {
		t.Skip("no emulator is started in this run")
	}
	mine, err := os.ReadFile("/proc/self/autogroup")
	if err != nil {
		t.Skipf("no scheduling autogroups on this kernel: %v", err)
	}
	t.Setenv(ForkServerEnv, "1") // whatever the run sets
	e := Start(t)
	if !strings.Contains(e.proc.how(), "fork server") {
		t.Fatalf("not forked: %s", e.proc.how())
	}
	theirs, err := os.ReadFile(fmt.Sprintf("/proc/%d/autogroup", e.PID()))
	if err != nil {
		t.Fatal(err)
	}
	// The kernel prints nothing for a task whose scheduling group is a
	// cgroup rather than an autogroup (a CI runner under a cpu cgroup):
	// sessions then make no scheduling group, and only the nice level counts.
	group := func(b []byte) string {
		if f := strings.Fields(string(b)); len(f) > 0 {
			return f[0]
		}
		return ""
	}
	switch g, m := group(theirs), group(mine); {
	case g == "" && m == "":
		t.Log("no autogroups here (the scheduling groups are cgroups): checking the nice level only")
	case g != m:
		t.Errorf("the forked emulator is in scheduling group %q, the test binary in %q: its nice 10 weighs nothing against the test's work", g, m)
	}
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, e.PID())
	if err != nil {
		t.Fatal(err)
	}
	if nice := 20 - prio; nice != 10 { // Linux's getpriority returns 20 - nice
		t.Errorf("the forked emulator runs at nice %d, want 10", nice)
	}
}
