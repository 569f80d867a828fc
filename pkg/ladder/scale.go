package ladder

import (
	"fmt"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// ScaleVertical plans changing the fleet's instance type.
func ScaleVertical(s *observe.State, typ string, o Options) (*plan.Plan, error) {
	cur := stage.Detect(s).Stage
	if cur == stage.None {
		return nil, cmdutil.Usagef("run `wtt up` first", "the app %s does not exist yet", s.App)
	}
	return nil, fmt.Errorf("vertical scaling is not built yet")
}

// ScaleHorizontal plans changing the number of instances.
func ScaleHorizontal(s *observe.State, n int, o Options) (*plan.Plan, error) {
	cur := stage.Detect(s).Stage
	if cur == stage.None {
		return nil, cmdutil.Usagef("run `wtt up` first", "the app %s does not exist yet", s.App)
	}
	return nil, fmt.Errorf("horizontal scaling is not built yet")
}
