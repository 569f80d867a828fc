package observe

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/whatsthetime/wtt/pkg/names"
)

func table(app string, routes ...ec2types.Route) ec2types.RouteTable {
	rt := ec2types.RouteTable{Routes: routes}
	if app != "" {
		rt.Tags = []ec2types.Tag{{Key: aws.String(names.TagApp), Value: aws.String(app)}}
	}
	return rt
}

func toGateway(gw, cidr string, st ec2types.RouteState) ec2types.Route {
	r := ec2types.Route{GatewayId: aws.String(gw), State: st}
	if cidr != "" {
		r.DestinationCidrBlock = aws.String(cidr)
	} else {
		r.DestinationPrefixListId = aws.String("pl-63a5400a")
	}
	return r
}

// TestProvenByRoutes: the route tables stand in for the gateway and
// endpoint describes only when they prove what is there; anything less and
// the observer describes (an empty answer here).
func TestProvenByRoutes(t *testing.T) {
	active, blackhole := ec2types.RouteStateActive, ec2types.RouteStateBlackhole
	local := toGateway("local", "10.40.0.0/16", active)
	for _, tc := range []struct {
		name          string
		tables        []ec2types.RouteTable
		igw, endpoint string
	}{
		{"the network up builds", []ec2types.RouteTable{
			table("app", local, toGateway("igw-1", "0.0.0.0/0", active), toGateway("vpce-s3", "", active)),
			table("app", local, toGateway("vpce-s3", "", active)),
			table("", local), // the VPC's main table, AWS's
		}, "igw-1", "vpce-s3"},
		{"gateway detached: its route is a blackhole", []ec2types.RouteTable{
			table("app", toGateway("igw-1", "0.0.0.0/0", blackhole), toGateway("vpce-s3", "", active)),
			table("app", toGateway("vpce-s3", "", active)),
		}, "", "vpce-s3"},
		{"no default route yet (a crash before it)", []ec2types.RouteTable{
			table("app", local), table("app", local),
		}, "", ""},
		{"the endpoint in one table of two", []ec2types.RouteTable{
			table("app", toGateway("igw-1", "0.0.0.0/0", active), toGateway("vpce-s3", "", active)),
			table("app", local),
		}, "igw-1", ""},
		{"two endpoints in every table: which is S3 is not known", []ec2types.RouteTable{
			table("app", toGateway("vpce-a", "", active), toGateway("vpce-b", "", active)),
			table("app", toGateway("vpce-a", "", active), toGateway("vpce-b", "", active)),
		}, "", ""},
		{"another app's tables prove nothing", []ec2types.RouteTable{
			table("other", toGateway("igw-9", "0.0.0.0/0", active), toGateway("vpce-9", "", active)),
		}, "", ""},
	} {
		igw, endpoint := provenByRoutes(tc.tables, "app")
		if igw != tc.igw || endpoint != tc.endpoint {
			t.Errorf("%s: got gateway %q, endpoint %q; want %q, %q", tc.name, igw, endpoint, tc.igw, tc.endpoint)
		}
	}
}
