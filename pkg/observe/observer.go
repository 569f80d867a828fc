package observe

import (
	"context"
	"strings"

	"github.com/whatsthetime/wtt/pkg/awsclient"
)

// Kind is one part of the observation: a group of describe calls and the
// fields of State they fill. An Observer reads each kind once, then again
// only when a call made since could have changed it.
type Kind uint16

const (
	KindNetwork        Kind = 1 << iota // VPCs, subnets, route tables, gateway, endpoint (and their security groups)
	KindSecurityGroups                  // the security groups and their rules alone
	KindInstances                       // instances
	KindAddresses                       // Elastic IPs
	KindTemplate                        // the launch template
	KindBalancer                        // load balancer and listener
	KindTargetGroup                     // target group (and its targets' health)
	KindTargets                         // the targets' health alone
	KindGroup                           // the Auto Scaling group
	KindPolicies                        // the group's scaling policies
	KindDelivery                        // bucket, role and instance profile
	KindDNS                             // the record (named by the VPC's tags)
	KindZone                            // the hosted zone's name and owner
	KindReserved                        // Reserved Instances of the group's type
	KindVPCTags                         // the VPC's tags alone

	KindAll = KindNetwork | KindSecurityGroups | KindInstances | KindAddresses | KindTemplate | KindBalancer |
		KindTargetGroup | KindTargets | KindGroup | KindPolicies | KindDelivery | KindDNS | KindZone | KindReserved | KindVPCTags

	// kindsOfALB are the kinds only the alb rung and those after it
	// create. The alb rung creates its security groups before any of
	// them, and `down` deletes the security groups after all of them, so
	// while the app's network has neither the load balancer's nor the
	// private security group, wtt cannot have made any of them, and they
	// are not read. Commands that would adopt one made otherwise (migrate
	// to alb and beyond, a runbook, down) read them all (ReadEverything).
	kindsOfALB = KindBalancer | KindTargetGroup | KindTargets | KindTemplate | KindGroup | KindPolicies
)

// Observer is one command's view of AWS. Its first Refresh reads
// everything (the one full observation a command makes); each later
// Refresh reads again only the kinds that the calls made since could have
// changed, as the recorder in the middleware seam saw them: a step that
// allocated an Elastic IP makes the next Refresh read instances and
// addresses, not the VPC. A step that polled something that changes on
// its own (instances, target health, the group) counts too: what it waited
// for changed. Who the credentials belong to is read once: it cannot
// change during a command.
//
// What nothing in this process touched is not read again. Another operator
// is kept out by the lease; the caller calls Invalidate(KindAll) when the
// lease shows someone else may have changed the app since the last read.
type Observer struct {
	c     *awsclient.Clients
	state State
	read  Kind           // kinds read at least once
	stale Kind           // kinds to read again
	mark  map[string]int // the recorder's counts when the last read ended
	tags  int            // how many tag targets the recorder held then
	zones map[string]zone
	// adopt are kinds read even where the stage rules them out
	// (kindsOfALB): `down` reads all there is, whatever order it was made
	// or half-deleted in; the alb rung adopts a load balancer and target
	// group however they came to be.
	adopt Kind
	// sweep describes what the route tables would prove (Sweep).
	sweep bool
	// deferred kinds are read only while wanted (Defer, Want).
	deferred, wanted Kind
}

// NewObserver starts an observation of app; nothing is read until Refresh.
func NewObserver(c *awsclient.Clients, app string) *Observer {
	return &Observer{c: c, state: State{App: app, Region: c.Config.Region, EIPs: []EIP{}, Instances: []Instance{}, Reserved: []Reserved{}}}
}

// ReadEverything makes every full read describe every kind, even those the
// app's security groups say cannot exist yet. `down` uses it.
func (o *Observer) ReadEverything() { o.adopt = kindsOfALB }

// Adopt makes every full read describe the kinds in k (some of kindsOfALB)
// even while the app's security groups say wtt cannot have made them: a
// command that adopts them, whoever made them, must see them.
func (o *Observer) Adopt(k Kind) { o.adopt |= k & kindsOfALB }

