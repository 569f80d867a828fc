package cli

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/diagram"
	"github.com/whatsthetime/wtt/pkg/printers"
)

func newDiagramCmd(f *Factory) *cobra.Command {
	format := ""
	cmd := &cobra.Command{
		Use:   "diagram",
		Short: "Draw the live app: internet, DNS, load balancer, instances by AZ (svg, dot, mermaid)",
		Long: `Draw the app as it runs in AWS, the way a user's request travels: internet ->
Route 53 record -> load balancer -> target group -> instances by AZ and subnet,
with the security-group rule that admits each hop, Elastic IPs, the Auto
Scaling group's boundary and Reserved Instance coverage. Resource ids are on
the nodes, so the picture can be checked against ` + "`wtt status`" + `.

  -o svg      a picture, laid out by wtt itself (no Graphviz needed)
  -o dot      Graphviz source
  -o mermaid  a Mermaid flowchart, which GitHub renders in Markdown (the default)
  -o json     the graph's nodes and edges

Read-only: no lease, the same AWS calls as ` + "`wtt status`" + `.`,
		Example: `  wtt diagram -o svg > app.svg
  wtt diagram -o dot | dot -Tpng > app.png
  wtt diagram > app.mmd`,
		Args: cobra.NoArgs,
		// The shared -o knows table formats only; a picture's formats are
		// this command's own, so they are taken aside before the shared
		// flags are checked.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if fl := cmd.Flags().Lookup("output"); fl != nil && fl.Changed {
				v := fl.Value.String()
				switch {
				case slices.Contains(diagram.Formats, v):
					format = v
					if err := fl.Value.Set("table"); err != nil {
						return err
					}
				case v != "json" && v != "yaml":
					return cmdutil.Usagef("use -o svg, -o dot, -o mermaid or -o json", "unknown diagram format %q", v)
				}
			}
			return f.resolveGlobals(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if format == "" {
				switch f.G.Output {
				case "json", "yaml":
					format = f.G.Output
				case "table", "wide":
					format = "mermaid"
				default:
					return cmdutil.Usagef("use -o "+strings.Join(diagram.Formats, ", -o ")+" or -o json", "unknown diagram format %q", f.G.Output)
				}
			}
			s, err := f.observeOnly(cmd)
			if err != nil {
				return err
			}
			g := diagram.Build(s)
			if ok, err := printers.Structured(f.IO.Out, format, g); ok {
				return err
			}
			return diagram.Render(f.IO.Out, format, g)
		},
	}
	return cmd
}
