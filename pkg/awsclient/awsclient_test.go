package awsclient

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

const describeRegions = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
<requestId>r-1</requestId><regionInfo><item><regionName>us-east-1</regionName></item></regionInfo>
</DescribeRegionsResponse>`

// fakeEC2 answers DescribeRegions, first failing `throttle` times with the
// throttling error AWS sends.
func fakeEC2(t *testing.T, throttle int32) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n <= throttle {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`<Response><Errors><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></Errors><RequestID>x</RequestID></Response>`))
			return
		}
		w.Write([]byte(describeRegions))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func load(t *testing.T, url string, o Options) *Clients {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIASECRETKEYID12345")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "verysecretsecretaccesskey")
	t.Setenv("AWS_SESSION_TOKEN", "sessiontokenthatmustnotleak")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	o.Region, o.EndpointURL, o.MaxBackoff = "us-east-1", url, 10*time.Millisecond
	c, err := Load(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetriesAThrottledCallAndCountsIt(t *testing.T) {
	srv, hits := fakeEC2(t, 4)
	var debug bytes.Buffer
	c := load(t, srv.URL, Options{Debug: &debug})
	if _, err := c.EC2.DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{}); err != nil {
		t.Fatalf("4 throttles should be survived with %d attempts: %v", DefaultMaxAttempts, err)
	}
	if hits.Load() != 5 {
		t.Errorf("server saw %d requests, want 5", hits.Load())
	}
	calls, retries := c.Recorder.Total()
	if calls != 1 || retries != 4 {
		t.Errorf("recorded %d calls, %d retries; want 1, 4", calls, retries)
	}
	if got := c.Recorder.Calls()["ec2:DescribeRegions"]; got != 1 {
		t.Errorf("ec2:DescribeRegions counted %d times", got)
	}
	out := debug.String()
	if strings.Count(out, "ec2:DescribeRegions") != 5 {
		t.Errorf("debug trace should show 5 attempts:\n%s", out)
	}
	for _, secret := range []string{"AKIASECRETKEYID12345", "verysecretsecretaccesskey", "sessiontokenthatmustnotleak", "Signature", "Authorization"} {
		if strings.Contains(out, secret) {
			t.Errorf("debug trace leaks %q:\n%s", secret, out)
		}
	}
}

func TestTheDefaultBudgetOfThreeWouldNotHaveBeenEnough(t *testing.T) {
	srv, _ := fakeEC2(t, 4)
	c := load(t, srv.URL, Options{MaxAttempts: 3})
	if _, err := c.EC2.DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{}); err == nil {
		t.Fatal("3 attempts survived 4 throttles; the test server is not throttling")
	}
}

func TestInjectedFaultsAreRetried(t *testing.T) {
	srv, hits := fakeEC2(t, 0)
	f := &Faults{Rate: 0.5}
	f.rng = FaultSource(7)
	c := load(t, srv.URL, Options{Faults: f})
	for i := 0; i < 20; i++ {
		if _, err := c.EC2.DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{}); err != nil {
			t.Fatalf("call %d failed despite retries: %v", i, err)
		}
	}
	calls, retries := c.Recorder.Total()
	if calls != 20 || retries == 0 {
		t.Errorf("%d calls, %d retries: a 50%% fault rate must cause retries", calls, retries)
	}
	if int(hits.Load()) != 20 {
		t.Errorf("injected faults must not reach the server: it saw %d requests for 20 calls", hits.Load())
	}
}

func TestIsMutating(t *testing.T) {
	for action, want := range map[string]bool{
		"ec2:DescribeInstances": false, "ec2:RunInstances": true, "s3:HeadObject": false, "s3:ListBucket": false,
		"route53:ChangeResourceRecordSets": true, "ssm:GetParameter": false, "iam:GetRole": false, "ec2:CreateTags": true,
	} {
		if IsMutating(action) != want {
			t.Errorf("IsMutating(%s) = %v", action, !want)
		}
	}
}