// Sweep makes every read describe the internet gateways and the VPC
// endpoints even when the route tables prove which ones are in use:
// `down` must also find a stray one (a create retried after a lost answer)
// that nothing routes to.
func (o *Observer) Sweep() { o.sweep = true }

// Defer leaves the kinds in k unread until Want asks for them. A mutating
// command defers KindDelivery: the bucket and the instance role are what a
// launch needs, and nothing in a stage, a plan or its cost depends on them,
// so a command whose plan launches nothing never reads them. `status` and
// `down` defer nothing.
func (o *Observer) Defer(k Kind) { o.deferred |= k }

// Want makes the next refreshes read the deferred kinds in k: once, then
// again whenever a call makes them stale, until Want is called again.
func (o *Observer) Want(k Kind) { o.wanted = k }

// Invalidate makes the next Refresh read the kinds in k again.
func (o *Observer) Invalidate(k Kind) { o.stale |= k }

// Refresh returns the state as it is now, reading what may have changed
// since the last Refresh (everything, the first time).
func (o *Observer) Refresh(ctx context.Context) (*State, error) {
	o.stale |= o.touchedSinceMark()
	need := o.need()
	if need != 0 {
		if need&KindZone != 0 || o.zones == nil {
			o.zones = map[string]zone{}
		}
		s := o.state
		if err := read(ctx, o.c, &s, need, o.zones, kindsOfALB&^o.adopt, !o.sweep); err != nil {
			return nil, err
		}
		o.state = s
		o.read |= need
		o.stale &^= need
	}
	o.mark = o.counts()
	if o.c.Recorder != nil {
		o.tags = len(o.c.Recorder.TagTargets())
	}
	out := o.state
	groupType(&out)
	return &out, nil
}

// need is what the next read must cover: what is stale or never read,
// with what depends on it, less the deferred kinds nobody wants.
func (o *Observer) need() Kind {
	return o.closeOver(o.stale|(KindAll&^o.read)) &^ (o.deferred &^ o.wanted)
}

func (o *Observer) counts() map[string]int {
	if o.c.Recorder == nil {
		return nil
	}
	return o.c.Recorder.Calls()
}

// touchedSinceMark is the kinds that calls made since the last read (by the
// steps, not by the observer itself) may have changed. Without a recorder
// nothing is known, so everything is.
func (o *Observer) touchedSinceMark() Kind {
	if o.c.Recorder == nil {
		return KindAll
	}
	var k Kind
	for action, n := range o.c.Recorder.Calls() {
		if n > o.mark[action] {
			k |= o.kindsOf(action)
		}
	}
	// Tag calls say by the IDs they named what they touched.
	if targets := o.c.Recorder.TagTargets(); len(targets) > o.tags {
		for _, id := range targets[o.tags:] {
			k |= kindOfID(id)
		}
	}
	return k
}

// kindOfID is the kind that holds the EC2 resource with this ID; an ID
// wtt does not observe (a reservation's has no prefix) is a reservation.
func kindOfID(id string) Kind {
	prefix, _, _ := strings.Cut(id, "-")
	switch prefix {
	case "vpc":
		// The VPC's tags name the DNS record.
		return KindVPCTags | KindDNS
	case "subnet", "rtb", "igw", "vpce":
		return KindNetwork
	case "sg":
		return KindSecurityGroups
	case "i":
		return KindInstances
	case "eipalloc":
		return KindAddresses
	case "lt":
		return KindTemplate
	}
	return KindReserved
}

// kindsOf is KindsOf with what the observer knows: the bucket, role and
// profile, once all there, go away only by a delete.
func (o *Observer) kindsOf(action string) Kind {
	k := KindsOf(action)
	s := &o.state
	if k == KindDelivery && s.Bucket != "" && s.Role != "" && s.InstanceProfile != "" && !deletes(action) {
		return 0
	}
	return k
}

func deletes(action string) bool {
	_, op, _ := strings.Cut(action, ":")
	return strings.HasPrefix(op, "Delete") || strings.HasPrefix(op, "Remove") || strings.HasPrefix(op, "Detach")
}

