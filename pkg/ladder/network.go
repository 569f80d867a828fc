package ladder

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// The app's network: one VPC, and in each of up to three AZs a public subnet
// (for the instances of the early rungs and for the load balancer) and a
// private one (for the instances once they hide behind it).
const vpcCIDR = "10.40.0.0/16"

func publicCIDR(i int) string  { return fmt.Sprintf("10.40.%d.0/24", i) }
func privateCIDR(i int) string { return fmt.Sprintf("10.40.%d.0/24", 10+i) }

func (e *Env) maxAZs() int {
	if e.Opts.MaxAZs > 0 {
		return e.Opts.MaxAZs
	}
	return 3
}

var networkCalls = []string{
	"ec2:CreateVpc", "ec2:ModifyVpcAttribute", "ec2:DescribeAvailabilityZones", "ec2:CreateSubnet",
	"ec2:ModifySubnetAttribute", "ec2:CreateInternetGateway", "ec2:AttachInternetGateway",
	"ec2:CreateRouteTable", "ec2:CreateRoute", "ec2:AssociateRouteTable", "ec2:CreateVpcEndpoint",
}

// networkComplete reports whether every piece of the network exists.
func networkComplete(s *observe.State) bool { return len(networkGaps(s)) == 0 }

// networkGaps says which pieces of the network are missing.
func networkGaps(s *observe.State) []string {
	n := s.Network
	if n.VPCID == "" {
		return []string{"the VPC"}
	}
	var gaps []string
	if pub := len(n.SubnetsWhere(true)); pub < 2 {
		gaps = append(gaps, fmt.Sprintf("public subnets (%d of at least 2)", pub))
	}
	if priv := len(n.SubnetsWhere(false)); priv < 2 {
		gaps = append(gaps, fmt.Sprintf("private subnets (%d of at least 2)", priv))
	}
	switch {
	case n.IGWID == "":
		gaps = append(gaps, "the internet gateway")
	case !n.IGWAttached:
		gaps = append(gaps, "the internet gateway's attachment to the VPC")
	}
	if len(n.RouteTables) < 2 {
		gaps = append(gaps, fmt.Sprintf("route tables (%d of 2)", len(n.RouteTables)))
	}
	if n.S3EndpointID == "" {
		gaps = append(gaps, "the S3 gateway endpoint")
	}
	return gaps
}

// networkStep makes whatever part of the network is missing.
func networkStep(rung string) *plan.Step {
	return &plan.Step{
		Rung: rung, Action: plan.Create, Resource: "network " + vpcCIDR,
		Detail: "VPC, a public and a private subnet in each of up to 3 AZs, internet gateway, route tables, S3 gateway endpoint",
		Calls:  networkCalls,
		Do:     func(ctx context.Context, x *plan.Exec) error { return env(x).ensureNetwork(ctx) },
	}
}

// networkRepair is the step that mends the network of an app past stage
// single, broken by hand (a detached gateway, a deleted endpoint): no
// rung at or below the app's stage is planned again, so without it
// nothing would. nil when the network is whole.
func networkRepair(s *observe.State, cur stage.Stage) (*plan.Step, string) {
	gaps := networkGaps(s)
	if cur.Index() < stage.Single.Index() || len(gaps) == 0 {
		return nil, ""
	}
	st := networkStep(string(cur))
	st.Resource = "network " + vpcCIDR + ": repair " + strings.Join(gaps, ", ")
	st.Detail = "makes the missing pieces again in the app's VPC; what is there is kept"
	return st, fmt.Sprintf("the app's network lacks %s (changed outside wtt?): the first step makes the missing pieces again", strings.Join(gaps, ", "))
}

