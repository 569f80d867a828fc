package observe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/names"
)

// Discover reads everything tagged for app. The number of calls it makes is
// fixed: every list is one filtered, paginated describe, never one call per
// instance, so `status` costs the same for 1 instance or 500.
func Discover(ctx context.Context, c *awsclient.Clients, app string) (*State, error) {
	return NewObserver(c, app).Refresh(ctx)
}

// read fills the fields of s that the kinds in k own. Kinds that depend on
// others (DNS on the VPC's tags, reservations on the group's type, the
// load balancing and group kinds in gated on the security groups)
// are read after them; the rest run side by side, each writing only its
// own fields. With infer, the route tables stand in for the gateway and
// endpoint describes when they prove what is there (discoverNetwork).
func read(ctx context.Context, c *awsclient.Clients, s *State, k Kind, zones map[string]zone, gated Kind, infer bool) error {
	n := names.For(s.App)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	run := func(want Kind, f func() error) {
		if k&want == 0 {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	// The account names the bucket. The VPC's owner is the account, so STS
	// is asked only when there is no VPC, and only once per command.
	var vpcOwner string
	ownerKnown := make(chan struct{})
	var once sync.Once
	owned := func(owner string) { once.Do(func() { vpcOwner = owner; close(ownerKnown) }) }
	if k&KindNetwork == 0 || s.Account != "" {
		owned("")
	}
	run(KindNetwork, func() error { defer owned(""); return discoverNetworks(ctx, c, s, owned, infer) })
	if k&KindVPCTags != 0 && k&KindNetwork == 0 {
		run(KindVPCTags, func() error { return discoverVPCTags(ctx, c, s) })
	}
	run(KindInstances, func() error { s.Instances = []Instance{}; return discoverInstances(ctx, c, s) })
	run(KindAddresses, func() error { return discoverEIPs(ctx, c, s) })
	if k&KindSecurityGroups != 0 && k&KindNetwork == 0 {
		run(KindSecurityGroups, func() error {
			for _, net := range append([]*Network{&s.Network}, strayPointers(s)...) {
				if net.VPCID == "" {
					continue
				}
				if err := discoverSecurityGroups(ctx, c, s.App, net); err != nil {
					return err
				}
			}
			return nil
		})
	}
	run(KindDelivery, func() error {
		<-ownerKnown
		if s.Account == "" && vpcOwner != "" {
			s.Account = vpcOwner
		}
		if s.Account == "" {
			acct, err := callerAccount(ctx, c)
			if err != nil {
				return err
			}
			s.Account = acct
		}
		return discoverDelivery(ctx, c, s, n)
	})
	// Whether the alb rung ever began is known from the security groups:
	// wait for them when they are being read.
	if k&gated != 0 && k&(KindNetwork|KindSecurityGroups) != 0 {
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	if gated != 0 && !albBegun(s) {
		if gated&KindBalancer != 0 {
			s.LoadBalancer = nil
		}
		if gated&KindTargetGroup != 0 {
			s.TargetGroup = nil
		}
		if gated&KindTemplate != 0 {
			s.LaunchTemplate = nil
		}
		if gated&KindGroup != 0 {
			s.Group = nil
		}
		k &^= gated
	}
	run(KindTemplate, func() error { s.LaunchTemplate = nil; return discoverLaunchTemplate(ctx, c, s, n) })
	run(KindBalancer, func() error { s.LoadBalancer = nil; return discoverLoadBalancer(ctx, c, s, n) })
	if k&KindTargetGroup != 0 {
		run(KindTargetGroup, func() error { s.TargetGroup = nil; return discoverTargetGroup(ctx, c, s, n) })
	} else if s.TargetGroup != nil {
		run(KindTargets, func() error { return discoverTargets(ctx, c, s) })
	}
	if k&KindGroup != 0 {
		run(KindGroup, func() error { return discoverASG(ctx, c, s, n, k&KindPolicies != 0) })
	} else if s.Group != nil {
		run(KindPolicies, func() error { return discoverPolicies(ctx, c, s) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if s.Account == "" {
		s.Account = vpcOwner // known without delivery's read, which may be deferred
	}
	joinAddresses(s)
	if k&KindDNS != 0 {
		s.DNS = nil
		if err := discoverDNS(ctx, c, s, zones); err != nil {
			return err
		}
	}
	if k&KindReserved != 0 {
		s.Reserved = []Reserved{}
		if err := discoverReserved(ctx, c, s); err != nil {
			return err
		}
	}
	return nil
}

// albBegun reports whether the alb rung has created a security group in
// any of the app's networks (see kindsOfALB).
func albBegun(s *State) bool {
	for _, net := range append([]Network{s.Network}, s.StrayNetworks...) {
		if net.ALBSG != nil || net.PrivateSG != nil {
			return true
		}
	}
	return false
}

// strayPointers points into a fresh copy of the stray networks, so a
// refresh never writes into a slice an earlier state still holds.
func strayPointers(s *State) []*Network {
	s.StrayNetworks = append([]Network(nil), s.StrayNetworks...)
	var out []*Network
	for i := range s.StrayNetworks {
		out = append(out, &s.StrayNetworks[i])
	}
	return out
}

// groupType is the group's type: what its launch template launches, since
// instances may still be mid-refresh from an older type.
func groupType(s *State) {
	if s.Group != nil && s.LaunchTemplate != nil && s.LaunchTemplate.InstanceType != "" {
		g := *s.Group
		g.InstanceType = s.LaunchTemplate.InstanceType
		s.Group = &g
	}
}

func appFilter(app string) ec2types.Filter {
	return ec2types.Filter{Name: aws.String("tag:" + names.TagApp), Values: []string{app}}
}

func tagMap(tags []ec2types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// discoverNetworks reads the app's VPCs. With infer, what the route tables
// prove (an attached gateway, the S3 endpoint) is not described again
// (see discoverNetwork); `down` passes false and describes everything.
func discoverNetworks(ctx context.Context, c *awsclient.Clients, s *State, owner func(string), infer bool) error {
	s.Network, s.StrayNetworks = Network{}, nil
	vpcs, err := c.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{appFilter(s.App)}})
	if err != nil {
		return fmt.Errorf("describing VPCs: %w", err)
	}
	// CreateVpc takes no idempotency token: a request retried after its
	// answer was lost can leave a second VPC. The one with the most subnets
	// is the app's; the others are strays that `down` removes.
	var networks []Network
	for _, v := range vpcs.Vpcs {
		if owner != nil {
			// The app's VPC is in the caller's account: no need to ask STS.
			owner(aws.ToString(v.OwnerId))
			owner = nil
		}
		tmp := &State{App: s.App}
		tmp.Network.VPCID = aws.ToString(v.VpcId)
		tmp.Network.CIDR = aws.ToString(v.CidrBlock)
		tmp.Network.Tags = tagMap(v.Tags)
		if err := discoverNetwork(ctx, c, tmp, infer); err != nil {
			return err
		}
		networks = append(networks, tmp.Network)
	}
	sort.SliceStable(networks, func(i, j int) bool {
		if len(networks[i].Subnets) != len(networks[j].Subnets) {
			return len(networks[i].Subnets) > len(networks[j].Subnets)
		}
		return networks[i].VPCID < networks[j].VPCID
	})
	if len(networks) > 0 {
		s.Network, s.StrayNetworks = networks[0], networks[1:]
	}
	return nil
}

// discoverVPCTags reads the VPCs' tags alone: a tag call on the VPC
// changes nothing else about the network.
func discoverVPCTags(ctx context.Context, c *awsclient.Clients, s *State) error {
	vpcs, err := c.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{appFilter(s.App)}})
	if err != nil {
		return fmt.Errorf("describing VPCs: %w", err)
	}
	tags := map[string]map[string]string{}
	for _, v := range vpcs.Vpcs {
		tags[aws.ToString(v.VpcId)] = tagMap(v.Tags)
	}
	s.Network.Tags = tags[s.Network.VPCID]
	s.StrayNetworks = append([]Network(nil), s.StrayNetworks...)
	for i := range s.StrayNetworks {
		s.StrayNetworks[i].Tags = tags[s.StrayNetworks[i].VPCID]
	}
	return nil
}

func discoverEIPs(ctx context.Context, c *awsclient.Clients, s *State) error {
	s.EIPs = []EIP{}
	addrs, err := c.EC2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{appFilter(s.App)}})
	if err != nil {
		return fmt.Errorf("describing Elastic IPs: %w", err)
	}
	for _, a := range addrs.Addresses {
		s.EIPs = append(s.EIPs, EIP{
			AllocationID:  aws.ToString(a.AllocationId),
			PublicIP:      aws.ToString(a.PublicIp),
			InstanceID:    aws.ToString(a.InstanceId),
			AssociationID: aws.ToString(a.AssociationId),
		})
	}
	return nil
}

// joinAddresses gives each instance its Elastic IP. The emulator shows a
// fresh public IP after stop/start while the EIP stays associated; AWS
// shows the EIP. DescribeAddresses is the truth for both.
func joinAddresses(s *State) {
	eipByInstance := map[string]string{}
	for _, e := range s.EIPs {
		if e.InstanceID != "" {
			eipByInstance[e.InstanceID] = e.PublicIP
		}
	}
	s.Instances = append([]Instance(nil), s.Instances...)
	for i := range s.Instances {
		in := &s.Instances[i]
		in.EIP = eipByInstance[in.ID]
		in.PublicIP = in.describedPublicIP
		if in.EIP != "" {
			in.PublicIP = in.EIP
		}
	}
}

// discoverNetwork reads one VPC's route tables, subnets, internet gateway,
// S3 endpoint and security groups. With infer, the route tables stand in
// for two describes when they can:
//
//   - An active default route to an internet gateway proves the gateway
//     exists and is attached to this VPC: AWS refuses a route to a gateway
//     that is not attached to the route table's VPC, and marks the route
//     blackhole once the gateway is detached or deleted. Without such a
//     route (a crash between creating the gateway and routing to it) the
//     gateways are described, so an unattached one is found and reused.
//   - A gateway endpoint puts a route to itself (vpce-...) in every route
//     table it is associated with, and AWS takes the routes away with the
//     endpoint. wtt associates its S3 endpoint with every one of its route
//     tables, so the one vpce route in all of them is that endpoint;
//     otherwise (none, or more than one) the endpoints are described. (The one case this would misread: the
//     S3 endpoint gone and another operator's gateway endpoint, say
//     DynamoDB's, added to every one of wtt's own route tables.)
func discoverNetwork(ctx context.Context, c *awsclient.Clients, s *State, infer bool) error {
	vpcFilter := []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{s.Network.VPCID}}}
	rts, err := c.EC2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: vpcFilter})
	if err != nil {
		return fmt.Errorf("describing route tables: %w", err)
	}
	publicSubnets := map[string]bool{}
	for _, rt := range rts.RouteTables {
		tags := tagMap(rt.Tags)
		if tags[names.TagApp] != s.App {
			continue // the VPC's main route table is AWS's, not ours
		}
		r := RouteTable{ID: aws.ToString(rt.RouteTableId)}
		for _, route := range rt.Routes {
			if strings.HasPrefix(aws.ToString(route.GatewayId), "igw-") && aws.ToString(route.DestinationCidrBlock) == "0.0.0.0/0" {
				r.Public = true
			}
		}
		for _, a := range rt.Associations {
			if id := aws.ToString(a.SubnetId); id != "" {
				r.AssociationIDs = append(r.AssociationIDs, aws.ToString(a.RouteTableAssociationId))
				r.Subnets = append(r.Subnets, id)
				if r.Public {
					publicSubnets[id] = true
				}
			}
		}
		s.Network.RouteTables = append(s.Network.RouteTables, r)
	}
	subnets, err := c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: vpcFilter})
	if err != nil {
		return fmt.Errorf("describing subnets: %w", err)
	}
	for _, sn := range subnets.Subnets {
		tags := tagMap(sn.Tags)
		s.Network.Subnets = append(s.Network.Subnets, Subnet{
			ID:   aws.ToString(sn.SubnetId),
			AZ:   aws.ToString(sn.AvailabilityZone),
			CIDR: aws.ToString(sn.CidrBlock),
			// A subnet is public by its route to the internet gateway; the
			// tag covers the moment between creating it and associating it.
			Public: publicSubnets[aws.ToString(sn.SubnetId)] || tags[names.TagRole] == "public",
		})
	}
	sort.Slice(s.Network.Subnets, func(i, j int) bool {
		a, b := s.Network.Subnets[i], s.Network.Subnets[j]
		if a.AZ != b.AZ {
			return a.AZ < b.AZ
		}
		return a.CIDR < b.CIDR
	})
	routedIGW, routedEndpoint := provenByRoutes(rts.RouteTables, s.App)
	if infer && routedIGW != "" {
		s.Network.IGWID, s.Network.IGWAttached = routedIGW, true
	} else if err := discoverGateway(ctx, c, s); err != nil {
		return err
	}
	if infer && routedEndpoint != "" {
		s.Network.S3EndpointID = routedEndpoint
	} else {
		if err := discoverEndpoint(ctx, c, s); err != nil {
			return err
		}
	}
	return discoverSecurityGroups(ctx, c, s.App, &s.Network)
}