// closeOver adds the kinds that are read from others: the DNS record is
// named by the VPC's tags, the reservations by the group's instance type;
// an instance that changes changes the target health and the group's
// members, when there are a target group and a group.
func (o *Observer) closeOver(k Kind) Kind {
	if k&(KindNetwork|KindZone|KindVPCTags) != 0 {
		k |= KindDNS
	}
	if k&KindNetwork != 0 {
		k |= KindSecurityGroups | KindVPCTags
	}
	if k&KindInstances != 0 {
		if o.state.TargetGroup != nil || o.read&KindTargetGroup == 0 {
			k |= KindTargets
		}
		if o.state.Group != nil || o.read&KindGroup == 0 {
			k |= KindGroup
		}
	}
	// The reservations are read for the group's instance type: the
	// template's, or the group's own while there is no template.
	if k&KindTemplate != 0 || (k&KindGroup != 0 && o.state.LaunchTemplate == nil) {
		k |= KindReserved
	}
	return k
}

// volatile kinds change without a call from wtt (instances boot, targets
// turn healthy, the group launches, the load balancer turns active): a
// step that read them was waiting for a change, so they are read again
// after it.
const volatile = KindInstances | KindBalancer | KindTargets | KindGroup

// KindsOf is what a call may change or, for a read of something that
// changes on its own, what it watched change (a waiter polls until
// something is different). Unknown mutating calls change everything;
// other reads change nothing.
func KindsOf(action string) Kind {
	service, op, _ := strings.Cut(action, ":")
	k := KindAll
	switch service {
	case "sts", "ssm", "servicequotas", "pricing", "tag":
		k = 0
	case "s3", "iam":
		k = KindDelivery
	case "route53":
		k = KindDNS
		if strings.Contains(op, "HostedZone") || strings.Contains(op, "Tags") {
			k |= KindZone
		}
	case "elasticloadbalancing":
		k = elbKinds(op)
	case "autoscaling":
		// The group launches and terminates instances and registers
		// them with its target groups; its scaling policies and tags
		// are the group's alone.
		switch {
		case strings.Contains(op, "Policy") || strings.Contains(op, "Policies"):
			k = KindPolicies
		case strings.Contains(op, "Tags"):
			k = KindGroup
		case strings.HasPrefix(op, "Delete"):
			k = KindGroup | KindPolicies | KindInstances | KindTargets
		default:
			k = KindGroup | KindInstances | KindTargets
		}
	case "ec2":
		k = ec2Kinds(op)
	}
	if !awsclient.IsMutating(action) {
		k &= volatile
	}
	return k
}

func ec2Kinds(op string) Kind {
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(op, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("ReservedInstancesOffering") && !strings.HasPrefix(op, "Purchase"):
		return 0
	case has("ReservedInstances"):
		return KindReserved
	case has("InstanceType", "Image", "AvailabilityZone", "Region", "AccountAttribute", "KeyPair"):
		return 0
	case has("LaunchTemplate"):
		return KindTemplate
	case has("Address"):
		// Associating an address moves an instance's public IP.
		if has("ssociate") {
			return KindAddresses | KindInstances
		}
		return KindAddresses
	case has("Instance"):
		return KindInstances
	case has("Tags"):
		// What the tag calls touched is known by the IDs they named
		// (Recorder.TagTargets).
		return 0
	case has("SecurityGroup"):
		return KindSecurityGroups
	case has("Vpc", "Subnet", "Route", "Gateway", "Endpoint", "NetworkAcl"):
		return KindNetwork
	}
	return KindAll
}

func elbKinds(op string) Kind {
	switch {
	case strings.Contains(op, "TargetHealth") || strings.HasSuffix(op, "Targets"):
		return KindTargets
	case strings.Contains(op, "TargetGroup"):
		return KindTargetGroup
	case strings.Contains(op, "Tags"):
		// wtt reads no load balancing tags.
		return 0
	case strings.HasPrefix(op, "Describe") && (strings.Contains(op, "LoadBalancer") || strings.Contains(op, "Listener")):
		return KindBalancer
	case strings.Contains(op, "LoadBalancer") || strings.Contains(op, "Listener") || strings.Contains(op, "Rule") ||
		strings.HasPrefix(op, "Set"):
		// A load balancer or listener that comes or goes puts its
		// targets in or out of use.
		return KindBalancer | KindTargets
	}
	return KindBalancer | KindTargetGroup | KindTargets
}
