package cli

import (
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
	cmd := &cobra.Command{
		Use:   "scale (--vertical TYPE | --horizontal N)",
		Short: "Change the instance type (vertical) or the number of instances (horizontal)",
		Long: `Scale the app. The plan depends on the stage:

  --vertical TYPE at single/eip/dns stops, changes and starts each instance in
  turn (downtime per instance, said in the plan; an Elastic IP stays with its
  instance). Behind a load balancer or group the replacement is rolling and
  zero-downtime: new capacity turns healthy before old capacity drains.

  --horizontal N launches or removes instances at single/eip (each new one gets
  an Elastic IP at eip), updates the record at dns, registers or deregisters
  targets with draining at alb, and sets the desired capacity of a group.

The type is checked against EC2 (DescribeInstanceTypes and the offerings in
the region) before anything changes; an unknown type exits 2.`,
		Example: `  wtt scale --vertical m5.large --dry-run
  wtt scale --vertical m5.large --yes
  wtt scale --horizontal 3 --yes`,
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
			if hasV {
				lf.o.InstanceType = vertical
				if err := lf.validateLaunch(); err != nil {
					return err
				}
			}
			return f.apply(cmd, applyRequest{
				Opts:     lf.o,
				DryRun:   dr,
				PreCheck: instanceTypeCheck(lf.o.InstanceType),
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
	return cmd
}