// provenByRoutes is what the app's route tables prove (discoverNetwork):
// the internet gateway an active default route goes to, and the one
// gateway endpoint every one of the app's tables routes to.
func provenByRoutes(tables []ec2types.RouteTable, app string) (igw, endpoint string) {
	endpointRoutes := map[string]int{} // vpce ID -> how many of the app's tables route to it
	own := 0
	for _, rt := range tables {
		if tagMap(rt.Tags)[names.TagApp] != app {
			continue
		}
		own++
		seen := map[string]bool{}
		for _, route := range rt.Routes {
			gw := aws.ToString(route.GatewayId)
			if strings.HasPrefix(gw, "igw-") && aws.ToString(route.DestinationCidrBlock) == "0.0.0.0/0" &&
				route.State == ec2types.RouteStateActive {
				igw = gw
			}
			if strings.HasPrefix(gw, "vpce-") && route.State != ec2types.RouteStateBlackhole && !seen[gw] {
				seen[gw] = true
				endpointRoutes[gw]++
			}
		}
	}
	var inAll []string
	for id, n := range endpointRoutes {
		if n == own {
			inAll = append(inAll, id)
		}
	}
	if len(inAll) == 1 {
		endpoint = inAll[0]
	}
	return igw, endpoint
}

// discoverGateway finds the internet gateway attached to the VPC, else one
// a crashed run created but never attached (found by its tag, so it is
// reused, not duplicated).
func discoverGateway(ctx context.Context, c *awsclient.Clients, s *State) error {
	igws, err := c.EC2.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: []ec2types.Filter{appFilter(s.App)}})
	if err != nil {
		return fmt.Errorf("describing internet gateways: %w", err)
	}
	for _, g := range igws.InternetGateways {
		for _, a := range g.Attachments {
			if aws.ToString(a.VpcId) == s.Network.VPCID {
				s.Network.IGWID, s.Network.IGWAttached = aws.ToString(g.InternetGatewayId), true
			}
		}
	}
	for _, g := range igws.InternetGateways {
		if s.Network.IGWID == "" && len(g.Attachments) == 0 {
			s.Network.IGWID = aws.ToString(g.InternetGatewayId)
		}
	}
	return nil
}

