//go:build linux

package httploop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Supported reports whether Serve works here.
const Supported = true

// Server states, in the order they happen.
const (
	stateNew int32 = iota
	stateServing
	stateShuttingDown // no new connections; the loops end when their last one closes
	stateClosed       // every connection is cut
)

// impl is the Linux half of Server.
type impl struct {
	state       atomic.Int32
	noKeepAlive atomic.Bool

	mu       sync.Mutex
	ln       net.Listener
	lnClosed bool
	loops    []*loop
	released sync.WaitGroup // loops that still watch the listener
	done     chan struct{}  // closed when every loop has ended
}

// epollExclusive (EPOLLEXCLUSIVE, Linux 4.5) wakes one loop, not all, per
// new connection.
const epollExclusive = 1 << 28

// Serve answers connections from ln until Shutdown or Close, then returns
// http.ErrServerClosed. ln must be a TCP listener; it is closed on return.
func (s *Server) Serve(ln net.Listener) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return fmt.Errorf("httploop: %T is not a TCP listener", ln)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	lfd := -1
	raw.Control(func(fd uintptr) { lfd = int(fd) })

	if s.Inline == nil && len(s.InlinePaths) > 0 {
		ln.Close()
		return errors.New("httploop: InlinePaths without an Inline handler")
	}
	n := s.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	s.mu.Lock()
	if !s.state.CompareAndSwap(stateNew, stateServing) {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.ln = ln
	s.done = make(chan struct{})
	for i := 0; i < n; i++ {
		l, err := newLoop(s, lfd)
		if err != nil {
			for _, l := range s.loops {
				l.release()
			}
			s.loops = nil
			s.state.Store(stateClosed)
			close(s.done)
			s.mu.Unlock()
			ln.Close()
			return err
		}
		s.loops = append(s.loops, l)
	}
	s.released.Add(n)
	loops := s.loops
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); l.run() }()
	}
	wg.Wait()
	s.closeListener()
	close(s.done)
	return http.ErrServerClosed
}

// SetKeepAlivesEnabled(false) makes every later response close its
// connection ("Connection: close") and closes idle connections now, as
// http.Server's does.
func (s *Server) SetKeepAlivesEnabled(v bool) {
	s.noKeepAlive.Store(!v)
	if !v {
		s.wakeAll()
	}
}

// Shutdown stops accepting, closes idle connections, and waits until every
// connection has had its answer and closed, or ctx ends (then it returns
// ctx's error and leaves the rest to Close).
func (s *Server) Shutdown(ctx context.Context) error {
	s.noKeepAlive.Store(true)
	if !s.advance(stateShuttingDown) {
		return nil
	}
	done := s.stopListening()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close cuts every connection at once, answered or not.
func (s *Server) Close() error {
	s.advance(stateClosed)
	if done := s.stopListening(); done != nil {
		<-done
	}
	return nil
}

// advance moves the state forward to st (never back), reporting whether
// the server was serving or shutting down.
func (s *Server) advance(st int32) bool {
	for {
		cur := s.state.Load()
		if cur >= st {
			return cur != stateNew
		}
		if s.state.CompareAndSwap(cur, st) {
			if cur == stateNew {
				return false
			}
			return true
		}
	}
}

// stopListening has every loop forget the listener, then closes it: a
// listener closed while a loop still polled it could see its descriptor
// number reused by a new connection. It returns the channel closed when the
// loops have ended, nil when Serve never ran.
func (s *Server) stopListening() chan struct{} {
	s.mu.Lock()
	done, serving := s.done, s.ln != nil
	s.mu.Unlock()
	if !serving {
		return nil
	}
	s.wakeAll()
	s.released.Wait()
	s.closeListener()
	return done
}

func (s *Server) closeListener() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil && !s.lnClosed {
		s.lnClosed = true
		s.ln.Close()
	}
}

func (s *Server) wakeAll() {
	s.mu.Lock()
	loops := s.loops
	s.mu.Unlock()
	for _, l := range loops {
		l.wake()
	}
}

