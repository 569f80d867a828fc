package ladder

import (
	"fmt"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

func planMultiAZ(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	return nil, nil, fmt.Errorf("the multiaz rung is not built yet")
}

func projectMultiAZ(s *observe.State, o Options) *observe.State { return clone(s) }