// ensureNetwork creates whatever part of the network is missing. A
// network it builds in a VPC it has just created is known whole from the
// answers to its own calls (nothing else can be in that VPC yet), and is
// handed to the observer rather than described again.
func (e *Env) ensureNetwork(ctx context.Context) error {
	s := e.State
	fresh := false // the VPC was created by this call, not found
	if s.Network.VPCID == "" {
		id, err := createOrAdopt(ctx, "creating the VPC", func(ctx context.Context) (string, error) {
			out, err := e.C.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{
				CidrBlock:         aws.String(vpcCIDR),
				TagSpecifications: e.tagSpec(ec2types.ResourceTypeVpc, "vpc", e.N.VPC()),
				DryRun:            e.dryRun(),
			})
			if err != nil {
				return "", err
			}
			fresh = true
			return aws.ToString(out.Vpc.VpcId), nil
		}, func(ctx context.Context) (string, bool, error) {
			out, err := e.C.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: e.tagFilters("vpc")})
			if err != nil || len(out.Vpcs) == 0 {
				return "", false, err
			}
			return aws.ToString(out.Vpcs[0].VpcId), true, nil
		})
		if err != nil {
			return fmt.Errorf("creating VPC: %w", err)
		}
		fresh = fresh && len(s.StrayNetworks) == 0
		s.Network.VPCID, s.Network.CIDR = id, vpcCIDR
		if _, err := e.C.EC2.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{
			VpcId: aws.String(id), EnableDnsHostnames: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)},
		}); err != nil {
			return fmt.Errorf("enabling DNS hostnames: %w", err)
		}
	}
	vpc := aws.String(s.Network.VPCID)

	azs, err := e.availabilityZones(ctx)
	if err != nil {
		return err
	}
	for i, az := range azs {
		for _, public := range []bool{true, false} {
			cidr, role := privateCIDR(i), "private"
			if public {
				cidr, role = publicCIDR(i), "public"
			}
			if slices.ContainsFunc(s.Network.Subnets, func(sn observe.Subnet) bool { return sn.CIDR == cidr }) {
				continue
			}
			id, err := e.createSubnet(ctx, cidr, az, role)
			if err != nil {
				return err
			}
			if public {
				if _, err := e.C.EC2.ModifySubnetAttribute(ctx, &ec2.ModifySubnetAttributeInput{
					SubnetId: aws.String(id), MapPublicIpOnLaunch: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)},
				}); err != nil {
					return fmt.Errorf("making subnet %s public: %w", cidr, err)
				}
			}
			s.Network.Subnets = append(s.Network.Subnets, observe.Subnet{ID: id, AZ: az, CIDR: cidr, Public: public})
		}
	}

	if s.Network.IGWID == "" {
		id, err := createOrAdopt(ctx, "creating the internet gateway", func(ctx context.Context) (string, error) {
			out, err := e.C.EC2.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{
				TagSpecifications: e.tagSpec(ec2types.ResourceTypeInternetGateway, "igw", e.N.VPC()+"-igw"),
			})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.InternetGateway.InternetGatewayId), nil
		}, func(ctx context.Context) (string, bool, error) {
			out, err := e.C.EC2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: e.tagFilters("igw")})
			if err != nil || len(out.InternetGateways) == 0 {
				return "", false, err
			}
			return aws.ToString(out.InternetGateways[0].InternetGatewayId), true, nil
		})
		if err != nil {
			return fmt.Errorf("creating internet gateway: %w", err)
		}
		s.Network.IGWID = id
	}
	if !s.Network.IGWAttached {
		if _, err := e.C.EC2.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{
			InternetGatewayId: aws.String(s.Network.IGWID), VpcId: vpc,
		}); err != nil && !hasCode(err, "Resource.AlreadyAssociated") {
			return fmt.Errorf("attaching internet gateway: %w", err)
		}
		s.Network.IGWAttached = true
	}

	var rtIDs []string
	var tables []observe.RouteTable
	for _, public := range []bool{true, false} {
		rt, err := e.ensureRouteTable(ctx, public, fresh)
		if err != nil {
			return err
		}
		rtIDs = append(rtIDs, rt.ID)
		tables = append(tables, rt)
	}
	if s.Network.S3EndpointID == "" {
		out, err := e.C.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{
			// The SDK does not fill this token itself; with it, a retry
			// after a lost answer gets the first endpoint back. It holds
			// for this run only (clientToken): after a hand deletion, a
			// later run must get a new endpoint, not the deleted one.
			ClientToken:       e.clientToken("s3", s.Network.VPCID),
			VpcId:             vpc,
			ServiceName:       aws.String(fmt.Sprintf("com.amazonaws.%s.s3", s.Region)),
			VpcEndpointType:   ec2types.VpcEndpointTypeGateway,
			RouteTableIds:     rtIDs,
			TagSpecifications: e.tagSpec(ec2types.ResourceTypeVpcEndpoint, "s3-endpoint", e.N.VPC()+"-s3"),
		})
		if err != nil {
			return fmt.Errorf("creating the S3 gateway endpoint: %w", err)
		}
		if out.VpcEndpoint != nil {
			s.Network.S3EndpointID = aws.ToString(out.VpcEndpoint.VpcEndpointId)
		}
	}
	if fresh {
		e.tookNetwork(tables)
	}
	return nil
}

