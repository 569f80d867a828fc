//go:build linux

package httploop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
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
		l.holdP = n < runtime.GOMAXPROCS(0)
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

// VisitLocals calls f with each loop's NewLocal value, one loop after the
// other, each on its loop between two requests (or here, once the loop has
// ended), and returns when all are done. So f sees every request a loop
// answered before VisitLocals was called, and may read the value without
// locks. Before Serve has made its loops, it calls nothing.
func (s *Server) VisitLocals(f func(any)) {
	s.mu.Lock()
	loops := s.loops
	s.mu.Unlock()
	for _, l := range loops {
		done := make(chan struct{})
		l.visitLocal(visit{f, done})
		<-done
	}
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
