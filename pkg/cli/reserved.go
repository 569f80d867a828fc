package cli

import (
	"context"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/observe"

	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// reservedOfferingCheck looks up the Reserved Instance offering the reserved
// rung would buy and puts it into o before planning: planning never calls
// AWS, yet the plan must show the price. Nothing is looked up when nothing
// is to be bought, so a finished rung re-runs without the lookup.
func reservedOfferingCheck(target stage.Stage, o *ladder.Options) func(ctx context.Context, e *ladder.Env) error {
	return func(ctx context.Context, e *ladder.Env) error {
		if target.Index() < stage.Reserved.Index() {
			return nil
		}
		if err := lookupOffering(ctx, e.C, e.State, o); err != nil {
			return err
		}
		intent, err := ladder.LookupReservedIntent(ctx, e.C, e.App)
		if err != nil {
			return err
		}
		o.ReservedIntent = intent
		e.Opts.Offering, e.Opts.ReservedIntent = o.Offering, intent
		return nil
	}
}

// lookupOffering finds the offering for the group the reserved rung will
// see from s (ReservedShortfall projects the rungs below on a jump).
func lookupOffering(ctx context.Context, c *awsclient.Clients, s *observe.State, o *ladder.Options) error {
	typ, need := ladder.ReservedShortfall(s, *o)
	if typ == "" || need <= 0 {
		return nil // no group to reserve for (planning says why), or covered
	}
	off, err := ladder.LookupReservedOffering(ctx, c, typ, *o)
	if err != nil {
		return err
	}
	o.Offering = off
	return nil
}

// allChecks runs pre-checks in order, stopping at the first failure.
func allChecks(checks ...func(ctx context.Context, e *ladder.Env) error) func(ctx context.Context, e *ladder.Env) error {
	return func(ctx context.Context, e *ladder.Env) error {
		for _, c := range checks {
			if err := c(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}
}
