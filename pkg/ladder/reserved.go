package ladder

import (
	"fmt"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

func planReserved(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	return nil, nil, fmt.Errorf("the reserved rung is not built yet")
}

func projectReserved(s *observe.State, o Options) *observe.State { return clone(s) }
