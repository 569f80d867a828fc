//go:build unix

package emulatortest

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// TestStartStops checks that the emulator answers and that the cleanup
// registered by Start ends the process.
func TestStartStops(t *testing.T) {
	if os.Getenv(EndpointEnv) != "" {
		t.Skip(EndpointEnv + " is set")
	}
	var pid int
	t.Run("run", func(t *testing.T) {
		e := Start(t)
		pid = e.PID()
		out, err := ec2.NewFromConfig(e.AWSConfig(t)).DescribeRegions(ctx(t), &ec2.DescribeRegionsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Regions) == 0 {
			t.Fatal("no regions")
		}
	})
	if pid == 0 {
		t.Fatal("no pid")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("emulator pid %d still exists after cleanup (kill -0: %v)", pid, err)
	}
}
