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
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/whatsthetime/wtt/pkg/emulatortest"
	"github.com/whatsthetime/wtt/pkg/names"
)

// TestLeaseConcurrentRuns starts two real `wtt up` processes at the same
// moment against one emulator and one app: the lease must let exactly one
// of them change AWS at a time. testscript runs commands one after the
// other, so true concurrency lives here.
func TestLeaseConcurrentRuns(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (scripts_test.go)
	if testing.Short() {
		t.Skip("starts an emulator and runs the real binary")
	}
	emu := emulatortest.Start(t)
	cfg := emu.AWSConfig(t)

	t.Run("the second run fails fast", func(t *testing.T) {
		app := "e2e-lease-race"
		a, b := startWtt(t, emu, app, "up", "--yes"), startWtt(t, emu, app, "up", "--yes")
		a.wait(t)
		b.wait(t)
		winner, loser := a, b
		if a.code != 0 {
			winner, loser = b, a
		}
		if winner.code != 0 || loser.code != 1 {
			t.Fatalf("exit codes %d and %d, want one 0 and one 1 (locked)\n--- first:\n%s\n--- second:\n%s", a.code, b.code, a, b)
		}
		want := regexp.MustCompile(fmt.Sprintf(`(?m)^Error: app %s is locked by \S+@\S+ \(pid %d, "migrate --to=single"\) since \S+Z \(\d+s ago\); wait with --lock-timeout 10m, or if that run is gone, --force-unlock$`,
			app, winner.cmd.Process.Pid))
		if !want.MatchString(loser.stderr.String()) {
			t.Errorf("the refused run's stderr does not name the winner (pid %d):\n%s", winner.cmd.Process.Pid, loser.stderr.String())
		}
		if strings.Contains(loser.stderr.String(), "Applying") {
			t.Errorf("the refused run applied steps:\n%s", loser.stderr.String())
		}
		assertOneInstanceAndNoLease(t, cfg, app)
		down(t, emu, cfg, app)
	})

	t.Run("the second run waits with --lock-timeout", func(t *testing.T) {
		app := "e2e-lease-queue"
		a := startWtt(t, emu, app, "up", "--yes", "--lock-timeout", "60s")
		b := startWtt(t, emu, app, "up", "--yes", "--lock-timeout", "60s")
		a.wait(t)
		b.wait(t)
		if a.code != 0 || b.code != 0 {
			t.Fatalf("exit codes %d and %d, want both 0\n--- first:\n%s\n--- second:\n%s", a.code, b.code, a, b)
		}
		waited := 0
		for _, r := range []*wttRun{a, b} {
			if strings.Contains(r.stderr.String(), "waiting up to 1m0s for it (--lock-timeout)") {
				waited++
			}
		}
		if waited != 1 {
			t.Errorf("%d run(s) waited for the lease, want exactly 1\n--- first:\n%s\n--- second:\n%s", waited, a, b)
		}
		assertOneInstanceAndNoLease(t, cfg, app)
		down(t, emu, cfg, app)
	})
}

// wttRun is one wtt process.
type wttRun struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	code           int
}

func (r *wttRun) String() string {
	return fmt.Sprintf("$ wtt %s (exit %d)\n[stdout]\n%s[stderr]\n%s", strings.Join(r.cmd.Args[1:], " "), r.code, &r.stdout, &r.stderr)
}

// startWtt starts the binary TestMain built, pointed at the emulator.
func startWtt(t *testing.T, emu *emulatortest.Emulator, app string, args ...string) *wttRun {
	t.Helper()
	r := &wttRun{cmd: exec.Command(filepath.Join(binDir, "wtt"), args...)}
	r.cmd.Env = append(os.Environ(), emu.Env()...)
	r.cmd.Env = append(r.cmd.Env, "WTT_APP="+app, "WTT_MAX_BACKOFF=200ms", "HOME="+t.TempDir(), "NO_COLOR=1", "WTT_CALL_LOG_ALL="+callLogAll)
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting wtt: %v", err)
	}
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
	})
	return r
}

// wait waits for the run, killing it after three minutes.
func (r *wttRun) wait(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		r.cmd.Process.Kill()
		<-done
		t.Fatalf("wtt did not finish in 3 minutes:\n%s", r)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.code = 0
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running wtt: %v", err)
	}
}

func assertOneInstanceAndNoLease(t *testing.T, cfg aws.Config, app string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + names.TagApp), Values: []string{app}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range out.Reservations {
		n += len(r.Instances)
	}
	if n != 1 {
		t.Errorf("%d instance(s) for %s, want exactly 1", n, app)
	}
	_, err = ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(names.For(app).LeaseParameter())})
	var nf *ssmtypes.ParameterNotFound
	if !errors.As(err, &nf) {
		t.Errorf("the lease outlived both runs (GetParameter: %v)", err)
	}
}

func down(t *testing.T, emu *emulatortest.Emulator, cfg aws.Config, app string) {
	t.Helper()
	r := startWtt(t, emu, app, "down", "--yes")
	r.wait(t)
	if r.code != 0 {
		t.Errorf("down failed:\n%s", r)
	}
}
