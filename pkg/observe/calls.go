package observe

import "slices"

// Calls are the AWS actions Discover makes, named as recorded by
// awsclient.Action (service prefix and SDK operation): the read half of
// every command's IAM policy. TestCallsCoverDiscover keeps the list in step
// with the code by reading the package's source.
var Calls = []string{
	// discoverEC2, discoverNetwork, discoverInstances, discoverLaunchTemplate
	"ec2:DescribeVpcs",
	"ec2:DescribeRouteTables",
	"ec2:DescribeSubnets",
	"ec2:DescribeInternetGateways",
	"ec2:DescribeVpcEndpoints",
	"ec2:DescribeSecurityGroups",
	"ec2:DescribeInstances",
	"ec2:DescribeAddresses",
	"ec2:DescribeLaunchTemplateVersions",
	// discoverELB
	"elasticloadbalancing:DescribeLoadBalancers",
	"elasticloadbalancing:DescribeListeners",
	"elasticloadbalancing:DescribeTargetGroups",
	"elasticloadbalancing:DescribeTargetHealth",
	// discoverASG
	"autoscaling:DescribeAutoScalingGroups",
	"autoscaling:DescribePolicies",
	// discoverDelivery
	"sts:GetCallerIdentity",
	"s3:HeadBucket",
	"iam:GetRole",
	"iam:GetInstanceProfile",
	// discoverDNS, FindRecord
	"route53:GetHostedZone",
	"route53:ListResourceRecordSets",
	// discoverReserved
	"ec2:DescribeReservedInstances",
}

// DeliveryCalls are the reads of KindDelivery. A mutating command defers
// them until a step of its plan launches instances (Observer.Defer), so a
// dry run (`plan`) never makes them.
var DeliveryCalls = []string{"s3:HeadBucket", "iam:GetRole", "iam:GetInstanceProfile"}

// CallsWithoutDelivery is Calls less DeliveryCalls: what a dry run's
// observation may call.
func CallsWithoutDelivery() []string {
	var out []string
	for _, c := range Calls {
		if !slices.Contains(DeliveryCalls, c) {
			out = append(out, c)
		}
	}
	return out
}