// discoverEndpoint finds the VPC's S3 gateway endpoint.
func discoverEndpoint(ctx context.Context, c *awsclient.Clients, s *State) error {
	vpcFilter := []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{s.Network.VPCID}}}
	eps, err := c.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: vpcFilter})
	if err != nil {
		return fmt.Errorf("describing VPC endpoints: %w", err)
	}
	for _, ep := range eps.VpcEndpoints {
		st := string(ep.State)
		if strings.HasSuffix(aws.ToString(ep.ServiceName), ".s3") && st != "deleted" && st != "deleting" {
			s.Network.S3EndpointID = aws.ToString(ep.VpcEndpointId)
		}
	}
	return nil
}

// discoverSecurityGroups reads the groups of one VPC: the web, load
// balancer and private groups wtt made there, with their rules.
func discoverSecurityGroups(ctx context.Context, c *awsclient.Clients, app string, net *Network) error {
	net.WebSG, net.ALBSG, net.PrivateSG = nil, nil, nil
	vpcFilter := []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{net.VPCID}}}
	sgs, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: vpcFilter})
	if err != nil {
		return fmt.Errorf("describing security groups: %w", err)
	}
	n := names.For(app)
	for _, g := range sgs.SecurityGroups {
		sg := &SecurityGroup{ID: aws.ToString(g.GroupId), Name: aws.ToString(g.GroupName)}
		for _, p := range g.IpPermissions {
			r := Rule{Protocol: aws.ToString(p.IpProtocol), FromPort: aws.ToInt32(p.FromPort), ToPort: aws.ToInt32(p.ToPort)}
			for _, ip := range p.IpRanges {
				r.CIDRs = append(r.CIDRs, aws.ToString(ip.CidrIp))
			}
			for _, ip := range p.Ipv6Ranges {
				r.CIDRs = append(r.CIDRs, aws.ToString(ip.CidrIpv6))
			}
			for _, pair := range p.UserIdGroupPairs {
				r.SourceGroups = append(r.SourceGroups, aws.ToString(pair.GroupId))
			}
			sg.Ingress = append(sg.Ingress, r)
		}
		switch sg.Name {
		case n.WebSG():
			net.WebSG = sg
		case n.ALBSG():
			net.ALBSG = sg
		case n.PrivateSG():
			net.PrivateSG = sg
		}
	}
	return nil
}

