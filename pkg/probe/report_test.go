package probe

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/pkg/plan"
)

var t0 = time.Unix(1_800_000_000, 0)

// measured builds a measurement from a pattern, one character per request
// 100 ms apart: '.' answered, 'x' failed, 's' failed at an address the app
// no longer publishes, 'n' failed at an address a step had just published;
// '|' starts the next step (no request).
func measured(steps []stepMark, pattern string) *Measurement {
	u, _ := url.Parse("http://api.example.com/api/time?tz=UTC")
	m := &Measurement{cfg: Config{Rate: 10, Timeout: time.Second}.withDefaults(), target: Target{URL: u, What: "DNS name api.example.com"}, started: t0}
	at, step := t0, -1
	if len(steps) > 0 {
		step = 0
	}
	for _, c := range pattern {
		switch c {
		case '|':
			step++
			continue
		case '.':
			m.results = append(m.results, result{at: at, kind: OK, step: step})
		case 'x':
			m.results = append(m.results, result{at: at, kind: Refused, step: step})
		case 's':
			m.results = append(m.results, result{at: at, kind: Refused, stale: true, step: step})
		case 'n':
			m.results = append(m.results, result{at: at, kind: Refused, fresh: true, step: step})
		}
		at = at.Add(100 * time.Millisecond)
	}
	m.stopped = at
	m.steps = steps
	return m
}

// step is a step that started at t0 (so StaleFor counts from the probe's
// start), stating a downtime and how long clients may hold an address it
// takes away.
func step(label string, downtime, staleFor time.Duration) stepMark {
	return stepMark{at: t0, label: label, downtime: downtime, staleFor: staleFor}
}

// An outage runs from its first failed request to the next answered one,
// and is charged to the step it began in.
func TestOutageAccounting(t *testing.T) {
	m := measured([]stepMark{step("~ a", 2*time.Minute, 0), step("~ b", 2*time.Minute, 0)}, ".....xxx..|xxxxxxxxxx.")
	os := m.outages()
	if len(os) != 2 {
		t.Fatalf("%d outages, want 2", len(os))
	}
	if os[0].length() != 300*time.Millisecond || os[0].step != 0 || os[0].failed != 3 {
		t.Errorf("first outage %+v", os[0])
	}
	r := m.Report("scale")
	if r.Requests != 21 || r.Failed != 13 || r.Failures["refused"] != 13 {
		t.Errorf("requests %d failed %d %v", r.Requests, r.Failed, r.Failures)
	}
	if r.LongestOutageSeconds != 1.0 || !strings.HasPrefix(r.LongestOutageStep, "step 2 (~ b)") {
		t.Errorf("longest %.2fs in %q, want 1s in step 2", r.LongestOutageSeconds, r.LongestOutageStep)
	}
	if r.ByStep[0].Requests != 10 || r.ByStep[0].Failed != 3 || r.ByStep[1].Requests != 11 || r.ByStep[1].LongestOutageSeconds != 1.0 {
		t.Errorf("by step %+v", r.ByStep)
	}
	if len(r.Outages) != 2 || r.Outages[1].StartSeconds != 1.0 {
		t.Errorf("outages %+v", r.Outages)
	}
	// An app still down when the probe stops: the outage lasts to the end.
	if os := measured([]stepMark{step("- x", 0, 0)}, "..xxx").outages(); len(os) != 1 || os[0].length() != 300*time.Millisecond {
		t.Errorf("open outage %+v", os)
	}
}

