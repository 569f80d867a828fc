package probe

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

// measured builds a measurement from a pattern, one character per request
// 100 ms apart: '.' answered, 'x' failed, 's' failed at an address the app
// no longer publishes; '|' starts the next step (no request).
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
		}
		at = at.Add(100 * time.Millisecond)
	}
	m.stopped = at
	m.steps = steps
	return m
}

func step(label string, downtime time.Duration, statements ...string) stepMark {
	return stepMark{label: label, downtime: downtime, warns: warnsOfStaleAddresses(statements)}
}

// An outage runs from its first failed request to the next answered one,
// and is charged to the step it began in.
func TestOutageAccounting(t *testing.T) {
	m := measured([]stepMark{step("~ a", 2*time.Minute), step("~ b", 2*time.Minute)}, ".....xxx..|xxxxxxxxxx.")
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
	if os := measured([]stepMark{step("- x", 0)}, "..xxx").outages(); len(os) != 1 || os[0].length() != 300*time.Millisecond {
		t.Errorf("open outage %+v", os)
	}
}

func TestClaimJudgement(t *testing.T) {
	ttlWarning := "resolvers that cached api.example.com keep the removed address(es) for up to its TTL (60 s): clients using them fail until then"
	cases := []struct {
		name     string
		steps    []stepMark
		warnings []string
		pattern  string
		op       string
		held     bool
		verdict  string
	}{
		{"no failure, no downtime said", []stepMark{step("+ lb", 0), step("~ dns", 0)}, nil, "....|....", "migrate", true, "every request was answered right"},
		{"a failure in a step that said none", []stepMark{step("+ lb", 0), step("~ dns", 0)}, nil, "....|..x.", "migrate", false, "failed in step 2 (~ dns)"},
		{"an outage within the stated downtime", []stepMark{step("~ resize", 2*time.Minute)}, nil, "..xxxxxxxxxx..", "scale", true, "all within what the plan said"},
		{"an outage longer than stated", []stepMark{step("~ resize", 500*time.Millisecond)}, nil, ".." + strings.Repeat("x", 40) + "..", "scale", false, "which said about 1s"},
		{"stale addresses, warned by the plan", []stepMark{step("~ record", 0), step("- instance", 0)}, []string{ttlWarning}, "...|.s.s.s....", "scale", true, "within what the plan said"},
		{"stale addresses, warned by the step", []stepMark{step("- instances", 0, "clients that reach the app by these instances' public or Elastic IP addresses lose them now")}, nil, "..ssss", "migrate", true, "within what the plan said"},
		{"stale addresses, not warned", []stepMark{step("~ record", 0), step("- instance", 0)}, nil, "...|.s.s.s....", "scale", false, "did not warn"},
		{"live and stale failures together, warned", []stepMark{step("- instance", 0)}, []string{ttlWarning}, "..sx..", "scale", false, "said no downtime"},
		{"down: the app went away", []stepMark{step("- lb", 0), step("- instances", 0)}, nil, "....|..xxxx", "down", true, "no longer answers"},
		{"down: the app still answers", []stepMark{step("- lb", 0)}, nil, "....", "down", false, "still answered"},
		{"no plan, all answered", nil, nil, "......", "", true, "every request"},
		{"no plan, failures", nil, nil, "...xx.", "", false, "2 request(s) failed while probing"},
		{"many separate outages, summed up", nil, nil, ".x.x.x.x.x.", "", false, "; and 3 more outage(s) the plan did not allow"},
	}
	for _, c := range cases {
		m := measured(c.steps, c.pattern)
		m.warnings = c.warnings
		r := m.Report(c.op)
		if r.ClaimHeld != c.held || !strings.Contains(r.Verdict, c.verdict) {
			t.Errorf("%s: held %v (%s), want %v (%q)", c.name, r.ClaimHeld, r.Verdict, c.held, c.verdict)
		}
	}
}

// The statements wtt's plans make that warn about clients holding old
// addresses are recognised; "none" statements are not.
func TestWarnsOfStaleAddresses(t *testing.T) {
	warn := []string{
		"the Elastic IPs stop answering at once; clients that resolved api.x.com before the next step keep them for up to the TTL (60s)",
		"no outage, but the instances stop answering on their current public IPs (3.0.0.1) once the Elastic IPs are associated: clients must switch to the Elastic IPs",
		"instance i-1 has no Elastic IP: its public address 3.0.0.1 changes when it starts again, and clients that know the old one lose the app",
		"resolvers that cached api.x.com before the switch keep its old addresses for up to its TTL (60 s)",
	}
	for _, w := range warn {
		if !warnsOfStaleAddresses([]string{w}) {
			t.Errorf("not recognised as a warning: %q", w)
		}
	}
	none := []string{
		"the old instances keep serving until the new ones are healthy behind the load balancer and DNS points at it",
		"instances are only added; the ones serving keep serving",
		"a new instance is a healthy target before an old one is drained and terminated",
	}
	for _, n := range none {
		if warnsOfStaleAddresses([]string{n}) {
			t.Errorf("taken for a warning: %q", n)
		}
	}
}

func TestReportText(t *testing.T) {
	m := measured([]stepMark{step("~ instance i-1: t2.micro -> m5.large", 2*time.Minute)}, "...xxxx...")
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
