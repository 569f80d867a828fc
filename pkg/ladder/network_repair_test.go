package ladder

import (
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/stage"
	"github.com/whatsthetime/wtt/pkg/statefixtures"
)

// broken is what an operator's hand leaves: the gateway detached, the S3
// endpoint deleted (e2e's `aws break-network`).
func broken(s *observe.State) *observe.State {
	s.Network.IGWAttached, s.Network.S3EndpointID = false, ""
	return s
}

// Past single no rung is planned again, so `up` and every migration mend
// a network broken by hand first, naming what is missing; with the
// network whole, neither plans it.
func TestNetworkBrokenByHandIsRepairedPastSingle(t *testing.T) {
	o := Options{TTL: 60, DNSName: "api.example.com"}
	p, err := Up(broken(statefixtures.EIP()), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 1 || !strings.Contains(p.Steps[0].Resource, "repair the internet gateway's attachment to the VPC, the S3 gateway endpoint") ||
		p.From != string(stage.EIP) || p.To != string(stage.EIP) {
		t.Fatalf("up at eip with a broken network: %s -> %s, steps %v", p.From, p.To, p.Steps)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "lacks the internet gateway's attachment") {
		t.Errorf("warnings %q", p.Warnings)
	}
	if p, _ := Up(statefixtures.EIP(), o); len(p.Steps) != 0 || !strings.Contains(strings.Join(p.Warnings, " "), "already at stage eip") {
		t.Errorf("up at eip with the network whole: steps %v, warnings %q", p.Steps, p.Warnings)
	}

	m, err := Migrate(broken(statefixtures.EIP()), stage.DNS, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Steps) < 2 || !strings.HasPrefix(m.Steps[0].Resource, "network 10.40.0.0/16: repair") || m.Steps[0].Rung != string(stage.EIP) {
		t.Errorf("migrate --to=dns from a broken eip: first step %+v", m.Steps[0])
	}
	whole, err := Migrate(statefixtures.EIP(), stage.DNS, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range whole.Steps {
		if strings.HasPrefix(s.Resource, "network") {
			t.Errorf("migrate --to=dns from a whole eip plans %s", s.Resource)
		}
	}
}

func TestNetworkGapsNameWhatIsMissing(t *testing.T) {
	s := statefixtures.Single()
	if g := networkGaps(s); len(g) != 0 {
		t.Errorf("a whole network lacks %v", g)
	}
	s.Network.RouteTables, s.Network.IGWID = s.Network.RouteTables[:1], ""
	if got := strings.Join(networkGaps(s), ", "); got != "the internet gateway, route tables (1 of 2)" {
		t.Errorf("gaps %q", got)
	}
	if got := networkGaps(&observe.State{}); len(got) != 1 || got[0] != "the VPC" {
		t.Errorf("no VPC: gaps %v", got)
	}
}
