package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// send makes one probe request to srvURL's host and port, as the probe
// does, and returns its kind.
func send(t *testing.T, rawURL string, timeout time.Duration) Kind {
	t.Helper()
	target, err := ParseTarget(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Rate: 10, Timeout: timeout}, target)
	if err != nil {
		t.Fatal(err)
	}
	p.one()
	if len(p.results) != 1 {
		t.Fatalf("%d results", len(p.results))
	}
	return p.results[0].kind
}

func handler(status int, body string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
}

// Each way a request can go wrong is told apart; only the time server's
// own answer, with a plausible time, counts as right.
func TestClassification(t *testing.T) {
	good := timeServer(t, "i-1", "us-east-1a")
	now := time.Now()
	tooOld := now.Add(-time.Hour)
	cases := []struct {
		name string
		srv  *httptest.Server
		kind Kind
	}{
		{"the time server", good, OK},
		{"a load balancer with no healthy target", handler(503, "<html>503 Service Temporarily Unavailable</html>"), ServerError},
		{"a 502", handler(502, ""), ServerError},
		{"a 404 from the default action", handler(404, "not found"), Wrong},
		{"a 200 that is not JSON", handler(200, "<html>It works!</html>"), Wrong},
		{"JSON without the time", handler(200, `{"zone":"UTC"}`), Wrong},
		{"a time an hour off", handler(200, fmt.Sprintf(`{"time":%q,"zone":"UTC","unix":%d}`, tooOld.UTC().Format(time.RFC3339), tooOld.Unix())), Wrong},
		{"time and unix that disagree", handler(200, fmt.Sprintf(`{"time":%q,"zone":"UTC","unix":%d}`, now.UTC().Format(time.RFC3339), now.Unix()+100)), Wrong},
	}
	for _, c := range cases {
		defer c.srv.Close()
		if got := send(t, c.srv.URL+"/api/time?tz=UTC", time.Second); got != c.kind {
			t.Errorf("%s: %q, want %q", c.name, got, c.kind)
		}
	}
	// Another --probe-url path: any 2xx is right.
	page := handler(200, "<html>the time</html>")
	defer page.Close()
	if got := send(t, page.URL+"/", time.Second); got != OK {
		t.Errorf("a 200 page at another path: %q, want ok", got)
	}
}

func TestClassificationOfTransportFailures(t *testing.T) {
	// Nothing listening: refused, at once.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	if got := send(t, "http://"+closed+"/api/time", time.Second); got != Refused {
		t.Errorf("closed port: %q, want refused", got)
	}

	// Accepts, never answers: timeout.
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer slow.Close()
	defer close(block)
	start := time.Now()
	if got := send(t, slow.URL+"/api/time", 300*time.Millisecond); got != Timeout {
		t.Errorf("silent server: %q, want timeout", got)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the timeout took %s", d)
	}

	// The process dies mid-request: the connection is cut.
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer cut.Close()
	if got := send(t, cut.URL+"/api/time", time.Second); got != Reset {
		t.Errorf("cut connection: %q, want reset", got)
	}
}

// An unresolvable name is a dns failure, not a refusal.
func TestClassificationOfNames(t *testing.T) {
	f := startDNS(t)
	target, _ := ParseTarget("http://nowhere.example.com/api/time")
	p, err := New(Config{Resolver: f.Addr}, target)
	if err != nil {
		t.Fatal(err)
	}
	p.one()
	if p.results[0].kind != DNS {
		t.Errorf("NXDOMAIN: %q, want dns", p.results[0].kind)
	}
	if _, err := p.pick(context.Background()); err == nil {
		t.Error("pick found an address for a name that does not exist")
	}
}
