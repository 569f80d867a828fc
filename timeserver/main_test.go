package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/timeserver/internal/imds/imdstest"
)

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type running struct {
	app    *app
	url    string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

// start runs serve on a loopback port, as main does, with extra routes
// (such as a slow handler) mounted in front of the app when given.
func start(t *testing.T, cfg config, extra map[string]http.HandlerFunc) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := newApp("test")
	var h http.Handler = a
	if extra != nil {
		mux := http.NewServeMux()
		for p, f := range extra {
			mux.HandleFunc(p, f)
		}
		mux.Handle("/", a)
		h = mux
	}
	if cfg.shutdownTimeout == 0 {
		cfg.shutdownTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{app: a, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { r.done <- serve(ctx, ln, a, h, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return r
}

func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for Cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return")
		return nil
	}
}

// eventually polls f until it is true or two seconds have passed.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func shortIMDS(t *testing.T) {
	oldT, oldA, oldP := imdsTimeout, imdsAttempts, imdsPause
	imdsTimeout, imdsAttempts, imdsPause = 300*time.Millisecond, 2, 10*time.Millisecond
	t.Cleanup(func() { imdsTimeout, imdsAttempts, imdsPause = oldT, oldA, oldP })
}

func TestIMDSv2IdentityHeaders(t *testing.T) {
	shortIMDS(t)
	fake := imdstest.New("i-0123456789abcdef0", "us-east-1c")
	defer fake.Close()
	r := start(t, config{imdsEndpoint: fake.URL}, nil)

	var resp *http.Response
	var body string
	eventually(t, "identity headers", func() bool {
		resp, body = get(t, r.url, "/api/time?tz=Asia/Seoul")
		return resp.Header.Get("X-Served-By-Instance") != ""
	})
	if got := resp.Header.Get("X-Served-By-Instance"); got != "i-0123456789abcdef0" {
		t.Errorf("X-Served-By-Instance %q", got)
	}
	if got := resp.Header.Get("X-Served-By-AZ"); got != "us-east-1c" {
		t.Errorf("X-Served-By-AZ %q", got)
	}
	v := decodeTime(t, body)
	if v.ServedBy == nil || v.ServedBy.InstanceID != "i-0123456789abcdef0" || v.ServedBy.AvailabilityZone != "us-east-1c" {
		t.Errorf("servedBy %+v", v.ServedBy)
	}
	if fake.TokenRequests.Load() != 1 || fake.Unauthorized.Load() != 0 {
		t.Errorf("IMDS saw %d token requests and %d unauthorized GETs; want 1 and 0",
			fake.TokenRequests.Load(), fake.Unauthorized.Load())
	}
	if resp, _ := get(t, r.url, "/healthz"); resp.Header.Get("X-Served-By-AZ") != "us-east-1c" {
		t.Error("healthz lacks X-Served-By-AZ")
	}

	// On the wire the header is spelt exactly X-Served-By-AZ.
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	raw, _ := io.ReadAll(conn)
	if !bytes.Contains(raw, []byte("\r\nX-Served-By-AZ: us-east-1c\r\n")) ||
		!bytes.Contains(raw, []byte("\r\nX-Served-By-Instance: i-0123456789abcdef0\r\n")) {
		t.Errorf("raw response:\n%s", raw)
	}
	if !strings.Contains(r.logs.String(), `"msg":"instance identity"`) {
		t.Errorf("identity not logged:\n%s", r.logs)
	}
}

func TestNoIMDSNoHeaders(t *testing.T) {
	shortIMDS(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	endpoint := dead.URL
	dead.Close() // connection refused from now on
	r := start(t, config{imdsEndpoint: endpoint}, nil)
	eventually(t, "the metadata lookup to give up", func() bool {
		return strings.Contains(r.logs.String(), "no instance identity")
	})
	for _, path := range []string{"/api/time", "/healthz", "/api/zones"} {
		resp, body := get(t, r.url, path)
		if _, ok := resp.Header[http.CanonicalHeaderKey(hdrInstance)]; ok {
			t.Errorf("%s: X-Served-By-Instance present", path)
		}
		if resp.Header.Get(hdrAZ) != "" {
			t.Errorf("%s: X-Served-By-AZ present", path)
		}
		if strings.Contains(body, "servedBy") {
			t.Errorf("%s: servedBy in body", path)
		}
	}

	// An IMDSv1-only service (no token endpoint) is not trusted either.
	v1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPut {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		io.WriteString(w, "i-v1")
	}))
	defer v1.Close()
	a := newApp("test")
	lookUpIdentity(context.Background(), a, v1.URL, slog.New(slog.DiscardHandler))
	if a.served.Load().id.Known() {
		t.Error("identity taken from an IMDSv1-only service")
	}
}

