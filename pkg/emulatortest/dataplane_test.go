package emulatortest

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// With the data plane on, an instance described by the SDK answers HTTP on
// its public address, and Go's own resolver, pointed at DNSAddr, finds it by
// a Route 53 name: what wtt's --probe does.
func TestDataPlaneServesThroughGoResolver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an emulator with its data plane")
	}
	emu := Start(t, WithDataPlane("--boot-delay=0.2"))
	if emu.External() {
		t.Skip("external endpoint: no data plane")
	}
	cfg := emu.AWSConfig(t)
	c := ctx(t)
	e := ec2.NewFromConfig(cfg)
	// The default security group admits only itself: open port 80 to the world.
	sg, err := e.CreateSecurityGroup(c, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.AuthorizeSecurityGroupIngress(c, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80),
		IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	run, err := e.RunInstances(c, &ec2.RunInstancesInput{ImageId: aws.String(ami), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SecurityGroupIds: []string{aws.ToString(sg.GroupId)}})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	desc, err := e.DescribeInstances(c, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	ip := aws.ToString(desc.Reservations[0].Instances[0].PublicIpAddress)
	if !strings.HasPrefix(ip, "127.1.") {
		t.Fatalf("public IP %q, want one in 127.1.0.0/16", ip)
	}
	r53 := route53.NewFromConfig(cfg)
	zone, err := r53.CreateHostedZone(c, &route53.CreateHostedZoneInput{Name: aws.String("example.com"), CallerReference: aws.String("t")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r53.ChangeResourceRecordSets(c, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: zone.HostedZone.Id,
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{
			Action: r53types.ChangeActionUpsert,
			ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: aws.String("api.example.com"), Type: r53types.RRTypeA, TTL: aws.Int64(300),
				ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(ip)}},
			},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}

	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", emu.DNSAddr())
	}}
	addrs, err := resolver.LookupHost(c, "api.example.com")
	if err != nil || len(addrs) != 1 || addrs[0] != ip {
		t.Fatalf("LookupHost(api.example.com) = %v, %v; want [%s]", addrs, err, ip)
	}
	if _, err := resolver.LookupHost(c, "nothing.example.com"); err == nil {
		t.Fatal("an unknown name resolved")
	}

	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{Resolver: resolver}).DialContext,
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://api.example.com/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get("X-Served-By-Instance") == id {
				break
			}
			err = nil
			if time.Now().After(deadline) {
				t.Fatalf("GET /healthz: %d %q, served by %q", resp.StatusCode, body, resp.Header.Get("X-Served-By-Instance"))
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("GET http://api.example.com/healthz: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if killed := emu.KillAZ(t, aws.ToString(run.Instances[0].Placement.AvailabilityZone)); len(killed) != 1 || killed[0] != id {
		t.Fatalf("KillAZ killed %v, want [%s]", killed, id)
	}
	if _, err := client.Get("http://api.example.com/healthz"); err == nil {
		t.Fatal("a killed instance still answers")
	}
	desc, err = e.DescribeInstances(c, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || desc.Reservations[0].Instances[0].State.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("after the kill the API should still say running: %v %v", err, desc)
	}
}

func TestDataPlaneOffByDefault(t *testing.T) {
	e := &Emulator{url: "http://127.0.0.1:1234"}
	if e.DataPlane() || e.DNSAddr() != "" {
		t.Fatalf("DataPlane() = %v, DNSAddr() = %q; want off", e.DataPlane(), e.DNSAddr())
	}
}
