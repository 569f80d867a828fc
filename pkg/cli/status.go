package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/printers"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// DefaultWatchInterval is how often `status --watch` looks: each look is
// the ~20 describe calls of one status, so a few seconds keeps a long
// watch far below any API rate limit while a migration step still shows
// up as it happens.
const DefaultWatchInterval = 5 * time.Second

func newStatusCmd(f *Factory) *cobra.Command {
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what exists for the app, its stage, its cost, and what needs attention",
		Long: `Show what exists in AWS for the app (found by its wtt:app tag), the stage it is
at, what the next rung still needs, the estimated monthly bill, and findings:
idle Elastic IPs, stopped instances, idle load balancers and half-built rungs,
with what each costs per month.

With --watch (as kubectl get -w) it keeps looking every --interval until
Ctrl-C: on a terminal the status is redrawn in place; in a pipe or a file a
new status is appended each time something changed; with -o json one JSON
document per change, one per line. Keep it open in a second terminal during
a migration. Each look is the same fixed set of describe calls as status.`,
		Example: `  wtt status
  wtt status -o wide
  wtt status -o json | jq -r .stage
  wtt status --watch                          # redraws until Ctrl-C
  wtt status -w -o json --interval 10s | jq -c '{stage, instances: [.instances[].state]}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("interval") && !watch {
				return cmdutil.Usagef("add --watch, or leave --interval out", "--interval goes with --watch")
			}
			if interval < 100*time.Millisecond {
				return cmdutil.Usagef("pass a duration such as --interval 5s", "--interval %s is too short (at least 100ms)", interval)
			}
			if watch {
				return f.watchStatus(cmd.Context(), interval)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.G.Timeout)
			defer cancel()
			st, err := f.observeStatus(ctx)
			if err != nil {
				return err
			}
			return printers.PrintStatus(f.IO.Out, f.G.Output, st)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching and show each change, until Ctrl-C")
	cmd.Flags().DurationVar(&interval, "interval", DefaultWatchInterval, "with --watch: how often to look")
	return cmd
}

// observeStatus is one look: discovery, stage, cost.
func (f *Factory) observeStatus(ctx context.Context) (*printers.Status, error) {
	c, err := f.Clients(ctx)
	if err != nil {
		return nil, err
	}
	s, err := observe.Discover(ctx, c, f.G.App)
	if err != nil {
		return nil, err
	}
	return printers.NewStatus(s, stage.Detect(s), ladder.Cost(s)), nil
}

// watchStatus looks every interval and shows each change until SIGINT or
// SIGTERM, which end it with exit 0: stopping a watch is how it is used.
func (f *Factory) watchStatus(parent context.Context, interval time.Duration) error {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Credentials and the endpoint are checked once, up front: a watch that
	// cannot start says so at once.
	if _, err := f.Clients(ctx); err != nil {
		return err
	}
	w := &statusWatch{out: f.IO.Out, errOut: f.IO.ErrOut, format: f.G.Output, tty: f.IO.IsStdoutTTY(), interval: interval}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		look, cancel := context.WithTimeout(ctx, f.G.Timeout)
		st, err := f.observeStatus(look)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			// A failed look (throttling past the retries, a network blip)
			// should not end the watch an operator relies on.
			fmt.Fprintf(f.IO.ErrOut, "%s watch: %v (trying again in %s)\n", time.Now().Format("15:04:05"), firstLine(err.Error()), interval)
		default:
			if err := w.show(st); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// statusWatch renders successive statuses, skipping those that equal the
// last one shown.
type statusWatch struct {
	out, errOut io.Writer
	format      string
	tty         bool
	interval    time.Duration
	last        []byte
}

func (w *statusWatch) show(st *printers.Status) error {
	key, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if bytes.Equal(key, w.last) {
		return nil
	}
	w.last = key
	now := time.Now().Format("15:04:05")
	switch w.format {
	case "json":
		// One compact document per line: `jq -c`, `while read` and log
		// shippers all read it as a stream.
		_, err := fmt.Fprintf(w.out, "%s\n", key)
		return err
	case "yaml":
		fmt.Fprintln(w.out, "---")
		return printers.PrintStatus(w.out, w.format, st)
	}
	var b bytes.Buffer
	if err := printers.PrintStatus(&b, w.format, st); err != nil {
		return err
	}
	if w.tty {
		// Home, clear, then the whole status: it stays in one place.
		fmt.Fprint(w.out, "\033[H\033[2J")
		fmt.Fprintf(w.out, "Every %s, changed at %s; Ctrl-C to stop.\n\n", w.interval, now)
	} else {
		fmt.Fprintf(w.out, "--- %s\n", now)
	}
	_, err = w.out.Write(b.Bytes())
	return err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func printersStructured(f *Factory, v any) (bool, error) {
	return printers.Structured(f.IO.Out, f.G.Output, v)
}
