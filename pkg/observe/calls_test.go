package observe

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"
)

// clientPrefix maps the fields of awsclient.Clients (and the names the
// package gives a client it is handed) to the action prefix they record.
var clientPrefix = map[string]string{
	"EC2": "ec2", "ELB": "elasticloadbalancing", "AutoScaling": "autoscaling", "Route53": "route53",
	"r53": "route53", "SSM": "ssm", "IAM": "iam", "S3": "s3", "STS": "sts", "Quotas": "servicequotas",
}

// TestCallsCoverDiscover reads the package's own source and checks that
// every AWS operation it invokes (c.EC2.DescribeVpcs(...), and paginators
// such as ec2.NewDescribeInstancesPaginator) is listed in Calls, and that
// Calls lists nothing the source no longer calls. The end-to-end IAM check
// compares the same list with what the binary really calls.
func TestCallsCoverDiscover(t *testing.T) {
	found := sourceCalls(t)
	for _, c := range found {
		if !slices.Contains(Calls, c) {
			t.Errorf("discovery calls %s but observe.Calls does not list it", c)
		}
	}
	for _, c := range Calls {
		if !slices.Contains(found, c) {
			t.Errorf("observe.Calls lists %s but the package never calls it", c)
		}
	}
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
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				switch x := sel.X.(type) {
				case *ast.SelectorExpr: // c.EC2.DescribeVpcs
					if prefix, ok := clientPrefix[x.Sel.Name]; ok {
						add(prefix + ":" + sel.Sel.Name)
					}
				case *ast.Ident:
					if prefix, ok := clientPrefix[x.Name]; ok { // r53.ListResourceRecordSets
						add(prefix + ":" + sel.Sel.Name)
					}
					if op, ok := strings.CutPrefix(sel.Sel.Name, "New"); ok && strings.HasSuffix(op, "Paginator") {
						add(x.Name + ":" + strings.TrimSuffix(op, "Paginator")) // ec2.NewDescribeInstancesPaginator
					}
				}
				return true
			})
		}
	}
	return out
}
