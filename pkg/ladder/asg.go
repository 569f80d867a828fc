package ladder

import (
	"fmt"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

func planASG(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	return nil, nil, fmt.Errorf("the asg rung is not built yet")
}

func projectASG(s *observe.State, o Options) *observe.State { return clone(s) }