// tookNetwork hands the network just built in a new VPC to the observer:
// its subnets, gateway, route tables and endpoint as created, the VPC's
// tags as given, no security group yet, and so no DNS record named.
func (e *Env) tookNetwork(tables []observe.RouteTable) {
	n := e.State.Network
	n.Subnets = slices.Clone(n.Subnets)
	slices.SortFunc(n.Subnets, func(a, b observe.Subnet) int {
		if a.AZ != b.AZ {
			return strings.Compare(a.AZ, b.AZ)
		}
		return strings.Compare(a.CIDR, b.CIDR)
	})
	n.RouteTables = tables
	n.WebSG, n.ALBSG, n.PrivateSG = nil, nil, nil
	n.Tags = map[string]string{}
	for _, t := range e.tags("vpc", e.N.VPC()) {
		n.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	e.took(observe.KindNetwork|observe.KindSecurityGroups|observe.KindVPCTags|observe.KindDNS, func(s *observe.State) {
		s.Network, s.DNS = n, nil
	})
}

// createSubnet creates a subnet, or adopts the one with that CIDR in the
// app's VPC: a repeat of a create whose answer was lost fails with
// InvalidSubnet.Conflict.
func (e *Env) createSubnet(ctx context.Context, cidr, az, role string) (string, error) {
	vpc := e.State.Network.VPCID
	out, err := e.C.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{
		VpcId: aws.String(vpc), CidrBlock: aws.String(cidr), AvailabilityZone: aws.String(az),
		TagSpecifications: e.tagSpec(ec2types.ResourceTypeSubnet, role, fmt.Sprintf("%s-%s-%s", e.N.VPC(), role, az)),
	})
	if err == nil {
		return aws.ToString(out.Subnet.SubnetId), nil
	}
	if !hasCode(err, "InvalidSubnet.Conflict") {
		return "", fmt.Errorf("creating %s subnet in %s: %w", role, az, err)
	}
	found, ferr := e.C.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}},
		{Name: aws.String("cidr-block"), Values: []string{cidr}},
	}})
	if ferr != nil || len(found.Subnets) == 0 {
		return "", fmt.Errorf("creating %s subnet in %s: %w (and no subnet %s was found in %s: %v)", role, az, err, cidr, vpc, ferr)
	}
	return aws.ToString(found.Subnets[0].SubnetId), nil
}

// tagFilters select the app's resources of one role.
func (e *Env) tagFilters(role string) []ec2types.Filter {
	return []ec2types.Filter{
		{Name: aws.String("tag:" + names.TagApp), Values: []string{e.App}},
		{Name: aws.String("tag:" + names.TagRole), Values: []string{role}},
	}
}

// ensureRouteTable makes the public (or private) route table and
// associates the subnets of its kind with it. In a VPC created a moment ago
// (fresh) there is no table of the app's to find first.
func (e *Env) ensureRouteTable(ctx context.Context, public, fresh bool) (observe.RouteTable, error) {
	s := e.State
	role := "private"
	if public {
		role = "public"
	}
	var rt *observe.RouteTable
	for i := range s.Network.RouteTables {
		if s.Network.RouteTables[i].Public == public {
			c := s.Network.RouteTables[i]
			c.Subnets, c.AssociationIDs = slices.Clone(c.Subnets), slices.Clone(c.AssociationIDs)
			rt = &c
		}
	}
	if rt == nil {
		// A public table whose default route was never added looks private;
		// tell the two apart by the role tag before creating another.
		var out *ec2.DescribeRouteTablesOutput
		if !fresh {
			var err error
			out, err = e.C.EC2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
				{Name: aws.String("vpc-id"), Values: []string{s.Network.VPCID}},
				{Name: aws.String("tag:wtt:role"), Values: []string{"rtb-" + role}},
			}})
			if err != nil {
				return observe.RouteTable{}, fmt.Errorf("describing route tables: %w", err)
			}
		}
		if out != nil && len(out.RouteTables) > 0 {
			rt = &observe.RouteTable{ID: aws.ToString(out.RouteTables[0].RouteTableId)}
			for _, a := range out.RouteTables[0].Associations {
				if a.SubnetId != nil {
					rt.Subnets = append(rt.Subnets, aws.ToString(a.SubnetId))
					rt.AssociationIDs = append(rt.AssociationIDs, aws.ToString(a.RouteTableAssociationId))
				}
			}
		} else {
			created, err := e.C.EC2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{
				VpcId:             aws.String(s.Network.VPCID),
				TagSpecifications: e.tagSpec(ec2types.ResourceTypeRouteTable, "rtb-"+role, e.N.VPC()+"-"+role),
			})
			if err != nil {
				return observe.RouteTable{}, fmt.Errorf("creating %s route table: %w", role, err)
			}
			rt = &observe.RouteTable{ID: aws.ToString(created.RouteTable.RouteTableId)}
		}
		if public {
			if _, err := e.C.EC2.CreateRoute(ctx, &ec2.CreateRouteInput{
				RouteTableId: aws.String(rt.ID), DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: aws.String(s.Network.IGWID),
			}); err != nil && !hasCode(err, "RouteAlreadyExists") {
				return observe.RouteTable{}, fmt.Errorf("adding the default route: %w", err)
			}
		}
	}
	rt.Public = public
	for _, sn := range s.Network.SubnetsWhere(public) {
		if slices.Contains(rt.Subnets, sn.ID) {
			continue
		}
		out, err := e.C.EC2.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{
			RouteTableId: aws.String(rt.ID), SubnetId: aws.String(sn.ID),
		})
		if err != nil && !hasCode(err, "Resource.AlreadyAssociated") {
			return observe.RouteTable{}, fmt.Errorf("associating subnet %s with the %s route table: %w", sn.ID, role, err)
		}
		rt.Subnets = append(rt.Subnets, sn.ID)
		if out != nil {
			rt.AssociationIDs = append(rt.AssociationIDs, aws.ToString(out.AssociationId))
		}
	}
	return *rt, nil
}

