package cli

import (
	"strings"
	"testing"

	"github.com/whatsthetime/wtt/pkg/cmdutil"
)

// Bad probe flags are bad input: exit 2, with the fix, before AWS is
// touched.
func TestProbeFlagsAreValidatedFirst(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"scale", "--vertical", "m5.large", "--probe-rate", "0"}, "--probe-rate 0 is out of range"},
		{[]string{"scale", "--horizontal", "2", "--probe-rate", "500"}, "--probe-rate 500 is out of range"},
		{[]string{"migrate", "--to=eip", "--probe-url", "ftp://x/"}, "is not an http:// URL with a host"},
		{[]string{"migrate", "--to=eip", "--probe-url", "/api/time"}, "is not an http:// URL with a host"},
		{[]string{"down", "--probe-resolver", "127.0.0.1"}, `--probe-resolver "127.0.0.1" is not HOST:PORT`},
		{[]string{"down", "--probe-resolver", "127.0.0.1:99999"}, "is not HOST:PORT"},
		{[]string{"migrate", "--to=eip", "--dry-run", "--probe"}, "a dry run runs nothing"},
		{[]string{"run", "-f", "x.yaml", "--dry-run", "--probe-rate", "5"}, "a dry run runs nothing"},
		{[]string{"probe", "--for", "0s"}, "--for 0s is out of range"},
		{[]string{"probe", "--for", "2h"}, "--for 2h0m0s is out of range"},
		{[]string{"probe", "--probe-rate", "1000"}, "--probe-rate 1000 is out of range"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stderr, touched := runCLI(t, tc.args...)
			if code != cmdutil.ExitBadInput || !strings.Contains(stderr, tc.want) || touched {
				t.Errorf("exit %d, touched AWS %v, stderr %q; want exit 2, no AWS, %q", code, touched, stderr, tc.want)
			}
		})
	}
}
