package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/printers"
	"github.com/whatsthetime/wtt/pkg/probe"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// DryRun is kubectl's strategy: none, client (plan only) or server (plan,
// then ask EC2 to validate with its own DryRun).
type DryRun string

const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// addDryRunFlag adds --dry-run[=client|server]; a bare --dry-run is client.
func addDryRunFlag(cmd *cobra.Command, target *string) {
	cmd.Flags().StringVar(target, "dry-run", "none", "print the plan and change nothing: client (plan only) or server (also validate EC2 calls with EC2's DryRun)")
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
}

func parseDryRun(v string) (DryRun, error) {
	switch DryRun(v) {
	case DryRunNone, DryRunClient, DryRunServer:
		return DryRun(v), nil
	case "true":
		return DryRunClient, nil
	case "false", "":
		return DryRunNone, nil
	}
	return "", cmdutil.Usagef("use --dry-run, --dry-run=client or --dry-run=server", "unknown --dry-run value %q", v)
}

// applyRequest is one mutating command: how to build its plan from what is
// observed, and how to run it.
type applyRequest struct {
	Build        func(s *observe.State) (*plan.Plan, error)
	Opts         ladder.Options
	DryRun       DryRun
	DetailedExit bool // plan --detailed-exitcode: exit 2 when changes are pending
	// ReadEverything: observe every kind of resource, even those the
	// app's stage rules out (down: whatever a crash left must go).
	ReadEverything bool
	// Adopt: kinds to observe even where the app's stage rules them out
	// (a part of what ReadEverything reads).
	Adopt observe.Kind
	// Sweep: describe even what the route tables prove, and read the
	// delivery before planning (down deletes strays and the bucket).
	Sweep bool
	// Validate runs before AWS is touched at all (flag checks).
	Validate func() error
	// PreCheck runs after observing, before planning: checks that need AWS
	// reads (instance type exists, quota), all of them bad input.
	PreCheck func(ctx context.Context, e *ladder.Env) error
	// Probe, when on, measures what users see while the plan runs.
	Probe *probeFlags
	// After, when set, runs once the plan has run (or had nothing to do),
	// with the state observed last: `up --wait` waits for the app there.
	After func(ctx context.Context, e *ladder.Env) error
}

