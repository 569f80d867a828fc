package printers

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/pricing"
	"github.com/whatsthetime/wtt/pkg/stage"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/printers -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func sampleState() *observe.State {
	return &observe.State{
		App: "whatsthetime", Region: "us-east-1",
		Instances: []observe.Instance{
			{ID: "i-0aaa", Type: "m5.large", State: "running", AZ: "us-east-1a", PublicIP: "3.3.3.3", PrivateIP: "10.40.0.5", EIP: "3.3.3.3", IMDSv2Required: true, SubnetID: "subnet-1"},
			{ID: "i-0bbb", Type: "m5.large", State: "stopped", AZ: "us-east-1b", PrivateIP: "10.40.1.6", IMDSv2Required: true, SubnetID: "subnet-2"},
		},
		EIPs: []observe.EIP{
			{AllocationID: "eipalloc-1", PublicIP: "3.3.3.3", InstanceID: "i-0aaa", AssociationID: "eipassoc-1"},
			{AllocationID: "eipalloc-2", PublicIP: "4.4.4.4"},
		},
		Reserved: []observe.Reserved{},
	}
}

func TestStatusTable(t *testing.T) {
	s := sampleState()
	st := NewStatus(s, stage.Result{Stage: stage.Single, Unmet: []string{"instance i-0bbb is stopped"}},
		pricing.Estimate{Monthly: 81.23})
	for _, format := range []string{"table", "wide", "json"} {
		var b bytes.Buffer
		if err := PrintStatus(&b, format, st); err != nil {
			t.Fatal(err)
		}
		golden(t, "status."+format, b.Bytes())
	}
}

// The JSON field names are the contract scripts rely on.
func TestStatusJSONContract(t *testing.T) {
	s := sampleState()
	s.LoadBalancer = &observe.LoadBalancer{Name: "wtt-x", DNSName: "x.elb", AZs: []string{"us-east-1a", "us-east-1b"}}
	s.TargetGroup = &observe.TargetGroup{Targets: []observe.Target{{ID: "i-0aaa", Health: "healthy"}}}
	s.Group = &observe.Group{Name: "g", Min: 2, Max: 4, Desired: 2, AZs: []string{"us-east-1a"}, InstanceType: "m5.large"}
	var b bytes.Buffer
	if err := PrintStatus(&b, "json", NewStatus(s, stage.Result{Stage: stage.ALB}, pricing.Estimate{})); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"app", "region", "stage", "instances", "eips", "dns", "loadBalancer", "autoScalingGroup", "reservedInstances"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status JSON lacks %q", k)
		}
	}
	inst := m["instances"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "type", "state", "az", "publicIp", "privateIp", "eip"} {
		if _, ok := inst[k]; !ok {
			t.Errorf("instance JSON lacks %q", k)
		}
	}
	lb := m["loadBalancer"].(map[string]any)
	for _, k := range []string{"dnsName", "azs", "targets"} {
		if _, ok := lb[k]; !ok {
			t.Errorf("loadBalancer JSON lacks %q", k)
		}
	}
	g := m["autoScalingGroup"].(map[string]any)
	for _, k := range []string{"name", "min", "max", "desired", "azs", "instanceType"} {
		if _, ok := g[k]; !ok {
			t.Errorf("autoScalingGroup JSON lacks %q", k)
		}
	}
}

func TestFindingsFlagWhatCostsMoneyForNothing(t *testing.T) {
	s := sampleState()
	s.LoadBalancer = &observe.LoadBalancer{Name: "wtt-x"}
	st := NewStatus(s, stage.Result{Stage: stage.Single, HalfBuilt: stage.ALB, HalfBuiltUnmet: []string{"no target group"}}, pricing.Estimate{})
	kinds := map[string]Finding{}
	for _, f := range st.Findings {
		kinds[f.Kind] = f
	}
	for _, k := range []string{"idle-eip", "stopped-instance", "idle-load-balancer", "half-built"} {
		if _, ok := kinds[k]; !ok {
			t.Errorf("no %s finding in %+v", k, st.Findings)
		}
	}
	if kinds["idle-eip"].Monthly != 3.65 {
		t.Errorf("idle EIP costs %v/month, want 3.65", kinds["idle-eip"].Monthly)
	}
	if !strings.Contains(kinds["half-built"].Message, "wtt migrate --to=alb") {
		t.Errorf("half-built finding does not say how to finish: %q", kinds["half-built"].Message)
	}
}

