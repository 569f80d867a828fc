package ladder

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/whatsthetime/wtt/pkg/observe"
)

// What a step hands over must read as discovery would read it: the tests
// here build the state a step's answers give and compare it with the
// state discovery builds from the same facts.

func describedAs(id, state, ip string, launched time.Time) ec2types.Instance {
	in := ec2types.Instance{InstanceId: aws.String(id), InstanceType: "m5.large", LaunchTime: aws.Time(launched),
		State: &ec2types.InstanceState{Name: ec2types.InstanceStateName(state)}}
	if ip != "" {
		in.PublicIpAddress = aws.String(ip)
	}
	return in
}

func TestTookInstancesReplacesWhatTheStepDescribed(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &observe.State{
		Instances: []observe.Instance{
			{ID: "i-old", State: "running", LaunchTime: t0},
			{ID: "i-eip", State: "pending", LaunchTime: t0.Add(time.Minute), EIP: "3.0.0.1", PublicIP: "3.0.0.1"},
			{ID: "i-gone", State: "running", LaunchTime: t0.Add(2 * time.Minute)},
		},
		EIPs: []observe.EIP{{AllocationID: "eipalloc-1", PublicIP: "3.0.0.1", InstanceID: "i-eip", AssociationID: "eipassoc-1"}},
	}
	e := &Env{State: &observe.State{Instances: s.Instances, EIPs: s.EIPs}}
	e.tookInstances([]ec2types.Instance{
		describedAs("i-new", "running", "54.0.0.9", t0.Add(3*time.Minute)),
		describedAs("i-eip", "running", "54.0.0.8", t0.Add(time.Minute)),
		describedAs("i-gone", "terminated", "", t0.Add(2*time.Minute)),
	}, 0)

	var ids []string
	for _, i := range e.State.Instances {
		ids = append(ids, i.ID)
	}
	if !slices.Equal(ids, []string{"i-old", "i-eip", "i-new"}) {
		t.Errorf("instances %v: want the untouched one, the described ones oldest first, none terminated", ids)
	}
	eip := e.State.Instances[1]
	if eip.State != "running" || eip.PublicIP != "3.0.0.1" || eip.EIP != "3.0.0.1" {
		t.Errorf("described instance with an Elastic IP: %+v; want running, answering on its Elastic IP", eip)
	}
	if old := s.Instances; len(old) != 3 || old[1].State != "pending" || old[2].ID != "i-gone" {
		t.Errorf("the observed instances were changed in place: %+v", old)
	}
}

func TestTookTargetsMergesAndSortsAsDiscovery(t *testing.T) {
	s := &observe.State{TargetGroup: &observe.TargetGroup{ARN: "arn:tg", Targets: []observe.Target{
		{ID: "i-a", Health: "healthy"}, {ID: "i-c", Health: "draining"}, {ID: "i-d", Health: "healthy"},
	}}}
	old := s.TargetGroup
	e := &Env{State: s}
	e.tookTargets(map[string]string{"i-b": "healthy", "i-d": "unhealthy"}, []string{"i-c"}, 0)
	want := []observe.Target{{ID: "i-a", Health: "healthy"}, {ID: "i-b", Health: "healthy"}, {ID: "i-d", Health: "unhealthy"}}
	if got := e.State.TargetGroup.Targets; !slices.Equal(got, want) {
		t.Errorf("targets %v, want %v", got, want)
	}
	if len(old.Targets) != 3 || old.Targets[1].ID != "i-c" {
		t.Errorf("the observed target group was changed in place: %v", old.Targets)
	}
}

func TestTookEIPsAssociatesThemWithTheirInstances(t *testing.T) {
	s := &observe.State{
		Instances: []observe.Instance{{ID: "i-1", PublicIP: "54.0.0.1"}, {ID: "i-2", PublicIP: "54.0.0.2"}},
		EIPs:      []observe.EIP{{AllocationID: "eipalloc-idle", PublicIP: "3.0.0.9"}},
	}
	e := &Env{State: s}
	e.tookEIPs([]observe.EIP{
		{AllocationID: "eipalloc-idle", PublicIP: "3.0.0.9", InstanceID: "i-1", AssociationID: "eipassoc-1"},
		{AllocationID: "eipalloc-new", PublicIP: "3.0.0.2", InstanceID: "i-2", AssociationID: "eipassoc-2"},
	})
	if n := len(e.State.EIPs); n != 2 {
		t.Fatalf("%d Elastic IPs, want the reused one and the new one: %+v", n, e.State.EIPs)
	}
	for _, i := range e.State.Instances {
		if i.EIP == "" || i.PublicIP != i.EIP {
			t.Errorf("instance %+v does not answer on its Elastic IP", i)
		}
	}

	// An association whose ID the step did not learn hands nothing over.
	s = &observe.State{Instances: []observe.Instance{{ID: "i-1", PublicIP: "54.0.0.1"}}, EIPs: []observe.EIP{}}
	e = &Env{State: s}
	e.tookEIPs([]observe.EIP{{AllocationID: "eipalloc-1", PublicIP: "3.0.0.1", InstanceID: "i-1"}})
	if len(e.State.EIPs) != 0 || e.State.Instances[0].EIP != "" {
		t.Errorf("handed over an association it did not see: %+v", e.State)
	}
}

func TestDrainTagsReadAsDiscoveryReadsThem(t *testing.T) {
	var i observe.Instance
	withDrainTag(&i, observe.TagDNSDrain, (5 * time.Minute).String())
	withDrainTag(&i, observe.TagRetireAfter, "2026-11-30T03:00:05Z")
	if i.DNSDrain() != 5*time.Minute || !i.RetireAfter.Equal(time.Date(2026, 11, 30, 3, 0, 5, 0, time.UTC)) {
		t.Errorf("drain %s, retire after %s", i.DNSDrain(), i.RetireAfter)
	}
	// Discovery builds the same instance from the same tags.
	in := observe.InstanceFrom(ec2types.Instance{InstanceId: aws.String("i-1"), Tags: []ec2types.Tag{
		{Key: aws.String(observe.TagDNSDrain), Value: aws.String("5m0s")},
		{Key: aws.String(observe.TagRetireAfter), Value: aws.String("2026-11-30T03:00:05Z")},
	}})
	if in.DNSDrainSeconds != i.DNSDrainSeconds || !in.RetireAfter.Equal(i.RetireAfter) {
		t.Errorf("discovery reads %d/%s, the step hands over %d/%s", in.DNSDrainSeconds, in.RetireAfter, i.DNSDrainSeconds, i.RetireAfter)
	}
}
