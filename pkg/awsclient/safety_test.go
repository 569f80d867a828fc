package awsclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// loseAnswers is an EC2 endpoint that does every request's work (counts it)
// and then loses the first `lose` answers, as a 500 or as a dropped
// connection, the way a flaky network or an AWS-side timeout would.
func loseAnswers(t *testing.T, lose int32, drop bool, answer string) (*httptest.Server, *atomic.Int32) {
	var applied atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := applied.Add(1)
		if n <= lose {
			if !drop {
				w.WriteHeader(http.StatusInternalServerError)
				w.Write([]byte(`<Response><Errors><Error><Code>InternalError</Code><Message>oops</Message></Error></Errors><RequestID>x</RequestID></Response>`))
				return
			}
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		w.Write([]byte(answer))
	}))
	t.Cleanup(srv.Close)
	return srv, &applied
}

const purchaseAnswer = `<PurchaseReservedInstancesOfferingResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservedInstancesId>ri-1</reservedInstancesId></PurchaseReservedInstancesOfferingResponse>`

func TestAPurchaseWhoseAnswerIsLostIsNotSentAgain(t *testing.T) {
	for _, drop := range []bool{false, true} { // a 500, then a dropped connection
		srv, applied := loseAnswers(t, 3, drop, purchaseAnswer)
		c := load(t, srv.URL, Options{})
		// The retryer is not told to stop by anything but wtt's guard: a
		// plain client would send this purchase again and buy twice.
		_, err := c.EC2.PurchaseReservedInstancesOffering(context.Background(), &ec2.PurchaseReservedInstancesOfferingInput{
			ReservedInstancesOfferingId: aws.String("off-1"), InstanceCount: aws.Int32(3),
		})
		if !IsAmbiguous(err) {
			t.Fatalf("dropped connection %v: want an AmbiguousError, got %v", drop, err)
		}
		if !strings.Contains(err.Error(), "may or may not") {
			t.Errorf("the error should say the outcome is unknown: %v", err)
		}
		if applied.Load() != 1 {
			t.Errorf("dropped connection %v: the purchase reached AWS %d times; want once", drop, applied.Load())
		}
	}
}

func TestAThrottledPurchaseIsStillRetried(t *testing.T) {
	// Throttling is AWS saying no before doing anything: safe to repeat.
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors><RequestID>x</RequestID></Response>`))
			return
		}
		w.Write([]byte(purchaseAnswer))
	}))
	t.Cleanup(srv.Close)
	c := load(t, srv.URL, Options{})
	out, err := c.EC2.PurchaseReservedInstancesOffering(context.Background(), &ec2.PurchaseReservedInstancesOfferingInput{
		ReservedInstancesOfferingId: aws.String("off-1"), InstanceCount: aws.Int32(3),
	})
	if err != nil || aws.ToString(out.ReservedInstancesId) != "ri-1" {
		t.Fatalf("a throttled purchase should be retried until it succeeds: %v", err)
	}
	if hits.Load() != 3 {
		t.Errorf("server saw %d requests, want 3", hits.Load())
	}
}

func TestACallWithATokenIsRetriedAfterALostAnswer(t *testing.T) {
	srv, applied := loseAnswers(t, 1, true, `<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationId>r-1</reservationId></RunInstancesResponse>`)
	c := load(t, srv.URL, Options{})
	if _, err := c.EC2.RunInstances(context.Background(), &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}); err != nil {
		t.Fatalf("RunInstances carries a ClientToken, so its retry is safe and should succeed: %v", err)
	}
	if applied.Load() != 2 {
		t.Errorf("server saw %d requests, want 2 (the lost one and its retry)", applied.Load())
	}
}

func TestAmbiguousClassification(t *testing.T) {
	if ambiguous(&injectedError{code: "InternalError", status: 500}) {
		t.Error("an in-process injected fault never left the process: not ambiguous")
	}
	if !ambiguous(errors.New("read: connection reset by peer")) {
		t.Error("a broken connection is ambiguous")
	}
}
