package ladder

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// The account's Elastic IP quota per region, as Service Quotas names it
// ("EC2-VPC Elastic IPs").
const (
	eipQuotaService = "ec2"
	eipQuotaCode    = "L-0263D0A3"
)

var eipCalls = []string{
	"servicequotas:GetServiceQuota", "ec2:DescribeAddresses", "ec2:DescribeInstances",
	"ec2:AllocateAddress", "ec2:CreateTags", "ec2:AssociateAddress",
}

// dnsInstead is the way out whenever Elastic IPs run short.
const dnsInstead = "use `wtt migrate --to=dns --dns-name api.example.com`: a DNS name lists the instances without Elastic IPs " +
	"(or ask for more in Service Quotas, ec2 " + eipQuotaCode + ")"

// planEIP gives every live instance an Elastic IP. The quota is checked
// when the step runs (planning makes no AWS call) and, through
// CheckEIPQuota, by the CLI before anything runs.
func planEIP(s *observe.State, o Options) ([]*plan.Step, []string, error) {
	live := s.LiveInstances()
	if len(live) > stage.MaxEIPs {
		return nil, nil, cmdutil.Usagef(dnsInstead,
			"%d instances would need %d Elastic IPs; an account has %d per region by default", len(live), len(live), stage.MaxEIPs)
	}
	lacking := lackingEIP(s)
	if len(lacking) == 0 {
		return nil, nil, nil
	}
	var ids, oldIPs []string
	for _, i := range lacking {
		ids = append(ids, i.ID)
		if i.PublicIP != "" && i.PublicIP != unknown {
			oldIPs = append(oldIPs, i.PublicIP)
		}
	}
	detail := "allocates one tagged Elastic IP per instance and associates it; checks the region's Elastic IP quota first"
	if reuse := min(len(idleEIPs(s)), len(lacking)); reuse > 0 {
		detail += fmt.Sprintf("; reuses %d unassociated Elastic IP(s) of the app", reuse)
	}
	// AWS releases an instance's auto-assigned address when an Elastic IP
	// is associated with it.
	note := "no outage, but each instance stops answering on its auto-assigned public IP once its Elastic IP is associated: clients must switch to the Elastic IP"
	if len(oldIPs) > 0 {
		note = fmt.Sprintf("no outage, but the instances stop answering on their current public IPs (%s) once the Elastic IPs are associated: clients must switch to the Elastic IPs",
			strings.Join(oldIPs, ", "))
	}
	step := &plan.Step{
		Rung: string(stage.EIP), Action: plan.Create,
		Resource:     fmt.Sprintf("%d Elastic IP(s), one for each of %s", len(lacking), strings.Join(ids, ", ")),
		Detail:       detail,
		Calls:        eipCalls,
		DowntimeNote: note,
		// the auto-assigned addresses go for good
		StaleFor: plan.StaleUntilTold,
		Do:       func(ctx context.Context, x *plan.Exec) error { return env(x).ensureEIPs(ctx, x) },
		Check:    func(ctx context.Context, x *plan.Exec) error { return env(x).checkAllocate(ctx) },
	}
	warn := fmt.Sprintf("eip: an Elastic IP in use is billed as a public IPv4 ($%.3f/hour), like the auto-assigned address it replaces, so the monthly cost barely changes; "+
		"one left unassociated keeps costing the same", pricing.PublicIPv4Hourly)
	return []*plan.Step{step}, []string{warn}, nil
}

// lackingEIP are the live instances without an Elastic IP.
func lackingEIP(s *observe.State) []observe.Instance {
	var out []observe.Instance
	for _, i := range s.LiveInstances() {
		if i.EIP == "" {
			out = append(out, i)
		}
	}
	return out
}

// idleEIPs are the app's Elastic IPs associated with nothing: left by a run
// killed between allocating and associating, they are reused, never
// doubled.
func idleEIPs(s *observe.State) []observe.EIP {
	var out []observe.EIP
	for _, a := range s.EIPs {
		if a.InstanceID == "" && a.AssociationID == "" {
			out = append(out, a)
		}
	}
	return out
}

// EIPsNeeded is how many Elastic IPs the eip rung would allocate from s:
// one per live instance lacking one, less the app's unassociated ones it
// reuses. An app not yet up needs one, for the instance `up` launches.
func EIPsNeeded(s *observe.State) int {
	if len(s.LiveInstances()) == 0 {
		return max(0, 1-len(idleEIPs(s)))
	}
	return max(0, len(lackingEIP(s))-len(idleEIPs(s)))
}

// CheckEIPQuota is the package's CheckEIPQuota, remembered for the rest of
// the command: once the CLI has found room for need more addresses before
// anything ran, the step that allocates them does not count again.
func (e *Env) CheckEIPQuota(ctx context.Context, need int) error {
	if need <= 0 || need <= e.eipRoom {
		return nil
	}
	if err := CheckEIPQuota(ctx, e.C, need); err != nil {
		return err
	}
	e.eipRoom = need
	return nil
}

