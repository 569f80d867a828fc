package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

const stagesHelp = `Stages, bottom to top:
  single    one instance with a public IPv4
  eip       every instance has an Elastic IP (at most 5 per region)
  dns       a Route 53 A record lists the instances; no Elastic IPs left
  alb       an internet-facing ALB in front; instances private, reachable only from it
  asg       an Auto Scaling group owns the instances behind the ALB
  multi-az  the group and the ALB span several AZs
  reserved  Reserved Instances cover the group's minimum size`

func newMigrateCmd(f *Factory) *cobra.Command {
	lf := &ladderFlags{}
	pf := &probeFlags{}
	var to string
	cmd := &cobra.Command{
		Use:   "migrate --to=STAGE",
		Short: "Move the app up the ladder to STAGE, running every rung in between",
		Long: `Move the app from whatever stage is observed to STAGE, as one plan: every rung
in between, each a sequence of idempotent steps. The plan is printed first;
changes that cost money, delete or cause downtime need --yes off a terminal.
If interrupted, run the same command again: it continues where it stopped.

` + stagesHelp,
		Example: `  wtt migrate --to=eip --yes
  wtt migrate --to=dns --dns-name api.whatisthetime.com --ttl 300 --yes
  wtt migrate --to=alb --dry-run
  wtt migrate --to=reserved --term 1y --payment no-upfront --max-upfront 0 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.runMigrate(cmd, lf, to, false, pf)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "target stage (required): "+stage.Names())
	lf.addLaunch(cmd)
	lf.addRungs(cmd)
	addDryRunFlag(cmd, &lf.dryRun)
	addProbeFlags(cmd, pf)
	return cmd
}

func newPlanCmd(f *Factory) *cobra.Command {
	lf := &ladderFlags{}
	var to string
	var detailed bool
	cmd := &cobra.Command{
		Use:   "plan --to=STAGE",
		Short: "Show what migrating to STAGE would do, without changing anything",
		Long: `Show the plan to move the app to STAGE: the steps, the AWS calls each makes, the
expected downtime, and the monthly cost before and after. Same as
'wtt migrate --to=STAGE --dry-run'. Makes no mutating AWS call.

` + stagesHelp,
		Example: `  wtt plan --to=alb
  wtt plan --to=multi-az -o json | jq '.steps[].resource'
  wtt plan --to=eip --detailed-exitcode || echo "changes pending"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if lf.dryRun == "none" {
				lf.dryRun = "client"
			}
			return f.runMigrate(cmd, lf, to, detailed, nil)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "target stage (required): "+stage.Names())
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when changes are pending, 0 when there are none (as terraform plan)")
	lf.addLaunch(cmd)
	lf.addRungs(cmd)
	addDryRunFlag(cmd, &lf.dryRun)
	return cmd
}

func (f *Factory) runMigrate(cmd *cobra.Command, lf *ladderFlags, to string, detailed bool, pf *probeFlags) error {
	if to == "" {
		return cmdutil.Usagef("pass --to=STAGE, one of: "+stage.Names(), "--to is required")
	}
	target, err := stage.Parse(to)
	if err != nil {
		return cmdutil.Usagef("pass one of: "+stage.Names(), "%v", err)
	}
	dr, err := parseDryRun(lf.dryRun)
	if err != nil {
		return err
	}
	if err := lf.validate(cmd); err != nil {
		return err
	}
	if err := lf.validateLaunch(); err != nil {
		return err
	}
	if target == stage.None {
		return cmdutil.Usagef("run `wtt down` to delete the app", "migrating to stage none is not supported")
	}
	if target == stage.DNS && lf.o.DNSName == "" {
		if v := f.V.GetString("dns.name"); v != "" {
			lf.o.DNSName = v
		} else {
			return cmdutil.Usagef("pass --dns-name api.example.com (or set dns.name in the config file)", "the dns rung needs a DNS name")
		}
	}
	return f.apply(cmd, applyRequest{
		Opts:         lf.o,
		DryRun:       dr,
		DetailedExit: detailed,
		Probe:        pf,
		// The alb rung and those after it adopt and repair whatever
		// load balancing or group resources are there, however they came
		// to be: they see them all. The alb rung makes no launch template
		// or group, so a migration that stops there sees the load balancer
		// and target group only (two describes fewer).
		ReadEverything: target.Index() >= stage.ASG.Index(),
		Adopt:          albAdopts(target),
		PreCheck:       allChecks(instanceTypeCheck(lf.o.InstanceType), amiCheck(lf.o.AMI), dnsPreviewCheck(target, lf.o.DNSName), eipQuotaCheck(target), reservedOfferingCheck(target, &lf.o)),
		Build: func(s *observe.State) (*plan.Plan, error) {
			return ladder.Migrate(s, target, lf.o)
		},
	})
}

// instanceTypeCheck refuses an instance type EC2 does not offer, before any
// plan is made.
func instanceTypeCheck(typ string) func(ctx context.Context, e *ladder.Env) error {
	return func(ctx context.Context, e *ladder.Env) error {
		if typ == "" {
			return nil
		}
		_, err := ladder.CheckInstanceType(ctx, e.C, typ, nil)
		return err
	}
}

// eipQuotaCheck refuses, before anything is allocated, a move to eip that
// would exceed the account's Elastic IP quota.
func eipQuotaCheck(target stage.Stage) func(ctx context.Context, e *ladder.Env) error {
	return func(ctx context.Context, e *ladder.Env) error {
		if target != stage.EIP {
			return nil
		}
		return e.CheckEIPQuota(ctx, ladder.EIPsNeeded(e.State))
	}
}

// albAdopts is what a migration to target adopts while the app has none of
// the alb rung's security groups: the load balancer and the target group
// when the alb rung is the last it runs.
func albAdopts(target stage.Stage) observe.Kind {
	if target == stage.ALB {
		return observe.KindBalancer | observe.KindTargetGroup | observe.KindTargets
	}
	return 0
}
