package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/probe"
)

// probeFlags are --probe and its settings, shared by every mutating command.
type probeFlags struct {
	on       bool
	rate     float64
	url      string
	resolver string
}

func addProbeFlags(cmd *cobra.Command, pf *probeFlags) {
	cmd.Flags().BoolVar(&pf.on, "probe", false, "while the plan runs, send steady requests to the app's public entry point and report what users saw against the plan's downtime statement (docs/probe.md)")
	cmd.Flags().Float64Var(&pf.rate, "probe-rate", probe.DefaultRate, fmt.Sprintf("probe requests per second, at most %d (implies --probe)", probe.MaxRate))
	cmd.Flags().StringVar(&pf.url, "probe-url", "", "URL to probe (implies --probe; default http://<the DNS name, else the load balancer's name, else the instances' addresses>"+probe.DefaultPath+")")
	cmd.Flags().StringVar(&pf.resolver, "probe-resolver", "", "DNS server HOST:PORT the probe resolves names through, caching answers for their TTL (implies --probe; default: the system's, from /etc/resolv.conf)")
}

// validate checks the probe flags before AWS is touched; any --probe-*
// flag turns the probe on.
func (pf *probeFlags) validate(cmd *cobra.Command, dr DryRun) error {
	for _, name := range []string{"probe-rate", "probe-url", "probe-resolver"} {
		if cmd.Flags().Changed(name) {
			pf.on = true
		}
	}
	if !pf.on {
		return nil
	}
	if dr != DryRunNone {
		return cmdutil.Usagef("drop --dry-run to run the plan with the probe, or drop --probe to only see the plan", "--probe measures a plan while it runs; a dry run runs nothing")
	}
	return pf.check()
}

func (pf *probeFlags) check() error {
	if pf.rate < 1 || pf.rate > probe.MaxRate {
		return cmdutil.Usagef(fmt.Sprintf("pass --probe-rate between 1 and %d", probe.MaxRate), "--probe-rate %g is out of range", pf.rate)
	}
	if pf.url != "" {
		if _, err := probe.ParseTarget(pf.url); err != nil {
			return cmdutil.Usagef("pass a URL such as http://api.example.com/api/time?tz=UTC", "%v", err)
		}
	}
	if pf.resolver != "" {
		host, port, err := net.SplitHostPort(pf.resolver)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return cmdutil.Usagef("pass the DNS server as HOST:PORT, e.g. 127.0.0.1:53", "--probe-resolver %q is not HOST:PORT", pf.resolver)
		}
	}
	return nil
}

// probeRun is the probe of one plan's execution. A nil *probeRun is no
// probe: every method does nothing.
type probeRun struct {
	e       *ladder.Env
	p       *probe.Probe
	started bool
}

// newProbeRun prepares the probe of a plan about to run; it starts sending
// with the first step. An app with no public entry point yet (before `up`)
// is not probed, and says so.
func (f *Factory) newProbeRun(pf *probeFlags, e *ladder.Env, p *plan.Plan) (*probeRun, error) {
	if pf == nil || !pf.on || p.Empty() {
		return nil, nil
	}
	var target probe.Target
	var err error
	if pf.url != "" {
		target, err = probe.ParseTarget(pf.url)
	} else {
		target, err = probe.EntryPoint(e.State)
	}
	if errors.Is(err, probe.ErrNoEntryPoint) {
		fmt.Fprintf(f.IO.ErrOut, "Probe: not started: %v.\n", err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pr, err := probe.New(probe.Config{Rate: pf.rate, Resolver: pf.resolver, Log: f.IO.ErrOut}, target)
	if err != nil {
		return nil, cmdutil.Usagef("", "--probe: %v", err)
	}
	fmt.Fprintf(f.IO.ErrOut, "Probe: %s.\n", pr.Describe())
	return &probeRun{e: e, p: pr}, nil
}

// stepStarted is the executor's hook: it marks the step and, for a target
// of bare addresses, what the app publishes now.
func (r *probeRun) stepStarted() func(i int, s *plan.Step) {
	if r == nil {
		return nil
	}
	return func(i int, s *plan.Step) {
		r.p.StepStarted(fmt.Sprintf("%s %s", s.Action, s.Resource), s)
		r.p.SetPublished(probe.PublicAddresses(r.e.State))
		if !r.started {
			r.started = true
			r.p.Start()
		}
	}
}

// finish observes once more (so the probe knows which addresses are
// published after the last step), lets the probe's tail run, and judges.
func (r *probeRun) finish(ctx context.Context, operation string) *probe.Report {
	if r == nil || !r.started {
		return nil
	}
	if err := r.e.Refresh(ctx); err == nil {
		r.p.SetPublished(probe.PublicAddresses(r.e.State))
	}
	return r.p.Stop(operation != "down").Report(operation)
}

// printProbe writes the report under the plan (text output) and warns on
// stderr when the plan's claim did not hold; the exit code is unchanged.
func (f *Factory) printProbe(rep *probe.Report, text bool) {
	if rep == nil {
		return
	}
	if text {
		rep.WriteText(f.IO.Out)
	}
	if !rep.ClaimHeld {
		fmt.Fprintf(f.IO.ErrOut, "Warning: the plan said %s, but the probe measured: %s.\n", rep.Claim, rep.Verdict)
	}
}

// printProbeText prints a report that no JSON result carries (a runbook's
// operation, a run that failed): on stdout, or on stderr when stdout
// carries -o json or yaml.
func (f *Factory) printProbeText(rep *probe.Report) {
	if rep == nil {
		return
	}
	if f.G.Output == "json" || f.G.Output == "yaml" {
		rep.WriteText(f.IO.ErrOut)
	} else {
		rep.WriteText(f.IO.Out)
	}
	f.printProbe(rep, false)
}
