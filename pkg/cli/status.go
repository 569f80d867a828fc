package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/printers"
	"github.com/whatsthetime/wtt/pkg/stage"
)

func newStatusCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show what exists for the app, its stage, its cost, and what needs attention",
		Long: `Show what exists in AWS for the app (found by its wtt:app tag), the stage it is
at, what the next rung still needs, the estimated monthly bill, and findings:
idle Elastic IPs, stopped instances, idle load balancers and half-built rungs,
with what each costs per month.`,
		Example: `  wtt status
  wtt status -o wide
  wtt status -o json | jq -r .stage`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), f.G.Timeout)
			defer cancel()
			c, err := f.Clients(ctx)
			if err != nil {
				return err
			}
			s, err := observe.Discover(ctx, c, f.G.App)
			if err != nil {
				return err
			}
			st := printers.NewStatus(s, stage.Detect(s), ladder.Cost(s))
			return printers.PrintStatus(f.IO.Out, f.G.Output, st)
		},
	}
}

func printersStructured(f *Factory, v any) (bool, error) {
	return printers.Structured(f.IO.Out, f.G.Output, v)
}
