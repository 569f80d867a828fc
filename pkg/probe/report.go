package probe

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/whatsthetime/wtt/pkg/plan"
)

// Measurement is what the probe saw, before it is judged.
type Measurement struct {
	cfg       Config
	target    Target
	resolver  string
	started   time.Time
	stopped   time.Time
	results   []result
	steps     []stepMark
	skipped   int
	instances map[string]int
	azs       map[string]int
}

func (p *Probe) measurement() *Measurement {
	m := &Measurement{
		cfg: p.cfg, target: p.target, started: p.started, stopped: p.stopped,
		results: slices.Clone(p.results), steps: slices.Clone(p.steps),
		skipped: p.skipped, instances: maps.Clone(p.instances), azs: maps.Clone(p.azs),
	}
	if p.resolver != nil {
		m.resolver = p.resolver.Server
	}
	sort.SliceStable(m.results, func(i, j int) bool { return m.results[i].at.Before(m.results[j].at) })
	if p.resolver == nil {
		markStaleAddresses(m.results, p.published)
	}
	return m
}

// markStaleAddresses marks the failures at an address that the observation
// after the failure no longer shows among the app's addresses. A failure
// after the last observation is judged by the last one; an observation with
// no address at all (the app gone) makes nothing stale.
func markStaleAddresses(results []result, pubs []publication) {
	for i := range results {
		r := &results[i]
		if r.kind == OK || !r.addr.IsValid() || len(pubs) == 0 {
			continue
		}
		next := pubs[len(pubs)-1]
		for _, pub := range pubs {
			if pub.at.After(r.at) {
				next = pub
				break
			}
		}
		r.stale = len(next.addrs) > 0 && !next.addrs[r.addr]
	}
}

// Report is the probe's account, as printed and as "probe" in -o json.
type Report struct {
	Target        string         `json:"target"`
	URL           string         `json:"url"`
	Resolver      string         `json:"resolver,omitempty"`
	RatePerSecond float64        `json:"ratePerSecond"`
	Seconds       float64        `json:"seconds"`
	Requests      int            `json:"requests"`
	Failed        int            `json:"failed"`
	Failures      map[string]int `json:"failures"`
	StaleAddress  int            `json:"staleAddressFailures"`
	// NewAddress counts failures at an address a step had just published,
	// before its instance answered (plan.Step.UnreadyFor).
	NewAddress           int     `json:"newAddressFailures,omitempty"`
	Skipped              int     `json:"skipped,omitempty"`
	LongestOutageSeconds float64 `json:"longestOutageSeconds"`
	// LongestOutageStep names the step the longest outage began in.
	LongestOutageStep string `json:"longestOutageStep,omitempty"`
	// AnsweringAtEnd says whether the last request was answered right:
	// the app came back (or never went).
	AnsweringAtEnd bool         `json:"answeringAtEnd"`
	ByStep         []StepReport `json:"byStep"`
	// Outages lists the runs of failed requests, in order (the first
	// maxOutagesListed), with when each began after the probe started.
	Outages  []OutageReport `json:"outages"`
	ServedBy ServedBy       `json:"servedBy"`
	// Claim is what the plan said users would see; ClaimHeld whether the
	// probe agrees; Verdict says why, in one sentence.
	Claim     string `json:"claim"`
	ClaimHeld bool   `json:"claimHeld"`
	Verdict   string `json:"verdict"`
}

// StepReport is one step's share of the requests.
type StepReport struct {
	Step                  int     `json:"step"`
	Resource              string  `json:"resource"`
	Requests              int     `json:"requests"`
	Failed                int     `json:"failed"`
	StaleAddress          int     `json:"staleAddressFailures,omitempty"`
	NewAddress            int     `json:"newAddressFailures,omitempty"`
	LongestOutageSeconds  float64 `json:"longestOutageSeconds"`
	StatedDowntimeSeconds float64 `json:"statedDowntimeSeconds"`
	// Allowed is what the step's statement lets users see.
	Allowed string `json:"allowed"`
	Held    bool   `json:"held"`
}

// OutageReport is one run of failed requests.
type OutageReport struct {
	StartSeconds float64 `json:"startSeconds"`
	Seconds      float64 `json:"seconds"`
	Failed       int     `json:"failed"`
	Step         string  `json:"step"`
	StaleAddress bool    `json:"staleAddress,omitempty"`
	NewAddress   bool    `json:"newAddress,omitempty"`
	Allowed      bool    `json:"allowed"`
}

// maxOutagesListed keeps a flapping app's report readable.
const maxOutagesListed = 50

// ServedBy counts right answers by the instance and AZ that sent them
// (the time server's X-Served-By-Instance and X-Served-By-AZ headers).
type ServedBy struct {
	Instances map[string]int `json:"instances"`
	AZs       map[string]int `json:"azs"`
}

// outage is a run of consecutive failed requests; it ends when a request
// is answered right again (or the probe stops).
type outage struct {
	start, end time.Time
	step       int
	failed     int
	allStale   bool
	allFresh   bool // every failure at a newly published address (result.fresh)
}

