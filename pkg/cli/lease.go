package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/lease"
)

// releaseTimeout bounds the release at the end of a run. It runs on a fresh
// context so that a run stopped by Ctrl-C or --timeout still hands the app
// back instead of leaving it locked until the lease expires.
const releaseTimeout = 30 * time.Second

// emulatorLeasePoll keeps --lock-timeout waits short against an emulator,
// which answers at once; AWS gets lease.DefaultPoll.
const emulatorLeasePoll = 250 * time.Millisecond

// acquireLease takes the app's operator lease for the run (waiting up to
// --lock-timeout, breaking it with --force-unlock) and returns the function
// that releases it.
func (f *Factory) acquireLease(ctx context.Context, e *ladder.Env, operation string) (func(), error) {
	l := &lease.Locker{
		API:  e.C.SSM,
		Name: e.N.LeaseParameter(),
		App:  e.App,
		Me:   lease.CurrentIdentity(),
		Log:  f.IO.ErrOut,
		Progress: func(label string) func() {
			return f.IO.StartWait(label).Stop
		},
	}
	if e.C.CustomEndpoint() {
		l.Poll = emulatorLeasePoll
	}
	held, err := l.Acquire(ctx, lease.Options{Operation: operation, Wait: f.G.LockTimeout, Force: f.G.ForceUnlock})
	if err != nil {
		return nil, err
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if err := held.Release(rctx); err != nil {
			r := held.Record()
			fmt.Fprintf(f.IO.ErrOut, "Warning: could not release the lease on app %s: %v\n"+
				"  The next run on this host breaks it at once; elsewhere it expires at %s, or use --force-unlock.\n",
				e.App, err, r.Expires.UTC().Format(time.RFC3339))
		}
	}, nil
}
