package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

const describeRegions = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
<requestId>r-1</requestId><regionInfo><item><regionName>us-east-1</regionName></item></regionInfo>
</DescribeRegionsResponse>`

// backend stands in for the emulator: it answers EC2 DescribeRegions and
// counts what reaches it.
func backend(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, describeRegions)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func start(t *testing.T, cfg Config) (*Proxy, string) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, url
}

// sdkConfig points real SDK clients at url. attempts 1 means no retry, so
// the error the proxy sent is the error the caller sees.
func sdkConfig(url string, attempts int) aws.Config {
	return aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
		HTTPClient:   awshttp.NewBuildableClient(),
		BaseEndpoint: aws.String(url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = 5 * time.Millisecond
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// call is one cheap operation of a service, made through the SDK.
type call struct {
	service string
	do      func(ctx context.Context, cfg aws.Config) error
}

var calls = []call{
	{"ec2", func(ctx context.Context, cfg aws.Config) error {
		_, err := ec2.NewFromConfig(cfg).DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
		return err
	}},
	{"elasticloadbalancing", func(ctx context.Context, cfg aws.Config) error {
		_, err := elbv2.NewFromConfig(cfg).DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
		return err
	}},
	{"autoscaling", func(ctx context.Context, cfg aws.Config) error {
		_, err := autoscaling.NewFromConfig(cfg).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
		return err
	}},
	{"iam", func(ctx context.Context, cfg aws.Config) error {
		_, err := iam.NewFromConfig(cfg).ListRoles(ctx, &iam.ListRolesInput{})
		return err
	}},
	{"sts", func(ctx context.Context, cfg aws.Config) error {
		_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}},
	{"route53", func(ctx context.Context, cfg aws.Config) error {
		_, err := route53.NewFromConfig(cfg).ListHostedZones(ctx, &route53.ListHostedZonesInput{})
		return err
	}},
	{"s3", func(ctx context.Context, cfg aws.Config) error {
		_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	}},
	{"ssm", func(ctx context.Context, cfg aws.Config) error {
		_, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/x")})
		return err
	}},
	{"servicequotas", func(ctx context.Context, cfg aws.Config) error {
		_, err := servicequotas.NewFromConfig(cfg).GetServiceQuota(ctx, &servicequotas.GetServiceQuotaInput{
			ServiceCode: aws.String("ec2"), QuotaCode: aws.String("L-0263D0A3")})
		return err
	}},
}

// wantThrottle is the code each service's own throttling error carries.
var wantThrottle = map[string]string{
	"ec2": "RequestLimitExceeded", "elasticloadbalancing": "Throttling", "autoscaling": "Throttling",
	"iam": "Throttling", "sts": "Throttling", "route53": "Throttling", "s3": "SlowDown",
	"ssm": "ThrottlingException", "servicequotas": "ThrottlingException",
}

func statusOf(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// The SDK parses every throttling answer in the service's own protocol and
// classifies it as throttling: the retryer backs off and tries again.
func TestSDKClassifiesThrottlingForEveryProtocol(t *testing.T) {
	srv, hits := backend(t)
	_, url := start(t, Config{Target: srv.URL, Faults: Rates{Throttle: 1}})
	cfg := sdkConfig(url, 1)
	throttles := retry.IsErrorThrottles(retry.DefaultThrottles)
	for _, c := range calls {
		t.Run(c.service, func(t *testing.T) {
			err := c.do(context.Background(), cfg)
			var ae smithy.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("want an API error, got %v", err)
			}
			if ae.ErrorCode() != wantThrottle[c.service] {
				t.Errorf("code %q, want %q (error: %v)", ae.ErrorCode(), wantThrottle[c.service], err)
			}
			if throttles.IsErrorThrottle(err) != aws.TrueTernary {
				t.Errorf("the SDK does not see %v as throttling", err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d faulted request(s) reached the target; faults happen before forwarding", n)
	}
}

// Server errors and dropped connections are retryable for every service.
func TestSDKRetriesServerErrorsAndDrops(t *testing.T) {
	srv, hits := backend(t)
	retryable := retry.IsErrorRetryables(retry.DefaultRetryables)
	for _, tc := range []struct {
		kind   Kind
		status int
	}{{Internal, 500}, {Unavailable, 503}, {Drop, 0}} {
		t.Run(string(tc.kind), func(t *testing.T) {
			_, url := start(t, Config{Target: srv.URL, Faults: Rates{tc.kind: 1}})
			cfg := sdkConfig(url, 1)
			for _, c := range calls {
				err := c.do(context.Background(), cfg)
				if err == nil {
					t.Fatalf("%s: no error", c.service)
				}
				if got := statusOf(err); got != tc.status {
					t.Errorf("%s: HTTP %d, want %d (%v)", c.service, got, tc.status, err)
				}
				if retryable.IsErrorRetryable(err) != aws.TrueTernary {
					t.Errorf("%s: the SDK would not retry %v", c.service, err)
				}
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d faulted request(s) reached the target", n)
	}
}

// HEAD answers carry no body; the SDK still sees the status and retries.
func TestHeadRequestsGetABodilessError(t *testing.T) {
	srv, _ := backend(t)
	_, url := start(t, Config{Target: srv.URL, Faults: Rates{Throttle: 1}})
	_, err := s3.NewFromConfig(sdkConfig(url, 1), func(o *s3.Options) { o.UsePathStyle = true }).
		HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String("b")})
	if statusOf(err) != 503 || retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
		t.Fatalf("HeadBucket: %v (HTTP %d), want a retryable 503", err, statusOf(err))
	}
}

// With retries, every call succeeds and reaches the target exactly once:
// the counters add up.
func TestRetriedCallsReachTheTargetOnce(t *testing.T) {
	srv, hits := backend(t)
	p, url := start(t, Config{Target: srv.URL, Seed: 7, Faults: Spread(0.5)})
	client := ec2.NewFromConfig(sdkConfig(url, 20))
	const n = 40
	for i := 0; i < n; i++ {
		if _, err := client.DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	c := p.Counts()
	if hits.Load() != n || c.Forwarded != n {
		t.Errorf("target hit %d times, forwarded %d, want %d each", hits.Load(), c.Forwarded, n)
	}
	if c.Requests != c.Forwarded+c.Total() {
		t.Errorf("counts do not add up: %s", c)
	}
	for _, k := range Kinds {
		if c.Faults[k] == 0 {
			t.Errorf("no %s fault in %d requests at 50%%: %s", k, c.Requests, c)
		}
	}
	if c.ByService["ec2"] != c.Total() {
		t.Errorf("faults by service %v, want all %d under ec2", c.ByService, c.Total())
	}
	if !strings.Contains(c.String(), fmt.Sprintf("%d requests", c.Requests)) {
		t.Errorf("String() = %q", c)
	}
}

// fates records which requests of a sequence fail, and how.
func fates(t *testing.T, seed uint64) []string {
	srv, _ := backend(t)
	p, url := start(t, Config{Target: srv.URL, Seed: seed, Faults: Spread(0.4)})
	client := &http.Client{}
	var out []string
	for i := 0; i < 60; i++ {
		before := p.Counts()
		resp, err := client.Post(url+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeRegions&Version=2016-11-15"))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		after := p.Counts()
		fate := "ok"
		for _, k := range Kinds {
			if after.Faults[k] > before.Faults[k] {
				fate = string(k)
			}
		}
		out = append(out, fate)
	}
	return out
}

func TestSameSeedSameFaults(t *testing.T) {
	a, b, c := fates(t, 42), fates(t, 42), fates(t, 43)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("seed 42 gave two sequences:\n%v\n%v", a, b)
	}
	if strings.Join(a, ",") == strings.Join(c, ",") {
		t.Errorf("seeds 42 and 43 gave the same sequence %v", a)
	}
}

// The optional after-forward mode loses the answer of a request the target
// has applied: the mode that tests idempotency.
func TestAfterForwardLosesTheAnswerOfAnAppliedRequest(t *testing.T) {
	srv, hits := backend(t)
	p, url := start(t, Config{Target: srv.URL, Seed: 3, AfterForward: 1})
	client := ec2.NewFromConfig(sdkConfig(url, 1))
	const n = 20
	for i := 0; i < n; i++ {
		_, err := client.DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{})
		if err == nil {
			t.Fatalf("call %d succeeded; every answer should be lost", i)
		}
		if s := statusOf(err); s != 0 && s != 500 {
			t.Fatalf("call %d: HTTP %d, want 500 or a dropped connection", i, s)
		}
	}
	c := p.Counts()
	if hits.Load() != n || c.Forwarded != n || c.Faults[AfterForward] != n {
		t.Errorf("target hit %d times; counts %s; want %d forwarded and lost", hits.Load(), c, n)
	}
}

// By default nothing is lost after forwarding: a 0 rate proxy is a plain
// reverse proxy.
func TestNoFaultsIsTransparent(t *testing.T) {
	srv, hits := backend(t)
	p, url := start(t, Config{Target: srv.URL})
	out, err := ec2.NewFromConfig(sdkConfig(url, 1)).DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{})
	if err != nil || len(out.Regions) != 1 {
		t.Fatalf("DescribeRegions through the proxy: %v %v", out, err)
	}
	if hits.Load() != 1 || p.Counts().Total() != 0 {
		t.Errorf("hits %d, counts %s", hits.Load(), p.Counts())
	}
}

func TestLatencyIsAdded(t *testing.T) {
	srv, _ := backend(t)
	_, url := start(t, Config{Target: srv.URL, Latency: 60 * time.Millisecond, Jitter: 20 * time.Millisecond})
	start := time.Now()
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("answered in %s, want at least the 60ms latency", d)
	}
}

// The emulator's control API is never faulted: a test's reset must work.
func TestEmulatorControlAPIIsNotFaulted(t *testing.T) {
	srv, hits := backend(t)
	p, url := start(t, Config{Target: srv.URL, Faults: Rates{Drop: 1}})
	resp, err := http.Post(url+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("reset through the proxy: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 || p.Counts().Requests != 0 {
		t.Errorf("hits %d, counts %s", hits.Load(), p.Counts())
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, cfg := range []Config{
		{Target: "http://10.0.0.1:4566"},
		{Target: "http://example.com"},
		{Target: "ftp://127.0.0.1:21"},
		{Target: "http://127.0.0.1:4566", Listen: "0.0.0.0:0"},
		{Target: "http://127.0.0.1:4566", Listen: ":0"},
		{Target: "http://127.0.0.1:4566", Faults: Rates{Throttle: 0.7, Drop: 0.7}},
		{Target: "http://127.0.0.1:4566", Faults: Rates{AfterForward: 0.1}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	for _, target := range []string{"http://127.0.0.1:4566", "http://localhost:4566", "http://[::1]:4566"} {
		if _, err := New(Config{Target: target}); err != nil {
			t.Errorf("New(%s): %v", target, err)
		}
	}

	srv, hits := backend(t)
	p, err := New(Config{Target: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.7:40000"
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || hits.Load() != 0 {
		t.Errorf("a request from 192.0.2.7 got HTTP %d and %d hit(s), want 403 and none", w.Code, hits.Load())
	}
}

func TestProtocolDetection(t *testing.T) {
	req := func(method, path, ct, target, body string) *http.Request {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if target != "" {
			r.Header.Set("X-Amz-Target", target)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		svc  string
		want protocol
	}{
		{"ec2 signed", req("POST", "/", "application/x-www-form-urlencoded", "", "Action=RunInstances"), "ec2", ec2Query},
		{"ec2 unsigned", req("POST", "/", "application/x-www-form-urlencoded", "", "Action=RunInstances&Version=2016-11-15"), "", ec2Query},
		{"elbv2", req("POST", "/", "application/x-www-form-urlencoded", "", "Action=DescribeLoadBalancers&Version=2015-12-01"), "elasticloadbalancing", awsQuery},
		{"query unsigned", req("POST", "/", "application/x-www-form-urlencoded", "", "Action=ListRoles&Version=2010-05-08"), "", awsQuery},
		{"ssm", req("POST", "/", "application/x-amz-json-1.1", "AmazonSSM.GetParameter", "{}"), "ssm", awsJSON},
		{"json unsigned", req("POST", "/", "", "ServiceQuotasV20190624.GetServiceQuota", "{}"), "", awsJSON},
		{"route53", req("GET", "/2013-04-01/hostedzone", "", "", ""), "route53", restXML},
		{"route53 unsigned", req("POST", "/2013-04-01/hostedzone/Z1/rrset/", "text/xml", "", "<x/>"), "", restXML},
		{"s3", req("PUT", "/bucket/key", "application/octet-stream", "", "data"), "s3", s3XML},
		{"s3 unsigned", req("HEAD", "/bucket", "", "", ""), "", s3XML},
	} {
		if got := protocolOf(tc.r, tc.svc); got != tc.want {
			t.Errorf("%s: protocol %d, want %d", tc.name, got, tc.want)
		}
	}
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=abc")
	if s := serviceOf(r); s != "elasticloadbalancing" {
		t.Errorf("serviceOf = %q", s)
	}
}

// With ClientTokens, a retried RunInstances whose first answer was lost
// gets the first answer again instead of launching twice: EC2's promise,
// which the emulator does not keep.
func TestClientTokenRetryIsAnsweredOnce(t *testing.T) {
	srv, hits := backend(t)
	p, url := start(t, Config{Target: srv.URL, Seed: 5, AfterForward: 1, ClientTokens: true})
	client := ec2.NewFromConfig(sdkConfig(url, 3))
	_, err := client.RunInstances(context.Background(), &ec2.RunInstancesInput{
		ImageId: aws.String("ami-1"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	c := p.Counts()
	if hits.Load() != 1 || c.Replayed != 1 || c.Faults[AfterForward] != 1 {
		t.Errorf("target hit %d times, counts %s; want the launch applied once, its answer lost once and replayed once", hits.Load(), c)
	}
	// Without a token every attempt reaches the target.
	_, err = client.DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{})
	if err == nil || hits.Load() != 4 {
		t.Errorf("DescribeRegions: %v, target hit %d times, want 3 more lost answers", err, hits.Load())
	}
}