func (o outage) length() time.Duration { return o.end.Sub(o.start) }

func (m *Measurement) outages() []outage {
	var out []outage
	var cur *outage
	for _, r := range m.results {
		if r.kind == OK {
			if cur != nil {
				cur.end = r.at
				out = append(out, *cur)
				cur = nil
			}
			continue
		}
		if cur == nil {
			cur = &outage{start: r.at, step: r.step, allStale: true, allFresh: true}
		}
		cur.failed++
		cur.allStale = cur.allStale && r.stale
		cur.allFresh = cur.allFresh && r.fresh
	}
	if cur != nil {
		cur.end = m.stopped
		out = append(out, *cur)
	}
	return out
}

// tolerance is the measurement's own blur: one request timeout plus two
// probe intervals either side of a stated downtime.
func (m *Measurement) tolerance() time.Duration {
	return m.cfg.Timeout + 2*m.cfg.interval()
}

// Report judges the measurement against the statements of the steps that
// ran. operation is the plan's ("down" is judged by whether the app went
// away; "" means no plan ran and every request should be answered).
//
// The rule (docs/probe.md): every outage is judged by the step it began in.
//   - A step that states a downtime (Step.Downtime > 0) may cause an outage
//     up to that long, plus the measurement's tolerance.
//   - A failure at an address the app no longer publishes (a cached DNS
//     answer, an old public IP) is a client holding an old address; it is
//     allowed when the step it began in, or an earlier one, says it takes
//     such an address away (Step.StaleFor), and only that long after that
//     step began: the client holds the address from the step that took it
//     away, whichever steps run meanwhile (a fast step is over before the
//     first such failure).
//   - A failure at an address a step has just published (not published
//     when the step began) is a client sent to an instance that has not
//     answered yet; it is allowed when the step it began in, or an earlier
//     one, says its new addresses may refuse for a while (Step.UnreadyFor),
//     and only that long after that step began.
//   - Anything else must not fail at all: "none" means zero failed
//     requests.
func (m *Measurement) Report(operation string) *Report {
	r := &Report{
		Target: m.target.What, URL: m.target.URL.String(), Resolver: m.resolver,
		RatePerSecond: m.cfg.Rate, Seconds: round(m.stopped.Sub(m.started)),
		Requests: len(m.results), Failures: map[string]int{}, Skipped: m.skipped,
		ServedBy: ServedBy{Instances: orEmpty(m.instances), AZs: orEmpty(m.azs)},
		ByStep:   []StepReport{}, Outages: []OutageReport{},
	}
	for i, s := range m.steps {
		sr := StepReport{Step: i + 1, Resource: s.label, StatedDowntimeSeconds: s.downtime.Seconds(), Held: true}
		switch {
		case s.downtime > 0:
			sr.Allowed = "an outage up to about " + s.downtime.Round(time.Second).String()
		case s.staleFor == plan.StaleUntilTold:
			sr.Allowed = "failures only at addresses the app no longer publishes (as warned)"
		case s.staleFor > 0:
			sr.Allowed = "failures only at addresses the app no longer publishes, for up to " + s.staleFor.Round(time.Second).String() + " (as warned)"
		case s.unreadyFor > 0:
			sr.Allowed = "failures only at addresses it newly publishes, for up to " + s.unreadyFor.Round(time.Second).String() + " while their instances boot (as warned)"
		default:
			sr.Allowed = "none"
		}
		r.ByStep = append(r.ByStep, sr)
	}
	for _, res := range m.results {
		if res.kind == OK {
			continue
		}
		r.Failed++
		r.Failures[string(res.kind)]++
		if res.stale {
			r.StaleAddress++
		}
		if res.fresh {
			r.NewAddress++
		}
		if sr := m.stepReport(r, res.step); sr != nil {
			sr.Failed++
			if res.stale {
				sr.StaleAddress++
			}
			if res.fresh {
				sr.NewAddress++
			}
		}
	}
	for _, res := range m.results {
		if sr := m.stepReport(r, res.step); sr != nil {
			sr.Requests++
		}
	}

	var broken []string
	var longest time.Duration
	for _, o := range m.outages() {
		if o.length() > longest {
			longest = o.length()
			r.LongestOutageStep = m.stepName(o.step)
		}
		if sr := m.stepReport(r, o.step); sr != nil {
			sr.LongestOutageSeconds = max(sr.LongestOutageSeconds, round(o.length()))
		}
		why := m.judge(o)
		if len(r.Outages) < maxOutagesListed {
			r.Outages = append(r.Outages, OutageReport{StartSeconds: round(o.start.Sub(m.started)), Seconds: round(o.length()),
				Failed: o.failed, Step: m.stepName(o.step), StaleAddress: o.allStale, NewAddress: o.allFresh, Allowed: why == ""})
		}
		if why != "" {
			broken = append(broken, why)
			if sr := m.stepReport(r, o.step); sr != nil {
				sr.Held = false
			}
		}
	}
	r.LongestOutageSeconds = round(longest)
	r.AnsweringAtEnd = len(m.results) > 0 && m.results[len(m.results)-1].kind == OK

	switch operation {
	case "down":
		r.Claim = "down deletes the app: it stops answering"
		last := len(m.results) - 1
		r.ClaimHeld = last >= 0 && m.results[last].kind != OK
		if r.ClaimHeld {
			r.Verdict = "the app no longer answers"
		} else {
			r.Verdict = "the app still answered at the end of the run"
		}
		for i := range r.ByStep {
			r.ByStep[i].Allowed, r.ByStep[i].Held = "the app may go away", true
		}
		return r
	case "":
		r.Claim = "no plan ran: every request should be answered"
	default:
		r.Claim = m.claim()
	}
	r.ClaimHeld = len(broken) == 0
	switch {
	case r.Failed == 0:
		r.Verdict = "every request was answered right"
	case r.ClaimHeld:
		r.Verdict = fmt.Sprintf("%d request(s) failed, all within what the plan said", r.Failed)
	case len(broken) > 3:
		r.Verdict = strings.Join(broken[:2], "; ") + fmt.Sprintf("; and %d more outage(s) the plan did not allow", len(broken)-2)
	default:
		r.Verdict = strings.Join(broken, "; ")
	}
	return r
}

