// Package plan holds a plan as a value: the steps that take an app from what
// is observed to a target, each with the AWS calls it makes, the downtime it
// causes and what it costs. The same value is printed by --dry-run and
// walked by the executor, so what runs can never drift from what was shown.
package plan

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/whatsthetime/wtt/pkg/pricing"
)

// Action is what a step does to its resource, in Terraform's notation.
type Action string

const (
	Create  Action = "+"
	Update  Action = "~"
	Delete  Action = "-"
	Replace Action = "±"
	Buy     Action = "$"
	Wait    Action = "…"
)

// Word names an action for JSON and summaries.
func (a Action) Word() string {
	switch a {
	case Create:
		return "create"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Replace:
		return "replace"
	case Buy:
		return "purchase"
	case Wait:
		return "wait"
	}
	return string(a)
}

// Step is one idempotent unit of work. Do observes before it acts, so a
// step interrupted half-way, or run twice, converges on the same result.
type Step struct {
	Rung     string        `json:"rung"`
	Action   Action        `json:"action"`
	Resource string        `json:"resource"`
	Detail   string        `json:"detail,omitempty"`
	Calls    []string      `json:"calls"`
	Downtime time.Duration `json:"-"`
	// DowntimeNote says who sees the downtime and why.
	DowntimeNote string `json:"downtime,omitempty"`
	// StaleFor says how long clients that found the app before this step
	// may still be sent to an address the step takes away (a cached DNS
	// answer lives up to the record's TTL; a public IP a client was given
	// is kept until someone tells it the new one: StaleUntilTold). Zero:
	// the step takes no address away that clients may still use. --probe
	// allows failures at such addresses only where a step says so, and
	// only this long (docs/probe.md).
	StaleFor time.Duration `json:"-"`
	// UnreadyFor says how long an address the step newly publishes may
	// refuse clients: the record lists a new instance once EC2 says it
	// runs, about a minute before its time server answers. Zero: the step
	// publishes no address before it answers. --probe allows failures at
	// such new addresses only where a step says so, and only this long.
	UnreadyFor time.Duration `json:"-"`
	Warnings   []string      `json:"warnings,omitempty"`
	// Upfront is money the step spends at once (Reserved Instances).
	Upfront float64 `json:"upfront,omitempty"`

	Do func(ctx context.Context, x *Exec) error `json:"-"`
	// Check, when set, asks AWS to validate the step without doing it
	// (EC2's DryRun), for --dry-run=server.
	Check func(ctx context.Context, x *Exec) error `json:"-"`
}

// StaleUntilTold is the StaleFor of a step that takes away an address
// clients were given directly (an auto-assigned public IP, an Elastic
// IP): no TTL ends it, only telling them the new one.
const StaleUntilTold = time.Duration(math.MaxInt64)

// MarshalJSON shows durations in seconds, not Go's nanoseconds;
// staleForSeconds is -1 for StaleUntilTold and absent for zero, as is
// unreadyForSeconds.
func (s *Step) MarshalJSON() ([]byte, error) {
	type plain Step
	var stale *float64
	if s.StaleFor != 0 {
		v := s.StaleFor.Seconds()
		if s.StaleFor == StaleUntilTold {
			v = -1
		}
		stale = &v
	}
	return json.Marshal(struct {
		*plain
		DowntimeSeconds   float64  `json:"downtimeSeconds"`
		StaleForSeconds   *float64 `json:"staleForSeconds,omitempty"`
		UnreadyForSeconds float64  `json:"unreadyForSeconds,omitempty"`
	}{(*plain)(s), s.Downtime.Seconds(), stale, s.UnreadyFor.Seconds()})
}

// Plan is the difference between observed state and a target.
type Plan struct {
	App       string   `json:"app"`
	Region    string   `json:"region"`
	Operation string   `json:"operation"`
	From      string   `json:"from"`
	To        string   `json:"to"`
	Steps     []*Step  `json:"steps"`
	Warnings  []string `json:"warnings,omitempty"`

	CostBefore pricing.Estimate `json:"costBefore"`
	CostAfter  pricing.Estimate `json:"costAfter"`
	// Upfront is money spent at once (Reserved Instances).
	Upfront float64 `json:"upfront,omitempty"`

	// Projected is the state the plan is expected to leave (observe.State),
	// so a runbook can plan its next operation before this one runs.
	Projected any `json:"-"`
}

// Empty reports whether there is nothing to do.
func (p *Plan) Empty() bool { return len(p.Steps) == 0 }

// Downtime is the total expected downtime users see.
func (p *Plan) Downtime() time.Duration {
	var d time.Duration
	for _, s := range p.Steps {
		d += s.Downtime
	}
	return d
}

// Counts summarises the plan as Terraform does: to add, change, destroy.
func (p *Plan) Counts() (add, change, destroy int) {
	for _, s := range p.Steps {
		switch s.Action {
		case Create, Buy:
			add++
		case Update, Replace:
			change++
		case Delete:
			destroy++
		}
	}
	return
}

// Destructive reports whether the plan deletes, replaces, spends money
// up front or causes downtime: such a plan needs --yes off a terminal.
func (p *Plan) Destructive() bool {
	add, change, destroy := p.Counts()
	return destroy > 0 || change > 0 || add > 0 || p.Upfront > 0 || p.Downtime() > 0
}