// conn is one client connection, owned by one loop.
type conn struct {
	fd     int
	sa     syscall.Sockaddr
	in     []byte // the start of a request not yet complete
	out    []byte // answers not yet written (the socket was full)
	busy   bool   // a Handler goroutine has the current request
	ending bool   // close once out is written and no request is busy
	eof    bool   // the client has closed its side
	closed bool

	lastActive time.Time
	reqStart   time.Time // when the request in progress began
	writeStart time.Time // when out began waiting
	events     uint32
}

// done is a Handler goroutine's answer, handed back to the loop.
type done struct {
	c     *conn
	resp  []byte
	close bool
}

type loop struct {
	s      *Server
	ep     int
	lfd    int
	wakeR  int
	wakeW  int
	listen bool // the listener is still ours to give back
	// acceptPaused: taken out of the poll set after an accept error.
	acceptPaused bool

	conns  []*conn // by descriptor
	nconns int

	buf    []byte // read buffer
	out    []byte // answers being gathered for one connection
	events []syscall.EpollEvent
	now    time.Time
	date   []byte // the Date header value, remade once a second
	dateAt int64
	swept  time.Time
	noKA   bool

	// The reused inline request.
	req     http.Request
	url     url.URL
	w       *responseWriter
	queries map[string]string // interned query strings, so none allocates
	paths   [][]byte

	maxHeader, maxBody int
	readHeaderTimeout  time.Duration
	readTimeout        time.Duration
	writeTimeout       time.Duration
	idleTimeout        time.Duration

	mu         sync.Mutex
	ended      bool
	wakePosted bool
	finished   []done
}

func newLoop(s *Server, lfd int) (*loop, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("httploop: epoll_create1: %w", err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(ep)
		return nil, fmt.Errorf("httploop: pipe2: %w", err)
	}
	l := &loop{s: s, ep: ep, lfd: lfd, wakeR: p[0], wakeW: p[1], listen: true,
		buf: make([]byte, 64<<10), out: make([]byte, 0, 16<<10),
		events: make([]syscall.EpollEvent, 256), w: newResponseWriter(),
		queries:   make(map[string]string),
		maxHeader: s.MaxHeaderBytes, maxBody: s.MaxBodyBytes,
		readHeaderTimeout: s.ReadHeaderTimeout, readTimeout: s.ReadTimeout,
		writeTimeout: s.WriteTimeout, idleTimeout: s.IdleTimeout,
	}
	if l.maxHeader <= 0 {
		l.maxHeader = http.DefaultMaxHeaderBytes
	}
	l.maxHeader += 4096
	if l.maxBody <= 0 {
		l.maxBody = 1 << 20
	}
	if l.readHeaderTimeout <= 0 {
		l.readHeaderTimeout = l.readTimeout
	}
	if l.idleTimeout <= 0 {
		l.idleTimeout = l.readTimeout
	}
	for _, p := range s.InlinePaths {
		l.paths = append(l.paths, []byte(p))
	}
	l.req = http.Request{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, URL: &l.url,
		Header: http.Header{}, Body: http.NoBody}
	if err := l.ctl(syscall.EPOLL_CTL_ADD, l.wakeR, syscall.EPOLLIN); err != nil {
		l.release()
		return nil, err
	}
	err = l.ctl(syscall.EPOLL_CTL_ADD, lfd, syscall.EPOLLIN|epollExclusive)
	if errors.Is(err, syscall.EINVAL) { // a kernel before 4.5
		err = l.ctl(syscall.EPOLL_CTL_ADD, lfd, syscall.EPOLLIN)
	}
	if err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

func (l *loop) ctl(op, fd int, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.ep, op, fd, &ev); err != nil {
		return fmt.Errorf("httploop: epoll_ctl: %w", err)
	}
	return nil
}

// release closes the loop's own descriptors once no goroutine can post to
// it any more.
func (l *loop) release() {
	l.mu.Lock()
	l.ended = true
	l.mu.Unlock()
	syscall.Close(l.ep)
	syscall.Close(l.wakeR)
	syscall.Close(l.wakeW)
}

// wake makes the loop look at its finished answers and the server's state.
func (l *loop) wake() {
	l.mu.Lock()
	if !l.ended && !l.wakePosted {
		l.wakePosted = true
		syscall.Write(l.wakeW, []byte{1})
	}
	l.mu.Unlock()
}