// judge returns why an outage breaks the claim, or "" when it does not.
func (m *Measurement) judge(o outage) string {
	where := m.stepName(o.step)
	if o.step < 0 || o.step >= len(m.steps) {
		return fmt.Sprintf("%d request(s) failed %s", o.failed, where)
	}
	s := m.steps[o.step]
	if s.downtime > 0 && o.length() <= s.downtime+m.tolerance() {
		return ""
	}
	if o.allStale {
		if w := m.warnedOfStale(o.step); w >= 0 {
			ws := m.steps[w]
			if ws.staleFor == plan.StaleUntilTold || !o.end.After(ws.at.Add(ws.staleFor+m.tolerance())) {
				return ""
			}
			return fmt.Sprintf("requests to an address the app no longer publishes still failed %s after %s began, which said clients hold it for up to %s",
				o.end.Sub(ws.at).Round(100*time.Millisecond), m.stepName(w), ws.staleFor.Round(time.Second))
		}
	}
	if o.allFresh {
		if w := m.warnedOfUnready(o.step); w >= 0 {
			ws := m.steps[w]
			if !o.end.After(ws.at.Add(ws.unreadyFor + m.tolerance())) {
				return ""
			}
			return fmt.Sprintf("requests to an address %s published still failed %s after it began, which said its new instances answer within about %s",
				m.stepName(w), o.end.Sub(ws.at).Round(100*time.Millisecond), ws.unreadyFor.Round(time.Second))
		}
	}
	if s.downtime > 0 {
		return fmt.Sprintf("an outage of %s began in %s, which said about %s", o.length().Round(100*time.Millisecond), where, s.downtime.Round(time.Second))
	}
	if o.allStale {
		return fmt.Sprintf("%d request(s) to an address the app no longer publishes failed in %s, and the plan did not warn about it", o.failed, where)
	}
	return fmt.Sprintf("%d request(s) failed in %s (an outage of %s), which said no downtime", o.failed, where, o.length().Round(100*time.Millisecond))
}

// warnedOfStale is the latest step at or before step i that says clients
// may hold an address it takes away (StaleFor), or -1.
func (m *Measurement) warnedOfStale(i int) int {
	for j := i; j >= 0; j-- {
		if m.steps[j].staleFor > 0 {
			return j
		}
	}
	return -1
}

// warnedOfUnready is the latest step at or before step i that says an
// address it newly publishes may refuse clients for a while (UnreadyFor),
// or -1.
func (m *Measurement) warnedOfUnready(i int) int {
	for j := i; j >= 0; j-- {
		if m.steps[j].unreadyFor > 0 {
			return j
		}
	}
	return -1
}

// claim sums up what the steps that ran said.
func (m *Measurement) claim() string {
	var total time.Duration
	warned, unready := false, false
	for _, s := range m.steps {
		total += s.downtime
		warned = warned || s.staleFor > 0
		unready = unready || s.unreadyFor > 0
	}
	c := "no downtime"
	if total > 0 {
		c = "downtime of about " + total.Round(time.Second).String() + " in total"
	}
	if warned {
		c += "; clients holding an old address may fail (as warned)"
	}
	if unready {
		c += "; clients sent to a new instance before it answers may fail (as warned)"
	}
	return c
}

func (m *Measurement) stepName(i int) string {
	switch {
	case len(m.steps) == 0:
		return "while probing"
	case i < 0:
		return "before the first step"
	case i >= len(m.steps):
		return "after the last step"
	}
	return fmt.Sprintf("step %d (%s)", i+1, m.steps[i].label)
}

func (m *Measurement) stepReport(r *Report, i int) *StepReport {
	if i < 0 || i >= len(r.ByStep) {
		return nil
	}
	return &r.ByStep[i]
}

func round(d time.Duration) float64 {
	return float64(d.Round(10*time.Millisecond)) / float64(time.Second)
}

func orEmpty(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}