// The judgement reads what each step says (Downtime, StaleFor), never the
// plan's words.
func TestClaimJudgement(t *testing.T) {
	ttl := time.Minute
	cases := []struct {
		name    string
		steps   []stepMark
		pattern string
		op      string
		held    bool
		verdict string
	}{
		{"no failure, no downtime said", []stepMark{step("+ lb", 0, 0), step("~ dns", 0, 0)}, "....|....", "migrate", true, "every request was answered right"},
		{"a failure in a step that said none", []stepMark{step("+ lb", 0, 0), step("~ dns", 0, 0)}, "....|..x.", "migrate", false, "failed in step 2 (~ dns)"},
		{"an outage within the stated downtime", []stepMark{step("~ resize", 2*time.Minute, 0)}, "..xxxxxxxxxx..", "scale", true, "all within what the plan said"},
		{"an outage longer than stated", []stepMark{step("~ resize", 500*time.Millisecond, 0)}, ".." + strings.Repeat("x", 40) + "..", "scale", false, "which said about 1s"},
		{"stale addresses, within the TTL the step stated", []stepMark{step("~ record", 0, 0), step("- instance", 0, ttl)}, "...|.s.s.s....", "scale", true, "within what the plan said"},
		{"stale addresses, taken away for good (a public IP)", []stepMark{step("- instances", 0, plan.StaleUntilTold)}, "..ssss", "migrate", true, "within what the plan said"},
		{"stale addresses, the step said nothing", []stepMark{step("~ record", 0, 0), step("- instance", 0, 0)}, "...|.s.s.s....", "scale", false, "did not warn"},
		{"stale addresses, longer than the step stated", []stepMark{step("- instance", 0, 500*time.Millisecond)}, ".." + strings.Repeat("s", 40) + "..", "scale", false, "which said clients hold it for up to 1s"},
		{"stale addresses in a step with a downtime, beyond it", []stepMark{step("~ resize", 500*time.Millisecond, plan.StaleUntilTold)}, ".." + strings.Repeat("s", 40), "scale", true, "within what the plan said"},
		{"stale addresses after a fast step that warned of them", []stepMark{step("- instance", 0, ttl), step("~ after", 0, 0)}, "..|.ss..", "scale", true, "within what the plan said"},
		{"stale addresses after a step that warned, beyond its TTL", []stepMark{step("- instance", 0, 500*time.Millisecond), step("~ after", 0, 0)}, "..|" + strings.Repeat("s", 40), "scale", false, "after step 1 (- instance) began, which said clients hold it for up to 1s"},
		{"stale addresses before the step that warns of them", []stepMark{step("~ before", 0, 0), step("- instance", 0, ttl)}, "..ss|..", "scale", false, "did not warn"},
		{"new addresses refusing, within the boot the step stated", []stepMark{unready("~ record", time.Minute)}, "..n.n.n....", "scale", true, "within what the plan said"},
		{"new addresses refusing after a fast step that stated it", []stepMark{unready("~ record", time.Minute), step("~ after", 0, 0)}, "..|.n.n..", "scale", true, "within what the plan said"},
		{"new addresses refusing, longer than the step stated", []stepMark{unready("~ record", 500*time.Millisecond)}, ".." + strings.Repeat("n", 40) + "..", "scale", false, "which said its new instances answer within about 1s"},
		{"new addresses refusing, the step said nothing", []stepMark{step("~ record", 0, 0)}, "..n.n..", "scale", false, "said no downtime"},
		{"an old address failing in a step that publishes new ones", []stepMark{unready("~ record", time.Minute)}, "..x..", "scale", false, "said no downtime"},
		{"live and stale failures together", []stepMark{step("- instance", 0, ttl)}, "..sx..", "scale", false, "said no downtime"},
		{"down: the app went away", []stepMark{step("- lb", 0, 0), step("- instances", 0, 0)}, "....|..xxxx", "down", true, "no longer answers"},
		{"down: the app still answers", []stepMark{step("- lb", 0, 0)}, "....", "down", false, "still answered"},
		{"no plan, all answered", nil, "......", "", true, "every request"},
		{"no plan, failures", nil, "...xx.", "", false, "2 request(s) failed while probing"},
		{"many separate outages, summed up", nil, ".x.x.x.x.x.", "", false, "; and 3 more outage(s) the plan did not allow"},
	}
	for _, c := range cases {
		m := measured(c.steps, c.pattern)
		r := m.Report(c.op)
		if r.ClaimHeld != c.held || !strings.Contains(r.Verdict, c.verdict) {
			t.Errorf("%s: held %v (%s), want %v (%q)", c.name, r.ClaimHeld, r.Verdict, c.held, c.verdict)
		}
	}
}

// unready is a step that started at t0 and says an address it newly
// publishes may refuse clients for up to d.
func unready(label string, d time.Duration) stepMark {
	return stepMark{at: t0, label: label, unreadyFor: d}
}

// What each step allows, as the report says it, and the claim's summary.
func TestAllowedFollowsStaleFor(t *testing.T) {
	r := measured([]stepMark{step("~ a", 0, 0), step("- b", 0, 15*time.Second), step("- c", 0, plan.StaleUntilTold)}, ".|.|.").Report("scale")
	want := []string{"none", "failures only at addresses the app no longer publishes, for up to 15s (as warned)", "failures only at addresses the app no longer publishes (as warned)"}
	for i, w := range want {
		if r.ByStep[i].Allowed != w {
			t.Errorf("step %d allows %q, want %q", i+1, r.ByStep[i].Allowed, w)
		}
	}
	if !strings.Contains(r.Claim, "clients holding an old address may fail") {
		t.Errorf("claim %q", r.Claim)
	}
	r = measured([]stepMark{unready("~ record", time.Minute)}, "..n.").Report("scale")
	if want := "failures only at addresses it newly publishes, for up to 1m0s while their instances boot (as warned)"; r.ByStep[0].Allowed != want {
		t.Errorf("a publishing step allows %q, want %q", r.ByStep[0].Allowed, want)
	}
	if !strings.Contains(r.Claim, "clients sent to a new instance before it answers may fail") || r.NewAddress != 1 || r.ByStep[0].NewAddress != 1 || !r.Outages[0].NewAddress {
		t.Errorf("claim %q, %d new-address failure(s) (step %d, outage %v)", r.Claim, r.NewAddress, r.ByStep[0].NewAddress, r.Outages[0].NewAddress)
	}
	if r := measured([]stepMark{step("~ a", 0, 0)}, "..").Report("scale"); r.Claim != "no downtime" {
		t.Errorf("claim %q, want no downtime", r.Claim)
	}
}

func TestReportText(t *testing.T) {
	m := measured([]stepMark{step("~ instance i-1: t2.micro -> m5.large", 2*time.Minute, 0)}, "...xxxx...")
	m.instances, m.azs = map[string]int{"i-1": 6}, map[string]int{"us-east-1a": 6}
	var b strings.Builder
	m.Report("scale").WriteText(&b)
	for _, want := range []string{
		"Probe: 10 request(s) in 1.0s to http://api.example.com/api/time?tz=UTC (DNS name api.example.com), 4 failed.",
		"failures: refused 4",
		"longest outage: 0.4s, began in step 1 (~ instance i-1: t2.micro -> m5.large)",
		"an outage up to about 2m0s",
		"served by: i-1 6; AZs: us-east-1a 6",
		"the plan said: downtime of about 2m0s in total — held",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