func discoverInstances(ctx context.Context, c *awsclient.Clients, s *State) error {
	p := ec2.NewDescribeInstancesPaginator(c.EC2, &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{appFilter(s.App), {
			Name:   aws.String("instance-state-name"),
			Values: []string{"pending", "running", "stopping", "stopped", "shutting-down"},
		}},
		MaxResults: aws.Int32(1000),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describing instances: %w", err)
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				s.Instances = append(s.Instances, instanceFrom(in))
			}
		}
	}
	sort.Slice(s.Instances, func(i, j int) bool {
		a, b := s.Instances[i], s.Instances[j]
		if !a.LaunchTime.Equal(b.LaunchTime) {
			return a.LaunchTime.Before(b.LaunchTime)
		}
		return a.ID < b.ID
	})
	return nil
}

func instanceFrom(in ec2types.Instance) Instance {
	tags := tagMap(in.Tags)
	i := Instance{
		ID:                aws.ToString(in.InstanceId),
		Type:              string(in.InstanceType),
		SubnetID:          aws.ToString(in.SubnetId),
		PublicIP:          aws.ToString(in.PublicIpAddress),
		describedPublicIP: aws.ToString(in.PublicIpAddress),
		PrivateIP:         aws.ToString(in.PrivateIpAddress),
		Group:             tags["aws:autoscaling:groupName"],
		Role:              tags[names.TagRole],
		LaunchTime:        aws.ToTime(in.LaunchTime),
		Spot:              in.InstanceLifecycle == ec2types.InstanceLifecycleTypeSpot,
		Arch:              string(in.Architecture),
	}
	if d, err := time.ParseDuration(tags[TagDNSDrain]); err == nil && d > 0 {
		i.DNSDrainSeconds = int64(d.Round(time.Second) / time.Second)
	}
	if t, err := time.Parse(time.RFC3339, tags[TagRetireAfter]); err == nil {
		i.RetireAfter = t
	}
	if in.State != nil {
		i.State = string(in.State.Name)
	}
	if in.Placement != nil {
		i.AZ = aws.ToString(in.Placement.AvailabilityZone)
	}
	if in.MetadataOptions != nil {
		i.IMDSv2Required = in.MetadataOptions.HttpTokens == ec2types.HttpTokensStateRequired
	}
	// Instances launched with NetworkInterfaces list their groups only there
	// on the emulator; AWS lists them in both places.
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			i.SecurityGroups = append(i.SecurityGroups, id)
		}
	}
	for _, g := range in.SecurityGroups {
		add(aws.ToString(g.GroupId))
	}
	for _, ni := range in.NetworkInterfaces {
		for _, g := range ni.Groups {
			add(aws.ToString(g.GroupId))
		}
	}
	return i
}

