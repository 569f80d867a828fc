package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/iampolicy"
	"github.com/whatsthetime/wtt/pkg/lease"
)

func policyFor(t *testing.T, commands ...string) []string {
	t.Helper()
	calls, err := policyCalls(commands)
	if err != nil {
		t.Fatal(err)
	}
	return iampolicy.Build(calls).AllActions()
}

func TestIAMPolicyReadOnlyCommandsMutateNothing(t *testing.T) {
	actions := policyFor(t, "status", "plan")
	for _, a := range actions {
		if awsclient.IsMutating(a) {
			t.Errorf("the policy for status and plan allows %s", a)
		}
	}
	for _, a := range lease.Calls {
		if slices.Contains(actions, a) && awsclient.IsMutating(a) {
			t.Errorf("read-only commands take no lease, yet %s is allowed", a)
		}
	}
}

func TestIAMPolicyMutatingCommandsTakeTheLease(t *testing.T) {
	for _, cmd := range leasedCommands {
		actions := policyFor(t, cmd)
		for _, a := range lease.Calls {
			if !slices.Contains(actions, a) {
				t.Errorf("%s: lease action %s missing", cmd, a)
			}
		}
	}
}

func TestIAMPolicyAllIsTheUnion(t *testing.T) {
	all := policyFor(t)
	var union []string
	for _, c := range policyCommands {
		union = append(union, policyFor(t, c)...)
	}
	slices.Sort(union)
	union = slices.Compact(union)
	if !slices.Equal(all, union) {
		t.Errorf("no-argument policy differs from the union of every command's:\n%v\n%v", all, union)
	}
	// run is planned from up, migrate and scale, and needs nothing else.
	if !slices.Equal(policyFor(t, "run"), policyFor(t, "up", "migrate", "scale")) {
		t.Error("run's policy is not that of up, migrate and scale")
	}
	if len(policyFor(t, "version", "iam-policy")) != 0 {
		t.Error("version and iam-policy call no AWS API, yet need a policy")
	}
}

func TestIAMPolicyUnknownCommandIsBadInput(t *testing.T) {
	if _, err := policyCalls([]string{"up", "teleport"}); !cmdutil.IsUsage(err) {
		t.Errorf("got %v, want bad input", err)
	}
}

// The command prints a valid policy document, in JSON unless YAML is asked
// for, and a bare list with --actions.
func TestIAMPolicyCommandOutput(t *testing.T) {
	isolate(t)
	var out strings.Builder
	code, stderr := runCLIOut(t, &out, "iam-policy", "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc iampolicy.Document
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
		t.Errorf("unexpected document %+v", doc)
	}
	out.Reset()
	if code, stderr := runCLIOut(t, &out, "iam-policy", "status", "--actions"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := strings.Fields(out.String()); !slices.Equal(got, policyFor(t, "status")) {
		t.Errorf("--actions printed %v", got)
	}
	out.Reset()
	if code, _ := runCLIOut(t, &out, "iam-policy", "status", "-o", "yaml"); code != 0 || !strings.HasPrefix(out.String(), "Statement:") {
		t.Errorf("-o yaml printed %q", out.String())
	}
}
