//go:build linux

package httploop

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// start serves s on a loopback port and stops it when the test ends.
func start(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.ErrorLog == nil {
		s.ErrorLog = log.New(io.Discard, "", 0)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// roundTrip sends a GET for path on c and reads the answer.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, path string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func text(s string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s) }
}

func TestInlineAndGoroutinePaths(t *testing.T) {
	var inlineMethod, inlineQuery atomic.Value
	inline := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inlineMethod.Store(r.Method)
		inlineQuery.Store(r.URL.RawQuery)
		io.WriteString(w, "inline "+r.URL.Path)
	})
	other := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "goroutine "+r.URL.Path+" from "+r.RemoteAddr[:strings.LastIndexByte(r.RemoteAddr, ':')])
	})
	addr := start(t, &Server{Inline: inline, InlinePaths: []string{"/fast"}, Handler: other})
	c, br := dial(t, addr)
	for _, want := range []struct{ path, body string }{
		{"/fast?a=1", "inline /fast"},
		{"/slow", "goroutine /slow from 127.0.0.1"},
		{"/fast%3F", "goroutine /fast? from 127.0.0.1"},
		{"/fast?a=2", "inline /fast"},
	} {
		if _, body := roundTrip(t, c, br, want.path); body != want.body {
			t.Errorf("GET %s: %q, want %q", want.path, body, want.body)
		}
	}
	if inlineMethod.Load() != "GET" || inlineQuery.Load() != "a=2" {
		t.Errorf("inline request: %v %v", inlineMethod.Load(), inlineQuery.Load())
	}
}

// A handler that blocks holds up its own connection only.
func TestBlockedHandlerDoesNotBlockTheLoop(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{}, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	addr := start(t, &Server{Inline: text("fast"), InlinePaths: []string{"/"}, Handler: slow, Loops: 1})
	c1, _ := dial(t, addr)
	io.WriteString(c1, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	c2, br2 := dial(t, addr)
	for i := 0; i < 3; i++ {
		if _, body := roundTrip(t, c2, br2, "/"); body != "fast" {
			t.Fatalf("body %q", body)
		}
	}
}

// A client that does not read gets its answers when it does, in order.
func TestBackpressure(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	addr := start(t, &Server{Inline: text(big), InlinePaths: []string{"/big"}, Handler: text("small")})
	c, br := dial(t, addr)
	var req strings.Builder
	for i := 0; i < 20; i++ {
		req.WriteString("GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /other HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	if _, err := io.WriteString(c, req.String()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the socket fill up
	for i := 0; i < 40; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		want := big
		if i%2 == 1 {
			want = "small"
		}
		if string(b) != want {
			t.Fatalf("answer %d: %d bytes, want %d", i, len(b), len(want))
		}
	}
}

func TestPanicInInlineHandler(t *testing.T) {
	boom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "panic" {
			panic("boom")
		}
		io.WriteString(w, "fine")
	})
	addr := start(t, &Server{Inline: boom, InlinePaths: []string{"/"}, Handler: boom})
	c, br := dial(t, addr)
	if resp, _ := roundTrip(t, c, br, "/?panic"); resp.StatusCode != 500 || !resp.Close {
		t.Errorf("panic: %d close=%v", resp.StatusCode, resp.Close)
	}
	c, br = dial(t, addr)
	if _, body := roundTrip(t, c, br, "/"); body != "fine" {
		t.Errorf("after a panic: %q", body)
	}
}

func TestLimits(t *testing.T) {
	addr := start(t, &Server{Inline: text("ok"), InlinePaths: []string{"/"}, Handler: text("ok"),
		MaxHeaderBytes: 1 << 10, MaxBodyBytes: 100})
	for _, c := range []struct {
		raw, status string
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 6<<10) + "\r\n\r\n", "HTTP/1.1 431 "},
		{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n", "HTTP/1.1 413 "},
		{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", "HTTP/1.1 413 "},
		{"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("b", 100), "HTTP/1.1 200 "},
	} {
		conn, _ := dial(t, addr)
		io.WriteString(conn, c.raw)
		b, _ := io.ReadAll(conn)
		if !strings.HasPrefix(string(b), c.status) {
			t.Errorf("%.40q: got %.60q, want %s", c.raw, b, c.status)
		}
	}
}

func TestTimeouts(t *testing.T) {
	addr := start(t, &Server{Inline: text("ok"), InlinePaths: []string{"/"}, Handler: text("ok"),
		ReadHeaderTimeout: 500 * time.Millisecond, IdleTimeout: 500 * time.Millisecond})
	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := io.ReadAll(c)
		return err == nil // EOF: the server closed it
	}
	idle, br := dial(t, addr)
	roundTrip(t, idle, br, "/")
	slowloris, _ := dial(t, addr)
	io.WriteString(slowloris, "GET / HTTP/1.1\r\nHost:")
	if !closedWithin(idle, 3*time.Second) {
		t.Error("idle connection still open")
	}
	if !closedWithin(slowloris, 3*time.Second) {
		t.Error("connection that never finished its headers still open")
	}
}

