package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/rogpeppe/go-internal/testscript"
)

// Checks that join a probe report (the last command's -o json) with what
// the AWS APIs say now, or with what `wtt what-if` predicted.
func init() {
	checks["probe-served"] = checkProbeServed
	checks["whatif-held"] = checkWhatIfHeld
	checks["whatif-replaced"] = checkWhatIfReplaced
}

// aws probe-served STATE OP N: the instances that answered the last probe
// and are now in EC2 state STATE number OP N. After a rolling replacement
// both `terminated > 0` (the old instances served until they left) and
// `running > 0` (the new ones served before the end) hold.
func checkProbeServed(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 3 {
		ts.Fatalf("usage: aws probe-served STATE OP N")
	}
	served, _ := probeField(ts, "servedBy.instances").(map[string]any)
	is, err := c.instances(ctx, args[0])
	if err != nil {
		return err
	}
	n := 0
	for _, i := range is {
		if _, ok := served[aws.ToString(i.InstanceId)]; ok {
			n++
		}
	}
	if !compare(ts, float64(n), args[1], args[2]) {
		return fmt.Errorf("%d instance(s) that answered are %s now; want %s %s (served by %v)", n, args[0], args[1], args[2], served)
	}
	ts.Logf("%d instance(s) that answered are %s now", n, args[0])
	return nil
}

// prediction is the part of `wtt what-if -o json` a probe can measure.
type prediction struct {
	Scenario           string `json:"scenario"`
	Outage             bool   `json:"outage"`
	OutageSeconds      int64  `json:"outageSeconds"`
	HealthCheckSeconds int64  `json:"healthCheckSeconds"`
	ReplacedSeconds    int64  `json:"replacedSeconds"`
}

// A measured time may exceed the predicted one by this much: the
// emulator starts each health check on a loop that wakes every 0.2 s (two
// checks make the threshold), the probe sends a request every 0.1 s, and
// the machine running the suites is shared.
const measureSlack = 1.0

func readPrediction(ts *testscript.TestScript, file string) prediction {
	var p prediction
	if err := json.Unmarshal([]byte(ts.ReadFile(file)), &p); err != nil {
		ts.Fatalf("%s is not `wtt what-if -o json` output: %v", file, err)
	}
	return p
}

// timeScale is the data plane's --dataplane-time-scale: health checks,
// grace periods and drains run at this fraction of their AWS times, so a
// prediction in AWS seconds is compared after multiplying by it.
func timeScale(ts *testscript.TestScript) float64 {
	resp, err := http.Get(ts.Getenv("AWS_ENDPOINT_URL") + "/wtt-dataplane/state")
	if err != nil {
		ts.Fatalf("reading the data plane's state: %v", err)
	}
	defer resp.Body.Close()
	var st struct {
		TimeScale float64 `json:"timeScale"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.TimeScale <= 0 {
		ts.Fatalf("the data plane's state has no time scale (%v)", err)
	}
	return st.TimeScale
}

// aws whatif-held FILE: the prediction in FILE (`wtt what-if -o json`,
// saved before the loss) matches the probe report on stdout, measured
// while the loss happened. An outage "until someone acts": requests
// failed and still failed at the end. No outage: the probe answers at the
// end, and every failure falls within the time the prediction gives the
// health checks to notice (interval x threshold, at the emulator's time
// scale). The load balancer's own DNS name (what-if's 60 s for a lost
// node) is not measured: the emulator's load balancer has no per-AZ nodes.
func checkWhatIfHeld(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws whatif-held FILE")
	}
	p := readPrediction(ts, args[0])
	scale := timeScale(ts)
	requests, _ := probeField(ts, "requests").(float64)
	failed, _ := probeField(ts, "failed").(float64)
	seconds, _ := probeField(ts, "seconds").(float64)
	answering, _ := probeField(ts, "answeringAtEnd").(bool)
	outages, _ := probeField(ts, "outages").([]any)
	first, end := 0.0, 0.0
	if len(outages) > 0 {
		f, l := outages[0].(map[string]any), outages[len(outages)-1].(map[string]any)
		first = f["startSeconds"].(float64)
		end = l["startSeconds"].(float64) + l["seconds"].(float64)
	}
	measured := fmt.Sprintf("measured: %.0f of %.0f requests failed, failures from %.1f s to %.1f s of a %.1f s probe, answering at the end: %v",
		failed, requests, first, end, seconds, answering)
	switch {
	case p.Outage && p.OutageSeconds < 0:
		ts.Logf("%s: predicted an outage until someone acts; %s", p.Scenario, measured)
		if failed == 0 || answering || end < seconds-1 {
			return fmt.Errorf("predicted an outage that lasts; %s", measured)
		}
	default:
		allowed := float64(p.HealthCheckSeconds)
		if p.Outage {
			allowed = float64(p.OutageSeconds)
		}
		window := end - first
		ts.Logf("%s: predicted failures for up to %d s (%.1f s at time scale %g), outage %v; %s (%.1f s)",
			p.Scenario, int64(allowed), allowed*scale, scale, p.Outage, measured, window)
		if !answering {
			return fmt.Errorf("predicted the app answers again after %.1f s; %s", allowed*scale, measured)
		}
		if window > allowed*scale+measureSlack {
			return fmt.Errorf("predicted failures within %.1f s (+%.1f s slack); they spread over %.1f s; %s", allowed*scale, measureSlack, window, measured)
		}
	}
	return nil
}

// aws whatif-replaced FILE: the lost capacity is back in service (as
// many healthy targets as the group's desired capacity, none of them an
// instance the last chaos command killed) within the time the prediction
// in FILE gives (replacedSeconds, at the emulator's time scale) after the
// kill. Polls until then.
func checkWhatIfReplaced(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws whatif-replaced FILE")
	}
	p := readPrediction(ts, args[0])
	if p.ReplacedSeconds <= 0 {
		ts.Fatalf("the prediction in %s replaces nothing (replacedSeconds %d)", args[0], p.ReplacedSeconds)
	}
	at, err := time.Parse(time.RFC3339Nano, ts.Getenv("CHAOS_AT"))
	if err != nil {
		ts.Fatalf("aws whatif-replaced needs a chaos command before it")
	}
	killed := strings.Fields(ts.Getenv("CHAOS_KILLED"))
	scale := timeScale(ts)
	deadline := at.Add(time.Duration((float64(p.ReplacedSeconds)*scale + measureSlack) * float64(time.Second)))
	for {
		g, err := c.group(ctx)
		if err != nil {
			return err
		}
		tg, err := c.targetGroup(ctx)
		if err != nil {
			return err
		}
		th, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
		if err != nil {
			return err
		}
		var healthy []string
		for _, d := range th.TargetHealthDescriptions {
			id := aws.ToString(d.Target.Id)
			if d.TargetHealth != nil && d.TargetHealth.State == elbtypes.TargetHealthStateEnumHealthy && !slices.Contains(killed, id) {
				healthy = append(healthy, id)
			}
		}
		took := time.Since(at).Seconds()
		if len(healthy) >= int(aws.ToInt32(g.DesiredCapacity)) {
			ts.Logf("%s: predicted the capacity back within %d s (%.1f s at time scale %g); measured %.1f s after the kill (%d healthy: %v)",
				p.Scenario, p.ReplacedSeconds, float64(p.ReplacedSeconds)*scale, scale, took, len(healthy), healthy)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("predicted the capacity back within %.1f s; after %.1f s only %d of %d targets are healthy (%v)",
				float64(p.ReplacedSeconds)*scale, took, len(healthy), aws.ToInt32(g.DesiredCapacity), healthy)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
