package ladder

import (
	"fmt"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

func planALB(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	return nil, nil, fmt.Errorf("the alb rung is not built yet")
}

func projectALB(s *observe.State, o Options) *observe.State { return clone(s) }
