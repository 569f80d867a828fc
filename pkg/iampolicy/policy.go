// Package iampolicy turns the AWS calls a command can make into the
// least-privilege IAM policy that allows exactly those calls: one statement
// per service (and per resource scope where IAM can scope it), Resource "*"
// where the API has no resource-level permissions.
package iampolicy

import (
	"slices"
	"sort"
	"strings"

	"github.com/whatsthetime/wtt/pkg/awsclient"
)

// Version is the IAM policy language version.
const Version = "2012-10-17"

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one Allow statement.
type Statement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// Implied are actions AWS authorises as part of another call. They never
// appear as calls of their own, so no call log can show them; the policy
// must still grant them or the call that implies them is denied.
var Implied = map[string][]string{
	// Tags passed at creation (TagSpecifications) are authorised as
	// ec2:CreateTags; an instance profile on the instance as iam:PassRole.
	"ec2:RunInstances":          {"ec2:CreateTags", "iam:PassRole"},
	"ec2:CreateVpc":             {"ec2:CreateTags"},
	"ec2:CreateSubnet":          {"ec2:CreateTags"},
	"ec2:CreateInternetGateway": {"ec2:CreateTags"},
	"ec2:CreateRouteTable":      {"ec2:CreateTags"},
	"ec2:CreateSecurityGroup":   {"ec2:CreateTags"},
	"ec2:CreateVpcEndpoint":     {"ec2:CreateTags"},
	"ec2:AllocateAddress":       {"ec2:CreateTags"},
	"ec2:CreateLaunchTemplate":  {"ec2:CreateTags"},
	// A group launching from a launch template is checked for
	// ec2:RunInstances, and iam:PassRole for the template's instance
	// profile, when it is created or updated. The first group (or load
	// balancer) of an account creates the service's service-linked role.
	"autoscaling:CreateAutoScalingGroup": {"ec2:RunInstances", "iam:PassRole", "autoscaling:CreateOrUpdateTags", "iam:CreateServiceLinkedRole"},
	"autoscaling:UpdateAutoScalingGroup": {"ec2:RunInstances", "iam:PassRole"},
	// Tags passed to CreateLoadBalancer and CreateTargetGroup are
	// authorised as elasticloadbalancing:AddTags.
	"elasticloadbalancing:CreateLoadBalancer": {"elasticloadbalancing:AddTags", "iam:CreateServiceLinkedRole"},
	"elasticloadbalancing:CreateTargetGroup":  {"elasticloadbalancing:AddTags"},
	// Tags passed at creation need the service's tagging action.
	"iam:CreateRole":            {"iam:TagRole"},
	"iam:CreateInstanceProfile": {"iam:TagInstanceProfile"},
	"ssm:PutParameter":          {"ssm:AddTagsToResource"},
}

// Actions turns calls (as recorded, or as listed in plan steps) into the
// sorted, de-duplicated IAM actions that allow them, implied ones included.
func Actions(calls []string) []string {
	set := map[string]bool{}
	var add func(a string)
	add = func(a string) {
		a = awsclient.IAMAction(a)
		if set[a] {
			return
		}
		set[a] = true
		for _, b := range Implied[a] {
			add(b)
		}
	}
	for _, c := range calls {
		add(c)
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// scope narrows actions on resources wtt names itself to those names, so
// the policy cannot touch another team's role, bucket or parameters.
type scope struct {
	sid       string
	service   string
	actions   []string // empty: every action of the service not scoped otherwise
	resources []string
}

// Resource patterns follow pkg/names: everything wtt names starts "wtt-",
// its parameters live under /wtt/.
var scopes = []scope{
	{sid: "IAMInstanceRole", service: "iam", actions: []string{
		"iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:TagRole", "iam:PassRole",
		"iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
		"iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:ListInstanceProfilesForRole",
	}, resources: []string{"arn:aws:iam::*:role/wtt-*"}},
	{sid: "IAMInstanceProfile", service: "iam", actions: []string{
		"iam:CreateInstanceProfile", "iam:GetInstanceProfile", "iam:DeleteInstanceProfile", "iam:TagInstanceProfile",
		"iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
	}, resources: []string{"arn:aws:iam::*:instance-profile/wtt-*"}},
	// The service-linked roles of Elastic Load Balancing and Auto Scaling,
	// created by AWS on an account's first load balancer or group.
	{sid: "IAMServiceLinkedRoles", service: "iam", actions: []string{"iam:CreateServiceLinkedRole"}, resources: []string{
		"arn:aws:iam::*:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing",
		"arn:aws:iam::*:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
	}},
	{sid: "S3DeliveryObjects", service: "s3", actions: []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
		resources: []string{"arn:aws:s3:::wtt-*/*"}},
	{sid: "S3DeliveryBucket", service: "s3", resources: []string{"arn:aws:s3:::wtt-*"}},
	// The lease lives under /wtt/; the AMI is read from AWS's public
	// parameter for Amazon Linux 2023, which has no account in its ARN.
	{sid: "SSMParameters", service: "ssm", resources: []string{
		"arn:aws:ssm:*:*:parameter/wtt/*",
		"arn:aws:ssm:*::parameter/aws/service/ami-amazon-linux-latest/*",
	}},
}

// sids names the unscoped statement of each service.
var sids = map[string]string{
	"ec2": "EC2", "elasticloadbalancing": "ElasticLoadBalancing", "autoscaling": "AutoScaling",
	"route53": "Route53", "ssm": "SSM", "iam": "IAM", "s3": "S3", "sts": "STS", "servicequotas": "ServiceQuotas",
}

// Build makes the policy document allowing calls (implied actions
// included). Statements come out in a fixed order: by service, scoped ones
// after the service's unscoped one.
func Build(calls []string) Document {
	byService := map[string][]string{}
	for _, a := range Actions(calls) {
		svc, _, _ := strings.Cut(a, ":")
		byService[svc] = append(byService[svc], a)
	}
	services := make([]string, 0, len(byService))
	for s := range byService {
		services = append(services, s)
	}
	sort.Strings(services)

	doc := Document{Version: Version, Statement: []Statement{}}
	for _, svc := range services {
		rest := byService[svc]
		var scoped []Statement
		for _, sc := range scopes {
			if sc.service != svc {
				continue
			}
			var take []string
			for _, a := range rest {
				if len(sc.actions) == 0 || slices.Contains(sc.actions, a) {
					take = append(take, a)
				}
			}
			if len(take) == 0 {
				continue
			}
			rest = slices.DeleteFunc(rest, func(a string) bool { return slices.Contains(take, a) })
			scoped = append(scoped, Statement{Sid: sc.sid, Effect: "Allow", Action: take, Resource: sc.resources})
		}
		if len(rest) > 0 {
			sid := sids[svc]
			if sid == "" {
				sid = strings.ToUpper(svc[:1]) + svc[1:]
			}
			doc.Statement = append(doc.Statement, Statement{Sid: sid, Effect: "Allow", Action: rest, Resource: []string{"*"}})
		}
		doc.Statement = append(doc.Statement, scoped...)
	}
	return doc
}

// AllActions lists every action the document allows, sorted.
func (d Document) AllActions() []string {
	var out []string
	for _, s := range d.Statement {
		for _, a := range s.Action {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}
