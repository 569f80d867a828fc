package cli

import (
	"slices"

	"github.com/whatsthetime/wtt/pkg/ladder"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

// A mutating command reads the app's delivery (the bucket the time server
// is fetched from, the instance role and profile) only when its plan
// launches instances: launching is the only thing that needs them.
// Observing with them deferred saves two requests on every other command;
// `status` and `down` read them as always.

// wantReads tells e's observer what p's steps need read besides what every
// step gets: the delivery, when a step uploads the time server (the steps
// that launch instances or write a launch template do).
func wantReads(e *ladder.Env, p *plan.Plan) {
	var k observe.Kind
	for _, s := range p.Steps {
		if slices.Contains(s.Calls, "s3:PutObject") {
			k |= observe.KindDelivery
		}
	}
	e.Observer.Want(k)
}
