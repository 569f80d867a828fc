package ladder

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/whatsthetime/wtt/pkg/names"
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
