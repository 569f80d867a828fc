//go:build linux

package httploop

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

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
	// holdP: there is a spare P, so the loop may wait for events without
	// giving its own back (see wait); hot: the last wait found events.
	holdP, hot bool

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

	local any // from Server.NewLocal

	mu         sync.Mutex
	ended      bool
	wakePosted bool
	finished   []done
	visits     []visit
}

// visit is a VisitLocals call waiting for the loop to run it.
type visit struct {
	f    func(any)
	done chan struct{}
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
	if s.NewLocal != nil {
		l.local = s.NewLocal()
		l.w.local = l.local
	}
	l.w.loopNow = &l.now
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
	visits := l.visits
	l.visits = nil
	l.mu.Unlock()
	l.runVisits(visits)
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

// visitLocal runs v.f with the loop's local value on the loop, between
// two requests, or at once if the loop has ended.
func (l *loop) visitLocal(v visit) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		l.runVisits([]visit{v}) // the loop's last writes came before ended was set
		return
	}
	l.visits = append(l.visits, v)
	if !l.wakePosted {
		l.wakePosted = true
		syscall.Write(l.wakeW, []byte{1})
	}
	l.mu.Unlock()
}

func (l *loop) runVisits(visits []visit) {
	for _, v := range visits {
		v.f(l.local)
		close(v.done)
	}
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
		n, err := rawEpollWait(l.ep, l.events, 0)
		if n == 0 && (err == nil || err == syscall.EINTR) {
			n, err = l.wait()
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

// wait blocks until there are events, or a second has passed.
//
// A blocking system call made the ordinary way (syscall.EpollWait) tells
// the scheduler, and when the loop leaves no spare P the runtime's sysmon
// thread takes the P back after 20 µs and keeps waking every 20 µs to
// check again: under load, thousands of context switches a second on the
// loop's own core, about 6% of the server's CPU. So when there is a spare P
// for everything else (holdP), a loop that has just had work waits for up
// to holdWait without telling the scheduler, and only an idle loop parks
// the ordinary way. A loop that waits so still gets preempted by the
// runtime's signals when the garbage collector needs it: they interrupt
// the wait (EINTR), and the loop stops at its next function call.
func (l *loop) wait() (int, error) {
	if l.holdP && l.hot {
		n, err := rawEpollWait(l.ep, l.events, holdWait)
		if n > 0 || err != nil {
			return n, err // EINTR too: a signal, maybe the runtime preempting the loop
		}
		l.hot = false // a quiet spell: park the ordinary way from now on
	}
	n, err := syscall.EpollWait(l.ep, l.events, 1000)
	l.hot = n > 0
	return n, err
}

// holdWait is how long, in ms, a loop that has just had work waits without
// giving back its P (see wait): much longer than the gaps between requests
// under load, even on a machine so busy that clients stall for a time slice
// or two, and short enough that an idle loop soon parks for good.
const holdWait = 50

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
	finished, visits := l.finished, l.visits
	l.finished, l.visits = nil, nil
	l.wakePosted = false
	l.mu.Unlock()
	l.runVisits(visits)
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
		c := &conn{fd: fd, sa: sa, lastActive: l.now, events: connIn}
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

// The events a connection waits for: its requests, or room to write its
// answers. Edge-triggered, as nginx does it: a connection reported ready is
// not polled again by every later epoll_wait (level-triggered epoll checks
// each reported socket once more on the next wait, about 0.4 µs of kernel
// time per request here).
const (
	epollET = 1 << 31
	connIn  = syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET
	connOut = syscall.EPOLLOUT | epollET
)

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
		l.read(c, events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0)
	}
}

// read takes in what the client has sent and answers what it can.
// Connections are edge-triggered (no event again for data already
// reported), so it reads until the socket is empty: a read that fills less
// than the buffer has taken all there was, and data arriving after it
// brings a new event. But once the client has closed its side (hup), no
// event will come for the end of the stream: it reads on until it sees it.
// It stops early only when it will not read on anyway: the connection is
// closing, or its answers wait for EPOLLOUT (turning EPOLLIN back on then
// reports what is there).
func (l *loop) read(c *conn, hup bool) {
	for {
		n, err := rawRead(c.fd, l.buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
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
					l.setEvents(c, connOut)
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
			data = c.in
		}
		if !c.busy {
			l.serve(c, data)
		}
		if n < len(l.buf) && !hup || c.closed || c.ending || len(c.out) > 0 {
			return
		}
	}
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
		l.setEvents(c, connOut)
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
		l.setEvents(c, connIn)
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
