package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/printers"
	"github.com/whatsthetime/wtt/pkg/review"
)

func init() {
	extraCommands = append(extraCommands, newReviewCmd, newWhatIfCmd, newDiagramCmd, newCostCmd)
}

// observeOnly is how the read-only commands (review, what-if, diagram,
// cost) see AWS: the same discovery as `status`, no lease, no change, so
// they make exactly as many calls as status does.
func (f *Factory) observeOnly(cmd *cobra.Command) (*observe.State, error) {
	ctx, cancel := context.WithTimeout(cmd.Context(), f.G.Timeout)
	defer cancel()
	c, err := f.Clients(ctx)
	if err != nil {
		return nil, err
	}
	return observe.Discover(ctx, c, f.G.App)
}

func newReviewCmd(f *Factory) *cobra.Command {
	var pillar, failOn string
	cmd := &cobra.Command{
		Use:   "review",
		Short: "Judge the live app on the five pillars: findings, fixes and a score",
		Long: `Judge the app as it runs in AWS on the five pillars of the AWS Well-Architected
Framework: cost, performance, reliability, security and operational
excellence. Each finding has a stable id, a severity (high, medium, low), what
was observed (resource ids and values), why it matters to the app's users or
bill, the wtt command that fixes it (or the AWS setting when wtt has none),
and the AWS Config managed rule or Well-Architected best practice it matches
(e.g. ec2-instance-no-public-ip, REL10-BP01).

Findings judge the app as a whole — its stage, its fleet across AZs, its DNS,
its bill — not one resource at a time. Each pillar scores 100 minus 40 per
high, 15 per medium and 5 per low finding; the overall score is their mean.
At stage reserved with wtt's defaults, nothing is above low.

Read-only: no lease, and the same AWS calls as ` + "`wtt status`" + `.
Exit status: 0, or 1 with --fail-on when a finding at or above that severity
exists (for CI), 2 for bad input.`,
		Example: `  wtt review
  wtt review --pillar reliability
  wtt review --fail-on=high                 # CI: exit 1 if anything high remains
  wtt review -o json | jq -r '.pillars[].findings[] | "\(.severity) \(.id)"'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var only review.Pillar
			if pillar != "" {
				p, err := review.ParsePillar(pillar)
				if err != nil {
					return cmdutil.Usagef("pass --pillar cost, performance, reliability, security or operational-excellence", "%v", err)
				}
				only = p
			}
			var threshold review.Severity
			if failOn != "" {
				s, err := review.ParseSeverity(failOn)
				if err != nil {
					return cmdutil.Usagef("pass --fail-on low, medium or high", "%v", err)
				}
				threshold = s
			}
			s, err := f.observeOnly(cmd)
			if err != nil {
				return err
			}
			r := review.Review(s)
			if only != "" {
				r = r.Only(only)
			}
			if err := printers.PrintReview(f.IO.Out, f.G.Output, r); err != nil {
				return err
			}
			if threshold != "" {
				if n := r.AtOrAbove(threshold); n > 0 {
					fmt.Fprintf(f.IO.ErrOut, "%d finding(s) at or above %s (--fail-on=%s)\n", n, threshold, threshold)
					return &cmdutil.ExitError{Code: cmdutil.ExitFailure}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&pillar, "pillar", "", "show one pillar: cost, performance, reliability, security or operational-excellence")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit 1 when a finding at or above this severity exists: low, medium or high")
	return cmd
}
