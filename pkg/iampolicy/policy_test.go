package iampolicy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestActionsNormalisesAndAddsImplied(t *testing.T) {
	got := Actions([]string{"s3:HeadObject", "s3:HeadBucket", "ec2:RunInstances", "ec2:RunInstances", "ssm:PutParameter"})
	want := []string{"ec2:CreateTags", "ec2:RunInstances", "iam:PassRole", "s3:GetObject", "s3:ListBucket", "ssm:AddTagsToResource", "ssm:PutParameter"}
	if !slices.Equal(got, want) {
		t.Errorf("Actions = %v, want %v", got, want)
	}
}

// An implied action may imply more: a group from a launch template implies
// RunInstances, which implies PassRole and CreateTags.
func TestActionsFollowsImpliedTransitively(t *testing.T) {
	got := Actions([]string{"autoscaling:CreateAutoScalingGroup"})
	for _, a := range []string{"ec2:RunInstances", "iam:PassRole", "ec2:CreateTags", "iam:CreateServiceLinkedRole", "autoscaling:CreateOrUpdateTags"} {
		if !slices.Contains(got, a) {
			t.Errorf("%s missing from %v", a, got)
		}
	}
}

func TestBuildGroupsByServiceAndScopes(t *testing.T) {
	doc := Build([]string{
		"ec2:DescribeVpcs", "ec2:RunInstances", "iam:CreateRole", "iam:GetInstanceProfile",
		"s3:HeadBucket", "s3:PutObject", "ssm:GetParameter", "elasticloadbalancing:CreateLoadBalancer", "sts:GetCallerIdentity",
	})
	if doc.Version != "2012-10-17" {
		t.Errorf("Version = %q", doc.Version)
	}
	bySid := map[string]Statement{}
	for _, s := range doc.Statement {
		if _, dup := bySid[s.Sid]; dup {
			t.Errorf("duplicate Sid %s", s.Sid)
		}
		if s.Effect != "Allow" || len(s.Action) == 0 || len(s.Resource) == 0 {
			t.Errorf("malformed statement %+v", s)
		}
		bySid[s.Sid] = s
	}
	expect := map[string]struct {
		actions  []string
		resource string
	}{
		"EC2":                   {[]string{"ec2:CreateTags", "ec2:DescribeVpcs", "ec2:RunInstances"}, "*"},
		"ElasticLoadBalancing":  {[]string{"elasticloadbalancing:AddTags", "elasticloadbalancing:CreateLoadBalancer"}, "*"},
		"IAMInstanceRole":       {[]string{"iam:CreateRole", "iam:PassRole", "iam:TagRole"}, "arn:aws:iam::*:role/wtt-*"},
		"IAMInstanceProfile":    {[]string{"iam:GetInstanceProfile"}, "arn:aws:iam::*:instance-profile/wtt-*"},
		"IAMServiceLinkedRoles": {[]string{"iam:CreateServiceLinkedRole"}, "arn:aws:iam::*:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing"},
		"S3DeliveryBucket":      {[]string{"s3:ListBucket"}, "arn:aws:s3:::wtt-*"},
		"S3DeliveryObjects":     {[]string{"s3:PutObject"}, "arn:aws:s3:::wtt-*/*"},
		"SSMParameters":         {[]string{"ssm:GetParameter"}, "arn:aws:ssm:*:*:parameter/wtt/*"},
		"STS":                   {[]string{"sts:GetCallerIdentity"}, "*"},
	}
	for sid, e := range expect {
		s, ok := bySid[sid]
		if !ok {
			t.Errorf("no statement %s in %+v", sid, doc.Statement)
			continue
		}
		if !slices.Equal(s.Action, e.actions) {
			t.Errorf("%s: actions %v, want %v", sid, s.Action, e.actions)
		}
		if s.Resource[0] != e.resource {
			t.Errorf("%s: resource %v, want first %s", sid, s.Resource, e.resource)
		}
	}
	if len(doc.Statement) != len(expect) {
		t.Errorf("%d statements, want %d: %+v", len(doc.Statement), len(expect), doc.Statement)
	}
	// Every action is allowed exactly once: no statement repeats another's.
	seen := map[string]string{}
	for _, s := range doc.Statement {
		for _, a := range s.Action {
			if prev, ok := seen[a]; ok {
				t.Errorf("%s in both %s and %s", a, prev, s.Sid)
			}
			seen[a] = s.Sid
		}
	}
}

func TestBuildJSONShape(t *testing.T) {
	b, err := json.Marshal(Build([]string{"ec2:DescribeVpcs"}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Version":"2012-10-17","Statement":[{"Sid":"EC2","Effect":"Allow","Action":["ec2:DescribeVpcs"],"Resource":["*"]}]}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	calls := []string{"route53:GetChange", "ec2:DescribeVpcs", "s3:PutObject", "iam:GetRole", "autoscaling:DescribePolicies"}
	a, _ := json.Marshal(Build(calls))
	slices.Reverse(calls)
	b, _ := json.Marshal(Build(calls))
	if string(a) != string(b) {
		t.Errorf("order of calls changed the document:\n%s\n%s", a, b)
	}
}

func TestAllActions(t *testing.T) {
	doc := Build([]string{"s3:HeadObject", "iam:GetRole"})
	if got := strings.Join(doc.AllActions(), ","); got != "iam:GetRole,s3:GetObject" {
		t.Errorf("AllActions = %s", got)
	}
}

func TestEveryImpliedActionIsAnAction(t *testing.T) {
	for from, to := range Implied {
		for _, a := range append([]string{from}, to...) {
			svc, op, ok := strings.Cut(a, ":")
			if !ok || svc == "" || op == "" || strings.ToUpper(op[:1]) != op[:1] {
				t.Errorf("%q is not an IAM action name", a)
			}
		}
	}
}
