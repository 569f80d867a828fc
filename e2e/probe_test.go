package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/whatsthetime/wtt/pkg/emulatortest"
)

// TestProbeScripts runs e2e/testdata/probe/*.txtar: the --probe suites,
// against an emulator whose data plane is on, so every instance is a real
// time server, the load balancer a health-checked proxy and Route 53 a DNS
// server. Health checks, drain delays and grace periods run at a tenth of
// their AWS times (--dataplane-time-scale=0.1): wtt's 10 s x 2 health check
// notices a dead target in about 2 s.
func TestProbeScripts(t *testing.T) {
	t.Parallel() // suites run side by side, each on emulators of its own (scripts_test.go)
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the data plane runs the linux/amd64 time server built by TestMain")
	}
	emu := emulatortest.Start(t,
		emulatortest.WithDataPlane("--dataplane-time-scale=0.1", "--boot-delay=0.5"),
		emulatortest.WithServerBinary(filepath.Join(binDir, "whatsthetime-linux-amd64")))
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/probe",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			scriptEnv(t, env, emu)
			// The probe resolves through the emulator's Route 53.
			env.Setenv("DNS", emu.DNSAddr())
			return nil
		},
		Cmds: probeCommands(emu.URL()),
	})
}

// probeCommands are the aws checks plus:
//
//	probe PATH OP VALUE   a field of the last command's -o json "probe"
//	                      report (dotted path, e.g. failures.refused),
//	                      compared with ==, !=, <, <=, >, >= to a number,
//	                      true/false, or another field's value
//	probe-window OP SECS  the time from the first failed request to the
//	                      end of the last outage
//	sleep DURATION        wait (for a background command to get going)
//	chaos az AZ | instance ID
//	                      kill time servers without telling the EC2 API
func probeCommands(emulatorURL string) map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	cmds := checkCommands()
	cmds["probe"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: probe PATH OP VALUE")
		}
		got, want := probeField(ts, args[0]), args[2]
		if _, err := strconv.ParseFloat(want, 64); err != nil && want != "true" && want != "false" {
			want = fmt.Sprint(probeField(ts, want)) // another field of the report
		}
		ok := compare(ts, got, args[1], want)
		if ok == neg {
			ts.Fatalf("probe %s = %v; want %s %s (report: %s)", args[0], got, args[1], args[2], probeSummary(ts))
		}
	}
	cmds["probe-window"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: probe-window OP SECONDS")
		}
		outages, _ := probeField(ts, "outages").([]any)
		window := 0.0
		if len(outages) > 0 {
			first := outages[0].(map[string]any)
			last := outages[len(outages)-1].(map[string]any)
			window = last["startSeconds"].(float64) + last["seconds"].(float64) - first["startSeconds"].(float64)
		}
		if compare(ts, window, args[0], args[1]) == neg {
			ts.Fatalf("failures spread over %.2fs; want %s %s (report: %s)", window, args[0], args[1], probeSummary(ts))
		}
		ts.Logf("failures spread over %.2fs", window)
	}
	cmds["sleep"] = func(ts *testscript.TestScript, neg bool, args []string) {
		d, err := time.ParseDuration(strings.Join(args, ""))
		if err != nil || neg || d > time.Minute {
			ts.Fatalf("usage: sleep DURATION (at most 1m)")
		}
		time.Sleep(d)
	}
	cmds["chaos"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 || (args[0] != "az" && args[0] != "instance") {
			ts.Fatalf("usage: chaos az AZ | chaos instance ID")
		}
		// Scripts share one emulator, whose kill-by-AZ would hit every
		// script's instances there: kill this app's, one by one.
		ids := []string{args[1]}
		if args[0] == "az" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			is, err := ts.Value(checkerKey{}).(*checker).instances(ctx, "running")
			if err != nil {
				ts.Fatalf("chaos: %v", err)
			}
			ids = nil
			for _, i := range is {
				if i.Placement != nil && aws.ToString(i.Placement.AvailabilityZone) == args[1] {
					ids = append(ids, aws.ToString(i.InstanceId))
				}
			}
		}
		var killed []string
		client := &http.Client{Timeout: 10 * time.Second}
		for _, id := range ids {
			resp, err := client.Post(emulatorURL+"/wtt-dataplane/kill?instance="+url.QueryEscape(id), "text/plain", nil)
			if err != nil {
				ts.Fatalf("chaos: %v", err)
			}
			var out struct {
				Killed []string `json:"killed"`
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				ts.Fatalf("chaos: HTTP %d, %v", resp.StatusCode, err)
			}
			killed = append(killed, out.Killed...)
		}
		if len(killed) == 0 && !neg {
			ts.Fatalf("chaos %s %s killed nothing", args[0], args[1])
		}
		ts.Logf("killed %v", killed)
		// for checks of what followed (checks_probe_test.go)
		ts.Setenv("CHAOS_AT", time.Now().Format(time.RFC3339Nano))
		ts.Setenv("CHAOS_KILLED", strings.Join(killed, " "))
	}
	return cmds
}

// probeField reads PATH from the "probe" object of the last command's
// stdout (a wtt -o json result).
func probeField(ts *testscript.TestScript, path string) any {
	var doc map[string]any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &doc); err != nil {
		ts.Fatalf("probe: stdout is not JSON: %v", err)
	}
	var v any = doc["probe"]
	if v == nil {
		ts.Fatalf("probe: no \"probe\" in the output")
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			ts.Fatalf("probe: %s: %q is not an object", path, k)
		}
		v = m[k]
	}
	return v
}

func compare(ts *testscript.TestScript, got any, op, want string) bool {
	switch g := got.(type) {
	case bool:
		w, err := strconv.ParseBool(want)
		if err != nil || (op != "==" && op != "!=") {
			ts.Fatalf("probe: compare a boolean with == or != true/false")
		}
		return (g == w) == (op == "==")
	case nil: // an absent count (a kind that never happened) is zero
		return compare(ts, 0.0, op, want)
	case float64:
		w, err := strconv.ParseFloat(want, 64)
		if err != nil {
			ts.Fatalf("probe: %q is not a number", want)
		}
		switch op {
		case "==":
			return g == w
		case "!=":
			return g != w
		case "<":
			return g < w
		case "<=":
			return g <= w
		case ">":
			return g > w
		case ">=":
			return g >= w
		}
		ts.Fatalf("probe: unknown operator %q", op)
	}
	ts.Fatalf("probe: cannot compare %T", got)
	return false
}

// probeSummary is the report's key figures, for failure messages.
func probeSummary(ts *testscript.TestScript) string {
	var doc struct {
		Probe map[string]any `json:"probe"`
	}
	_ = json.Unmarshal([]byte(ts.ReadFile("stdout")), &doc)
	p := doc.Probe
	return fmt.Sprintf("requests %v failed %v %v stale %v longest %vs in %v; claim %q held %v: %v; outages %v; served by %v",
		p["requests"], p["failed"], p["failures"], p["staleAddressFailures"], p["longestOutageSeconds"], p["longestOutageStep"],
		p["claim"], p["claimHeld"], p["verdict"], p["outages"], p["servedBy"])
}