// discoverLaunchTemplate reads the app's launch template, by its name (AWS
// keeps launch template names unique in a region), with its latest and
// default versions in one call: the latest version's data is what the group
// launches next, the two numbers say whether the default lags behind.
func discoverLaunchTemplate(ctx context.Context, c *awsclient.Clients, s *State, n names.Names) error {
	vs, err := c.EC2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateName: aws.String(n.LaunchTemplate()), Versions: []string{"$Latest", "$Default"},
	})
	if notFound(err, "InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.NotFound") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describing launch template versions: %w", err)
	}
	if len(vs.LaunchTemplateVersions) == 0 {
		return nil
	}
	var lt *LaunchTemplate
	var latest ec2types.LaunchTemplateVersion
	for _, v := range vs.LaunchTemplateVersions {
		if lt == nil {
			lt = &LaunchTemplate{ID: aws.ToString(v.LaunchTemplateId), Name: aws.ToString(v.LaunchTemplateName)}
		}
		num := aws.ToInt64(v.VersionNumber)
		if num >= lt.LatestVersion {
			lt.LatestVersion, latest = num, v
		}
		if aws.ToBool(v.DefaultVersion) {
			lt.DefaultVersion = num
		}
	}
	if d := latest.LaunchTemplateData; d != nil {
		lt.InstanceType = string(d.InstanceType)
		if d.MetadataOptions != nil {
			lt.IMDSv2Required = d.MetadataOptions.HttpTokens == ec2types.LaunchTemplateHttpTokensStateRequired
		}
		lt.SecurityGroups = append(lt.SecurityGroups, d.SecurityGroupIds...)
		for _, ni := range d.NetworkInterfaces {
			if aws.ToBool(ni.AssociatePublicIpAddress) {
				lt.PublicIP = true
			}
			lt.SecurityGroups = append(lt.SecurityGroups, ni.Groups...)
		}
	}
	s.LaunchTemplate = lt
	return nil
}

// notFound reports whether err is an API error with one of the codes.
func notFound(err error, codes ...string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && slices.Contains(codes, ae.ErrorCode())
}

