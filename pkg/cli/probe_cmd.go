package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/probe"
)

func init() { extraCommands = append(extraCommands, newProbeCmd) }

// maxProbeFor bounds a standalone probe: it is a probe, not a load test.
const maxProbeFor = time.Hour

func newProbeCmd(f *Factory) *cobra.Command {
	pf := &probeFlags{on: true}
	var dur time.Duration
	cmd := &cobra.Command{
		Use:   "probe [--for DURATION]",
		Short: "Send steady requests to the app, as its users do, and report what they saw",
		Long: `Probe the app for a while without changing anything: steady requests (10 a
second by default) to its public entry point — the DNS name when it has one,
else the load balancer's name, else the instances' public addresses — through
a caching stub resolver that keeps each answer for its TTL, as a user's
machine does. The report counts failures by kind (refused, timeout, reset,
5xx, wrong answer, dns), the longest outage, and which instances and AZs
answered (the time server's X-Served-By-* headers).

It is what a careful operator does by hand with 'watch curl' while something
happens to the app (an AZ failing, an instance killed). The mutating commands
take --probe to do the same while their plan runs and to check the plan's
downtime statement. Ctrl-C stops early and still reports. See docs/probe.md.`,
		Example: `  wtt probe --for 30s
  wtt probe --for 1m --probe-resolver 127.0.0.1:5000 -o json | jq .probe.failed
  wtt probe --probe-url http://api.whatisthetime.com/ --probe-rate 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dur <= 0 || dur > maxProbeFor {
				return cmdutil.Usagef("pass --for between 1s and 1h, e.g. --for 30s", "--for %s is out of range", dur)
			}
			if err := pf.check(); err != nil {
				return err
			}
			target, err := f.probeTarget(cmd.Context(), pf)
			if err != nil {
				return err
			}
			p, err := probe.New(probe.Config{Rate: pf.rate, Resolver: pf.resolver}, target)
			if err != nil {
				return cmdutil.Usagef("", "%v", err)
			}
			fmt.Fprintf(f.IO.ErrOut, "Probe: %s, for %s (Ctrl-C stops early).\n", p.Describe(), dur)
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sigs)
			p.Start()
			select {
			case <-time.After(dur):
			case <-sigs:
			case <-cmd.Context().Done():
			}
			rep := p.Stop(false).Report("")
			if ok, err := printersStructured(f, struct {
				Probe *probe.Report `json:"probe"`
			}{rep}); ok {
				return err
			}
			rep.WriteText(f.IO.Out)
			return nil
		},
	}
	cmd.Flags().DurationVar(&dur, "for", 30*time.Second, "how long to probe (at most 1h)")
	addProbeFlags(cmd, pf)
	cmd.Flags().Lookup("probe").Hidden = true // always on here
	return cmd
}

// probeTarget is --probe-url, or the app's entry point as observed.
func (f *Factory) probeTarget(ctx context.Context, pf *probeFlags) (probe.Target, error) {
	if pf.url != "" {
		return probe.ParseTarget(pf.url)
	}
	ctx, cancel := context.WithTimeout(ctx, f.G.Timeout)
	defer cancel()
	c, err := f.Clients(ctx)
	if err != nil {
		return probe.Target{}, err
	}
	s, err := observe.Discover(ctx, c, f.G.App)
	if err != nil {
		return probe.Target{}, err
	}
	t, err := probe.EntryPoint(s)
	if errors.Is(err, probe.ErrNoEntryPoint) {
		return t, cmdutil.Usagef("create the app first (`wtt up`), or pass --probe-url", "app %s: %v", f.G.App, err)
	}
	return t, err
}