// post hands a Handler goroutine's answer to the loop; it is dropped if the
// loop has ended.
func (l *loop) post(d done) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.finished = append(l.finished, d)
	if !l.wakePosted {
		l.wakePosted = true
		syscall.Write(l.wakeW, []byte{1})
	}
	l.mu.Unlock()
}

func (l *loop) run() {
	defer l.release()
	l.now = time.Now()
	l.swept = l.now
	for {
		// Under load there are always events waiting: ask for them without
		// telling the scheduler, and block (telling it, so the other
		// goroutines get the thread) only when there are none.
		n, err := rawEpollWait(l.ep, l.events)
		if n == 0 && err == nil {
			n, err = syscall.EpollWait(l.ep, l.events, 1000)
		}
		if err != nil && err != syscall.EINTR {
			l.s.logf("httploop: epoll_wait: %v", err)
			l.closeAll()
			l.releaseListener()
			return
		}
		l.now = time.Now()
		for i := 0; i < n; i++ {
			ev := l.events[i]
			fd := int(ev.Fd)
			switch {
			case fd == l.wakeR:
				l.takeFinished()
			case fd == l.lfd && l.listen:
				l.accept()
			default:
				if fd < len(l.conns) && l.conns[fd] != nil {
					l.event(l.conns[fd], ev.Events)
				}
			}
		}
		if l.now.Sub(l.swept) >= time.Second {
			l.sweep()
		}
		if l.checkState() {
			return
		}
	}
}

// checkState follows the server's state; it reports whether the loop is
// done.
func (l *loop) checkState() bool {
	st := l.s.state.Load()
	if st >= stateShuttingDown {
		l.releaseListener()
	}
	if !l.noKA && l.s.noKeepAlive.Load() {
		l.noKA = true
		l.closeIdle()
	}
	switch {
	case st == stateClosed:
		l.closeAll()
		return true
	case st == stateShuttingDown:
		l.closeIdle()
		return l.nconns == 0
	}
	return false
}

func (l *loop) releaseListener() {
	if l.listen {
		l.listen = false
		if !l.acceptPaused {
			syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, l.lfd, nil)
		}
		l.s.released.Done()
	}
}

func (l *loop) takeFinished() {
	var b [64]byte
	for {
		if n, _ := syscall.Read(l.wakeR, b[:]); n <= 0 {
			break
		}
	}
	l.mu.Lock()
	finished := l.finished
	l.finished = nil
	l.wakePosted = false
	l.mu.Unlock()
	for _, d := range finished {
		c := d.c
		if c.closed {
			continue
		}
		c.busy = false
		c.lastActive = l.now
		if d.close {
			c.ending = true
		}
		if c.eof && (c.ending || len(c.in) == 0) {
			c.ending = true
		}
		l.write(c, d.resp)
		if !c.closed && !c.ending && len(c.out) == 0 {
			l.serve(c, c.in) // requests that came in behind it
		}
	}
}

func (l *loop) accept() {
	for i := 0; i < 64; i++ {
		fd, sa, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			switch err {
			case syscall.EAGAIN, syscall.EBADF, syscall.EINVAL:
			case syscall.ECONNABORTED, syscall.EINTR:
				continue
			default:
				// Out of descriptors, say: net/http logs and backs off;
				// here the next sweep, within a second, listens again.
				l.s.logf("httploop: accept: %v", err)
				l.pauseAccept()
			}
			return
		}
		// What net.Listen's accepted connections get: no Nagle delay and
		// TCP keep-alive probes every 15 s.
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 15)
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 15)
		c := &conn{fd: fd, sa: sa, lastActive: l.now, events: syscall.EPOLLIN | syscall.EPOLLRDHUP}
		if err := l.ctl(syscall.EPOLL_CTL_ADD, fd, c.events); err != nil {
			syscall.Close(fd)
			continue
		}
		for fd >= len(l.conns) {
			l.conns = append(l.conns, make([]*conn, len(l.conns)+64)...)
		}
		l.conns[fd] = c
		l.nconns++
	}
}

