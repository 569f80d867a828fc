package ladder

import (
	"context"
	"fmt"
	"slices"
	"time"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// Scaling a public fleet (single, eip, dns): clients reach each instance
// by its own address, so there is nothing in front to hide a change behind.
// Vertical scaling stops each instance, changes its type and starts it
// again, one at a time; horizontal scaling launches or terminates
// instances, and keeps the Elastic IPs or the DNS record in step.

// stopStartDowntime is how long an instance is unreachable while it is
// stopped, resized and started on AWS: about a minute to stop, about a
// minute to boot and start the time server.
const stopStartDowntime = 2 * time.Minute

// timeServerBoot is how long after EC2 says an instance runs its time
// server answers: the boot script fetches the binary and starts it. A
// record that lists a new instance sends clients there that long before
// it answers (plan.Step.UnreadyFor).
const timeServerBoot = time.Minute

var (
	resizeCalls = []string{"ec2:DescribeInstances", "ec2:StopInstances", "ec2:ModifyInstanceAttribute", "ec2:StartInstances"}
	// keepEIPCalls verify (and if need be restore) an Elastic IP's
	// association after a restart.
	keepEIPCalls = []string{"ec2:DescribeAddresses", "ec2:AssociateAddress"}
	recordCalls  = []string{"ec2:DescribeInstances", "route53:ChangeResourceRecordSets", "route53:GetChange"}
	removeCalls  = []string{"ec2:DisassociateAddress", "ec2:ReleaseAddress", "ec2:TerminateInstances", "ec2:DescribeInstances"}
)

func planPublicVertical(s *observe.State, typ string) ([]*plan.Step, []string) {
	fleet := standaloneFleet(s)
	var steps []*plan.Step
	for _, i := range fleet {
		if i.Type == typ && i.Live() {
			continue // already resized (an earlier run got this far)
		}
		steps = append(steps, resizeStep(s, i, typ, len(fleet)))
	}
	if len(steps) == 0 && instanceRecord(s.DNS) && recordStale(s) {
		// Interrupted after the last restart, before the record caught up.
		steps = append(steps, publishStep(s, len(liveByAge(s)), nil))
	}
	var warns []string
	if len(steps) > 0 && len(fleet) > 1 {
		warns = append(warns, fmt.Sprintf("the %d instances are resized one at a time; each is down about %s while the others answer",
			len(fleet), stopStartDowntime))
	}
	return steps, warns
}

// resizeStep stops, resizes and starts one instance.
func resizeStep(s *observe.State, i observe.Instance, typ string, fleetSize int) *plan.Step {
	id := i.ID
	st := &plan.Step{
		Action:   plan.Update,
		Resource: fmt.Sprintf("instance %s: %s -> %s (stop, change type, start)", id, i.Type, typ),
		Detail:   "stops it, waits until it is stopped, changes its type, starts it and waits until it runs",
		Calls:    slices.Clone(resizeCalls),
		Downtime: stopStartDowntime,
		Do: func(ctx context.Context, x *plan.Exec) error {
			return env(x).resizeInstance(withProgress(ctx, x), id, typ)
		},
		Check: func(ctx context.Context, x *plan.Exec) error { return env(x).checkStop(ctx, id) },
	}
	if i.Type == typ {
		st.Resource = fmt.Sprintf("instance %s: start (already %s)", id, typ)
		st.Detail = "an earlier run stopped and resized it; starts it and waits until it runs"
		st.Check = func(ctx context.Context, x *plan.Exec) error { return env(x).checkStart(ctx, id) }
	}
	note := fmt.Sprintf("instance %s unreachable while stopped", id)
	if fleetSize == 1 {
		note += "; with one instance the whole app is down"
	} else {
		note += fmt.Sprintf("; the other %d instance(s) keep answering, but clients using its address fail meanwhile", fleetSize-1)
	}
	eip := eipFor(s, id)
	if eip != nil {
		st.Detail += fmt.Sprintf("; Elastic IP %s stays associated (checked after the start)", eip.PublicIP)
		st.Calls = joinCalls(st.Calls, keepEIPCalls)
	}
	if instanceRecord(s.DNS) {
		st.Calls = joinCalls(st.Calls, recordCalls)
		if eip == nil {
			st.Detail += fmt.Sprintf("; AWS gives it a new public IPv4 when it starts, so record %s is then updated (UPSERT) to the instances' addresses", s.DNS.Name)
			note += fmt.Sprintf("; resolvers that cached its old address keep it for up to the record's TTL (%d s)", s.DNS.TTL)
			st.StaleFor = time.Duration(s.DNS.TTL) * time.Second
		}
	}
	if eip == nil && !instanceRecord(s.DNS) && i.PublicIP != "" {
		st.StaleFor = plan.StaleUntilTold
		st.Warnings = append(st.Warnings, fmt.Sprintf(
			"instance %s has no Elastic IP: its public address %s changes when it starts again, and clients that know the old one lose the app; run `wtt migrate --to=eip` first to keep the address",
			id, i.PublicIP))
	}
	st.DowntimeNote = note
	return st
}

// resizeInstance takes one instance to typ. Each part looks at the
// instance first, so a run interrupted anywhere (stopping, stopped,
// resized but not started) continues from there.
func (e *Env) resizeInstance(ctx context.Context, id, typ string) error {
	in := findInstance(e.State, id)
	if in == nil || in.State == "shutting-down" || in.State == "terminated" {
		progressf(ctx, "instance %s is gone; nothing to resize", id)
		return nil
	}
	eip := eipFor(e.State, id)
	resized := false
	if in.Type != typ {
		stopped, err := e.stopAndWait(ctx, *in)
		if err != nil {
			return err
		}
		if err := e.modifyType(ctx, stopped, typ); err != nil {
			return err
		}
		resized = true
	}
	running, err := e.startAndWait(ctx, id, typ, resized)
	if err != nil {
		return err
	}
	moved, err := e.keepEIP(ctx, id, eip)
	if err != nil {
		return err
	}
	if !moved {
		// Stop, change and start were all of this instance, and came
		// before the wait's last describe; the address stayed on it.
		e.tookInstances([]ec2types.Instance{running}, 0)
	}
	return e.syncInstanceRecord(ctx)
}

func planPublicHorizontal(s *observe.State, sc scene, n int) ([]*plan.Step, []string, error) {
	live := liveByAge(s)
	c := len(live)
	eips := sc.stage == stage.EIP || usesEIPs(s)
	record := instanceRecord(s.DNS)
	if eips && n > stage.MaxEIPs {
		return nil, nil, cmdutil.Usagef(
			"publish the fleet under one DNS name first: wtt migrate --to=dns --dns-name api.example.com (an A record lists any number of instances), then scale",
			"at stage eip every instance holds an Elastic IP and an account has %d per region by default: --horizontal %d would need %d", stage.MaxEIPs, n, n)
	}
	typ := majorityType(live)
	if c == 0 {
		typ = majorityType(standaloneFleet(s))
	}
	var steps []*plan.Step
	var warns []string
	if stopped := len(standaloneFleet(s)) - c; stopped > 0 {
		warns = append(warns, fmt.Sprintf("%d stopped instance(s) are not counted; run the interrupted `wtt scale --vertical` again to start them", stopped))
	}
	switch {
	case n > c:
		steps = append(steps, publicLaunchStep(s, typ, n, c))
	case n < c:
		victims := live[n:]
		// A run interrupted after the record dropped the victims has done
		// this step already.
		if record {
			if !slices.Equal(publicAddresses(live[:n]), s.DNS.Values) {
				steps = append(steps, publishStep(s, n, victims))
			}
			warns = append(warns, fmt.Sprintf("resolvers that cached %s keep the removed address(es) for up to its TTL (%d s): clients using them fail until then",
				s.DNS.Name, s.DNS.TTL))
		} else if ips := publicAddresses(victims); len(ips) > 0 {
			warns = append(warns, fmt.Sprintf("clients that use %v lose the app when those instances go", ips))
		}
		remove := removeStep(victims, n)
		switch {
		case record:
			// the story's hour: clients that resolved the name before the
			// record dropped these addresses keep them for the TTL
			remove.StaleFor = time.Duration(s.DNS.TTL) * time.Second
		case len(publicAddresses(victims)) > 0:
			remove.StaleFor = plan.StaleUntilTold
		}
		steps = append(steps, remove)
	}
	if eips && (n > c || anyWithoutEIP(live[:min(n, c)])) {
		steps = append(steps, giveEIPStep(n, c))
	}
	if record && (n > c || (n == c && recordStale(s))) {
		publish := publishStep(s, n, nil)
		if n > c {
			publish.UnreadyFor = timeServerBoot
		}
		steps = append(steps, publish)
	}
	if record && n > c {
		// EC2 says "running" before the boot script has started the time
		// server (stopStartDowntime counts the same minute for a restart),
		// and nothing at this stage checks an address before the record
		// lists it: the probe saw a new address refuse its first requests.
		warns = append(warns, fmt.Sprintf("%s lists the new instance(s) once EC2 says they run; their time server answers about a minute later, "+
			"and until then clients given a new address are refused (at stage alb, health checks send no client to an instance before it answers)", s.DNS.Name))
	}
	if sc.stage == stage.Single && n > 1 && n > c {
		warns = append(warns, "clients must know every instance's address: nothing publishes the fleet under one name at stage single (`wtt migrate --to=dns` does)")
	}
	if eips && n > c {
		warns = append(warns, fmt.Sprintf("the Elastic IP quota (%d by default) counts every address in the account's region, not only this app's", stage.MaxEIPs))
	}
	return steps, warns, nil
}

func publicLaunchStep(s *observe.State, typ string, n, c int) *plan.Step {
	return &plan.Step{
		Action:   plan.Create,
		Resource: fmt.Sprintf("%d instance(s) %s (public, IMDSv2 required, encrypted root volume), %d -> %d", n-c, typ, c, n),
		Detail:   "launched like the first one, spread over the public subnets' AZs; waits until they run",
		Calls:    slices.Clone(scaleLaunchCalls),
		Do: func(ctx context.Context, x *plan.Exec) error {
			e := env(x)
			web := e.State.Network.WebSG
			pub := e.State.Network.SubnetsWhere(true)
			if web == nil || len(pub) == 0 {
				return fmt.Errorf("the app's network or security group %s is missing; run `wtt up` to repair it", e.N.WebSG())
			}
			spec := launchSpec{Role: webRole(e.State), Type: typ, Subnets: pub, SG: web.ID, Public: true}
			_, err := e.scaleLaunch(withProgress(ctx, x), spec, n, func(observe.Instance) bool { return true })
			return err
		},
	}
}

// webRole is the role public instances carry (what `up` launched).
func webRole(s *observe.State) string {
	for _, i := range s.Standalone() {
		if i.Role != "" {
			return i.Role
		}
	}
	return "web"
}

func giveEIPStep(n, c int) *plan.Step {
	what := "every instance without one"
	if n > c {
		what = fmt.Sprintf("%d new instance(s)", n-c)
	}
	return &plan.Step{
		Action: plan.Create, Resource: "Elastic IP for " + what,
		Detail: "reuses an unassociated Elastic IP of the app (left by an interrupted run) before allocating one; checks the region's quota first",
		Calls:  slices.Clone(eipCalls),
		Do:     func(ctx context.Context, x *plan.Exec) error { return env(x).ensureEIPs(ctx, x) },
		Check:  func(ctx context.Context, x *plan.Exec) error { return env(x).checkAllocate(ctx) },
	}
}

// removeStep terminates the newest instances beyond n. The victims are
// chosen again when the step runs, from what runs then.
func removeStep(victims []observe.Instance, n int) *plan.Step {
	return &plan.Step{
		Action:   plan.Delete,
		Resource: fmt.Sprintf("%d instance(s), newest first: %s", len(victims), idList(victims)),
		Detail:   "releases their Elastic IPs (if any), terminates them and waits until they are gone",
		Calls:    slices.Clone(removeCalls),
		Do:       func(ctx context.Context, x *plan.Exec) error { return env(x).removeNewest(withProgress(ctx, x), n) },
	}
}

// publishStep makes the record list the addresses of the first n live
// instances (all of them after a scale-out; the survivors before a
// scale-in, so clients stop getting an address before it goes away).
func publishStep(s *observe.State, n int, leaving []observe.Instance) *plan.Step {
	st := &plan.Step{
		Action:   plan.Update,
		Resource: fmt.Sprintf("DNS record %s lists the %d instance address(es)", s.DNS.Name, n),
		Detail:   "UPSERT of the A record to exactly the live instances' public IPv4 addresses; waits until Route 53 serves it",
		Calls:    slices.Clone(recordCalls),
		Do: func(ctx context.Context, x *plan.Exec) error {
			return env(x).publishFirst(withProgress(ctx, x), n)
		},
	}
	if len(leaving) > 0 {
		st.Resource = fmt.Sprintf("DNS record %s drops %s before it is terminated", s.DNS.Name, idList(leaving))
	}
	return st
}

func anyWithoutEIP(is []observe.Instance) bool {
	for _, i := range is {
		if i.EIP == "" {
			return true
		}
	}
	return false
}

// recordStale reports whether the A record lists other addresses than the
// live instances answer on.
func recordStale(s *observe.State) bool {
	return !slices.Equal(publicAddresses(liveByAge(s)), s.DNS.Values)
}

// publicAddresses are the instances' public IPv4 addresses, sorted as
// discovery sorts the record's values.
func publicAddresses(is []observe.Instance) []string {
	var out []string
	for _, i := range is {
		if i.PublicIP != "" {
			out = append(out, i.PublicIP)
		}
	}
	slices.Sort(out)
	return out
}

func findInstance(s *observe.State, id string) *observe.Instance {
	for k := range s.Instances {
		if s.Instances[k].ID == id {
			return &s.Instances[k]
		}
	}
	return nil
}

func eipFor(s *observe.State, instanceID string) *observe.EIP {
	for _, a := range s.EIPs {
		if a.InstanceID == instanceID {
			a := a
			return &a
		}
	}
	return nil
}

// projectPublicVertical: every instance runs the new type; those without
// an Elastic IP answer on an address not known yet.
func projectPublicVertical(s *observe.State, typ string) *observe.State {
	p := clone(s)
	for k, i := range p.Instances {
		if i.Group != "" || i.State == "shutting-down" || i.State == "terminated" {
			continue
		}
		if i.Type != typ || !i.Live() {
			p.Instances[k].Type, p.Instances[k].State = typ, "running"
			if i.EIP == "" && i.PublicIP != "" {
				p.Instances[k].PublicIP = unknown
			}
		}
	}
	if instanceRecord(p.DNS) {
		p.DNS.Values = publicAddresses(p.LiveInstances())
	}
	return p
}

// projectPublicHorizontal: n instances, the newest removed first, each
// with an Elastic IP at eip, the record listing them at dns.
func projectPublicHorizontal(s *observe.State, n int) *observe.State {
	p := clone(s)
	live := liveByAge(p)
	eips := usesEIPs(s)
	if len(live) > n {
		gone := map[string]bool{}
		for _, v := range live[n:] {
			gone[v.ID] = true
		}
		p.Instances = slices.DeleteFunc(p.Instances, func(i observe.Instance) bool { return gone[i.ID] })
		p.EIPs = slices.DeleteFunc(p.EIPs, func(a observe.EIP) bool { return gone[a.InstanceID] })
	}
	typ := majorityType(live)
	var sgs []string
	if p.Network.WebSG != nil {
		sgs = []string{p.Network.WebSG.ID}
	}
	pub := p.Network.SubnetsWhere(true)
	for k := len(live); k < n; k++ {
		i := observe.Instance{ID: fmt.Sprintf("%s-i%d", unknown, k+1), Type: typ, State: "running", PublicIP: unknown,
			IMDSv2Required: true, Role: webRole(s), SecurityGroups: sgs}
		if len(pub) > 0 {
			sn := pub[k%len(pub)]
			i.SubnetID, i.AZ = sn.ID, sn.AZ
		}
		p.Instances = append(p.Instances, i)
	}
	if eips {
		for k := range p.Instances {
			i := &p.Instances[k]
			if i.Group == "" && i.Live() && i.EIP == "" {
				i.EIP, i.PublicIP = unknown, unknown
				p.EIPs = append(p.EIPs, observe.EIP{AllocationID: fmt.Sprintf("%s-eip%d", unknown, k+1), PublicIP: unknown, InstanceID: i.ID})
			}
		}
	}
	if instanceRecord(p.DNS) {
		p.DNS.Values = publicAddresses(liveByAge(p))
	}
	return p
}
