package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/lease"
	"github.com/whatsthetime/wtt/pkg/names"
)

func init() {
	checks["put-lease"] = checkPutLease
	checks["delete-lease"] = checkDeleteLease
	checks["lease"] = checkLease
	checks["mutations-except"] = checkMutationsExcept
	checks["await-lease"] = checkAwaitLease
	checks["await-call"] = checkAwaitCall
}

// leaseRecord reads the app's lease straight from SSM; found is false
// when there is none.
func (c *checker) leaseRecord(ctx context.Context) (rec lease.Record, found bool, err error) {
	out, err := ssm.NewFromConfig(c.cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(names.For(c.app).LeaseParameter())})
	var nf *ssmtypes.ParameterNotFound
	if errors.As(err, &nf) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &rec); err != nil {
		return rec, true, fmt.Errorf("lease value %q is not a lease record: %v", aws.ToString(out.Parameter.Value), err)
	}
	return rec, true, nil
}

// leaseHost maps the script's host names: "this" is the machine running the
// test (and wtt), anything else is some other operator's machine.
func leaseHost(h string) string {
	if h == "this" {
		name, _ := os.Hostname()
		return name
	}
	return h
}

// aws put-lease HOST PID EXPIRES_IN [OPERATION]: another operator holds the
// app's lease, written straight to SSM as wtt would. EXPIRES_IN may be
// negative (an expired lease); HOST "this" is this machine, PID "live" a
// process alive on it (the test's own) and "dead" one that has exited.
func checkPutLease(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: aws put-lease HOST PID EXPIRES_IN [OPERATION]")
	}
	in, err := time.ParseDuration(args[2])
	if err != nil {
		ts.Fatalf("EXPIRES_IN: %v", err)
	}
	op := "migrate --to=alb"
	if len(args) == 4 {
		op = args[3]
	}
	host := leaseHost(args[0])
	var pid int
	switch args[1] {
	case "live":
		pid = os.Getpid()
	case "dead":
		pid = deadPID(ts)
	default:
		pid = atoi(ts, args[1])
	}
	now := time.Now().UTC().Truncate(time.Second)
	expires := now.Add(in)
	// Taken a minute ago, or a whole TTL before an expiry already past.
	since := now.Add(-time.Minute)
	if s := expires.Add(-lease.DefaultTTL); s.Before(since) {
		since = s
	}
	rec := lease.Record{
		Holder: "alice@" + host, Host: host, PID: pid, Operation: op,
		Since: since, Expires: expires,
		ID: fmt.Sprintf("e2e-%d", time.Now().UnixNano()),
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = ssm.NewFromConfig(c.cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(names.For(c.app).LeaseParameter()), Value: aws.String(string(v)),
		Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
	})
	return err
}

// deadPID is the pid of a child that has exited and been reaped: a number
// that names no process, unlike a guess, which pid_max may allow.
func deadPID(ts *testscript.TestScript) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		ts.Fatalf("starting a short-lived process: %v", err)
	}
	return cmd.Process.Pid
}

// aws delete-lease: the other operator's run ends and releases the lease.
func checkDeleteLease(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	_, err := ssm.NewFromConfig(c.cfg).DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(names.For(c.app).LeaseParameter())})
	return err
}

// aws lease absent | aws lease held-by HOST [PID]: who holds the app's lease.
func checkLease(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) == 0 {
		ts.Fatalf("usage: aws lease absent | aws lease held-by HOST [PID]")
	}
	rec, found, err := c.leaseRecord(ctx)
	if err != nil {
		return err
	}
	switch args[0] {
	case "absent":
		if found {
			return fmt.Errorf("lease held by %s (pid %d, %q)", rec.Holder, rec.PID, rec.Operation)
		}
		return nil
	case "held-by":
		if !found {
			return fmt.Errorf("no lease")
		}
		if host := leaseHost(args[1]); rec.Host != host || !strings.HasSuffix(rec.Holder, "@"+host) {
			return fmt.Errorf("lease held by %s on %s, want host %s", rec.Holder, rec.Host, host)
		}
		if len(args) > 2 && rec.PID != atoi(ts, args[2]) {
			return fmt.Errorf("lease held by pid %d, want %s", rec.PID, args[2])
		}
		return nil
	}
	ts.Fatalf("aws lease: unknown assertion %q", args[0])
	return nil
}

// aws mutations-except SERVICE N: N mutating calls outside SERVICE (e.g.
// ssm, where the lease lives) since the last calls-reset. A run refused
// by the lease tries to create it, which is a mutating call, and must make
// no other.
func checkMutationsExcept(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 2 {
		ts.Fatalf("usage: aws mutations-except SERVICE N")
	}
	var mut []string
	for _, a := range readCalls(ts) {
		if awsclient.IsMutating(a) && !strings.HasPrefix(a, args[0]+":") {
			mut = append(mut, a)
		}
	}
	if want := atoi(ts, args[1]); len(mut) != want {
		return fmt.Errorf("%d mutating call(s) outside %s, want %d: %v", len(mut), args[0], want, mut)
	}
	return nil
}

// awaitUntil retries cond every 50ms until it holds or ctx ends.
func awaitUntil(ctx context.Context, what string, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting for %s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// aws await-lease: wait until someone holds the app's lease (a background
// wtt run has got past its confirmation and taken it).
func checkAwaitLease(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	return awaitUntil(ctx, "the lease to be taken", func() (bool, error) {
		_, found, err := c.leaseRecord(ctx)
		return found, err
	})
}

// aws await-call ACTION N: wait until the runs since the last calls-reset
// have called ACTION at least N times (a background run is at that point).
func checkAwaitCall(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 2 {
		ts.Fatalf("usage: aws await-call ACTION N")
	}
	want := atoi(ts, args[1])
	return awaitUntil(ctx, fmt.Sprintf("%d call(s) of %s", want, args[0]), func() (bool, error) {
		n := 0
		for _, a := range readCalls(ts) {
			if a == args[0] {
				n++
			}
		}
		return n >= want, nil
	})
}