// CheckEIPQuota refuses, as bad input, a plan that would allocate need more
// Elastic IPs than the region allows. The quota is the account's own from
// Service Quotas where it answers (an account may have been granted more),
// else AWS's default of 5; every Elastic IP in the region counts, not only
// the app's.
func CheckEIPQuota(ctx context.Context, c *awsclient.Clients, need int) error {
	if need <= 0 {
		return nil
	}
	quota := eipQuota(ctx, c)
	out, err := c.EC2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
	if err != nil {
		return fmt.Errorf("counting the region's Elastic IPs: %w", err)
	}
	have := len(out.Addresses)
	if have+need > quota {
		return cmdutil.Usagef(dnsInstead,
			"the plan needs %d more Elastic IP(s), but %d of the %d allowed in %s are allocated", need, have, quota, c.Config.Region)
	}
	return nil
}

// eipQuota falls back to the default when Service Quotas does not answer
// (no permission, or an endpoint without it): the default is what most
// accounts have.
func eipQuota(ctx context.Context, c *awsclient.Clients) int {
	if c.Quotas == nil {
		return stage.MaxEIPs
	}
	out, err := c.Quotas.GetServiceQuota(ctx, &servicequotas.GetServiceQuotaInput{
		ServiceCode: aws.String(eipQuotaService), QuotaCode: aws.String(eipQuotaCode),
	})
	if err != nil || out.Quota == nil || out.Quota.Value == nil || *out.Quota.Value < 1 {
		return stage.MaxEIPs
	}
	return int(*out.Quota.Value)
}

// ensureEIPs associates an Elastic IP with every live instance lacking one,
// from fresh state: instances and addresses are looked up now, not taken
// from the plan, which may have been made before they existed.
func (e *Env) ensureEIPs(ctx context.Context, x *plan.Exec) error {
	if n := len(e.State.LiveInstances()); n > stage.MaxEIPs {
		return cmdutil.Usagef(dnsInstead, "%d instances would need %d Elastic IPs; an account has %d per region by default", n, n, stage.MaxEIPs)
	}
	lacking, idle := lackingEIP(e.State), idleEIPs(e.State)
	if len(lacking) == 0 {
		return nil
	}
	if err := e.CheckEIPQuota(ctx, len(lacking)-len(idle)); err != nil {
		return err
	}
	running, err := e.waitRunning(ctx, pendingIDs(lacking))
	if err != nil {
		return err
	}
	var given []observe.EIP
	for n, inst := range lacking {
		var addr observe.EIP
		if n < len(idle) {
			addr = idle[n]
			x.Logf("reusing unassociated Elastic IP %s", addr.PublicIP)
		} else {
			a, err := e.allocateEIP(ctx, inst.ID)
			if err != nil {
				return err
			}
			addr = a
		}
		assoc, err := e.associateEIP(ctx, addr, inst.ID)
		if err != nil {
			return err
		}
		x.Logf("%s -> %s", addr.PublicIP, inst.ID)
		addr.InstanceID, addr.AssociationID = inst.ID, assoc
		given = append(given, addr)
	}
	// The instances that were pending run now, as the wait saw them; the
	// addresses then moved onto them, which tookEIPs says.
	e.tookInstances(running, 0)
	e.tookEIPs(given)
	return nil
}

// tookEIPs hands the observer the Elastic IPs a step allocated (or reused)
// and associated, every one with its instance: the app's addresses are the
// observed ones with these in place, and each of these instances answers
// on its address. Every call of the step that changed addresses or
// instances made exactly that. An association whose ID the step did not
// learn leaves both kinds to be read again.
func (e *Env) tookEIPs(given []observe.EIP) {
	byInstance := map[string]observe.EIP{}
	for _, a := range given {
		if a.AssociationID == "" || a.AllocationID == "" {
			return
		}
		byInstance[a.InstanceID] = a
	}
	e.took(observe.KindAddresses|observe.KindInstances, func(s *observe.State) {
		eips := []observe.EIP{}
		for _, a := range s.EIPs {
			if !slices.ContainsFunc(given, func(g observe.EIP) bool { return g.AllocationID == a.AllocationID }) {
				eips = append(eips, a)
			}
		}
		s.EIPs = append(eips, given...)
		is := slices.Clone(s.Instances)
		for k := range is {
			if a, ok := byInstance[is[k].ID]; ok {
				is[k].EIP, is[k].PublicIP = a.PublicIP, a.PublicIP
			}
		}
		s.Instances = is
	})
}

func pendingIDs(is []observe.Instance) []string {
	var out []string
	for _, i := range is {
		if i.State == "pending" {
			out = append(out, i.ID)
		}
	}
	return out
}

