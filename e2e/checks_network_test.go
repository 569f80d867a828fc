package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	checks["break-network"] = breakNetwork
	checks["network-whole"] = checkNetworkWhole
	checks["terminate-instances"] = terminateInstances
}

// aws break-network: what an operator's hand can do to the network that
// the route tables alone would hide if wtt trusted them blindly: detach the
// internet gateway (its route turns blackhole) and delete the S3 endpoint
// (its routes go with it).
func breakNetwork(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	igws, err := c.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: []ec2types.Filter{c.appFilter()}})
	if err != nil {
		return err
	}
	for _, g := range igws.InternetGateways {
		for _, a := range g.Attachments {
			if _, err := c.ec2.DetachInternetGateway(ctx, &ec2.DetachInternetGatewayInput{InternetGatewayId: g.InternetGatewayId, VpcId: a.VpcId}); err != nil {
				return err
			}
		}
	}
	eps, err := c.ec2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []ec2types.Filter{c.appFilter()}})
	if err != nil {
		return err
	}
	var ids []string
	for _, ep := range eps.VpcEndpoints {
		// A deleted endpoint is still listed for a while, as on AWS (whose
		// states are capitalised; the emulator's are not).
		if st := string(ep.State); !strings.EqualFold(st, "deleted") && !strings.EqualFold(st, "deleting") {
			ids = append(ids, aws.ToString(ep.VpcEndpointId))
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("the app has no VPC endpoint to delete")
	}
	_, err = c.ec2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: ids})
	return err
}

// aws terminate-instances: terminate the app's running instances by hand
// and wait until they are gone, which takes the app back to stage none
// with its network still standing.
func terminateInstances(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	ids, err := c.runningIDs(ctx)
	if err != nil || len(ids) == 0 {
		return fmt.Errorf("no running instance to terminate (%v)", err)
	}
	if _, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		return err
	}
	return ec2.NewInstanceTerminatedWaiter(c.ec2).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 50*time.Second)
}

// aws network-whole: the app's internet gateway is attached to its VPC,
// the default route to it is active, and one S3 endpoint is in use.
func checkNetworkWhole(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	vpcs, err := c.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{c.appFilter()}})
	if err != nil || len(vpcs.Vpcs) != 1 {
		return fmt.Errorf("want one VPC for the app (err %v)", err)
	}
	vpc := aws.ToString(vpcs.Vpcs[0].VpcId)
	igws, err := c.ec2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: []ec2types.Filter{
		{Name: aws.String("attachment.vpc-id"), Values: []string{vpc}}}})
	if err != nil || len(igws.InternetGateways) != 1 {
		return fmt.Errorf("want one internet gateway attached to %s (err %v)", vpc, err)
	}
	rts, err := c.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{c.appFilter()}})
	if err != nil {
		return err
	}
	active := 0
	for _, rt := range rts.RouteTables {
		for _, r := range rt.Routes {
			if strings.HasPrefix(aws.ToString(r.GatewayId), "igw-") && r.State == ec2types.RouteStateActive {
				active++
			}
		}
	}
	if active != 1 {
		return fmt.Errorf("want one active default route to the gateway, found %d", active)
	}
	eps, err := c.ec2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil {
		return err
	}
	live := 0
	for _, ep := range eps.VpcEndpoints {
		if ep.State != "deleted" && ep.State != "deleting" && strings.HasSuffix(aws.ToString(ep.ServiceName), ".s3") {
			live++
		}
	}
	if live != 1 {
		return fmt.Errorf("want one S3 endpoint in %s, found %d", vpc, live)
	}
	return nil
}
