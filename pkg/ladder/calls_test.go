package ladder

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/stage"
)

func TestCallsForEveryCommand(t *testing.T) {
	for _, cmd := range Commands {
		calls, err := CallsFor(cmd)
		if err != nil {
			t.Fatalf("CallsFor(%q): %v", cmd, err)
		}
		observed := observe.Calls
		if cmd == "plan" {
			observed = observe.CallsWithoutDelivery() // a dry run never reads the deferred delivery
		}
		for _, c := range observed {
			if !slices.Contains(calls, c) {
				t.Errorf("%s: discovery call %s missing (every command observes first)", cmd, c)
			}
		}
		if !slices.IsSorted(calls) || len(slices.Compact(slices.Clone(calls))) != len(calls) {
			t.Errorf("%s: calls not sorted and unique: %v", cmd, calls)
		}
	}
	if _, err := CallsFor("teleport"); err == nil {
		t.Error("CallsFor of an unknown command gave no error")
	}
}

// Read-only commands must need no mutating action: a policy for `status`
// or `plan` is safe to hand to anyone.
func TestCallsForReadOnlyCommands(t *testing.T) {
	for _, cmd := range []string{"status", "plan"} {
		calls, _ := CallsFor(cmd)
		for _, c := range calls {
			if awsclient.IsMutating(c) {
				t.Errorf("%s may call %s, which changes AWS", cmd, c)
			}
		}
	}
}

// The mutating commands need exactly their own kind of change: a policy for
// `scale` cannot delete the network, `down` cannot launch instances, `up`
// cannot buy Reserved Instances.
func TestCallsForSeparatesCommands(t *testing.T) {
	cases := []struct {
		cmd       string
		must, not []string
	}{
		{"up", []string{"ec2:CreateVpc", "ec2:RunInstances", "iam:PassRole", "s3:PutObject"},
			[]string{"ec2:DeleteVpc", "ec2:PurchaseReservedInstancesOffering", "elasticloadbalancing:CreateLoadBalancer"}},
		{"migrate", []string{"ec2:AllocateAddress", "route53:CreateHostedZone", "elasticloadbalancing:CreateLoadBalancer",
			"autoscaling:CreateAutoScalingGroup", "elasticloadbalancing:SetSubnets", "ec2:PurchaseReservedInstancesOffering",
			"ec2:DescribeReservedInstancesOfferings"},
			[]string{"ec2:DeleteVpc", "autoscaling:DeleteAutoScalingGroup", "route53:DeleteHostedZone"}},
		{"scale", []string{"ec2:StopInstances", "ec2:ModifyInstanceAttribute", "ec2:StartInstances", "ec2:TerminateInstances",
			"autoscaling:UpdateAutoScalingGroup", "autoscaling:StartInstanceRefresh", "elasticloadbalancing:RegisterTargets"},
			[]string{"ec2:CreateVpc", "ec2:DeleteVpc", "ec2:PurchaseReservedInstancesOffering", "route53:CreateHostedZone"}},
		{"down", []string{"ec2:DeleteVpc", "ec2:TerminateInstances", "autoscaling:DeleteAutoScalingGroup", "iam:DeleteRole",
			"s3:DeleteBucket", "route53:DeleteHostedZone", "elasticloadbalancing:DeleteLoadBalancer"},
			[]string{"ec2:RunInstances", "ec2:CreateVpc", "ec2:PurchaseReservedInstancesOffering"}},
	}
	for _, tc := range cases {
		calls, _ := CallsFor(tc.cmd)
		for _, c := range tc.must {
			if !slices.Contains(calls, c) {
				t.Errorf("%s: %s missing", tc.cmd, c)
			}
		}
		for _, c := range tc.not {
			if slices.Contains(calls, c) {
				t.Errorf("%s: %s listed, but the command never needs it", tc.cmd, c)
			}
		}
	}
}