// LoadBalancerFrom is a load balancer as discovery reads it from ELB's
// answer, without its listener: for a step that hands the answer of its own
// create or wait to Observer.Took.
func LoadBalancerFrom(lb elbtypes.LoadBalancer) *LoadBalancer {
	o := &LoadBalancer{
		ARN: aws.ToString(lb.LoadBalancerArn), Name: aws.ToString(lb.LoadBalancerName), DNSName: aws.ToString(lb.DNSName),
		CanonicalZoneID: aws.ToString(lb.CanonicalHostedZoneId), Scheme: string(lb.Scheme), SecurityGroups: lb.SecurityGroups,
	}
	if lb.State != nil {
		o.State = string(lb.State.Code)
	}
	for _, az := range lb.AvailabilityZones {
		o.AZs = append(o.AZs, aws.ToString(az.ZoneName))
		o.Subnets = append(o.Subnets, aws.ToString(az.SubnetId))
	}
	sort.Strings(o.AZs)
	return o
}

func discoverLoadBalancer(ctx context.Context, c *awsclient.Clients, s *State, n names.Names) error {
	lbs, err := c.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{n.ALB()}})
	if err != nil && !notFound(err, "LoadBalancerNotFound") {
		return fmt.Errorf("describing load balancers: %w", err)
	}
	if err == nil && len(lbs.LoadBalancers) > 0 {
		lb := lbs.LoadBalancers[0]
		o := LoadBalancerFrom(lb)
		ls, err := c.ELB.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn})
		if err != nil {
			return fmt.Errorf("describing listeners: %w", err)
		}
		for _, l := range ls.Listeners {
			if aws.ToInt32(l.Port) == 80 {
				o.ListenerARN = aws.ToString(l.ListenerArn)
				for _, a := range l.DefaultActions {
					if a.TargetGroupArn != nil {
						o.ListenerTarget = aws.ToString(a.TargetGroupArn)
					}
				}
			}
		}
		s.LoadBalancer = o
	}
	return nil
}

func discoverTargetGroup(ctx context.Context, c *awsclient.Clients, s *State, n names.Names) error {
	tgs, err := c.ELB.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{n.TargetGroup()}})
	if err != nil && !notFound(err, "TargetGroupNotFound") {
		return fmt.Errorf("describing target groups: %w", err)
	}
	if err == nil && len(tgs.TargetGroups) > 0 {
		tg := tgs.TargetGroups[0]
		o := &TargetGroup{
			ARN:        aws.ToString(tg.TargetGroupArn),
			Name:       aws.ToString(tg.TargetGroupName),
			Protocol:   string(tg.Protocol),
			Port:       aws.ToInt32(tg.Port),
			HealthPath: aws.ToString(tg.HealthCheckPath),
			Targets:    []Target{},

			HealthInterval:     aws.ToInt32(tg.HealthCheckIntervalSeconds),
			HealthTimeout:      aws.ToInt32(tg.HealthCheckTimeoutSeconds),
			HealthyThreshold:   aws.ToInt32(tg.HealthyThresholdCount),
			UnhealthyThreshold: aws.ToInt32(tg.UnhealthyThresholdCount),
		}
		if err := readTargets(ctx, c, o); err != nil {
			return err
		}
		s.TargetGroup = o
	}
	return nil
}

// discoverTargets reads the target health of the target group known.
func discoverTargets(ctx context.Context, c *awsclient.Clients, s *State) error {
	tg := *s.TargetGroup
	if err := readTargets(ctx, c, &tg); err != nil {
		return err
	}
	s.TargetGroup = &tg
	return nil
}

func readTargets(ctx context.Context, c *awsclient.Clients, tg *TargetGroup) error {
	th, err := c.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg.ARN)})
	if err != nil {
		return fmt.Errorf("describing target health: %w", err)
	}
	tg.Targets = []Target{}
	for _, d := range th.TargetHealthDescriptions {
		t := Target{ID: aws.ToString(d.Target.Id)}
		if d.TargetHealth != nil {
			t.Health = string(d.TargetHealth.State)
		}
		tg.Targets = append(tg.Targets, t)
	}
	sort.Slice(tg.Targets, func(i, j int) bool { return tg.Targets[i].ID < tg.Targets[j].ID })
	return nil
}

