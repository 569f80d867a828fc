package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/printers"
	"github.com/whatsthetime/wtt/pkg/runbook"
	"github.com/whatsthetime/wtt/pkg/stage"
)

func init() { extraCommands = append(extraCommands, newRunCmd) }

func newRunCmd(f *Factory) *cobra.Command {
	var file, dryRun, serverBinary string
	pf := &probeFlags{}
	cmd := &cobra.Command{
		Use:   "run -f RUNBOOK",
		Short: "Run a runbook: several ladder operations planned as one, executed step by step",
		Long: `Run a runbook file: an ordered list of operations (up, migrate, scale). The
whole runbook is planned as one plan first — each operation planned from the
state the previous one is expected to leave — and printed. Then each operation
is planned again from what AWS really shows and executed, one line per step,
with a summary at the end. Operations already done are skipped, so running a
runbook again resumes it after an interruption.

Format (see docs/runbooks/whatsthetime.yaml):

  app: whatsthetime            # optional; must match --app
  steps:
    - name: one instance
      up: {instanceType: t2.micro}
    - migrate: {to: dns, dnsName: api.whatisthetime.com, ttl: 300}
    - scale: {vertical: m5.large}`,
		Example: `  wtt run -f docs/runbooks/whatsthetime.yaml --dry-run
  wtt run -f docs/runbooks/whatsthetime.yaml --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return cmdutil.Usagef("pass -f RUNBOOK.yaml", "no runbook given")
			}
			dr, err := parseDryRun(dryRun)
			if err != nil {
				return err
			}
			if err := pf.validate(cmd, dr); err != nil {
				return err
			}
			rb, err := runbook.Load(file)
			if err != nil {
				return err
			}
			if rb.App != "" && rb.App != f.G.App {
				return cmdutil.Usagef("pass --app "+rb.App+" or edit the runbook's app", "the runbook is for app %s, not %s", rb.App, f.G.App)
			}
			ops, err := runbookOps(rb, serverBinary)
			if err != nil {
				return err
			}
			return f.runRunbook(cmd, ops, dr, pf)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "runbook YAML file")
	cmd.Flags().StringVar(&serverBinary, "server-binary", "", "linux build of the time server to deliver (default: whatsthetime-linux-<arch> beside wtt)")
	addDryRunFlag(cmd, &dryRun)
	addProbeFlags(cmd, pf)
	return cmd
}

// runbookOp is one runbook entry, ready to plan from any state.
type runbookOp struct {
	title  string
	kind   string
	typ    string // instance type to check against EC2, if any
	target stage.Stage
	// horizontal is the count of a scale --horizontal step (its quota is
	// checked like the command's).
	horizontal int
	opts       *ladder.Options
	build      func(s *observe.State) (*plan.Plan, error)
}

func runbookOps(rb *runbook.Runbook, serverBinary string) ([]runbookOp, error) {
	var ops []runbookOp
	for i, e := range rb.Steps {
		o := new(ladder.Options)
		*o = defaultOptions()
		o.ServerBinary = serverBinary
		op := runbookOp{title: e.Title(), kind: e.Kind(), opts: o}
		set := map[string]bool{}
		switch {
		case e.Up != nil:
			o.InstanceType, op.typ = e.Up.InstanceType, e.Up.InstanceType
			op.build = func(s *observe.State) (*plan.Plan, error) { return ladder.Up(s, *o) }
		case e.Migrate != nil:
			m := e.Migrate
			target, _ := stage.Parse(m.To)
			applyMigrateSpec(o, m, set)
			if target == stage.DNS && o.DNSName == "" {
				return nil, cmdutil.Usagef("add dnsName: api.example.com to the step", "runbook step %d: the dns rung needs a DNS name", i+1)
			}
			op.target = target
			op.build = func(s *observe.State) (*plan.Plan, error) {
				// A runbook run again resumes: a rung the app is already
				// past is done, not a move down the ladder.
				if cur := stage.Detect(s).Stage; cur.Index() > target.Index() {
					return ladder.Already(s, op.kind, cur), nil
				}
				return ladder.Migrate(s, target, *o)
			}
		case e.Scale != nil && e.Scale.Vertical != "":
			typ := e.Scale.Vertical
			op.typ = typ
			op.build = func(s *observe.State) (*plan.Plan, error) { return ladder.ScaleVertical(s, typ, *o) }
		default:
			n := e.Scale.Horizontal
			op.horizontal = n
			op.build = func(s *observe.State) (*plan.Plan, error) { return ladder.ScaleHorizontal(s, n, *o) }
		}
		if err := validateOptions(o, func(name string) bool { return set[name] }); err != nil {
			return nil, fmt.Errorf("runbook step %d (%s): %w", i+1, op.title, err)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// defaultOptions are the flag defaults of migrate and scale.
func defaultOptions() ladder.Options {
	return ladder.Options{TTL: 60, RecordType: "alias", CPUTarget: 50, Term: "1y", OfferingClass: "standard", Payment: "no-upfront", MaxUpfront: -1}
}

func applyMigrateSpec(o *ladder.Options, m *runbook.MigrateSpec, set map[string]bool) {
	if m.DNSName != "" {
		o.DNSName = m.DNSName
	}
	if m.TTL != 0 {
		o.TTL, set["ttl"] = m.TTL, true
	}
	if m.RecordType != "" {
		o.RecordType = m.RecordType
	}
	if m.AZs != 0 {
		o.AZs, set["azs"] = m.AZs, true
	}
	o.Min, o.Max, o.Desired = m.Min, m.Max, m.Desired
	if m.CPUTarget != 0 {
		o.CPUTarget = m.CPUTarget
	}
	if m.Term != "" {
		o.Term = m.Term
	}
	if m.OfferingClass != "" {
		o.OfferingClass = m.OfferingClass
	}
	if m.Payment != "" {
		o.Payment = m.Payment
	}
	if m.MaxUpfront != nil {
		o.MaxUpfront, set["max-upfront"] = *m.MaxUpfront, true
	}
}

// runRunbook plans every operation from the projected state of the one
// before (one combined plan), then runs them one by one from fresh state.
func (f *Factory) runRunbook(cmd *cobra.Command, ops []runbookOp, dr DryRun, pf *probeFlags) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), f.G.Timeout)
	defer cancel()
	clients := f.Clients
	if dr == DryRunNone {
		clients = f.clientsForLeaseRead // the lease read is the preflight
	}
	c, err := clients(ctx)
	if err != nil {
		return err
	}
	e := &ladder.Env{C: c, N: names.For(f.G.App), App: f.G.App}
	if c.CustomEndpoint() {
		e.Opts.PollInterval = 200 * time.Millisecond
	}
	// A runbook may take any rung: it sees everything there is.
	e.Observer = observe.NewObserver(c, e.App)
	e.Observer.ReadEverything()
	heldBefore := false
	if dr == DryRunNone {
		if heldBefore, err = f.readLeaseFirst(ctx, e); err != nil {
			return err
		}
	}
	if err := e.Refresh(ctx); err != nil {
		return err
	}
	for _, op := range ops {
		if err := f.runbookPreCheck(ctx, e, op); err != nil {
			return fmt.Errorf("%s: %w", op.title, err)
		}
	}

	whole := &plan.Plan{App: f.G.App, Region: e.State.Region, Operation: "run", From: string(stage.Detect(e.State).Stage), Steps: []*plan.Step{}}
	whole.CostBefore = ladder.Cost(e.State)
	projected := e.State
	for _, op := range ops {
		if err := f.runbookOffering(ctx, e, op, projected); err != nil {
			return fmt.Errorf("%s: %w", op.title, err)
		}
		p, err := op.build(projected)
		if err != nil {
			return fmt.Errorf("%s: %w", op.title, err)
		}
		for _, w := range p.Warnings {
			whole.Warnings = append(whole.Warnings, op.title+": "+w)
		}
		whole.Steps = append(whole.Steps, p.Steps...)
		whole.Upfront += p.Upfront
		if next, ok := p.Projected.(*observe.State); ok && next != nil {
			projected = next
		}
	}
	whole.To = string(stage.Detect(projected).Stage)
	whole.CostAfter = ladder.Cost(projected)
	if len(whole.Steps) == 0 {
		whole.CostAfter = whole.CostBefore
	}

	suffix := map[DryRun]string{DryRunClient: " (dry run)", DryRunServer: " (server dry run)"}[dr]
	if err := printers.PrintPlan(f.IO.Out, f.G.Output, whole, suffix); err != nil {
		return err
	}
	if dr != DryRunNone || whole.Empty() {
		return nil
	}
	if err := e.CheckServerBinaries(ctx, whole); err != nil {
		return err
	}
	if err := f.confirm(whole); err != nil {
		return err
	}
	leaseBefore := leaseCalls(e)
	release, err := f.acquireLease(ctx, e, "run")
	if err != nil {
		return err
	}
	defer release()
	invalidateUnlessUntouched(e, heldBefore, leaseBefore)

	start := time.Now()
	done := 0
	for i, op := range ops {
		if err := e.Refresh(ctx); err != nil {
			return err
		}
		e.Opts = ladder.Options{PollInterval: e.Opts.PollInterval}
		if err := f.runbookPreCheck(ctx, e, op); err != nil {
			return fmt.Errorf("runbook step %d (%s): %w", i+1, op.title, err)
		}
		if err := f.runbookOffering(ctx, e, op, e.State); err != nil {
			return fmt.Errorf("runbook step %d (%s): %w", i+1, op.title, err)
		}
		p, err := op.build(e.State)
		if err != nil {
			return fmt.Errorf("runbook step %d (%s): %w", i+1, op.title, err)
		}
		if p.Empty() {
			fmt.Fprintf(f.IO.ErrOut, "runbook %d/%d %s: already done\n", i+1, len(ops), op.title)
			continue
		}
		fmt.Fprintf(f.IO.ErrOut, "runbook %d/%d %s: %d step(s)\n", i+1, len(ops), op.title, len(p.Steps))
		// Each operation is probed on its own, at the entry point the app
		// has when it starts (a runbook may publish a name half-way).
		pr, err := f.newProbeRun(pf, e, p)
		if err != nil {
			return err
		}
		err = f.execute(ctx, e, p, pr)
		f.printProbeText(pr.finish(ctx, p.Operation))
		if err != nil {
			return fmt.Errorf("runbook step %d (%s) stopped; run the runbook again to resume: %w", i+1, op.title, err)
		}
		done++
	}
	if err := e.Refresh(ctx); err != nil {
		return err
	}
	fmt.Fprintf(f.IO.Out, "\nRunbook done: %d operation(s) run, %d already done, in %s. App %s is at stage %s; about %s/month.\n",
		done, len(ops)-done, time.Since(start).Round(time.Second), f.G.App, stage.Detect(e.State).Stage, usdString(ladder.Cost(e.State)))
	return nil
}

func usdString(e pricing.Estimate) string { return fmt.Sprintf("$%.2f", e.Monthly) }

// runbookPreCheck runs the AWS-side checks a command would run for its
// flags: the instance type exists, the reserved offering is found.
func (f *Factory) runbookPreCheck(ctx context.Context, e *ladder.Env, op runbookOp) error {
	if op.typ != "" {
		if _, err := ladder.CheckInstanceType(ctx, e.C, op.typ, nil); err != nil {
			return err
		}
	}
	if op.horizontal > 0 {
		return ladder.CheckHorizontal(ctx, e, op.horizontal)
	}
	return nil
}

// runbookOffering looks up the Reserved Instance offering for a reserved
// step, from the state that step will start from.
func (f *Factory) runbookOffering(ctx context.Context, e *ladder.Env, op runbookOp, from *observe.State) error {
	if op.target != stage.Reserved {
		return nil
	}
	if err := lookupOffering(ctx, e.C, from, op.opts); err != nil {
		return err
	}
	e.Opts.Offering = op.opts.Offering
	return nil
}