func TestReadyzDuringDrain(t *testing.T) {
	r := start(t, config{drainDelay: 1500 * time.Millisecond}, nil)
	if resp, _ := get(t, r.url, "/readyz"); resp.StatusCode != 200 {
		t.Fatalf("readyz before shutdown: %d", resp.StatusCode)
	}
	began := time.Now()
	r.cancel() // as SIGTERM does
	eventually(t, "readyz 503", func() bool {
		resp, _ := get(t, r.url, "/readyz")
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	// Still answering real requests while the load balancer catches up.
	resp, _ := get(t, r.url, "/api/time?tz=Europe/London")
	if resp.StatusCode != 200 {
		t.Errorf("api/time during drain: %d", resp.StatusCode)
	}
	if !resp.Close {
		t.Error("keep-alive not turned off during drain")
	}
	if err := r.wait(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if d := time.Since(began); d < 1500*time.Millisecond {
		t.Errorf("stopped after %v, before the drain delay", d)
	}
	if _, err := http.Get(r.url + "/healthz"); err == nil {
		t.Error("still accepting after shutdown")
	}
	logs := r.logs.String()
	for _, want := range []string{`"msg":"timeserver started"`, `"msg":"shutting down"`, `"msg":"timeserver stopped"`, `"clean":true`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	entered := make(chan struct{})
	slow := func(w http.ResponseWriter, req *http.Request) {
		close(entered)
		time.Sleep(700 * time.Millisecond)
		io.WriteString(w, "slow but done")
	}
	r := start(t, config{}, map[string]http.HandlerFunc{"/slow": slow})

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(r.url + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	r.cancel()
	eventually(t, "draining", r.app.draining.Load)

	got := <-res
	if got.err != nil || got.code != 200 || got.body != "slow but done" {
		t.Fatalf("in-flight request: %+v", got)
	}
	if err := r.wait(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := http.Get(r.url + "/healthz"); err == nil {
		t.Error("still accepting after shutdown")
	}
}

func TestShutdownTimeoutIsBounded(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	stuck := func(w http.ResponseWriter, req *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	}
	r := start(t, config{shutdownTimeout: 300 * time.Millisecond}, map[string]http.HandlerFunc{"/stuck": stuck})
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(r.url + "/stuck")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	began := time.Now()
	r.cancel()
	if err := r.wait(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("shutdown took %v with a 300ms timeout", d)
	}
	if err := <-errc; err == nil {
		t.Error("the stuck request was not cut")
	}
	if !strings.Contains(r.logs.String(), `"clean":false`) {
		t.Errorf("unclean stop not logged:\n%s", r.logs)
	}
}

func TestParseFlags(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := parseFlags(nil, env(nil), io.Discard)
	if err != nil || c.addr != ":80" || c.shutdownTimeout != 20*time.Second || c.imdsEndpoint != "http://169.254.169.254" {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	if c, _ := parseFlags(nil, env(map[string]string{"PORT": "8080"}), io.Discard); c.addr != ":8080" {
		t.Errorf("PORT: addr %q", c.addr)
	}
	if c, _ := parseFlags([]string{"--addr", "127.0.0.1:9000"}, env(map[string]string{"PORT": "8080"}), io.Discard); c.addr != "127.0.0.1:9000" {
		t.Errorf("--addr beats PORT: addr %q", c.addr)
	}
	if c, _ := parseFlags([]string{"--addr=:80"}, env(map[string]string{"PORT": "8080"}), io.Discard); c.addr != ":80" {
		t.Errorf("explicit --addr=:80 beats PORT: addr %q", c.addr)
	}
	if c, _ := parseFlags([]string{"--imds-endpoint=off", "--shutdown-timeout=3s", "--drain-delay=1s"}, env(nil), io.Discard); c.imdsEndpoint != "" || c.shutdownTimeout != 3*time.Second || c.drainDelay != time.Second {
		t.Errorf("%+v", c)
	}
	for _, bad := range [][]string{{"--shutdown-timeout=0"}, {"--drain-delay=-1s"}, {"extra"}, {"--nope"}, {"--log-level=loud"}} {
		if _, err := parseFlags(bad, env(nil), io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRunVersionAndBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, func(string) string { return "" }, &out, &errb); code != 0 ||
		!strings.HasPrefix(out.String(), "timeserver ") {
		t.Errorf("--version: %d %q", code, out.String())
	}
	if code := run(context.Background(), []string{"--bogus"}, func(string) string { return "" }, &out, &errb); code != 2 {
		t.Errorf("--bogus: exit %d", code)
	}
}

func TestRunListensAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr=127.0.0.1:0", "--imds-endpoint=off"}, func(string) string { return "" }, io.Discard, logs)
	}()
	eventually(t, "start", func() bool { return strings.Contains(logs.String(), "timeserver started") })
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d:\n%s", code, logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return")
	}
	if !strings.Contains(logs.String(), "timeserver stopped") {
		t.Errorf("logs:\n%s", logs)
	}
}
