package cli

import (
	"context"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

func newScaleCmd(f *Factory) *cobra.Command {
	lf := &ladderFlags{}
	var vertical string
	var horizontal int
	var wait time.Duration
	pf := &probeFlags{}
	cmd := &cobra.Command{
		Use:   "scale (--vertical TYPE | --horizontal N)",
		Short: "Change the instance type (vertical) or the number of instances (horizontal)",
		Long: `Scale the app. The plan depends on the stage:

  --vertical TYPE at single/eip/dns stops, changes and starts each instance in
  turn (downtime per instance, said in the plan; an Elastic IP stays with its
  instance). Behind a load balancer or group the replacement is rolling and
  zero-downtime: new capacity turns healthy before old capacity drains.

  --horizontal N launches or removes instances (the newest first) at
  single/eip (each new one gets an Elastic IP at eip, at most 5), updates the
  record at dns, registers or drains targets at alb, and sets the desired
  capacity of a group (--min and --max change its bounds in the same call).

The type is checked against EC2 (DescribeInstanceTypes, and the offerings in
every AZ the fleet uses) before anything changes; an unknown type exits 2.
Scaling to what already runs changes nothing. See docs/scaling.md.

scale returns once EC2 says new instances run (behind a load balancer, once
they are healthy targets). --wait also waits until the time server answers
GET /healthz on every instance's public address (at single, eip and dns),
or on the app's name. Wait before migrate --to=dns, which publishes every
instance's address whether it answers yet or not. Against the emulator this
needs its data plane.`,
		Example: `  wtt scale --vertical m5.large --dry-run
  wtt scale --vertical m5.large --yes
  wtt scale --horizontal 3 --yes
  wtt scale --horizontal 2 --yes --wait=2m   # and wait until the new one answers
  wtt scale --horizontal 6 --max 8 --yes   # at asg or multi-az`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dr, err := parseDryRun(lf.dryRun)
			if err != nil {
				return err
			}
			hasV, hasH := cmd.Flags().Changed("vertical"), cmd.Flags().Changed("horizontal")
			switch {
			case hasV && hasH:
				return cmdutil.Usagef("scale one way at a time: run --vertical, then --horizontal", "--vertical and --horizontal cannot be combined")
			case !hasV && !hasH:
				return cmdutil.Usagef("pass --vertical TYPE or --horizontal N", "nothing to scale")
			case hasH && (horizontal < 1 || horizontal > 100):
				return cmdutil.Usagef("pass a count between 1 and 100", "--horizontal %d is out of range", horizontal)
			}
			if err := lf.validate(cmd); err != nil {
				return err
			}
			if err := validateLaunchInputs(lf.o); err != nil {
				return err
			}
			if hasV {
				if !instanceTypePattern.MatchString(vertical) {
					return cmdutil.Usagef("instance types look like t2.micro or m5.large", "--vertical %q is not an instance type", vertical)
				}
				if cmd.Flags().Changed("min") || cmd.Flags().Changed("max") {
					return cmdutil.Usagef("set the group's bounds with --horizontal N --min A --max B", "--min and --max go with --horizontal")
				}
				lf.o.InstanceType = vertical
			}
			if err := validateUpWait(cmd, wait, dr); err != nil {
				return err
			}
			var after func(ctx context.Context, e *ladder.Env) error
			if cmd.Flags().Changed("wait") {
				after = func(ctx context.Context, e *ladder.Env) error { return f.waitAnswering(ctx, e, wait) }
			}
			return f.apply(cmd, applyRequest{
				After:    after,
				Opts:     lf.o,
				DryRun:   dr,
				PreCheck: scaleCheck(hasV, vertical, horizontal),
				Probe:    pf,
				Build: func(s *observe.State) (*plan.Plan, error) {
					if hasV {
						return ladder.ScaleVertical(s, vertical, lf.o)
					}
					return ladder.ScaleHorizontal(s, horizontal, lf.o)
				},
			})
		},
	}
	cmd.Flags().StringVar(&vertical, "vertical", "", "new instance type, e.g. m5.large")
	cmd.Flags().IntVar(&horizontal, "horizontal", 0, "number of instances (or the group's desired capacity)")
	lf.addRungs(cmd)
	cmd.Flags().StringVar(&lf.o.ServerBinary, "server-binary", "", "linux build of the time server to deliver (default: whatsthetime-linux-<arch> beside wtt)")
	addDryRunFlag(cmd, &lf.dryRun)
	addProbeFlags(cmd, pf)
	addUpWaitFlag(cmd, &wait)
	return cmd
}

// scaleCheck refuses, with exit 2 and before anything changes, a type EC2
// does not offer where the fleet runs, or a scale-out the Elastic IP quota
// cannot hold.
func scaleCheck(vertical bool, typ string, n int) func(ctx context.Context, e *ladder.Env) error {
	return func(ctx context.Context, e *ladder.Env) error {
		if vertical {
			return ladder.CheckVerticalType(ctx, e, typ)
		}
		return ladder.CheckHorizontal(ctx, e, n)
	}
}

var instanceTypePattern = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
