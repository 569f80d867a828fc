package awsclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// A fact asked twice in one command is one request; the app's own
// parameters (the lease) are asked every time.
func TestFactsAreAskedOnce(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Write([]byte(`{"Parameter":{"Name":"x","Value":"ami-123"}}`))
	}))
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	c, err := Load(context.Background(), Options{Region: "us-east-1", EndpointURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(name string) string {
		out, err := c.SSM.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Parameter.Value)
	}
	public := "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
	if a, b := ask(public), ask(public); a != "ami-123" || b != a {
		t.Fatalf("answers %q, %q", a, b)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("a public parameter asked twice made %d requests, want 1", n)
	}
	ask("/wtt/app/lease")
	ask("/wtt/app/lease")
	if n := hits.Load(); n != 3 {
		t.Errorf("the lease asked twice made %d requests in all, want 3", n-1)
	}
	if got := c.Recorder.Calls()["ssm:GetParameter"]; got != 3 {
		t.Errorf("recorder counted %d calls, want the 3 requests", got)
	}
}