// Shutdown: idle connections close at once, a request in progress is
// answered (with Connection: close), the listener closes, Shutdown waits.
func TestShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	s := &Server{Inline: text("ok"), InlinePaths: []string{"/"}, Handler: slow}
	addr := start(t, s)
	idle, br := dial(t, addr)
	roundTrip(t, idle, br, "/")
	busy, busyBR := dial(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after Shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in progress", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, err := http.ReadResponse(busyBR, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "finished" || !resp.Close {
		t.Errorf("in-flight answer %q, close=%v", b, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestShutdownTimesOutThenCloseCuts(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	s := &Server{Inline: text("ok"), InlinePaths: []string{"/"}, Handler: stuck}
	addr := start(t, s)
	c, br := dial(t, addr)
	io.WriteString(c, "GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	s.Close()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Close: %v, want EOF", err)
	}
}

func TestKeepAlivesDisabled(t *testing.T) {
	s := &Server{Inline: text("ok"), InlinePaths: []string{"/"}, Handler: text("ok")}
	addr := start(t, s)
	idle, idleBR := dial(t, addr)
	roundTrip(t, idle, idleBR, "/")
	s.SetKeepAlivesEnabled(false)
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF", err)
	}
	for _, path := range []string{"/", "/other"} {
		c, br := dial(t, addr)
		resp, _ := roundTrip(t, c, br, path)
		if !resp.Close {
			t.Errorf("%s: no Connection: close", path)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%s: connection left open: %v", path, err)
		}
	}
}

// Several loops share the listener; a standard client sees one server.
func TestManyLoopsManyClients(t *testing.T) {
	addr := start(t, &Server{Inline: text("ok"), InlinePaths: []string{"/"}, Handler: text("other"), Loops: 3})
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				path, want := "/", "ok"
				if i%10 == 0 {
					path, want = "/x", "other"
				}
				resp, err := client.Get("http://" + addr + path)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != want {
					errs <- errors.New("body " + string(b))
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 16; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// With a spare P a busy loop waits for events without handing its P back
// (loop.wait). The rest of the program must still run: the Handler's
// goroutines, the garbage collector (which has to stop the loop), a clean
// shutdown.
func TestLoopHoldingItsP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	s := &Server{Inline: text("fast"), InlinePaths: []string{"/"}, Handler: text("other"), Loops: 1}
	addr := start(t, s)
	c, br := dial(t, addr)
	roundTrip(t, c, br, "/") // Serve has made its loops
	s.mu.Lock()
	holdP := s.loops[0].holdP
	s.mu.Unlock()
	if !holdP {
		t.Fatal("one loop and GOMAXPROCS 2: the loop should hold its P")
	}
	for i := 0; i < 50; i++ {
		// Each inline answer leaves the loop hot, waiting in a held P,
		// when the next request goes to a goroutine and back.
		if _, body := roundTrip(t, c, br, "/"); body != "fast" {
			t.Fatalf("body %q", body)
		}
		began := time.Now()
		if _, body := roundTrip(t, c, br, "/other"); body != "other" {
			t.Fatalf("body %q", body)
		}
		if d := time.Since(began); d > 2*time.Second {
			t.Fatalf("the goroutine path took %v", d)
		}
	}
	gcDone := make(chan struct{})
	go func() { runtime.GC(); close(gcDone) }()
	select {
	case <-gcDone:
	case <-time.After(5 * time.Second):
		t.Fatal("a garbage collection could not stop the loop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Close()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// Each loop's NewLocal value is its own: inline handlers count in it
// without locks, and VisitLocals sees every request answered before it was
// called, while the server runs and after it has stopped.
func TestLocals(t *testing.T) {
	type counter struct{ n int }
	inline := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		LocalOf(w).(*counter).n++
		io.WriteString(w, "counted")
	})
	other := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if LocalOf(w) != nil {
			t.Error("a goroutine got a loop's value")
		}
		io.WriteString(w, "not counted")
	})
	s := &Server{Inline: inline, InlinePaths: []string{"/"}, Handler: other, Loops: 2,
		NewLocal: func() any { return new(counter) }}
	addr := start(t, s)
	total := func() int {
		sum, visited := 0, 0
		s.VisitLocals(func(v any) { sum += v.(*counter).n; visited++ })
		if visited != 2 {
			t.Errorf("visited %d loops, want 2", visited)
		}
		return sum
	}
	want := 0
	for i := 0; i < 4; i++ {
		c, br := dial(t, addr)
		for j := 0; j < 5; j++ {
			roundTrip(t, c, br, "/")
			roundTrip(t, c, br, "/other")
			want++
			if got := total(); got != want {
				t.Fatalf("after %d requests the loops counted %d", want, got)
			}
		}
	}
	s.Close()
	if got := total(); got != want {
		t.Errorf("after Close the loops counted %d, want %d", got, want)
	}
}

