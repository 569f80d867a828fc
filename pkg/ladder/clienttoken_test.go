package ladder

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/observe"
)

// A run repeats its own token (the SDK's retries must get the first
// resource back); another run sends a new one (a resource deleted since
// must be made again, not handed back by AWS); every token fits EC2's 64
// characters with the run's nonce in it.
func TestClientTokenIsPerRun(t *testing.T) {
	app := strings.Repeat("a", names.MaxAppLen)
	run1, run2 := &Env{App: app}, &Env{App: app}
	for _, parts := range [][]string{{"s3", "vpc-0123456789abcdef0"}, {"lt", "0123456789abcdef"}, {"ltv", "0123456789abcdef"}} {
		a, again := aws.ToString(run1.clientToken(parts...)), aws.ToString(run1.clientToken(parts...))
		b := aws.ToString(run2.clientToken(parts...))
		if a != again {
			t.Errorf("%v: one run sent %q, then %q", parts, a, again)
		}
		if a == b {
			t.Errorf("%v: two runs sent the same token %q", parts, a)
		}
		for _, tok := range []string{a, b} {
			if len(tok) > 64 {
				t.Errorf("%v: token %q is %d characters, over EC2's 64", parts, tok, len(tok))
			}
			if !strings.HasSuffix(tok, strings.Join(parts, "-")) {
				t.Errorf("%v: token %q lost a part", parts, tok)
			}
		}
	}
}

// A token over 64 characters keeps its start and tells apart what it cut.
func TestFitTokenHashesWhatItCuts(t *testing.T) {
	long := "wtt-app-run-" + strings.Repeat("x", 60)
	a, b := fitToken(long+"1"), fitToken(long+"2")
	if len(a) != 64 || len(b) != 64 {
		t.Fatalf("want 64 characters, got %d and %d", len(a), len(b))
	}
	if a == b || !strings.HasPrefix(a, "wtt-app-run-") {
		t.Errorf("fitToken(%q...1) = %q, (...2) = %q: want the start kept and the two apart", long, a, b)
	}
	if got := fitToken("wtt-app-run-s3"); got != "wtt-app-run-s3" {
		t.Errorf("a short token changed: %q", got)
	}
}

// A launch into an empty fleet repeats from run to run (the same subnet,
// role and ordinal after the last instance was terminated): only the run's
// nonce keeps AWS from answering with the terminated instance.
func TestLaunchTokenIsPerRun(t *testing.T) {
	empty := &observe.State{}
	spec, sn := launchSpec{Role: "web"}, observe.Subnet{ID: "subnet-0123456789abcdef0"}
	run1, run2 := &Env{App: "app", State: empty}, &Env{App: "app", State: empty}
	a, again := aws.ToString(run1.launchToken(spec, sn, 0)), aws.ToString(run1.launchToken(spec, sn, 0))
	if a != again {
		t.Errorf("one run sent %q, then %q", a, again)
	}
	if b := aws.ToString(run2.launchToken(spec, sn, 0)); a == b {
		t.Errorf("two runs launching into the same empty fleet sent the same token %q", a)
	}
	if len(a) > 64 {
		t.Errorf("token %q is over EC2's 64 characters", a)
	}
}
