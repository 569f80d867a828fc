package e2e

// Lost answers: the request reaches AWS and is applied, then its answer is
// lost (a 500 or a dropped connection after the work was done), and the
// SDK's retryer sends it again. The fault proxy's AfterForward mode does
// exactly that, and keeps EC2's ClientToken promise for every call (the
// emulator does for CreateVpcEndpoint and RunInstances only). These suites hold wtt to docs/reliability.md's promises:
//
//   - the whole ladder and down through 10% lost answers, several seeds:
//     every command succeeds on its first run, AWS equals the undisturbed
//     walk after each command, and after down the account holds exactly
//     what it held before up (strays and the purchase intent included);
//   - the reserved rung through 50% lost answers over 20 seeds buys exactly
//     the shortfall every time, never above --max-upfront, and a run killed
//     between the purchase and its tags is reconciled by the next run.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/emulatortest"
	"github.com/whatsthetime/wtt/pkg/faultproxy"
	"github.com/whatsthetime/wtt/pkg/names"
)

// lostAnswerRate is the fraction of forwarded requests whose answer is lost
// in the ladder walk; reservedLostRate in the reserved suite.
const (
	lostAnswerRate   = 0.10
	reservedLostRate = 0.50
)

var lostAnswerSeeds = []uint64{1, 2, 3}

func lostAnswerSuites(t *testing.T, ref *reference) {
	for _, seed := range lostAnswerSeeds {
		t.Run(fmt.Sprintf("lost-answers/seed-%d", seed), func(t *testing.T) {
			parallelWalk(t)
			w := newRelWalker(t, fmt.Sprintf("rel-lost-%d", seed))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			before := everything(ctx, t, w.emu.AWSConfig(t))
			p := startFaultProxy(t, w, faultproxy.Config{Seed: seed, AfterForward: lostAnswerRate, ClientTokens: true})
			defer func() { t.Logf("proxy: %s", p.Counts()) }() // also when the walk fails
			var perCommand []string
			for i, c := range ladderCommands(w.app) {
				res := w.run(append(c.args, "--debug"))
				out, err := res.completed()
				if err != nil {
					t.Fatalf("%s failed on its first run with %.0f%% of answers lost: %s\n%v", c, lostAnswerRate*100, firstErrorLine(res.stderr), err)
				}
				calls, retries := res.retries()
				perCommand = append(perCommand, fmt.Sprintf("%s=%d/%d", c.name, calls, retries))
				w.expect(t, ref, i, out.Stage, len(out.Plan.Steps) > 0)
			}
			c := p.Counts()
			if c.Faults[faultproxy.AfterForward] == 0 {
				t.Fatalf("no answer was lost in %d requests: the walk proved nothing", c.Requests)
			}
			after := everything(ctx, t, w.emu.AWSConfig(t))
			delete(after, "reserved-instance") // bought by the reserved rung, cannot be cancelled; counted by expect
			delete(before, "reserved-instance")
			for kind := range mergeKeys(before, after) {
				if before[kind] != after[kind] {
					t.Errorf("%s: %d before up, %d after down", kind, before[kind], after[kind])
				}
			}
			t.Logf("%d answers lost; per command (calls/retries): %s", c.Faults[faultproxy.AfterForward], strings.Join(perCommand, " "))
		})
	}
}

