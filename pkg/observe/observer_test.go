package observe

import "testing"

func TestKindsOfCalls(t *testing.T) {
	for _, tc := range []struct {
		action string
		want   Kind
	}{
		// Mutations: what they change.
		{"ec2:AllocateAddress", KindAddresses},
		{"ec2:AssociateAddress", KindAddresses | KindInstances},
		{"ec2:DisassociateAddress", KindAddresses | KindInstances},
		{"ec2:RunInstances", KindInstances},
		{"ec2:ModifyInstanceAttribute", KindInstances},
		{"ec2:CreateSecurityGroup", KindSecurityGroups},
		{"ec2:AuthorizeSecurityGroupIngress", KindSecurityGroups},
		{"ec2:CreateSubnet", KindNetwork},
		{"ec2:AssociateRouteTable", KindNetwork},
		{"ec2:CreateLaunchTemplate", KindTemplate},
		{"ec2:PurchaseReservedInstancesOffering", KindReserved},
		{"ec2:CreateTags", 0}, // known by the IDs it names
		{"ec2:SomethingNew", KindAll},
		{"route53:ChangeResourceRecordSets", KindDNS},
		{"route53:CreateHostedZone", KindZone | KindDNS},
		{"elasticloadbalancing:RegisterTargets", KindTargets},
		{"elasticloadbalancing:CreateTargetGroup", KindTargetGroup},
		{"elasticloadbalancing:CreateListener", KindBalancer | KindTargets},
		{"autoscaling:CreateAutoScalingGroup", KindGroup | KindInstances | KindTargets},
		{"autoscaling:DeleteAutoScalingGroup", KindGroup | KindPolicies | KindInstances | KindTargets},
		{"autoscaling:PutScalingPolicy", KindPolicies},
		{"iam:PutRolePolicy", KindDelivery},
		{"ssm:PutParameter", 0}, // the lease
		{"newservice:DoThing", KindAll},
		// Reads: only of what changes on its own (a waiter's polls).
		{"ec2:DescribeInstances", KindInstances},
		{"elasticloadbalancing:DescribeTargetHealth", KindTargets},
		{"elasticloadbalancing:DescribeLoadBalancers", KindBalancer},
		{"elasticloadbalancing:DescribeTargetGroups", 0},
		{"ec2:DescribeAddresses", 0},
		{"autoscaling:DescribeAutoScalingGroups", KindGroup | KindInstances | KindTargets},
		{"ec2:DescribeSubnets", 0},
		{"ec2:DescribeReservedInstancesOfferings", 0},
		{"route53:GetChange", 0},
		{"route53:ListResourceRecordSets", 0},
		{"s3:HeadObject", 0},
	} {
		if got := KindsOf(tc.action); got != tc.want {
			t.Errorf("KindsOf(%s) = %b, want %b", tc.action, got, tc.want)
		}
	}
}

func TestKindOfTaggedID(t *testing.T) {
	for id, want := range map[string]Kind{
		"vpc-0abc":       KindVPCTags | KindDNS,
		"subnet-1":       KindNetwork,
		"sg-1":           KindSecurityGroups,
		"i-0123":         KindInstances,
		"eipalloc-1":     KindAddresses,
		"lt-1":           KindTemplate,
		"4b2a3f10-aaaa":  KindReserved,
		"rtb-1":          KindNetwork,
		"vpce-1":         KindNetwork,
		"igw-0123456789": KindNetwork,
	} {
		if got := kindOfID(id); got != want {
			t.Errorf("kindOfID(%s) = %b, want %b", id, got, want)
		}
	}
}

func TestCloseOverFollowsWhatIsReadFromWhat(t *testing.T) {
	o := &Observer{read: KindAll}
	if got := o.closeOver(KindVPCTags); got != KindVPCTags|KindDNS {
		t.Errorf("a tag on the VPC must re-read its tags and the record they name, nothing else: %b", got)
	}
	if got := o.closeOver(KindNetwork); got&(KindDNS|KindSecurityGroups) != KindDNS|KindSecurityGroups {
		t.Errorf("a network change must re-read the record it names and its groups: %b", got)
	}
	// No target group or group yet: an instance change touches only instances.
	if got := o.closeOver(KindInstances); got != KindInstances {
		t.Errorf("instances without a balancer or group: %b, want instances alone", got)
	}
	o.state.TargetGroup, o.state.Group, o.state.LaunchTemplate = &TargetGroup{}, &Group{}, &LaunchTemplate{}
	if got := o.closeOver(KindInstances); got != KindInstances|KindTargets|KindGroup {
		t.Errorf("instances behind a target group in a group: %b", got)
	}
	if got := o.closeOver(KindTemplate); got&KindReserved == 0 {
		t.Errorf("a template change changes the type reservations are read for: %b", got)
	}
	// Policies of an existing group do not change its type.
	if got := o.closeOver(KindGroup); got&KindReserved != 0 {
		t.Errorf("a group change with a template re-read reservations: %b", got)
	}
	// Nothing read yet: everything that depends on instances is unknown.
	o = &Observer{}
	if got := o.closeOver(KindInstances); got&(KindTargets|KindGroup) != KindTargets|KindGroup {
		t.Errorf("before the first read: %b", got)
	}
}

func TestDeliveryIsReadAgainOnlyWhenMissingOrDeleted(t *testing.T) {
	o := &Observer{}
	o.state.Bucket, o.state.Role, o.state.InstanceProfile = "b", "r", "p"
	if k := o.kindsOf("iam:PutRolePolicy"); k != 0 {
		t.Errorf("re-putting a policy on an existing role made delivery stale")
	}
	if k := o.kindsOf("iam:DeleteRole"); k != KindDelivery {
		t.Errorf("deleting the role must make delivery stale")
	}
	o.state.Role = ""
	if k := o.kindsOf("iam:CreateRole"); k != KindDelivery {
		t.Errorf("creating the missing role must make delivery stale")
	}
}

// TestDeferredKinds: a deferred kind is read only while wanted, the first
// time and again once stale; the rest of the observation is unaffected.
func TestDeferredKinds(t *testing.T) {
	o := &Observer{}
	o.Defer(KindDelivery)
	if got := o.need(); got&KindDelivery != 0 || got&KindInstances == 0 {
		t.Fatalf("first read of a command that wants no delivery: need %b", got)
	}
	o.read = KindAll &^ KindDelivery
	if got := o.need(); got != 0 {
		t.Fatalf("everything else read: need %b, want nothing", got)
	}
	o.Want(KindDelivery)
	if got := o.need(); got != KindDelivery {
		t.Fatalf("a plan that launches wants the delivery: need %b", got)
	}
	o.read |= KindDelivery
	if got := o.need(); got != 0 {
		t.Fatalf("delivery read once: need %b", got)
	}
	o.Invalidate(KindDelivery)
	if got := o.need(); got != KindDelivery {
		t.Fatalf("stale and wanted: need %b", got)
	}
	o.Want(0)
	if got := o.need(); got != 0 {
		t.Fatalf("stale but no longer wanted: need %b", got)
	}
}
