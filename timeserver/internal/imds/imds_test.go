package imds

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/timeserver/internal/imds/imdstest"
)

func TestFetch(t *testing.T) {
	fake := imdstest.New("i-0123456789abcdef0", "eu-west-1b")
	defer fake.Close()
	id, err := Fetch(context.Background(), NewHTTPClient(time.Second), fake.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if id.InstanceID != "i-0123456789abcdef0" || id.AvailabilityZone != "eu-west-1b" {
		t.Fatalf("got %+v", id)
	}
	if fake.TokenRequests.Load() != 1 || fake.Unauthorized.Load() != 0 {
		t.Fatalf("token requests %d, unauthorized %d", fake.TokenRequests.Load(), fake.Unauthorized.Load())
	}
}

func TestFetchRefusesIMDSv1Only(t *testing.T) {
	// A service without the token endpoint (or a proxy in the way) yields
	// nothing rather than an unauthenticated guess.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("i-v1only"))
	}))
	defer srv.Close()
	if id, err := Fetch(context.Background(), NewHTTPClient(time.Second), srv.URL); err == nil || id.Known() {
		t.Fatalf("got %+v, %v", id, err)
	}
}

func TestFetchRejectsOddValues(t *testing.T) {
	fake := imdstest.New("i-1\r\nSet-Cookie: x", "us-east-1a")
	defer fake.Close()
	id, err := Fetch(context.Background(), NewHTTPClient(time.Second), fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	if id.InstanceID != "" || id.AvailabilityZone != "us-east-1a" {
		t.Fatalf("got %+v", id)
	}
}

func TestResolveNoService(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	start := time.Now()
	_, err := Resolve(context.Background(), NewHTTPClient(200*time.Millisecond), url, 2, 10*time.Millisecond)
	if err == nil {
		t.Fatal("want an error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestResolveStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Resolve(ctx, NewHTTPClient(time.Second), "http://127.0.0.1:1", 5, time.Hour); err == nil {
		t.Fatal("want an error")
	}
}