// pauseAccept stops taking connections until the next sweep.
func (l *loop) pauseAccept() {
	if l.listen && !l.acceptPaused {
		syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, l.lfd, nil)
		l.acceptPaused = true
	}
}

func (l *loop) setEvents(c *conn, events uint32) {
	if c.events != events {
		c.events = events
		l.ctl(syscall.EPOLL_CTL_MOD, c.fd, events)
	}
}

func (l *loop) event(c *conn, events uint32) {
	if events&syscall.EPOLLOUT != 0 {
		l.flush(c)
		if c.closed || len(c.out) > 0 {
			return
		}
		if len(c.in) > 0 && !c.busy {
			l.serve(c, c.in)
		}
	}
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && !c.closed {
		l.read(c)
	}
}

func (l *loop) read(c *conn) {
	n, err := rawRead(c.fd, l.buf)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return
	}
	if err != nil {
		l.closeConn(c) // reset: no answer can reach the client
		return
	}
	if n == 0 {
		// The client has closed its side: an answer still being made is
		// sent if it can be, and then the connection closes.
		if c.busy || len(c.out) > 0 {
			c.eof = true
			if len(c.out) > 0 {
				l.setEvents(c, syscall.EPOLLOUT)
			} else {
				l.setEvents(c, 0)
			}
			return
		}
		l.closeConn(c)
		return
	}
	c.lastActive = l.now
	data := l.buf[:n]
	if len(c.in) > 0 || c.busy {
		if len(c.in)+n > l.maxHeader+l.maxBody {
			l.closeConn(c) // a client that pipelines without reading
			return
		}
		c.in = append(c.in, data...)
		if c.busy {
			return
		}
		data = c.in
	}
	l.serve(c, data)
}

// serve answers the complete requests at the start of data, in order,
// until one must go to a goroutine, and keeps what is left.
func (l *loop) serve(c *conn, data []byte) {
	out := l.out[:0]
	served := false
	for len(data) > 0 && !c.busy && !c.ending {
		r, st := parseRequest(data, l.maxHeader, l.maxBody)
		if st == needMore {
			break
		}
		switch st {
		case headerTooLarge:
			out = append(out, headersTooLarge...)
		case contentTooLarge:
			out = append(out, bodyTooLarge...)
		}
		if st != parsed {
			c.ending, data = true, nil
			break
		}
		if path := l.inlinePath(&r); path != "" {
			out = l.serveInline(c, &r, path, out)
		} else {
			c.busy = true
			c.reqStart = l.now
			go l.serveGoroutine(c, bytes.Clone(data[:r.n]), r)
		}
		data, served = data[r.n:], true
		if !r.keepAlive {
			c.ending, data = true, nil
		}
	}
	// Keep the start of the next request; data may be a view of c.in.
	if len(data) > 0 {
		if served || len(c.in) == 0 {
			c.reqStart = l.now
		}
		if sameEnd(data, c.in) {
			c.in = c.in[:copy(c.in, data)]
		} else {
			c.in = append(c.in[:0], data...)
		}
	} else if cap(c.in) > 4096 {
		c.in = nil // a large request is over: do not hold its buffer
	} else {
		c.in = c.in[:0]
	}
	l.out = out[:0]
	if c.eof && !c.busy {
		c.ending = true // nothing more will come
	}
	if len(out) > 0 {
		l.write(c, out)
	} else if c.ending && !c.busy && len(c.out) == 0 {
		l.closeConn(c)
	}
}

// sameEnd reports whether a and b are views of one array ending at the
// same place, as a tail of c.in is of c.in.
func sameEnd(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
}

// inlinePath returns the path of r when the loop answers it itself.
func (l *loop) inlinePath(r *request) string {
	if r.inline {
		for _, p := range l.s.InlinePaths {
			if string(r.path) == p {
				return p
			}
		}
	}
	return ""
}

