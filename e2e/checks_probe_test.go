package e2e

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rogpeppe/go-internal/testscript"
)

// Checks that join a probe report (the last command's -o json) with what
// the AWS APIs say now.
func init() {
	checks["probe-served"] = checkProbeServed
}

// aws probe-served STATE OP N: the instances that answered the last probe
// and are now in EC2 state STATE number OP N. After a rolling replacement
// both `terminated > 0` (the old instances served until they left) and
// `running > 0` (the new ones served before the end) hold.
func checkProbeServed(ctx context.Context, c *checker, ts *testscript.TestScript, args []string) error {
	if len(args) != 3 {
		ts.Fatalf("usage: aws probe-served STATE OP N")
	}
	served, _ := probeField(ts, "servedBy.instances").(map[string]any)
	is, err := c.instances(ctx, args[0])
	if err != nil {
		return err
	}
	n := 0
	for _, i := range is {
		if _, ok := served[aws.ToString(i.InstanceId)]; ok {
			n++
		}
	}
	if !compare(ts, float64(n), args[1], args[2]) {
		return fmt.Errorf("%d instance(s) that answered are %s now; want %s %s (served by %v)", n, args[0], args[1], args[2], served)
	}
	ts.Logf("%d instance(s) that answered are %s now", n, args[0])
	return nil
}
