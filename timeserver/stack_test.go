package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httputil"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/timeserver/internal/httploop"
	"github.com/whatsthetime/wtt/timeserver/internal/imds"
)

// startStack runs the app on a loopback port with the given HTTP server,
// as main does, with a fixed clock and a known identity.
func startStack(t *testing.T, kind string) (*app, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := newApp("test")
	a.setClock(func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) })
	a.setIdentity(imds.Identity{InstanceID: "i-0abc", AvailabilityZone: "ap-northeast-2a"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := config{httpServer: kind, shutdownTimeout: 5 * time.Second}
	go func() { done <- serve(ctx, ln, a, a, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: serve: %v", kind, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: server did not stop", kind)
		}
	})
	return a, ln.Addr().String()
}

// exchange sends raw bytes on a new connection, closes the sending side,
// and returns everything the server answers until it closes.
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return string(b)
}

var dateLine = regexp.MustCompile(`\r\nDate: [^\r]*\r\n`)

// unchunk rewrites a single chunked answer as net/http would send it with
// a Content-Length. That is the one way the event loop frames answers
// differently on purpose: it buffers whole answers, so it always knows
// their length, where net/http chunks a body over 2 KB.
func unchunk(t *testing.T, resp string) string {
	head, body, ok := strings.Cut(resp, "\r\n\r\n")
	if !ok || !strings.Contains(head, "\r\nTransfer-Encoding: chunked") {
		return resp
	}
	b, err := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(body)))
	if err != nil {
		t.Fatalf("chunked body: %v", err)
	}
	head = strings.Replace(head, "\r\nTransfer-Encoding: chunked", "\r\nContent-Length: "+strconv.Itoa(len(b)), 1)
	return head + "\r\n\r\n" + string(b)
}

// TestEventLoopAnswersAsNetHTTP sends the same bytes to the app served by
// net/http and by the event loop, and wants the same bytes back (the Date
// header aside): status lines, header names and order, bodies, keep-alive
// and close, HTTP/1.0, errors and pipelining.
func TestEventLoopAnswersAsNetHTTP(t *testing.T) {
	if !httploop.Supported {
		t.Skip("no event loop on this OS")
	}
	_, std := startStack(t, serverNetHTTP)
	_, loop := startStack(t, serverEventLoop)

	const host = "Host: wtt.example\r\n"
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\n" + host + "\r\n" }
	cases := []struct{ name, raw string }{
		{"time", get("/api/time?tz=Asia/Seoul")},
		{"time UTC", get("/api/time")},
		{"time escaped", get("/api/time?tz=Asia%2FKathmandu")},
		{"time unknown zone", get("/api/time?tz=Mars/Olympus")},
		{"time script zone", get("/api/time?tz=%3Cscript%3E")},
		{"time HEAD", "HEAD /api/time?tz=Asia/Seoul HTTP/1.1\r\n" + host + "\r\n"},
		{"zones", get("/api/zones")},
		{"zones HEAD", "HEAD /api/zones HTTP/1.1\r\n" + host + "\r\n"},
		{"healthz", get("/healthz")},
		{"readyz", get("/readyz")},
		{"page", get("/?tz=Asia/Seoul")},
		{"page default", get("/")},
		{"page unknown zone", get("/?tz=%22%3E%3Cscript%3E")},
		{"page HEAD", "HEAD / HTTP/1.1\r\n" + host + "\r\n"},
		{"not found", get("/wp-login.php")},
		{"api not found", get("/api/nope")},
		{"escaped path", get("/api%2Ftime")},
		{"double slash", get("//api/time")},
		{"POST", "POST /api/time HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n"},
		{"POST body", "POST /api/time HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello"},
		{"DELETE", "DELETE /healthz HTTP/1.1\r\n" + host + "\r\n"},
		{"connection close", "GET /healthz HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n"},
		{"HTTP/1.0", "GET /api/time HTTP/1.0\r\n\r\n"},
		{"HTTP/1.0 keep-alive", "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
		{"mixed-case headers", "GET /healthz HTTP/1.1\r\nhOsT: x\r\nCONNECTION: Close\r\n\r\n"},
		{"bare LF", "GET /healthz HTTP/1.1\nHost: x\n\n"},
		{"missing Host", "GET /healthz HTTP/1.1\r\n\r\n"},
		{"two Hosts", "GET /healthz HTTP/1.1\r\n" + host + host + "\r\n"},
		{"garbage", "NONSENSE\r\n\r\n"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\n" + host + "\r\n"},
		{"headers too large", "GET /healthz HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 40<<10) + "\r\n\r\n"},
		{"pipelined", get("/healthz") + get("/nope") + get("/api/time?tz=Europe/London") + get("/readyz")},
		{"pipelined then close", get("/readyz") + "GET /healthz HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n" + get("/api/time")},
	}
	for _, c := range cases {
		want := dateLine.ReplaceAllString(unchunk(t, exchange(t, std, c.raw)), "\r\nDate: *\r\n")
		got := dateLine.ReplaceAllString(exchange(t, loop, c.raw), "\r\nDate: *\r\n")
		if got != want {
			t.Errorf("%s:\nnet/http answered:\n%s\nthe event loop answered:\n%s", c.name, want, got)
		}
	}
}

// TestEventLoopMetrics checks /metrics, which the event loop hands to a
// goroutine, counts the requests the loop answered itself.
func TestEventLoopMetrics(t *testing.T) {
	if !httploop.Supported {
		t.Skip("no event loop on this OS")
	}
	_, addr := startStack(t, serverEventLoop)
	exchange(t, addr, "GET /api/time?tz=Asia/Seoul HTTP/1.1\r\nHost: x\r\n\r\nGET /api/time?tz=Mars HTTP/1.1\r\nHost: x\r\n\r\n")
	got := exchange(t, addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{
		"\r\nX-Served-By-AZ: ap-northeast-2a\r\n",
		`wtt_timeserver_http_requests_total{code="200",route="/api/time"} 1`,
		`wtt_timeserver_http_requests_total{code="400",route="/api/time"} 1`,
		"wtt_timeserver_http_requests_in_flight 1",
		`wtt_timeserver_instance_info{availability_zone="ap-northeast-2a",instance_id="i-0abc"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, got)
		}
	}
}