// serveInline answers r on the loop, appending the response to out.
func (l *loop) serveInline(c *conn, r *request, path string, out []byte) []byte {
	l.req.Method = r.method
	l.url.Path = path
	l.url.RawQuery = l.intern(r.query)
	w := l.w
	w.reset()
	if !l.callInline(w) {
		c.ending = true
		return append(out, internalError...)
	}
	l.refreshDate()
	keepAlive := r.keepAlive && !l.noKA && !l.s.noKeepAlive.Load()
	if !keepAlive {
		c.ending = true
	}
	return w.appendResponse(out, reqInfo{head: r.method == "HEAD", keepAlive: keepAlive}, l.date)
}

func (l *loop) callInline(w *responseWriter) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			l.s.logf("httploop: panic serving %s: %v", l.url.Path, p)
		}
	}()
	l.s.Inline.ServeHTTP(w, &l.req)
	return true
}

// intern returns q as a string without allocating once it has been seen;
// the table is emptied when it grows large, so it stays bounded.
func (l *loop) intern(q []byte) string {
	if len(q) == 0 {
		return ""
	}
	if s, ok := l.queries[string(q)]; ok {
		return s
	}
	if len(l.queries) >= 4096 {
		clear(l.queries)
	}
	s := string(q)
	l.queries[s] = s
	return s
}

func (l *loop) refreshDate() {
	if sec := l.now.Unix(); sec != l.dateAt || l.date == nil {
		l.dateAt = sec
		l.date = l.now.UTC().AppendFormat(l.date[:0], http.TimeFormat)
	}
}

// serveGoroutine parses raw with net/http's own parser, runs the Handler,
// and posts the buffered answer back to the loop.
func (l *loop) serveGoroutine(c *conn, raw []byte, r request) {
	resp, closeAfter := l.answer(c, raw, r)
	l.post(done{c: c, resp: resp, close: closeAfter})
}

func (l *loop) answer(c *conn, raw []byte, r request) (resp []byte, closeAfter bool) {
	req, err := http.ReadRequest(bufio.NewReaderSize(bytes.NewReader(raw), len(raw)))
	if err != nil {
		if errors.Is(err, http.ErrNotSupported) || isUnsupportedTE(err) {
			return []byte(notImplementedTE), true
		}
		return []byte(badRequest), true
	}
	// "PRI * HTTP/2.0" (the HTTP/2 preface) reaches the handler, as in
	// net/http, and then the connection closes; other versions do not.
	h2Preface := req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*"
	if req.ProtoMajor != 1 && !h2Preface {
		return []byte(unsupportedProto), true
	}
	if h2Preface {
		r.keepAlive = false
	}
	// http.ReadRequest moves Host out of the headers, so the count comes
	// from the framing.
	if req.ProtoAtLeast(1, 1) && r.hosts == 0 && req.Method != "CONNECT" && !h2Preface {
		return []byte(missingHost), true
	}
	if r.hosts > 1 {
		return []byte(tooManyHosts), true
	}
	if c.sa != nil {
		req.RemoteAddr = sockaddrString(c.sa)
	}
	if req.RequestURI == "*" && req.Method == http.MethodOptions {
		// net/http answers "OPTIONS *" itself, without the handler.
		date := time.Now().UTC().AppendFormat(nil, http.TimeFormat)
		w := newResponseWriter()
		w.header["Content-Length"] = []string{"0"}
		w.WriteHeader(http.StatusOK)
		keepAlive := r.keepAlive && !l.s.noKeepAlive.Load()
		return w.appendResponse(nil, reqInfo{http10: !req.ProtoAtLeast(1, 1), keepAlive: keepAlive}, date), !keepAlive
	}
	w := newResponseWriter()
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				l.s.logf("httploop: panic serving %s: %v", req.URL.Path, p)
			}
			resp, closeAfter = []byte(internalError), true
		}
	}()
	h := l.s.Handler
	if h == nil {
		h = http.DefaultServeMux // as http.Server
	}
	h.ServeHTTP(w, req)
	keepAlive := r.keepAlive && !l.s.noKeepAlive.Load() && !hasConnClose(w.header)
	ri := reqInfo{head: req.Method == http.MethodHead, http10: !req.ProtoAtLeast(1, 1), keepAlive: keepAlive}
	date := time.Now().UTC().AppendFormat(nil, http.TimeFormat)
	return w.appendResponse(nil, ri, date), !keepAlive
}