// availabilityZones returns up to maxAZs available AZs of the region, the
// ones the app's subnets already use first.
func (e *Env) availabilityZones(ctx context.Context) ([]string, error) {
	out, err := e.C.EC2.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{Filters: []ec2types.Filter{
		{Name: aws.String("state"), Values: []string{"available"}},
		{Name: aws.String("zone-type"), Values: []string{"availability-zone"}},
	}})
	if err != nil {
		return nil, fmt.Errorf("listing availability zones: %w", err)
	}
	var azs []string
	for _, z := range out.AvailabilityZones {
		azs = append(azs, aws.ToString(z.ZoneName))
	}
	slices.Sort(azs)
	if len(azs) > e.maxAZs() {
		azs = azs[:e.maxAZs()]
	}
	if len(azs) < 2 {
		return nil, fmt.Errorf("region %s offers %d availability zone(s); a load balancer needs 2", e.State.Region, len(azs))
	}
	return azs, nil
}

// ensureSecurityGroup finds the named group in the VPC or creates it, then
// makes its ingress exactly the given rules. It returns the group as the
// step left it when it created it (its rules are then exactly want), and
// nil when it found it: what else a found group admits only a read shows.
func (e *Env) ensureSecurityGroup(ctx context.Context, existing *observe.SecurityGroup, name, role, desc string, want []ec2types.IpPermission) (string, *observe.SecurityGroup, error) {
	id := ""
	created := false
	if existing != nil {
		id = existing.ID
	} else {
		out, err := e.C.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName: aws.String(name), Description: aws.String(desc), VpcId: aws.String(e.State.Network.VPCID),
			TagSpecifications: e.tagSpec(ec2types.ResourceTypeSecurityGroup, role, name),
		})
		if err != nil && !hasCode(err, "InvalidGroup.Duplicate") {
			return "", nil, fmt.Errorf("creating security group %s: %w", name, err)
		}
		if err == nil {
			id, created = aws.ToString(out.GroupId), true
		} else {
			found, err := e.C.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
				{Name: aws.String("vpc-id"), Values: []string{e.State.Network.VPCID}},
				{Name: aws.String("group-name"), Values: []string{name}},
			}})
			if err != nil || len(found.SecurityGroups) == 0 {
				return "", nil, fmt.Errorf("finding security group %s: %v", name, err)
			}
			id = aws.ToString(found.SecurityGroups[0].GroupId)
		}
	}
	if _, err := e.C.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(id), IpPermissions: want,
	}); err != nil && !hasCode(err, "InvalidPermission.Duplicate") {
		return "", nil, fmt.Errorf("opening %s: %w", name, err)
	}
	if !created {
		return id, nil, nil
	}
	return id, groupAsCreated(id, name, want), nil
}

// groupAsCreated is a new group with exactly the rules it was given, as
// discovery would read it.
func groupAsCreated(id, name string, perms []ec2types.IpPermission) *observe.SecurityGroup {
	g := &observe.SecurityGroup{ID: id, Name: name}
	for _, p := range perms {
		r := observe.Rule{Protocol: aws.ToString(p.IpProtocol), FromPort: aws.ToInt32(p.FromPort), ToPort: aws.ToInt32(p.ToPort)}
		for _, ip := range p.IpRanges {
			r.CIDRs = append(r.CIDRs, aws.ToString(ip.CidrIp))
		}
		for _, pair := range p.UserIdGroupPairs {
			r.SourceGroups = append(r.SourceGroups, aws.ToString(pair.GroupId))
		}
		g.Ingress = append(g.Ingress, r)
	}
	return g
}

func httpFromAnywhere() []ec2types.IpPermission {
	return []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80),
		IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0"), Description: aws.String("WhatsTheTime.com users")}},
	}}
}

func httpFromGroup(sg string) []ec2types.IpPermission {
	return []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80),
		UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(sg), Description: aws.String("load balancer only")}},
	}}
}
