package cli

import (
	"context"

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
		typ, need := ladder.ReservedShortfall(e.State, *o)
		if typ == "" || need <= 0 {
			return nil // no group to reserve for (planning says why), or covered
		}
		off, err := ladder.LookupReservedOffering(ctx, e.C, typ, *o)
		if err != nil {
			return err
		}
		o.Offering = off
		e.Opts.Offering = off
		return nil
	}
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