func isUnsupportedTE(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("unsupported transfer encoding"))
}

func hasConnClose(h http.Header) bool {
	for _, v := range h["Connection"] {
		if hasToken([]byte(v), "close") {
			return true
		}
	}
	return false
}

func sockaddrString(sa syscall.Sockaddr) string {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *syscall.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	}
	return ""
}

// write sends b after whatever is already waiting; what the socket will not
// take now waits for EPOLLOUT.
func (l *loop) write(c *conn, b []byte) {
	if len(c.out) > 0 {
		c.out = append(c.out, b...)
		return
	}
	n, err := rawWrite(c.fd, b)
	if err != nil && err != syscall.EAGAIN && err != syscall.EINTR {
		l.closeConn(c)
		return
	}
	if n < 0 {
		n = 0
	}
	if n < len(b) {
		c.out = append(c.out[:0], b[n:]...)
		c.writeStart = l.now
		l.setEvents(c, syscall.EPOLLOUT)
		return
	}
	if c.ending && !c.busy {
		l.closeConn(c)
	}
}

// flush writes what waits in c.out.
func (l *loop) flush(c *conn) {
	for len(c.out) > 0 {
		n, err := rawWrite(c.fd, c.out)
		if err == syscall.EAGAIN {
			return
		}
		if err != nil {
			l.closeConn(c)
			return
		}
		c.out = c.out[n:]
	}
	c.out = nil
	if (c.ending || c.eof && len(c.in) == 0) && !c.busy {
		l.closeConn(c)
		return
	}
	if c.eof {
		l.setEvents(c, 0)
	} else {
		l.setEvents(c, syscall.EPOLLIN|syscall.EPOLLRDHUP)
	}
}

func (l *loop) closeConn(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	syscall.Close(c.fd) // which also takes it out of the poll set
	l.conns[c.fd] = nil
	l.nconns--
	c.in, c.out = nil, nil
}

// idle reports whether c is between requests.
func idle(c *conn) bool { return !c.busy && len(c.in) == 0 && len(c.out) == 0 }

func (l *loop) closeIdle() {
	for _, c := range l.conns {
		if c != nil && idle(c) {
			l.closeConn(c)
		}
	}
}

func (l *loop) closeAll() {
	for _, c := range l.conns {
		if c != nil {
			l.closeConn(c)
		}
	}
}

// sweep closes connections past their deadlines, as net/http's timeouts
// would, and resumes accepting after an accept error. It runs about once a
// second, so a deadline may be overrun by up to a second.
func (l *loop) sweep() {
	l.swept = l.now
	if l.acceptPaused && l.listen && l.s.state.Load() == stateServing {
		if l.ctl(syscall.EPOLL_CTL_ADD, l.lfd, syscall.EPOLLIN|epollExclusive) == nil ||
			l.ctl(syscall.EPOLL_CTL_ADD, l.lfd, syscall.EPOLLIN) == nil {
			l.acceptPaused = false
		}
	}
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		var since time.Time
		var limit time.Duration
		switch {
		case c.busy:
			since, limit = c.reqStart, l.writeTimeout
		case len(c.out) > 0:
			since, limit = c.writeStart, l.writeTimeout
		case len(c.in) > 0:
			since, limit = c.reqStart, l.readHeaderTimeout
			if bytes.Contains(c.in, crlfcrlf) {
				limit = l.readTimeout // the headers are in; the body is late
			}
		default:
			since, limit = c.lastActive, l.idleTimeout
		}
		if limit > 0 && l.now.Sub(since) > limit {
			l.closeConn(c)
		}
	}
}

// rawRead, rawWrite and rawEpollWait are read(2), write(2) and a zero-timeout
// epoll_wait(2), none of which can block here (the sockets are
// non-blocking), made without the scheduler hand-off that syscall.Read and
// its kind do around every call for calls that might.
func rawRead(fd int, b []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

func rawEpollWait(ep int, events []syscall.EpollEvent) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		if errno == syscall.EINTR {
			return 0, nil
		}
		return 0, errno
	}
	return int(n), nil
}
