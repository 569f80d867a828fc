package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/rogpeppe/go-internal/testscript"
)

// Checks of the eip and dns rungs, plus the fixtures their scripts need:
// a hosted zone someone else made, and an Elastic IP a killed run left.
func init() {
	checks["eip-per-instance"] = checkEIPPerInstance
	checks["eip-allocate-idle"] = allocateIdleEIP
	checks["eip-fill"] = fillEIPs
	checks["eip-release-untagged"] = releaseUntaggedEIPs
	checks["dns-record"] = checkDNSRecord
	checks["dns-records"] = checkDNSRecordCount
	checks["zone-create"] = createZone
	checks["zone-delete"] = deleteZone
	checks["zones"] = checkZones
}

// appAddresses are the Elastic IPs tagged for the app.
func (c *checker) appAddresses(ctx context.Context) ([]ec2types.Address, error) {
	out, err := c.ec2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []ec2types.Filter{c.appFilter()}})
	if err != nil {
		return nil, err
	}
	return out.Addresses, nil
}

// aws eip-per-instance: every running app instance has exactly one Elastic
// IP (as DescribeAddresses says) and answers on it, and no app EIP is idle.
func checkEIPPerInstance(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	is, err := c.instances(ctx, "running")
	if err != nil {
		return err
	}
	if len(is) == 0 {
		return fmt.Errorf("no running instance")
	}
	addrs, err := c.appAddresses(ctx)
	if err != nil {
		return err
	}
	byInstance := map[string][]string{}
	for _, a := range addrs {
		id := aws.ToString(a.InstanceId)
		if id == "" {
			return fmt.Errorf("Elastic IP %s is allocated but associated with nothing", aws.ToString(a.PublicIp))
		}
		byInstance[id] = append(byInstance[id], aws.ToString(a.PublicIp))
	}
	for _, i := range is {
		id, ip := aws.ToString(i.InstanceId), aws.ToString(i.PublicIpAddress)
		eips := byInstance[id]
		if len(eips) != 1 {
			return fmt.Errorf("instance %s has Elastic IPs %v, want exactly one", id, eips)
		}
		if ip != eips[0] {
			return fmt.Errorf("instance %s answers on %q, not on its Elastic IP %s", id, ip, eips[0])
		}
	}
	return nil
}

// aws eip-allocate-idle: allocate an Elastic IP tagged for the app and
// associate it with nothing, as a run killed between AllocateAddress and
// AssociateAddress leaves it.
func allocateIdleEIP(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	_, err := c.ec2.AllocateAddress(ctx, &ec2.AllocateAddressInput{
		Domain: ec2types.DomainTypeVpc,
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeElasticIp, Tags: []ec2types.Tag{
			{Key: aws.String("wtt:app"), Value: aws.String(c.app)},
			{Key: aws.String("wtt:managed-by"), Value: aws.String("wtt")},
		}}},
	})
	return err
}

// ec2In is the EC2 client for another region: the quota script works in a
// region of its own, because the quota counts every Elastic IP in the
// region, and other scripts allocate theirs concurrently in the default one.
func (c *checker) ec2In(region string) *ec2.Client {
	return ec2.New(c.ec2.Options(), func(o *ec2.Options) { o.Region = region })
}

// aws eip-fill REGION N: allocate untagged Elastic IPs in REGION (someone
// else's) until it has N.
func fillEIPs(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 2 {
		ts.Fatalf("usage: aws eip-fill REGION N")
	}
	cl := c.ec2In(args[0])
	out, err := cl.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
	if err != nil {
		return err
	}
	for n := len(out.Addresses); n < atoi(ts, args[1]); n++ {
		if _, err := cl.AllocateAddress(ctx, &ec2.AllocateAddressInput{Domain: ec2types.DomainTypeVpc}); err != nil {
			return err
		}
	}
	return nil
}

// aws eip-release-untagged REGION: release what eip-fill allocated.
func releaseUntaggedEIPs(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws eip-release-untagged REGION")
	}
	cl := c.ec2In(args[0])
	out, err := cl.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
	if err != nil {
		return err
	}
	for _, a := range out.Addresses {
		if len(a.Tags) > 0 || aws.ToString(a.AssociationId) != "" {
			continue
		}
		if _, err := cl.ReleaseAddress(ctx, &ec2.ReleaseAddressInput{AllocationId: a.AllocationId}); err != nil {
			return err
		}
	}
	return nil
}

// zoneHolding is the public zone whose name is the longest suffix of name.
func (c *checker) zoneHolding(ctx context.Context, name string) (*r53types.HostedZone, error) {
	fqdn := strings.TrimSuffix(strings.ToLower(name), ".") + "."
	var best *r53types.HostedZone
	p := route53.NewListHostedZonesPaginator(c.r53, &route53.ListHostedZonesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, z := range page.HostedZones {
			if z.Config != nil && z.Config.PrivateZone {
				continue
			}
			zn := strings.ToLower(aws.ToString(z.Name))
			if (fqdn == zn || strings.HasSuffix(fqdn, "."+zn)) && (best == nil || len(zn) > len(aws.ToString(best.Name))) {
				z := z
				best = &z
			}
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no public hosted zone holds %s", name)
	}
	return best, nil
}

// recordSets are NAME's A and CNAME record sets in the zone that holds it.
func (c *checker) recordSets(ctx context.Context, name string) ([]r53types.ResourceRecordSet, error) {
	zone, err := c.zoneHolding(ctx, name)
	if err != nil {
		return nil, err
	}
	fqdn := strings.TrimSuffix(strings.ToLower(name), ".") + "."
	var found []r53types.ResourceRecordSet
	p := route53.NewListResourceRecordSetsPaginator(c.r53, &route53.ListResourceRecordSetsInput{HostedZoneId: zone.Id})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, rr := range page.ResourceRecordSets {
			if strings.EqualFold(aws.ToString(rr.Name), fqdn) && (rr.Type == r53types.RRTypeA || rr.Type == r53types.RRTypeCname) {
				found = append(found, rr)
			}
		}
	}
	return found, nil
}

