package cli

import (
	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/bill"
	"github.com/whatsthetime/wtt/pkg/printers"
)

// `wtt cost` is a command of its own rather than `status --cost`: status's
// JSON is a contract scripts already parse, and the bill is a document of
// its own shape (lines, unit prices, price source) that scripts want alone.
func newCostCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "cost",
		Short: "Itemise the app's monthly bill: one line per billed resource",
		Long: `Itemise the estimated monthly bill of the app as it runs in AWS: instances by
type and hours (on demand, or billed through a reservation), root volumes,
public IPv4 addresses including idle Elastic IPs, load balancer hours and an
LCU estimate, gateway endpoints, the Route 53 zone and queries, and each
Reserved Instance with what it covers and what it costs — even when nothing
runs. The total is the one ` + "`wtt status`" + ` shows; the bill says so when
unused reserved hours make it higher. Prices are AWS's public list prices
(the source and date are printed).

Read-only: no lease, the same AWS calls as ` + "`wtt status`" + `.`,
		Example: `  wtt cost
  wtt cost -o wide                  # with the resources each line bills
  wtt cost -o json | jq .monthly`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.observeOnly(cmd)
			if err != nil {
				return err
			}
			return printers.PrintBill(f.IO.Out, f.G.Output, bill.Of(s))
		},
	}
}
