package ladder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/whatsthetime/wtt/pkg/awsclient"
	"github.com/whatsthetime/wtt/pkg/names"
	"github.com/whatsthetime/wtt/pkg/sdkhttp"
)

// The emulator stops and starts instances at once and accepts a type change
// on a running instance; AWS does neither. These fakes behave like AWS, so
// the order of the calls and the waits' timeouts are tested where the
// end-to-end run cannot reach.

// sclFakeEC2 is one instance, i-1, with AWS's state machine: a stop takes
// a poll to complete, a start too, and the type changes only when stopped.
type sclFakeEC2 struct {
	mu         sync.Mutex
	state, typ string
	neverStops bool
	actions    []string
}

func (f *sclFakeEC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	action := r.Form.Get("Action")
	f.actions = append(f.actions, action)
	w.Header().Set("Content-Type", "text/xml")
	const ns = `xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"`
	fail := func(code, msg string) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>1</RequestID></Response>`, code, msg)
	}
	switch action {
	case "DescribeInstances":
		fmt.Fprintf(w, `<DescribeInstancesResponse %s><requestId>1</requestId><reservationSet><item><reservationId>r-1</reservationId><instancesSet><item>`+
			`<instanceId>i-1</instanceId><instanceType>%s</instanceType><instanceState><code>0</code><name>%s</name></instanceState>`+
			`</item></instancesSet></item></reservationSet></DescribeInstancesResponse>`, ns, f.typ, f.state)
		// Transitions complete between two polls.
		switch {
		case f.state == "stopping" && !f.neverStops:
			f.state = "stopped"
		case f.state == "pending":
			f.state = "running"
		}
	case "StopInstances":
		if f.state == "running" {
			f.state = "stopping"
		}
		fmt.Fprintf(w, `<StopInstancesResponse %s><requestId>1</requestId></StopInstancesResponse>`, ns)
	case "StartInstances":
		if f.state == "stopped" {
			f.state = "pending"
		}
		fmt.Fprintf(w, `<StartInstancesResponse %s><requestId>1</requestId></StartInstancesResponse>`, ns)
	case "ModifyInstanceAttribute":
		if f.state != "stopped" {
			fail("IncorrectInstanceState", "The instance 'i-1' is not in the 'stopped' state.")
			return
		}
		f.typ = r.Form.Get("InstanceType.Value")
		fmt.Fprintf(w, `<ModifyInstanceAttributeResponse %s><requestId>1</requestId><return>true</return></ModifyInstanceAttributeResponse>`, ns)
	default:
		fail("Unexpected", action)
	}
}

func (f *sclFakeEC2) called(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.actions {
		if a == action {
			n++
		}
	}
	return n
}

// mutations are the calls that change the instance, in order.
func (f *sclFakeEC2) mutations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(f.actions), func(a string) bool { return strings.HasPrefix(a, "Describe") })
}

func sclTestEnv(t *testing.T, ec2h, asgh http.Handler) *Env {
	c := &awsclient.Clients{}
	if ec2h != nil {
		srv := httptest.NewServer(ec2h)
		t.Cleanup(srv.Close)
		c.EC2 = ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: sdkhttp.Wrap(awshttp.NewBuildableClient()),
			Credentials: aws.AnonymousCredentials{}})
	}
	if asgh != nil {
		srv := httptest.NewServer(asgh)
		t.Cleanup(srv.Close)
		c.AutoScaling = autoscaling.New(autoscaling.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: sdkhttp.Wrap(awshttp.NewBuildableClient()),
			Credentials: aws.AnonymousCredentials{}})
	}
	s := sclSingle(1, "t2.micro")
	s.Instances[0].ID = "i-1"
	return &Env{C: c, N: names.For("t"), App: "t", State: s,
		Opts: Options{PollInterval: 10 * time.Millisecond, WaitTimeout: 300 * time.Millisecond}}
}

func TestResizeInstanceStopsBeforeChangingTheType(t *testing.T) {
	f := &sclFakeEC2{state: "running", typ: "t2.micro"}
	e := sclTestEnv(t, f, nil)
	if err := e.resizeInstance(context.Background(), "i-1", "m5.large"); err != nil {
		t.Fatal(err)
	}
	if f.state != "running" || f.typ != "m5.large" {
		t.Errorf("instance ends %s %s, want running m5.large", f.state, f.typ)
	}
	if got, want := f.mutations(), []string{"StopInstances", "ModifyInstanceAttribute", "StartInstances"}; !slices.Equal(got, want) {
		t.Errorf("mutating calls %v, want %v", got, want)
	}
}

func TestResizeInstanceStartsOneAnInterruptedRunLeftStopped(t *testing.T) {
	f := &sclFakeEC2{state: "stopped", typ: "m5.large"}
	e := sclTestEnv(t, f, nil)
	e.State.Instances[0].State, e.State.Instances[0].Type = "stopped", "m5.large"
	if err := e.resizeInstance(context.Background(), "i-1", "m5.large"); err != nil {
		t.Fatal(err)
	}
	if got := f.mutations(); !slices.Equal(got, []string{"StartInstances"}) {
		t.Errorf("mutating calls %v, want only the start", got)
	}

	// Stopped with the old type: no stop again, the change, the start.
	f = &sclFakeEC2{state: "stopped", typ: "t2.micro"}
	e = sclTestEnv(t, f, nil)
	e.State.Instances[0].State = "stopped"
	if err := e.resizeInstance(context.Background(), "i-1", "m5.large"); err != nil {
		t.Fatal(err)
	}
	if got := f.mutations(); !slices.Equal(got, []string{"ModifyInstanceAttribute", "StartInstances"}) {
		t.Errorf("mutating calls %v", got)
	}
}

func TestModifyTypeRefusesARunningInstance(t *testing.T) {
	// The change goes by the instance as last described: a running one is
	// refused, whatever the emulator would accept.
	f := &sclFakeEC2{state: "running", typ: "t2.micro"}
	e := sclTestEnv(t, f, nil)
	running := ec2types.Instance{InstanceId: aws.String("i-1"), InstanceType: "t2.micro",
		State: &ec2types.InstanceState{Name: ec2types.InstanceStateNameRunning}}
	err := e.modifyType(context.Background(), running, "m5.large")
	if err == nil || !strings.Contains(err.Error(), "only while it is stopped") {
		t.Fatalf("err %v", err)
	}
	if f.called("ModifyInstanceAttribute") != 0 {
		t.Error("ModifyInstanceAttribute was sent to a running instance")
	}
}

func TestStopWaitTimesOut(t *testing.T) {
	f := &sclFakeEC2{state: "running", typ: "t2.micro", neverStops: true}
	e := sclTestEnv(t, f, nil)
	err := e.resizeInstance(context.Background(), "i-1", "m5.large")
	var we *WaitError
	if !errors.As(err, &we) || !strings.Contains(err.Error(), "instance i-1 to stop") || !strings.Contains(err.Error(), "run the same command again") {
		t.Fatalf("err %v, want a WaitError for the stop", err)
	}
	if f.called("ModifyInstanceAttribute") != 0 || f.called("DescribeInstances") < 2 {
		t.Errorf("calls %v: gave up without polling, or changed the type anyway", f.actions)
	}
}

// sclFakeASG answers DescribeInstanceRefreshes with a refresh whose status
// follows the script, one entry per poll (the last repeats).
type sclFakeASG struct {
	mu     sync.Mutex
	script []string
	reason string
	polls  int
}

func (f *sclFakeASG) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	const ns = `xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"`
	if r.Form.Get("Action") != "DescribeInstanceRefreshes" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse %s><Error><Code>Unexpected</Code><Message>%s</Message></Error></ErrorResponse>`, ns, r.Form.Get("Action"))
		return
	}
	status := f.script[min(f.polls, len(f.script)-1)]
	f.polls++
	fmt.Fprintf(w, `<DescribeInstanceRefreshesResponse %s><DescribeInstanceRefreshesResult><InstanceRefreshes><member>`+
		`<InstanceRefreshId>ir-1</InstanceRefreshId><AutoScalingGroupName>wtt-t-asg</AutoScalingGroupName><Status>%s</Status>`+
		`<StatusReason>%s</StatusReason><PercentageComplete>50</PercentageComplete></member></InstanceRefreshes></DescribeInstanceRefreshesResult>`+
		`<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeInstanceRefreshesResponse>`, ns, status, f.reason)
}

func TestWaitRefresh(t *testing.T) {
	ctx := context.Background()
	ok := &sclFakeASG{script: []string{"Pending", "InProgress", "Successful"}}
	if err := sclTestEnv(t, nil, ok).waitRefresh(ctx, "ir-1"); err != nil || ok.polls != 3 {
		t.Errorf("err %v after %d polls, want success on the third", err, ok.polls)
	}

	failed := &sclFakeASG{script: []string{"InProgress", "Failed"}, reason: "instances failed to become healthy"}
	err := sclTestEnv(t, nil, failed).waitRefresh(ctx, "ir-1")
	if err == nil || !strings.Contains(err.Error(), "ended Failed: instances failed to become healthy") || !strings.Contains(err.Error(), "run the same command again") {
		t.Errorf("err %v", err)
	}

	stuck := &sclFakeASG{script: []string{"InProgress"}}
	err = sclTestEnv(t, nil, stuck).waitRefresh(ctx, "ir-1")
	var we *WaitError
	if !errors.As(err, &we) || !strings.Contains(err.Error(), "waits for this refresh rather than starting another") || stuck.polls < 2 {
		t.Errorf("err %v after %d polls, want a WaitError", err, stuck.polls)
	}
}

func TestActiveRefreshIsWaitedForNotRestarted(t *testing.T) {
	f := &sclFakeASG{script: []string{"InProgress"}}
	id, err := sclTestEnv(t, nil, f).activeRefresh(context.Background())
	if err != nil || id != "ir-1" {
		t.Errorf("active refresh %q, %v", id, err)
	}
	done := &sclFakeASG{script: []string{"Successful"}}
	if id, err := sclTestEnv(t, nil, done).activeRefresh(context.Background()); err != nil || id != "" {
		t.Errorf("a finished refresh counted as active: %q %v", id, err)
	}
	cancelling := &sclFakeASG{script: []string{"Cancelling"}}
	if _, err := sclTestEnv(t, nil, cancelling).activeRefresh(context.Background()); err == nil {
		t.Error("a refresh being cancelled must stop the step")
	}
}