// aws dns-record NAME [TTL]: NAME is one A record listing exactly the
// running app instances' public IPs (with TTL), and no Elastic IP is left
// for the app.
func checkDNSRecord(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: aws dns-record NAME [TTL]")
	}
	sets, err := c.recordSets(ctx, args[0])
	if err != nil {
		return err
	}
	if len(sets) != 1 || sets[0].Type != r53types.RRTypeA || sets[0].AliasTarget != nil {
		return fmt.Errorf("record sets for %s: %+v, want one plain A record", args[0], sets)
	}
	var got []string
	for _, v := range sets[0].ResourceRecords {
		got = append(got, aws.ToString(v.Value))
	}
	is, err := c.instances(ctx, "running")
	if err != nil {
		return err
	}
	var want []string
	for _, i := range is {
		want = append(want, aws.ToString(i.PublicIpAddress))
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) == 0 || !slices.Equal(got, want) {
		return fmt.Errorf("%s lists %v, the running instances answer on %v", args[0], got, want)
	}
	if len(args) == 2 && fmt.Sprint(aws.ToInt64(sets[0].TTL)) != args[1] {
		return fmt.Errorf("%s has TTL %d, want %s", args[0], aws.ToInt64(sets[0].TTL), args[1])
	}
	addrs, err := c.appAddresses(ctx)
	if err != nil {
		return err
	}
	if len(addrs) > 0 {
		return fmt.Errorf("%d Elastic IP(s) still allocated for the app", len(addrs))
	}
	return nil
}

// aws dns-records NAME N: the zone holding NAME has N A/CNAME record sets
// for it (0 after down, 1 while published: never a duplicate).
func checkDNSRecordCount(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 2 {
		ts.Fatalf("usage: aws dns-records NAME N")
	}
	sets, err := c.recordSets(ctx, args[0])
	if err != nil {
		return err
	}
	if want := atoi(ts, args[1]); len(sets) != want {
		return fmt.Errorf("%d record set(s) for %s, want %d: %+v", len(sets), args[0], want, sets)
	}
	return nil
}

// zonesNamed are the public zones called domain.
func (c *checker) zonesNamed(ctx context.Context, domain string) ([]r53types.HostedZone, error) {
	fqdn := strings.TrimSuffix(strings.ToLower(domain), ".") + "."
	var out []r53types.HostedZone
	p := route53.NewListHostedZonesPaginator(c.r53, &route53.ListHostedZonesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, z := range page.HostedZones {
			if strings.EqualFold(aws.ToString(z.Name), fqdn) && (z.Config == nil || !z.Config.PrivateZone) {
				out = append(out, z)
			}
		}
	}
	return out, nil
}

// aws zone-create DOMAIN: a public zone someone else made (not tagged or
// commented for the app).
func createZone(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 1 {
		ts.Fatalf("usage: aws zone-create DOMAIN")
	}
	_, err := c.r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name:             aws.String(args[0]),
		CallerReference:  aws.String(fmt.Sprintf("e2e-%s-%d", c.app, time.Now().UnixNano())),
		HostedZoneConfig: &r53types.HostedZoneConfig{Comment: aws.String("the domain owner's zone")},
	})
	return err
}

// aws zone-delete DOMAIN: delete the zones called DOMAIN with their
// records (cleanup of zone-create).
func deleteZone(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	zones, err := c.zonesNamed(ctx, args[0])
	if err != nil {
		return err
	}
	for _, z := range zones {
		out, err := c.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: z.Id})
		if err != nil {
			return err
		}
		var changes []r53types.Change
		for _, rr := range out.ResourceRecordSets {
			if rr.Type != r53types.RRTypeSoa && rr.Type != r53types.RRTypeNs {
				rr := rr
				changes = append(changes, r53types.Change{Action: r53types.ChangeActionDelete, ResourceRecordSet: &rr})
			}
		}
		if len(changes) > 0 {
			if _, err := c.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
				HostedZoneId: z.Id, ChangeBatch: &r53types.ChangeBatch{Changes: changes},
			}); err != nil {
				return err
			}
		}
		if _, err := c.r53.DeleteHostedZone(ctx, &route53.DeleteHostedZoneInput{Id: z.Id}); err != nil {
			return err
		}
	}
	return nil
}

// aws zones DOMAIN N: N public zones are called DOMAIN.
func checkZones(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 2 {
		ts.Fatalf("usage: aws zones DOMAIN N")
	}
	zones, err := c.zonesNamed(ctx, args[0])
	if err != nil {
		return err
	}
	if want := atoi(ts, args[1]); len(zones) != want {
		return fmt.Errorf("%d zone(s) called %s, want %d", len(zones), args[0], want)
	}
	return nil
}