// discoverASG reads the group and, with policies, its scaling policies;
// without, the group keeps those read before (a group wtt just created
// has none: policies go with their group).
func discoverASG(ctx context.Context, c *awsclient.Clients, s *State, n names.Names, policies bool) error {
	before := s.Group
	s.Group = nil
	out, err := c.AutoScaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{n.ASG()},
	})
	if err != nil {
		return fmt.Errorf("describing Auto Scaling groups: %w", err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return nil
	}
	g := out.AutoScalingGroups[0]
	o := &Group{
		Name:              aws.ToString(g.AutoScalingGroupName),
		Min:               aws.ToInt32(g.MinSize),
		Max:               aws.ToInt32(g.MaxSize),
		Desired:           aws.ToInt32(g.DesiredCapacity),
		AZs:               g.AvailabilityZones,
		TargetGroupARNs:   g.TargetGroupARNs,
		HealthCheckType:   aws.ToString(g.HealthCheckType),
		GracePeriod:       aws.ToInt32(g.HealthCheckGracePeriod),
		CapacityRebalance: aws.ToBool(g.CapacityRebalance),
	}
	if z := aws.ToString(g.VPCZoneIdentifier); z != "" {
		o.Subnets = strings.Split(z, ",")
	}
	if g.LaunchTemplate != nil {
		o.TemplateVersion = aws.ToString(g.LaunchTemplate.Version)
	}
	for _, in := range g.Instances {
		o.Instances = append(o.Instances, aws.ToString(in.InstanceId))
		if o.InstanceType == "" {
			o.InstanceType = aws.ToString(in.InstanceType)
		}
	}
	sort.Strings(o.AZs)
	s.Group = o
	if !policies {
		if before != nil {
			o.TargetTracking = before.TargetTracking
		}
		return nil
	}
	return discoverPolicies(ctx, c, s)
}

// discoverPolicies reads the target-tracking policies of the group known.
func discoverPolicies(ctx context.Context, c *awsclient.Clients, s *State) error {
	g := *s.Group
	g.TargetTracking = nil
	pols, err := c.AutoScaling.DescribePolicies(ctx, &autoscaling.DescribePoliciesInput{AutoScalingGroupName: aws.String(g.Name)})
	if err != nil {
		return fmt.Errorf("describing scaling policies: %w", err)
	}
	for _, p := range pols.ScalingPolicies {
		if aws.ToString(p.PolicyType) == "TargetTrackingScaling" {
			g.TargetTracking = append(g.TargetTracking, aws.ToString(p.PolicyName))
		}
	}
	s.Group = &g
	return nil
}

// callerAccount is the account the credentials belong to. It cannot change
// during a command, so the observer asks once; preflight has usually asked
// already.
func callerAccount(ctx context.Context, c *awsclient.Clients) (string, error) {
	id := c.Identity
	if id == nil {
		var err error
		if id, err = c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			return "", fmt.Errorf("checking AWS credentials (sts:GetCallerIdentity): %w", err)
		}
	}
	return aws.ToString(id.Account), nil
}

func discoverDelivery(ctx context.Context, c *awsclient.Clients, s *State, n names.Names) error {
	s.Bucket, s.Role, s.InstanceProfile, s.RoleInProfile = "", "", "", false
	bucket := n.Bucket(s.Account, s.Region)
	if _, err := c.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err == nil {
		s.Bucket = bucket
	} else if !notFound(err, "NotFound", "NoSuchBucket", "404") {
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != 404 {
			return fmt.Errorf("checking bucket %s: %w", bucket, err)
		}
	}
	ip, err := c.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(n.InstanceProfile())})
	if err == nil {
		s.InstanceProfile = n.InstanceProfile()
		// A role in the profile exists: no need to ask for it again.
		for _, r := range ip.InstanceProfile.Roles {
			if strings.EqualFold(aws.ToString(r.RoleName), n.Role()) {
				s.Role, s.RoleInProfile = n.Role(), true
				return nil
			}
		}
	} else if !notFound(err, "NoSuchEntity") {
		return fmt.Errorf("checking instance profile %s: %w", n.InstanceProfile(), err)
	}
	if _, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(n.Role())}); err == nil {
		s.Role = n.Role()
	} else if !notFound(err, "NoSuchEntity") {
		return fmt.Errorf("checking role %s: %w", n.Role(), err)
	}
	return nil
}

// zone is what the DNS kind reads about a hosted zone apart from the
// record: its name and whether wtt created it. Records change within a
// command; zones almost never do, so the observer keeps them by ID.
type zone struct {
	name  string
	owned bool
}

