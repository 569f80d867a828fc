package emulatortest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// BenchmarkStart starts emulators plainly (python3 emulator/wtt_emulator.py
// each) and from the fork server, side by side in one run, and prints the
// CPU and wall time per start and their ratio. Each start answers the two
// first requests a test makes (sts:GetCallerIdentity, ec2:DescribeInstances),
// so the plain one pays for loading those services as a test would:
//
//	go test -run x -bench Start -benchtime 5x ./pkg/emulatortest
func BenchmarkStart(b *testing.B) {
	if os.Getenv(EndpointEnv) != "" {
		b.Skip(EndpointEnv + " is set")
	}
	type figures struct{ cpu, wall time.Duration }
	results := map[string]figures{}
	for _, mode := range []struct {
		name string
		opts []Option
	}{
		{"plain", []Option{func(o *options) { o.plain = true }}},
		{"forked", nil},
	} {
		b.Run(mode.name, func(b *testing.B) {
			if mode.name == "forked" {
				// Started outside the timing: its cost is paid once per test binary.
				Start(b).stop(b)
			}
			var cpu, wall time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				began := time.Now()
				e := Start(b, mode.opts...)
				cfg := e.AWSConfig(b)
				if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(b.Context(), &sts.GetCallerIdentityInput{}); err != nil {
					b.Fatal(err)
				}
				if _, err := ec2.NewFromConfig(cfg).DescribeInstances(b.Context(), &ec2.DescribeInstancesInput{}); err != nil {
					b.Fatal(err)
				}
				e.stop(b)
				wall += time.Since(began)
				cpu += e.proc.cpu()
			}
			per := figures{cpu / time.Duration(b.N), wall / time.Duration(b.N)}
			results[mode.name] = per
			b.ReportMetric(per.cpu.Seconds(), "cpu-s/start")
			b.ReportMetric(per.wall.Seconds(), "wall-s/start")
		})
	}
	plain, forked := results["plain"], results["forked"]
	if plain.cpu > 0 && forked.cpu > 0 {
		once := forkServerCPU()
		fmt.Printf("emulator start: plain %.2f s CPU, %.2f s wall; forked %.2f s CPU, %.2f s wall; "+
			"%.0fx less CPU, %.1fx less wall (the fork server's own %.1f s of CPU is paid once per test binary)\n",
			plain.cpu.Seconds(), plain.wall.Seconds(), forked.cpu.Seconds(), forked.wall.Seconds(),
			plain.cpu.Seconds()/forked.cpu.Seconds(), plain.wall.Seconds()/forked.wall.Seconds(), once.Seconds())
	}
}