// The representative states must really be the ladder, or the plans built
// from them miss rungs.
func TestLadderStatesReachEveryStage(t *testing.T) {
	for _, o := range callsOptions() {
		states := ladderStates(o)
		if len(states) != len(stage.Ladder) {
			t.Fatalf("DNSName %q: %d states, want %d", o.DNSName, len(states), len(stage.Ladder))
		}
		for i, s := range states[1:] {
			st := stage.Ladder[i+1]
			if s == nil && st == stage.DNS && o.DNSName == "" {
				continue // the dns rung needs a name; the alb rung jumps it
			}
			if s == nil || !stage.Reached(s, st) {
				t.Errorf("DNSName %q: the projected state %d does not reach %s", o.DNSName, i+1, st)
			}
		}
	}
}

// TestCallsCoverSource reads the package's source: every AWS operation it
// can invoke (clients, paginators, waiters) must be in some command's
// calls, so no code path can call AWS outside the generated policy. The
// end-to-end IAM test checks the same per command against real runs.
func TestCallsCoverSource(t *testing.T) {
	var all []string
	for _, cmd := range Commands {
		calls, _ := CallsFor(cmd)
		for _, c := range calls {
			all = append(all, awsclient.IAMAction(c))
		}
	}
	for _, c := range sourceCalls(t) {
		if !slices.Contains(all, awsclient.IAMAction(c)) {
			t.Errorf("the ladder package calls %s, but no command's calls list it (add it to the Calls of the step that makes it)", c)
		}
	}
}

var clientPrefix = map[string]string{
	"EC2": "ec2", "ELB": "elasticloadbalancing", "AutoScaling": "autoscaling", "Route53": "route53",
	"SSM": "ssm", "IAM": "iam", "S3": "s3", "STS": "sts", "Quotas": "servicequotas",
}

// packagePrefix maps the SDK packages as the ladder imports them.
var packagePrefix = map[string]string{
	"ec2": "ec2", "elbv2": "elasticloadbalancing", "autoscaling": "autoscaling", "route53": "route53",
	"ssm": "ssm", "iam": "iam", "s3": "s3", "sts": "sts", "servicequotas": "servicequotas",
}

// waiterCalls are the operations the SDK's waiters poll.
var waiterCalls = map[string]string{
	"ec2.NewInstanceRunningWaiter":               "ec2:DescribeInstances",
	"ec2.NewInstanceStoppedWaiter":               "ec2:DescribeInstances",
	"ec2.NewInstanceTerminatedWaiter":            "ec2:DescribeInstances",
	"elbv2.NewLoadBalancerAvailableWaiter":       "elasticloadbalancing:DescribeLoadBalancers",
	"elbv2.NewTargetInServiceWaiter":             "elasticloadbalancing:DescribeTargetHealth",
	"elbv2.NewTargetDeregisteredWaiter":          "elasticloadbalancing:DescribeTargetHealth",
	"autoscaling.NewGroupInServiceWaiter":        "autoscaling:DescribeAutoScalingGroups",
	"route53.NewResourceRecordSetsChangedWaiter": "route53:GetChange",
}

func sourceCalls(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	add := func(c string) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				switch x := sel.X.(type) {
				case *ast.SelectorExpr: // e.C.EC2.RunInstances
					if prefix, ok := clientPrefix[x.Sel.Name]; ok && isExported(sel.Sel.Name) && !strings.HasPrefix(sel.Sel.Name, "Options") {
						add(prefix + ":" + sel.Sel.Name)
					}
				case *ast.Ident: // ec2.NewDescribeInstancesPaginator, route53.NewResourceRecordSetsChangedWaiter
					prefix, ok := packagePrefix[x.Name]
					if !ok {
						return true
					}
					name := sel.Sel.Name
					if c, ok := waiterCalls[x.Name+"."+name]; ok {
						add(c)
					} else if strings.HasSuffix(name, "Waiter") && strings.HasPrefix(name, "New") {
						t.Errorf("waiter %s.%s: add the operation it polls to waiterCalls", x.Name, name)
					}
					if op, ok := strings.CutPrefix(name, "New"); ok && strings.HasSuffix(op, "Paginator") {
						add(prefix + ":" + strings.TrimSuffix(op, "Paginator"))
					}
				}
				return true
			})
		}
	}
	if len(out) < 50 {
		t.Fatalf("found only %d AWS calls in the source; the scanner is broken: %v", len(out), out)
	}
	return out
}

func isExported(name string) bool { return name != "" && strings.ToUpper(name[:1]) == name[:1] }