func discoverDNS(ctx context.Context, c *awsclient.Clients, s *State, zones map[string]zone) error {
	name, zoneID := s.Network.Tags[TagDNSName], s.Network.Tags[TagDNSZone]
	if name == "" || zoneID == "" {
		return nil
	}
	z, ok := zones[zoneID]
	if !ok {
		var found bool
		var err error
		if z, found, err = readZone(ctx, c, s.App, zoneID); err != nil || !found {
			return err
		}
		zones[zoneID] = z
	}
	zone := zoneID
	d := &DNS{ZoneID: zone, ZoneName: z.name, ZoneOwned: z.owned, Name: name}
	rr, err := FindRecord(ctx, c.Route53, zone, name)
	if err != nil {
		return err
	}
	if rr != nil {
		d.Type = string(rr.Type)
		d.TTL = aws.ToInt64(rr.TTL)
		for _, v := range rr.ResourceRecords {
			d.Values = append(d.Values, aws.ToString(v.Value))
		}
		sort.Strings(d.Values)
		if rr.AliasTarget != nil {
			d.AliasTarget = strings.TrimSuffix(aws.ToString(rr.AliasTarget.DNSName), ".")
		}
	}
	s.DNS = d
	return nil
}

// ZoneComment is the comment wtt creates an app's hosted zone with: it
// marks the zone as the app's (observed ownership, and `down` deletes it).
func ZoneComment(app string) string { return "created by wtt app " + app }

func readZone(ctx context.Context, c *awsclient.Clients, app, zoneID string) (zone, bool, error) {
	out, err := c.Route53.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(zoneID)})
	if err != nil {
		if notFound(err, "NoSuchHostedZone") {
			return zone{}, false, nil
		}
		return zone{}, false, fmt.Errorf("reading hosted zone %s: %w", zoneID, err)
	}
	// wtt creates its zones with this comment (and tags them): the
	// comment comes with the zone's name, so ownership costs no call.
	z := zone{name: strings.TrimSuffix(aws.ToString(out.HostedZone.Name), ".")}
	if cfg := out.HostedZone.Config; cfg != nil && aws.ToString(cfg.Comment) == ZoneComment(app) {
		z.owned = true
	}
	return z, true, nil
}

// FindRecord returns the A or CNAME record set for name, or nil. The emulator
// keeps duplicate record sets when a CREATE repeats, so the first match wins
// and writers always UPSERT.
func FindRecord(ctx context.Context, r53 *route53.Client, zone, name string) (*r53types.ResourceRecordSet, error) {
	fqdn := strings.TrimSuffix(name, ".") + "."
	out, err := r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(zone), StartRecordName: aws.String(fqdn), MaxItems: aws.Int32(10),
	})
	if err != nil {
		return nil, fmt.Errorf("listing records of %s: %w", zone, err)
	}
	for _, rr := range out.ResourceRecordSets {
		if !strings.EqualFold(aws.ToString(rr.Name), fqdn) {
			continue
		}
		if rr.Type == r53types.RRTypeA || rr.Type == r53types.RRTypeCname {
			rr := rr
			return &rr, nil
		}
	}
	return nil, nil
}

func discoverReserved(ctx context.Context, c *awsclient.Clients, s *State) error {
	// Regional reservations apply to any matching instance in the account,
	// so coverage counts every one of the type, not only those wtt bought.
	// The group's type is its template's (groupType), else its members'.
	typ := ""
	if s.LaunchTemplate != nil {
		typ = s.LaunchTemplate.InstanceType
	}
	if typ == "" && s.Group != nil {
		typ = s.Group.InstanceType
	}
	if typ == "" {
		return nil
	}
	out, err := c.EC2.DescribeReservedInstances(ctx, &ec2.DescribeReservedInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("instance-type"), Values: []string{typ}},
		{Name: aws.String("state"), Values: []string{"active", "payment-pending"}},
	}})
	if err != nil {
		return fmt.Errorf("describing Reserved Instances: %w", err)
	}
	for _, r := range out.ReservedInstances {
		ri := Reserved{
			ID:            aws.ToString(r.ReservedInstancesId),
			InstanceType:  string(r.InstanceType),
			Count:         aws.ToInt32(r.InstanceCount),
			State:         string(r.State),
			Scope:         string(r.Scope),
			AZ:            aws.ToString(r.AvailabilityZone),
			OfferingClass: string(r.OfferingClass),
			OfferingType:  string(r.OfferingType),
			FixedPrice:    float64(aws.ToFloat32(r.FixedPrice)),
			Start:         aws.ToTime(r.Start),
			End:           aws.ToTime(r.End),
			BoughtByWtt:   tagMap(r.Tags)[names.TagApp] == s.App,
		}
		// AWS bills the hour in RecurringCharges; the emulator in UsagePrice.
		ri.HourlyPrice = float64(aws.ToFloat32(r.UsagePrice))
		for _, rc := range r.RecurringCharges {
			ri.HourlyPrice += aws.ToFloat64(rc.Amount)
		}
		s.Reserved = append(s.Reserved, ri)
	}
	return nil
}
