package printers

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/whatsthetime/wtt/pkg/plan"
)

// PrintPlan renders a plan: every step with its action and AWS calls, the
// downtime users will see, and the monthly bill before and after.
func PrintPlan(w io.Writer, format string, p *plan.Plan, suffix string) error {
	if ok, err := Structured(w, format, planJSON(p)); ok {
		return err
	}
	from := p.From
	if from == "" {
		from = "current"
	}
	fmt.Fprintf(w, "Plan: %s for app %s in %s (%s -> %s)%s\n", p.Operation, p.App, p.Region, from, p.To, suffix)
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "  ! %s\n", warn)
	}
	if p.Empty() {
		fmt.Fprintln(w, "\nNo changes. The app is already where you asked.")
		return nil
	}
	fmt.Fprintln(w)
	for i, s := range p.Steps {
		fmt.Fprintf(w, "  %2d. %s %s\n", i+1, s.Action, s.Resource)
		if s.Detail != "" {
			fmt.Fprintf(w, "        %s\n", s.Detail)
		}
		if format == "wide" || len(s.Calls) <= 6 {
			fmt.Fprintf(w, "        calls: %s\n", strings.Join(s.Calls, ", "))
		} else {
			fmt.Fprintf(w, "        calls: %s, … (%d in all; -o wide lists them)\n", strings.Join(s.Calls[:6], ", "), len(s.Calls))
		}
		if s.Downtime > 0 || s.DowntimeNote != "" {
			fmt.Fprintf(w, "        downtime: %s\n", downtimeText(s.Downtime, s.DowntimeNote))
		}
		if s.Upfront > 0 {
			fmt.Fprintf(w, "        upfront: %s\n", usd(s.Upfront))
		}
		for _, warn := range s.Warnings {
			fmt.Fprintf(w, "        ! %s\n", warn)
		}
	}
	add, change, destroy := p.Counts()
	fmt.Fprintf(w, "\nPlan: %d to add, %d to change, %d to destroy.\n", add, change, destroy)
	if d := p.Downtime(); d > 0 {
		fmt.Fprintf(w, "Expected downtime: about %s in total.\n", d.Round(time.Second))
	} else {
		fmt.Fprintln(w, "Expected downtime: none.")
	}
	fmt.Fprintf(w, "Monthly cost: %s -> %s (%s; estimates from AWS list prices)\n", usd(p.CostBefore.Monthly), usd(p.CostAfter.Monthly), delta(p.CostAfter.Monthly-p.CostBefore.Monthly))
	if p.Upfront > 0 {
		fmt.Fprintf(w, "Upfront payment: %s\n", usd(p.Upfront))
	}
	return nil
}

func downtimeText(d time.Duration, note string) string {
	if d == 0 && note != "" {
		return note
	}
	s := "about " + d.Round(time.Second).String()
	if d == 0 {
		s = "none"
	}
	if note != "" {
		s += " — " + note
	}
	return s
}

func delta(v float64) string {
	if v >= 0 {
		return "+" + usd(v)
	}
	return "-" + usd(-v)
}

// planView is the JSON shape of a plan, with downtime in seconds.
type planView struct {
	*plan.Plan
	Summary summary `json:"summary"`
}

type summary struct {
	Add             int     `json:"add"`
	Change          int     `json:"change"`
	Destroy         int     `json:"destroy"`
	DowntimeSeconds float64 `json:"downtimeSeconds"`
	MonthlyBefore   float64 `json:"monthlyBefore"`
	MonthlyAfter    float64 `json:"monthlyAfter"`
}

func planJSON(p *plan.Plan) planView {
	a, c, d := p.Counts()
	return planView{Plan: p, Summary: summary{Add: a, Change: c, Destroy: d, DowntimeSeconds: p.Downtime().Seconds(),
		MonthlyBefore: p.CostBefore.Monthly, MonthlyAfter: p.CostAfter.Monthly}}
}
