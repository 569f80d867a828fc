package cli

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/printers"
	"github.com/whatsthetime/wtt/pkg/whatif"
)

func newWhatIfCmd(f *Factory) *cobra.Command {
	var lose string
	cmd := &cobra.Command{
		Use:   "what-if",
		Short: "Say what users would see if an instance, an AZ, a load balancer node or spot capacity were lost",
		Long: `Compute, from the app as it runs in AWS, what its users would see if part of it
failed: whether there is an outage (no user gets an answer) and how long
users see failures (-1: until someone acts), the capacity left, which requests
fail, and which rung of the ladder removes the risk.

  --lose=instance[=ID]      one instance stops (default: the oldest)
  --lose=az[=NAME]          an Availability Zone fails (default: the one with most instances)
  --lose=load-balancer-node one of the load balancer's per-AZ nodes fails
  --lose=spot               AWS reclaims the spot instances

The timings come from AWS: the DNS record's TTL, the target group's
health-check interval and thresholds, the group's grace period. What AWS does
not report (how long an instance takes to boot, the load balancer's own DNS
TTL) is stated as an assumption. Read-only: no lease, the same AWS calls as
` + "`wtt status`" + `.`,
		Example: `  wtt what-if --lose=instance
  wtt what-if --lose=az=us-east-1a
  wtt what-if --lose=az -o json | jq .outageSeconds`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if lose == "" {
				return cmdutil.Usagef("pass --lose="+strings.Join(whatif.Kinds, "|"), "--lose is required")
			}
			sc, err := whatif.Parse(lose)
			if err != nil {
				return cmdutil.Usagef("pass --lose=instance[=ID], az[=NAME], load-balancer-node or spot", "%v", err)
			}
			s, err := f.observeOnly(cmd)
			if err != nil {
				return err
			}
			o, err := whatif.WhatIf(s, sc)
			var unknown *whatif.UnknownTargetError
			if errors.As(err, &unknown) {
				return cmdutil.Usagef("pick one of the running instances (wtt status)", "%v", err)
			}
			if err != nil {
				return err
			}
			return printers.PrintWhatIf(f.IO.Out, f.G.Output, s.App, o)
		},
	}
	cmd.Flags().StringVar(&lose, "lose", "", "what fails: instance[=ID], az[=NAME], load-balancer-node or spot")
	return cmd
}
