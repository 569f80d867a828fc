package ladder

import (
	"encoding/json"

	"github.com/whatsthetime/wtt/pkg/observe"
)

// unknown stands for an ID or address AWS assigns when a step runs, as
// Terraform's "(known after apply)".
const unknown = "(new)"

// clone deep-copies a state so projections never alter what was observed.
func clone(s *observe.State) *observe.State {
	b, _ := json.Marshal(s)
	var c observe.State
	_ = json.Unmarshal(b, &c)
	c.Network.Tags = map[string]string{}
	for k, v := range s.Network.Tags {
		c.Network.Tags[k] = v
	}
	return &c
}