func samplePlan() *plan.Plan {
	return &plan.Plan{
		App: "whatsthetime", Region: "us-east-1", Operation: "scale --vertical m5.large", From: "eip", To: "eip",
		Warnings: []string{"the public address stays: the Elastic IP moves with the instance"},
		Steps: []*plan.Step{
			{Action: plan.Update, Resource: "instance i-0aaa t2.micro -> m5.large", Detail: "stop, change type, start",
				Calls: []string{"ec2:StopInstances", "ec2:ModifyInstanceAttribute", "ec2:StartInstances"}, Downtime: 2 * time.Minute,
				DowntimeNote: "the only instance is stopped: the app is down"},
			{Action: plan.Buy, Resource: "2 × m5.large Reserved Instances (1y, no upfront)", Calls: []string{"ec2:PurchaseReservedInstancesOffering"}, Upfront: 0},
			{Action: plan.Delete, Resource: "Elastic IP 4.4.4.4", Calls: []string{"ec2:ReleaseAddress"}},
		},
		CostBefore: pricing.Estimate{Monthly: 12.76},
		CostAfter:  pricing.Estimate{Monthly: 74.72},
	}
}

func TestPlanText(t *testing.T) {
	var b bytes.Buffer
	if err := PrintPlan(&b, "table", samplePlan(), " (dry run)"); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.txt", b.Bytes())
	out := b.String()
	for _, want := range []string{"Plan: 1 to add, 1 to change, 1 to destroy.", "downtime: about 2m0s", "$12.76 -> $74.72", "(dry run)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan text lacks %q", want)
		}
	}
}

func TestPlanJSON(t *testing.T) {
	var b bytes.Buffer
	if err := PrintPlan(&b, "json", samplePlan(), ""); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.json", b.Bytes())
	var v struct {
		Steps []struct {
			Action          string   `json:"action"`
			Calls           []string `json:"calls"`
			DowntimeSeconds float64  `json:"downtimeSeconds"`
		} `json:"steps"`
		Summary summary `json:"summary"`
	}
	if err := json.Unmarshal(b.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Steps[0].DowntimeSeconds != 120 || v.Summary.DowntimeSeconds != 120 {
		t.Errorf("downtime in JSON = %v / %v, want 120 seconds", v.Steps[0].DowntimeSeconds, v.Summary.DowntimeSeconds)
	}
	if v.Summary.Add != 1 || v.Summary.Change != 1 || v.Summary.Destroy != 1 {
		t.Errorf("summary = %+v", v.Summary)
	}
}

func TestEmptyPlanSaysNoChanges(t *testing.T) {
	var b bytes.Buffer
	p := &plan.Plan{App: "a", Region: "r", Operation: "migrate --to=eip", From: "eip", To: "eip"}
	if err := PrintPlan(&b, "table", p, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No changes.") {
		t.Errorf("empty plan printed %q", b.String())
	}
}

func TestValidateFormat(t *testing.T) {
	for _, f := range Formats {
		if err := ValidateFormat(f); err != nil {
			t.Errorf("%s refused: %v", f, err)
		}
	}
	if err := ValidateFormat("xml"); err == nil || !strings.Contains(err.Error(), "table, wide, json, yaml") {
		t.Errorf("xml accepted or unhelpful error: %v", err)
	}
}

// An alias record has no TTL to show, and the table says which Reserved
// Instances wtt bought (the JSON has boughtByWtt).
func TestStatusTableAliasAndReservations(t *testing.T) {
	s := &observe.State{
		App: "whatsthetime", Region: "us-east-1", Instances: []observe.Instance{}, EIPs: []observe.EIP{},
		DNS: &observe.DNS{Name: "api.whatisthetime.com", Type: "A", AliasTarget: "wtt-x-123.us-east-1.elb.amazonaws.com", ZoneName: "whatisthetime.com"},
		Reserved: []observe.Reserved{
			{ID: "ri-1", InstanceType: "m5.large", Count: 2, State: "active", Scope: "Region", End: time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC), BoughtByWtt: true},
			{ID: "ri-2", InstanceType: "m5.large", Count: 1, State: "active", Scope: "Region", End: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},
		},
	}
	var b bytes.Buffer
	if err := PrintStatus(&b, "table", NewStatus(s, stage.Result{Stage: stage.Reserved}, pricing.Estimate{Monthly: 140})); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-alias-reserved.table", b.Bytes())
	if strings.Contains(b.String(), "ttl=") {
		t.Errorf("alias record shows a TTL:\n%s", b.String())
	}

	// A plain A record keeps its TTL.
	s.DNS = &observe.DNS{Name: "api.whatisthetime.com", Type: "A", TTL: 300, Values: []string{"3.3.3.3"}, ZoneName: "whatisthetime.com"}
	b.Reset()
	if err := PrintStatus(&b, "table", NewStatus(s, stage.Result{Stage: stage.DNS}, pricing.Estimate{})); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "api.whatisthetime.com A ttl=300 -> 3.3.3.3") {
		t.Errorf("A record line lost its TTL:\n%s", b.String())
	}
}
