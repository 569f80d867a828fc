package ladder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/cmdutil"
	"github.com/whatsthetime/wtt/pkg/observe"
	"github.com/whatsthetime/wtt/pkg/plan"
	"github.com/whatsthetime/wtt/pkg/stage"
)

// publicFleet is an app at stage single with n running instances, each on
// an auto-assigned public IP 54.0.0.<k>.
func publicFleet(t *testing.T, n int) *observe.State {
	t.Helper()
	web := &observe.SecurityGroup{ID: "sg-web", Name: "wtt-pub-web",
		Ingress: []observe.Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []string{"0.0.0.0/0"}}}}
	s := &observe.State{
		App: "pub", Region: "us-east-1",
		Network: observe.Network{VPCID: "vpc-1", WebSG: web, Tags: map[string]string{},
			IGWID: "igw-1", IGWAttached: true, S3EndpointID: "vpce-1",
			RouteTables: []observe.RouteTable{{ID: "rtb-pub", Public: true}, {ID: "rtb-priv"}},
			Subnets: []observe.Subnet{
				{ID: "subnet-pa", AZ: "us-east-1a", Public: true}, {ID: "subnet-pb", AZ: "us-east-1b", Public: true},
				{ID: "subnet-qa", AZ: "us-east-1a"}, {ID: "subnet-qb", AZ: "us-east-1b"},
			}},
		EIPs: []observe.EIP{}, Reserved: []observe.Reserved{},
	}
	for k := 1; k <= n; k++ {
		s.Instances = append(s.Instances, observe.Instance{
			ID: fmt.Sprintf("i-%d", k), Type: "t2.micro", State: "running", AZ: "us-east-1a", SubnetID: "subnet-pa",
			PublicIP: fmt.Sprintf("54.0.0.%d", k), IMDSv2Required: true, Role: "web", SecurityGroups: []string{"sg-web"},
		})
	}
	if got := stage.Detect(s).Stage; n > 0 && got != stage.Single {
		t.Fatalf("fixture is at %s, want single; unmet: %v", got, stage.Detect(s).Unmet)
	}
	return s
}

// withEIPs associates an Elastic IP 3.0.0.<k> with every instance, as
// discovery reports it (the instance's public IP is its EIP).
func withEIPs(s *observe.State) *observe.State {
	for k := range s.Instances {
		ip := fmt.Sprintf("3.0.0.%d", k+1)
		s.EIPs = append(s.EIPs, observe.EIP{AllocationID: fmt.Sprintf("eipalloc-%d", k+1), PublicIP: ip,
			InstanceID: s.Instances[k].ID, AssociationID: fmt.Sprintf("eipassoc-%d", k+1)})
		s.Instances[k].EIP, s.Instances[k].PublicIP = ip, ip
	}
	return s
}

func hasAll(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("calls %v lack %s", got, w)
		}
	}
}