func mergeKeys(a, b map[string]int) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// TestReservedLostAnswers buys the reserved rung's shortfall through 50%
// lost answers, twenty times over (the emulator retires the reservations
// between seeds), and checks each time that exactly the shortfall was
// bought, tagged, within --max-upfront, with no intent left behind.
func TestReservedLostAnswers(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (scripts_test.go)
	if testing.Short() {
		t.Skip("twenty purchases through a fault proxy")
	}
	if os.Getenv(emulatortest.EndpointEnv) != "" {
		t.Skip("buys Reserved Instances twenty times and retires them: only on an emulator of its own")
	}
	w := newRelWalker(t, "ri-lost")
	for _, args := range [][]string{{"up"}, {"migrate", "--to=multi-az", "--azs", "3"}} {
		if _, err := w.run(args).completed(); err != nil {
			t.Fatalf("setting up: wtt %v: %v", args, err)
		}
	}
	const need = 3 // the group's minimum at three AZs, nothing reserved yet
	partialUpfront := plannedUpfront(t, w, "partial-upfront")
	if partialUpfront <= 0 {
		t.Fatalf("a partial-upfront plan should pay something up front, planned $%.2f", partialUpfront)
	}

	seeds, sends, reconciled, reruns := 20, 0, 0, 0
	for seed := 1; seed <= seeds; seed++ {
		expireReservations(t, w)
		// Odd seeds pay part up front with a limit of exactly the planned
		// amount: a second purchase would exceed it.
		payment, limit := "no-upfront", 0.0
		if seed%2 == 1 {
			payment, limit = "partial-upfront", partialUpfront
		}
		p := startFaultProxy(t, w, faultproxy.Config{Seed: uint64(seed), AfterForward: reservedLostRate, ClientTokens: true})
		// At 50% a read can lose all ten of its attempts (0.5^10 per call):
		// the run then fails, and the operator runs it again. Whatever the
		// runs, exactly the shortfall is bought.
		var out *runJSON
		for attempt := 1; out == nil; attempt++ {
			res := w.run([]string{"migrate", "--to=reserved", "--payment", payment, "--max-upfront", strconv.FormatFloat(limit, 'f', 2, 64), "--debug"})
			sends += strings.Count(strings.Join(res.calls, "\n"), "ec2:PurchaseReservedInstancesOffering")
			reconciled += strings.Count(res.stderr, "adopting Reserved Instances")
			var err error
			if out, err = res.completed(); err != nil {
				if attempt == 3 {
					t.Fatalf("seed %d: the reserved rung failed 3 times with %.0f%% of answers lost: %s\n%v", seed, reservedLostRate*100, firstErrorLine(res.stderr), err)
				}
				reruns++
				t.Logf("seed %d: run %d failed (%s); running it again", seed, attempt, firstErrorLine(res.stderr))
			}
		}
		if out.Stage != "reserved" {
			t.Fatalf("seed %d: stage %s after the reserved rung", seed, out.Stage)
		}
		p.Close()
		checkBought(t, w, seed, need, limit)
	}
	t.Logf("%d seeds at %.0f%% lost answers: exactly %d bought each time; %d purchase calls made, %d lost purchases adopted instead of repeated, %d runs run again",
		seeds, reservedLostRate*100, need, sends, reconciled, reruns)
	if reconciled == 0 {
		t.Errorf("no purchase answer was lost over %d seeds: the suite proved nothing about the purchase", seeds)
	}

	// A run killed right after the purchase, before tagging it: the next
	// run must count it, tag it and buy nothing.
	w.endpoint = w.emu.URL() // no more faults
	expireReservations(t, w)
	probe := w.run([]string{"migrate", "--to=reserved", "--max-upfront", "0"})
	if _, err := probe.completed(); err != nil {
		t.Fatalf("a fault-free purchase failed: %v", err)
	}
	k := slices.Index(mutationsOf(probe.calls), "ec2:PurchaseReservedInstancesOffering") + 1
	if k == 0 {
		t.Fatalf("no purchase in the calls of the reserved rung: %v", probe.calls)
	}
	expireReservations(t, w)
	killed := w.run([]string{"migrate", "--to=reserved", "--max-upfront", "0"}, fmt.Sprintf("WTT_TEST_KILL_AFTER_MUTATIONS=%d", k))
	if !killed.killed {
		t.Fatalf("the run was not killed after its purchase (mutation %d): %s", k, killed)
	}
	if n, tagged := activeReservations(t, w); n != need || tagged != 0 {
		t.Fatalf("after a kill between purchase and tags: %d reserved, %d tagged; want %d untagged", n, tagged, need)
	}
	rerun := w.run([]string{"migrate", "--to=reserved", "--max-upfront", "0"})
	if _, err := rerun.completed(); err != nil {
		t.Fatalf("the run after the kill failed: %v", err)
	}
	if slices.Contains(rerun.calls, "ec2:PurchaseReservedInstancesOffering") {
		t.Errorf("the run after the kill bought again")
	}
	checkBought(t, w, 0, need, 0)

	if _, err := w.run([]string{"down"}).completed(); err != nil {
		t.Fatalf("down: %v", err)
	}
	if intentExists(t, w) {
		t.Error("down left the purchase intent behind")
	}
}

