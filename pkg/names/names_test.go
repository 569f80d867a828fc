package names

import (
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
)

func TestValidateApp(t *testing.T) {
	for _, ok := range []string{"whatsthetime", "a", "wtt-2", "a1-b2-c3", strings.Repeat("a", MaxAppLen)} {
		if err := ValidateApp(ok); err != nil {
			t.Errorf("ValidateApp(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "WhatsTheTime", "1app", "-app", "app-", "a--b", "app_1", "app.1", "app 1", strings.Repeat("a", MaxAppLen+1)} {
		err := ValidateApp(bad)
		if err == nil {
			t.Errorf("ValidateApp(%q) accepted", bad)
			continue
		}
		if cmdutil.ExitCode(err) != cmdutil.ExitBadInput {
			t.Errorf("ValidateApp(%q) exit code %d, want 2", bad, cmdutil.ExitCode(err))
		}
		if !strings.Contains(err.Error(), "fix:") {
			t.Errorf("ValidateApp(%q) = %q, says no fix", bad, err)
		}
	}
}

// Every derived name must fit its AWS limit for the longest valid app name.
func TestDerivedNamesFitAWSLimits(t *testing.T) {
	n := For(strings.Repeat("a", MaxAppLen))
	for name, limit := range map[string]int{
		n.ALB():             32,
		n.TargetGroup():     32,
		n.Role():            64,
		n.InstanceProfile(): 128,
		n.LaunchTemplate():  128,
		n.ASG():             255,
		n.Bucket("123456789012", "ap-southeast-2"): 63,
		n.WebSG(): 255,
	} {
		if len(name) > limit {
			t.Errorf("%s is %d characters, over AWS's %d", name, len(name), limit)
		}
	}
}