func someContains(list []string, sub string) bool {
	for _, l := range list {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func usageFix(t *testing.T, err error) string {
	t.Helper()
	var u *cmdutil.UsageError
	if !errors.As(err, &u) {
		t.Fatalf("err = %v, want a usage error (exit 2)", err)
	}
	return u.Fix
}

func TestPlanEIPFromSingle(t *testing.T) {
	s := publicFleet(t, 1)
	steps, warns, err := planEIP(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 {
		t.Fatalf("%d steps, want 1", len(steps))
	}
	st := steps[0]
	if st.Action != plan.Create || st.Rung != "eip" || !strings.Contains(st.Resource, "i-1") {
		t.Errorf("step = %s %s (rung %s)", st.Action, st.Resource, st.Rung)
	}
	hasAll(t, st.Calls, "servicequotas:GetServiceQuota", "ec2:DescribeAddresses", "ec2:AllocateAddress", "ec2:CreateTags", "ec2:AssociateAddress")
	if st.Downtime != 0 || !strings.Contains(st.DowntimeNote, "54.0.0.1") {
		t.Errorf("downtime %v %q: want none, naming the address that stops answering", st.Downtime, st.DowntimeNote)
	}
	if st.Do == nil || st.Check == nil {
		t.Error("step needs Do and a server dry-run Check")
	}
	if !someContains(warns, "$0.005/hour") || !someContains(warns, "barely changes") {
		t.Errorf("warnings %v should say the cost barely changes", warns)
	}
}

func TestProjectEIPReachesTheStageAtTheSameCost(t *testing.T) {
	s := publicFleet(t, 3)
	p := projectEIP(s, Options{})
	if !stage.Reached(p, stage.EIP) {
		t.Fatalf("projection does not reach eip: %v", stage.Detect(p).Unmet)
	}
	if len(p.EIPs) != 3 {
		t.Errorf("%d EIPs projected, want 3", len(p.EIPs))
	}
	if len(s.EIPs) != 0 || s.Instances[0].EIP != "" {
		t.Error("projection changed the observed state")
	}
	if before, after := Cost(s).Monthly, Cost(p).Monthly; before != after {
		t.Errorf("cost %.2f -> %.2f: an EIP in use costs what the auto-assigned IPv4 did", before, after)
	}
}

func TestPlanEIPReusesAnUnassociatedEIP(t *testing.T) {
	s := publicFleet(t, 2)
	// A run killed between AllocateAddress and AssociateAddress left one.
	s.EIPs = []observe.EIP{{AllocationID: "eipalloc-idle", PublicIP: "3.9.9.9"}}
	steps, _, err := planEIP(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || !strings.Contains(steps[0].Detail, "reuses 1 unassociated") {
		t.Fatalf("steps %v: want one step that reuses the idle EIP", steps)
	}
	if n := EIPsNeeded(s); n != 1 {
		t.Errorf("EIPsNeeded = %d, want 1 (2 instances, 1 idle EIP)", n)
	}
	p := projectEIP(s, Options{})
	if len(p.EIPs) != 2 {
		t.Errorf("%d EIPs projected, want 2 (the idle one reused)", len(p.EIPs))
	}
	if p.Instances[0].EIP != "3.9.9.9" {
		t.Errorf("first instance projected on %q, want the reused 3.9.9.9", p.Instances[0].EIP)
	}
	if !stage.Reached(p, stage.EIP) {
		t.Errorf("projection does not reach eip: %v", stage.Detect(p).Unmet)
	}
}

func TestPlanEIPOnlyForInstancesLackingOne(t *testing.T) {
	s := withEIPs(publicFleet(t, 2))
	s.Instances = append(s.Instances, observe.Instance{ID: "i-3", Type: "t2.micro", State: "running", PublicIP: "54.0.0.3",
		IMDSv2Required: true, SecurityGroups: []string{"sg-web"}})
	steps, _, err := planEIP(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || !strings.HasPrefix(steps[0].Resource, "1 Elastic IP") || !strings.Contains(steps[0].Resource, "i-3") {
		t.Fatalf("steps %v: want one EIP for i-3", steps)
	}
	if n := EIPsNeeded(s); n != 1 {
		t.Errorf("EIPsNeeded = %d, want 1", n)
	}
}

func TestPlanEIPNothingToDo(t *testing.T) {
	s := withEIPs(publicFleet(t, 2))
	if !stage.Reached(s, stage.EIP) {
		t.Fatalf("fixture not at eip: %v", stage.Detect(s).Unmet)
	}
	steps, _, err := planEIP(s, Options{})
	if err != nil || len(steps) != 0 {
		t.Fatalf("steps %v, err %v: want none", steps, err)
	}
	if n := EIPsNeeded(s); n != 0 {
		t.Errorf("EIPsNeeded = %d, want 0", n)
	}
	p, err := Migrate(s, stage.EIP, Options{})
	if err != nil || !p.Empty() {
		t.Fatalf("migrate at eip: %v %v, want an empty plan", p, err)
	}
}

func TestPlanEIPRefusesMoreThanFiveInstances(t *testing.T) {
	s := publicFleet(t, 6)
	_, _, err := planEIP(s, Options{})
	if fix := usageFix(t, err); !strings.Contains(fix, "migrate --to=dns") {
		t.Errorf("fix %q should point to migrate --to=dns", fix)
	}
	if !strings.Contains(err.Error(), "6 instances") {
		t.Errorf("error %q should say how many instances", err)
	}
}

func TestMigrateToEIPFromNone(t *testing.T) {
	s := &observe.State{App: "pub", Region: "us-east-1", EIPs: []observe.EIP{}, Instances: []observe.Instance{}, Reserved: []observe.Reserved{}}
	p, err := Migrate(s, stage.EIP, Options{})
	if err != nil {
		t.Fatal(err)
	}
	last := p.Steps[len(p.Steps)-1]
	if last.Rung != "eip" || !strings.Contains(last.Resource, unknown) {
		t.Errorf("last step %s %s (rung %s): want the EIP for the instance up launches", last.Action, last.Resource, last.Rung)
	}
	if p.Steps[0].Rung != "single" {
		t.Errorf("first step is rung %s, want single (bootstrap)", p.Steps[0].Rung)
	}
	if n := EIPsNeeded(s); n != 1 {
		t.Errorf("EIPsNeeded = %d from none, want 1", n)
	}
}

// fakeAWS answers the few EC2 and Service Quotas calls the quota check
// makes, the way AWS does (EC2 query/XML, Service Quotas JSON).
type fakeAWS struct {
	addresses int
	quota     float64 // 0: Service Quotas answers AccessDenied
	calls     []string
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		f.calls = append(f.calls, target)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if f.quota == 0 {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"no"}`)
			return
		}
		fmt.Fprintf(w, `{"Quota":{"QuotaCode":"L-0263D0A3","ServiceCode":"ec2","Value":%g}}`, f.quota)
		return
	}
	action := r.Form.Get("Action")
	f.calls = append(f.calls, action)
	w.Header().Set("Content-Type", "text/xml")
	switch action {
	case "DescribeAddresses":
		fmt.Fprint(w, `<DescribeAddressesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><addressesSet>`)
		for k := 0; k < f.addresses; k++ {
			fmt.Fprintf(w, `<item><allocationId>eipalloc-%d</allocationId><publicIp>3.1.1.%d</publicIp><domain>vpc</domain></item>`, k, k)
		}
		fmt.Fprint(w, `</addressesSet></DescribeAddressesResponse>`)
	default:
		w.WriteHeader(400)
		fmt.Fprintf(w, `<Response><Errors><Error><Code>Unsupported</Code><Message>%s</Message></Error></Errors></Response>`, action)
	}
}

func fakeClients(t *testing.T, h http.Handler) *awsclient.Clients {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1}
	return &awsclient.Clients{Config: cfg, EC2: ec2.NewFromConfig(cfg), Quotas: servicequotas.NewFromConfig(cfg)}
}

func TestCheckEIPQuota(t *testing.T) {
	for _, tc := range []struct {
		name      string
		quota     float64
		addresses int
		need      int
		refused   bool
	}{
		{"default quota, room left", 0, 3, 2, false},
		{"default quota exceeded by other apps' EIPs", 0, 4, 2, true},
		{"raised quota from Service Quotas", 10, 4, 2, false},
		{"raised quota exceeded", 10, 9, 2, true},
		{"nothing needed", 0, 7, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAWS{quota: tc.quota, addresses: tc.addresses}
			err := CheckEIPQuota(context.Background(), fakeClients(t, f), tc.need)
			if !tc.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if fix := usageFix(t, err); !strings.Contains(fix, "migrate --to=dns") {
				t.Errorf("fix %q should point to migrate --to=dns", fix)
			}
			if tc.need > 0 && !slices.Contains(f.calls, "DescribeAddresses") {
				t.Errorf("calls %v: the region's EIPs were not counted", f.calls)
			}
		})
	}
}