// apply is the one path every mutating command takes: observe, plan, print,
// confirm, lease, execute, report. Keeping it single means a rung can never
// skip the confirmation or the lease.
func (f *Factory) apply(cmd *cobra.Command, req applyRequest) error {
	if req.Validate != nil {
		if err := req.Validate(); err != nil {
			return err
		}
	}
	if req.Probe != nil {
		if err := req.Probe.validate(cmd, req.DryRun); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.G.Timeout)
	defer cancel()

	// A dry run's first request is the preflight's; a run's is the lease
	// read, which stands in for it (clientsForLeaseRead).
	clients := f.Clients
	if req.DryRun == DryRunNone {
		clients = f.clientsForLeaseRead
	}
	c, err := clients(ctx)
	if err != nil {
		return err
	}
	e := &ladder.Env{C: c, N: names.For(f.G.App), App: f.G.App, Opts: req.Opts}
	if c.CustomEndpoint() && e.Opts.PollInterval == 0 {
		// Emulators answer at once; polling them every 5 s only slows tests.
		e.Opts.PollInterval = 200 * time.Millisecond
	}
	e.Observer = observe.NewObserver(c, e.App)
	if req.ReadEverything {
		e.Observer.ReadEverything()
	}
	e.Observer.Adopt(req.Adopt)
	if req.Sweep {
		e.Observer.Sweep()
	} else {
		e.Observer.Defer(observe.KindDelivery)
	}
	heldBefore := false
	if req.DryRun == DryRunNone {
		if heldBefore, err = f.readLeaseFirst(ctx, e); err != nil {
			return err
		}
	}
	if err := e.Refresh(ctx); err != nil {
		return err
	}
	if req.PreCheck != nil {
		if err := req.PreCheck(ctx, e); err != nil {
			return err
		}
	}
	p, err := req.Build(e.State)
	if err != nil {
		return err
	}
	wantReads(e, p)
	if req.DryRun == DryRunNone {
		// A missing time server build is bad input: found here, before
		// the plan is confirmed and anything changes.
		if err := e.CheckServerBinaries(ctx, p); err != nil {
			return err
		}
	}

	out := f.IO.Out
	structured := f.G.Output == "json" || f.G.Output == "yaml"
	suffix := ""
	switch req.DryRun {
	case DryRunClient:
		suffix = " (dry run)"
	case DryRunServer:
		suffix = " (server dry run)"
	}
	if req.DryRun != DryRunNone || !structured {
		if err := printers.PrintPlan(out, f.G.Output, p, suffix); err != nil {
			return err
		}
	}
	if req.DryRun == DryRunServer {
		if err := f.serverDryRun(ctx, e, p); err != nil {
			return err
		}
	}
	if req.DryRun != DryRunNone {
		if req.DetailedExit && !p.Empty() {
			return &cmdutil.ExitError{Code: cmdutil.ExitBadInput}
		}
		return nil
	}
	after := func(err error) error {
		if err != nil || req.After == nil {
			return err
		}
		return req.After(cmd.Context(), e)
	}
	if p.Empty() {
		if structured {
			return after(f.printResult(ctx, e, p, true))
		}
		return after(nil)
	}
	if err := f.confirm(p); err != nil {
		return err
	}

	leaseBefore := leaseCalls(e)
	release, err := f.acquireLease(ctx, e, p.Operation)
	if err != nil {
		return err
	}
	defer release()
	// Another operator may have changed the app while this run waited for
	// the lease (or since it observed): plan again from what is there now.
	invalidateUnlessUntouched(e, heldBefore, leaseBefore)
	if err := e.Refresh(ctx); err != nil {
		return err
	}
	if fresh, err := req.Build(e.State); err != nil {
		return err
	} else if !samePlan(p, fresh) {
		fmt.Fprintln(f.IO.ErrOut, "\nThe app changed since the plan above was made; the plan now is:")
		if err := printers.PrintPlan(f.IO.ErrOut, "table", fresh, ""); err != nil {
			return err
		}
		p = fresh
		wantReads(e, p)
		if p.Empty() {
			return after(f.printResult(ctx, e, p, true))
		}
	}

	pr, err := f.newProbeRun(req.Probe, e, p)
	if err != nil {
		return err
	}
	runErr := f.execute(ctx, e, p, pr)
	report := pr.finish(ctx, p.Operation)
	if runErr != nil {
		f.printProbeText(report)
		return runErr
	}
	if err := f.printResult(ctx, e, p, true, report); err != nil {
		return err
	}
	f.printProbe(report, !structured)
	return after(nil)
}

// confirm asks on a terminal and insists on --yes elsewhere, for any plan
// that changes something.
func (f *Factory) confirm(p *plan.Plan) error {
	if f.G.Yes || !p.Destructive() {
		return nil
	}
	if !f.IO.CanPrompt() {
		return cmdutil.Usagef("review the plan above, then run again with --yes",
			"--yes required when not running interactively (this plan changes AWS resources%s)", consequences(p))
	}
	fmt.Fprintf(f.IO.ErrOut, "\nApply this plan%s? Only 'yes' is accepted: ", consequences(p))
	line, _ := bufio.NewReader(f.IO.In).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		return &cmdutil.UsageError{Problem: "cancelled; nothing was changed"}
	}
	return nil
}

