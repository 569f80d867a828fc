package ladder

import (
	"fmt"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
)

func planEIP(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	return nil, nil, fmt.Errorf("the eip rung is not built yet")
}

func projectEIP(s *observe.State, o Options) *observe.State { return clone(s) }