// Connections are edge-triggered: a burst of pipelined requests larger than
// the loop's read buffer, some answered inline and some on goroutines, is
// all read and answered in order, and the client's half-close after it is
// seen (the connection closes) although no new event reports it.
func TestPipelinedBurstThenHalfClose(t *testing.T) {
	addr := start(t, &Server{Inline: text("inline"), InlinePaths: []string{"/"}, Handler: text("goroutine"), Loops: 1})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	const n = 3000 // about 130 KB of requests: two reads of 64 KB and more
	var req strings.Builder
	for i := 0; i < n; i++ {
		if i%500 == 499 {
			req.WriteString("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		} else {
			req.WriteString("GET /?i=" + strings.Repeat("0", 10) + " HTTP/1.1\r\nHost: x\r\n\r\n")
		}
	}
	sent := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c, req.String())
		c.(*net.TCPConn).CloseWrite()
		sent <- err
	}()
	br := bufio.NewReader(c)
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		want := "inline"
		if i%500 == 499 {
			want = "goroutine"
		}
		if string(b) != want {
			t.Fatalf("answer %d: %q, want %q", i, b, want)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Errorf("after the last answer: %q, %v; want the connection closed", rest, err)
	}
}

// Now, given an inline handler's writer, is the current time: between two
// time.Now calls around it, by the monotonic clock and, within a
// millisecond, by the wall clock.
func TestNowOnTheLoop(t *testing.T) {
	var onLoop, plain atomic.Bool
	bad := make(chan string, 10)
	report := func(msg string) {
		select {
		case bad <- msg:
		default: // enough said; never block the loop
		}
	}
	check := func(w http.ResponseWriter) {
		before := time.Now()
		now := Now(w)
		after := time.Now()
		if now.Before(before) || now.After(after) {
			report("monotonic: " + before.String() + " " + now.String() + " " + after.String())
		}
		if d := now.Round(0).Sub(before.Round(0)); d < -time.Millisecond || d > time.Millisecond+after.Sub(before) {
			report("wall clock off by " + d.String())
		}
		_, isLoop := w.(*responseWriter)
		if isLoop && w.(*responseWriter).loopNow != nil {
			onLoop.Store(true)
		} else {
			plain.Store(true)
		}
	}
	inline := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { check(w); io.WriteString(w, "ok") })
	addr := start(t, &Server{Inline: inline, InlinePaths: []string{"/"}, Handler: inline})
	c, br := dial(t, addr)
	for i := 0; i < 5; i++ {
		time.Sleep(20 * time.Millisecond) // the loop's last reading grows old
		roundTrip(t, c, br, "/")
		roundTrip(t, c, br, "/goroutine")
	}
	close(bad)
	for msg := range bad {
		t.Error(msg)
	}
	if !onLoop.Load() || !plain.Load() {
		t.Errorf("checked on the loop: %v, off it: %v", onLoop.Load(), plain.Load())
	}
}