func consequences(p *plan.Plan) string {
	var parts []string
	if _, _, d := p.Counts(); d > 0 {
		parts = append(parts, "deletes resources")
	}
	if p.Downtime() > 0 {
		parts = append(parts, "causes downtime")
	}
	if p.CostAfter.Monthly > p.CostBefore.Monthly {
		parts = append(parts, fmt.Sprintf("raises the bill to $%.2f/month", p.CostAfter.Monthly))
	}
	if p.Upfront > 0 {
		parts = append(parts, fmt.Sprintf("spends $%.2f up front", p.Upfront))
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}

// execute runs the plan. The first Ctrl-C (or SIGTERM) stops at the next
// step boundary; a step in flight finishes, so nothing is left half-made by
// a keypress. A second Ctrl-C aborts at once.
func (f *Factory) execute(ctx context.Context, e *ladder.Env, p *plan.Plan, pr *probeRun) error {
	graceful, stopGraceful := context.WithCancel(ctx)
	defer stopGraceful()
	hard, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()
	deadline, hasDeadline := ctx.Deadline()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for range sigs {
			n++
			if n == 1 {
				fmt.Fprintln(f.IO.ErrOut, "\nInterrupted: finishing the current step, then stopping (Ctrl-C again to abort now).")
				stopGraceful()
			} else {
				stopHard()
			}
		}
	}()

	log := f.IO.ErrOut
	fmt.Fprintf(log, "\nApplying %d step(s) to %s:\n", len(p.Steps), p.App)
	x := &plan.Exec{Env: e, Log: log, Refresh: e.Refresh, StepStarted: pr.stepStarted()}
	start := time.Now()
	err := plan.Run(graceful, p, x, func() (context.Context, context.CancelFunc) {
		if hasDeadline {
			return context.WithDeadline(hard, deadline)
		}
		return context.WithCancel(hard)
	})
	var intr *plan.Interrupted
	if errors.As(err, &intr) {
		fmt.Fprintf(log, "\n%v\n", err)
		return &cmdutil.ExitError{Code: cmdutil.ExitFailure}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "Done: %d step(s) in %s.\n", len(p.Steps), time.Since(start).Round(time.Millisecond))
	return nil
}

// result is what a mutating command prints last with -o json.
type result struct {
	Plan  *plan.Plan  `json:"plan"`
	Stage stage.Stage `json:"stage"`
	OK    bool        `json:"ok"`
	// Probe is what --probe measured while the plan ran.
	Probe *probe.Report `json:"probe,omitempty"`
	// Calls counts the AWS requests the command made, per IAM action.
	Calls map[string]int `json:"calls"`
}

func (f *Factory) printResult(ctx context.Context, e *ladder.Env, p *plan.Plan, ok bool, report ...*probe.Report) error {
	// The stage is all that is left to print: no deferred kind is needed.
	e.Observer.Want(0)
	if err := e.Refresh(ctx); err != nil {
		return err
	}
	st := stage.Detect(e.State).Stage
	if f.G.Output == "json" || f.G.Output == "yaml" {
		res := result{Plan: p, Stage: st, OK: ok, Calls: e.C.Recorder.Calls()}
		if len(report) > 0 {
			res.Probe = report[0]
		}
		_, err := printers.Structured(f.IO.Out, f.G.Output, res)
		return err
	}
	if !p.Empty() {
		fmt.Fprintf(f.IO.Out, "\nApp %s is at stage %s.\n", e.App, st)
	}
	return nil
}

// serverDryRun asks AWS to validate the steps that can be validated.
func (f *Factory) serverDryRun(ctx context.Context, e *ladder.Env, p *plan.Plan) error {
	e.Opts.ServerDryRun = true
	x := &plan.Exec{Env: e}
	checked := 0
	for _, s := range p.Steps {
		if s.Check == nil {
			continue
		}
		if err := s.Check(ctx, x); err != nil {
			return fmt.Errorf("server dry run: %s %s: %w", s.Action, s.Resource, err)
		}
		checked++
	}
	fmt.Fprintf(f.IO.Out, "Server dry run: AWS validated %d of %d step(s); the others have no server-side dry run.\n", checked, len(p.Steps))
	return nil
}

// samePlan reports whether two plans would do the same steps.
func samePlan(a, b *plan.Plan) bool {
	if len(a.Steps) != len(b.Steps) {
		return false
	}
	for i := range a.Steps {
		if a.Steps[i].Action != b.Steps[i].Action || a.Steps[i].Resource != b.Steps[i].Resource {
			return false
		}
	}
	return true
}
