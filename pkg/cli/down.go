package cli

import (
	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

func newDownCmd(f *Factory) *cobra.Command {
	var dryRun string
	pf := &probeFlags{}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Delete everything tagged for the app, in dependency order",
		Long: `Delete every resource tagged wtt:app=<app>: the Auto Scaling group and launch
template, the DNS record (and the hosted zone only if wtt created it), the load
balancer and target group, instances, Elastic IPs, the network, the delivery
bucket and the instance role. Reserved Instances cannot be cancelled; down
says so. Needs --yes when not on a terminal.`,
		Example: `  wtt down --dry-run
  wtt down --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dr, err := parseDryRun(dryRun)
			if err != nil {
				return err
			}
			return f.apply(cmd, applyRequest{
				DryRun:         dr,
				Probe:          pf,
				Build:          func(s *observe.State) (*plan.Plan, error) { return ladder.Down(s), nil },
				ReadEverything: true,
				Sweep:          true,
			})
		},
	}
	addDryRunFlag(cmd, &dryRun)
	addProbeFlags(cmd, pf)
	return cmd
}