func mutationsOf(calls []string) []string {
	var out []string
	for _, c := range calls {
		if awsclient.IsMutating(c) {
			out = append(out, c)
		}
	}
	return out
}

// plannedUpfront is what the reserved rung's plan says it pays up front.
func plannedUpfront(t *testing.T, w *relWalker, payment string) float64 {
	t.Helper()
	res := w.run([]string{"plan", "--to=reserved", "--payment", payment})
	var out struct {
		Steps []struct {
			Upfront float64 `json:"upfront"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, res)
	}
	total := 0.0
	for _, s := range out.Steps {
		total += s.Upfront
	}
	return total
}

func expireReservations(t *testing.T, w *relWalker) {
	t.Helper()
	resp, err := http.Post(w.emu.URL()+"/moto-api/wtt/reserved-instances/expire", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("expiring reservations: HTTP %d", resp.StatusCode)
	}
}

// activeReservations counts the covering reservations and those tagged for
// the app, read from the emulator directly.
func activeReservations(t *testing.T, w *relWalker) (count, tagged int) {
	t.Helper()
	out, err := w.check.ec2.DescribeReservedInstances(context.Background(), &ec2.DescribeReservedInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("state"), Values: []string{"active", "payment-pending"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.ReservedInstances {
		n := int(aws.ToInt32(r.InstanceCount))
		count += n
		for _, tag := range r.Tags {
			if aws.ToString(tag.Key) == names.TagApp && aws.ToString(tag.Value) == w.app {
				tagged += n
			}
		}
	}
	return count, tagged
}

// checkBought: exactly need reservations cover the group, all tagged, their
// upfront total within the limit, and no purchase intent left.
func checkBought(t *testing.T, w *relWalker, seed, need int, limit float64) {
	t.Helper()
	out, err := w.check.ec2.DescribeReservedInstances(context.Background(), &ec2.DescribeReservedInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("state"), Values: []string{"active", "payment-pending"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	count, upfront := 0, 0.0
	for _, r := range out.ReservedInstances {
		count += int(aws.ToInt32(r.InstanceCount))
		upfront += float64(aws.ToInt32(r.InstanceCount)) * float64(aws.ToFloat32(r.FixedPrice))
	}
	if count != need {
		t.Errorf("seed %d: %d Reserved Instances cover the group, want exactly the shortfall %d", seed, count, need)
	}
	if _, tagged := activeReservations(t, w); tagged != count {
		t.Errorf("seed %d: %d of %d reservations tagged for the app", seed, tagged, count)
	}
	if upfront > limit+0.005 {
		t.Errorf("seed %d: $%.2f paid up front in total, above --max-upfront $%.2f", seed, upfront, limit)
	}
	if intentExists(t, w) {
		t.Errorf("seed %d: the purchase intent is still there after a successful run", seed)
	}
}

func intentExists(t *testing.T, w *relWalker) bool {
	t.Helper()
	_, err := w.ssm.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(names.For(w.app).ReservedIntentParameter())})
	if err != nil && !strings.Contains(err.Error(), "ParameterNotFound") {
		t.Fatal(err)
	}
	return err == nil
}