// allocateEIP allocates with the tags in the same call, so no Elastic IP
// ever exists that discovery (and so a re-run, or `down`) cannot find.
//
// An allocation costs money and has no idempotency token: after a lost
// answer the address carrying this instance's name, still unassociated, is
// the one the lost call allocated.
func (e *Env) allocateEIP(ctx context.Context, instanceID string) (observe.EIP, error) {
	name := fmt.Sprintf("wtt-%s-%s", e.App, instanceID)
	a, err := createOrAdopt(ctx, "allocating an Elastic IP for "+instanceID, func(ctx context.Context) (observe.EIP, error) {
		out, err := e.C.EC2.AllocateAddress(ctx, &ec2.AllocateAddressInput{
			Domain:            ec2types.DomainTypeVpc,
			TagSpecifications: e.tagSpec(ec2types.ResourceTypeElasticIp, "eip", name),
		})
		if err != nil {
			return observe.EIP{}, err
		}
		return observe.EIP{AllocationID: aws.ToString(out.AllocationId), PublicIP: aws.ToString(out.PublicIp)}, nil
	}, func(ctx context.Context) (observe.EIP, bool, error) {
		out, err := e.C.EC2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: append(e.tagFilters("eip"),
			ec2types.Filter{Name: aws.String("tag:Name"), Values: []string{name}})})
		if err != nil {
			return observe.EIP{}, false, err
		}
		for _, ad := range out.Addresses {
			if ad.AssociationId == nil {
				return observe.EIP{AllocationID: aws.ToString(ad.AllocationId), PublicIP: aws.ToString(ad.PublicIp)}, true, nil
			}
		}
		return observe.EIP{}, false, nil
	})
	if err != nil {
		if hasCode(err, "AddressLimitExceeded") {
			return observe.EIP{}, cmdutil.Usagef(dnsInstead, "the region's Elastic IP quota is used up: %v", err)
		}
		return observe.EIP{}, fmt.Errorf("allocating an Elastic IP for %s: %w", instanceID, err)
	}
	return a, nil
}

// associateEIP never moves an address already associated elsewhere
// (AllowReassociation=false): if another run got there first, AWS says so
// instead of silently taking it from that instance. It returns the
// association's ID.
func (e *Env) associateEIP(ctx context.Context, a observe.EIP, instanceID string) (string, error) {
	out, err := e.C.EC2.AssociateAddress(ctx, &ec2.AssociateAddressInput{
		AllocationId: aws.String(a.AllocationID), InstanceId: aws.String(instanceID), AllowReassociation: aws.Bool(false),
	})
	if err != nil && hasCode(err, "Resource.AlreadyAssociated") {
		// A repeat of an association whose answer was lost: fine if the
		// address is on this very instance.
		out, derr := e.C.EC2.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{a.AllocationID}})
		if derr == nil && len(out.Addresses) == 1 && aws.ToString(out.Addresses[0].InstanceId) == instanceID {
			return aws.ToString(out.Addresses[0].AssociationId), nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("associating Elastic IP %s with %s: %w", a.PublicIP, instanceID, err)
	}
	return aws.ToString(out.AssociationId), nil
}

// checkAllocate asks EC2 whether an Elastic IP could be allocated
// (--dry-run=server): permissions and the quota, without allocating.
func (e *Env) checkAllocate(ctx context.Context) error {
	_, err := e.C.EC2.AllocateAddress(ctx, &ec2.AllocateAddressInput{
		Domain:            ec2types.DomainTypeVpc,
		TagSpecifications: e.tagSpec(ec2types.ResourceTypeElasticIp, "eip", ""),
		DryRun:            aws.Bool(true),
	})
	if err == nil || isDryRunOK(err) {
		return nil
	}
	return fmt.Errorf("allocating an Elastic IP: %w", err)
}

// projectEIP is the state after the rung: unassociated Elastic IPs of the
// app reused first, then a new one for each remaining instance.
func projectEIP(s *observe.State, o Options) *observe.State {
	p := clone(s)
	idle := map[int]bool{}
	for n, a := range p.EIPs {
		if a.InstanceID == "" && a.AssociationID == "" {
			idle[n] = true
		}
	}
	for i := range p.Instances {
		in := &p.Instances[i]
		if !in.Live() || in.EIP != "" {
			continue
		}
		ip := unknown
		reused := false
		for n := range p.EIPs {
			if idle[n] {
				delete(idle, n)
				p.EIPs[n].InstanceID, p.EIPs[n].AssociationID = in.ID, unknown
				ip, reused = p.EIPs[n].PublicIP, true
				break
			}
		}
		if !reused {
			p.EIPs = append(p.EIPs, observe.EIP{AllocationID: unknown, PublicIP: unknown, InstanceID: in.ID, AssociationID: unknown})
		}
		in.EIP, in.PublicIP = ip, ip
	}
	return p
}
