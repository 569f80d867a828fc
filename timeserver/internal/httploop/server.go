// Package httploop is a small HTTP/1.1 server built the way nginx is: one
// epoll event loop per core, each reading, answering and writing for many
// connections without a goroutine or an allocation per request. Requests to
// a fixed set of paths are answered on the loop itself by an http.Handler
// that must not block; every other request is parsed by net/http's own
// http.ReadRequest and answered on a goroutine, so it may take its time.
//
// It speaks HTTP/1.1 (and 1.0) only, in clear text: no TLS, no HTTP/2, no
// protocol upgrades, no streaming (responses are buffered whole). It is
// made for a service behind a load balancer that speaks HTTP/1.1 to its
// targets, as an AWS Application Load Balancer does. See docs/timeserver.md.
//
// Its methods mirror http.Server's (Serve, SetKeepAlivesEnabled, Shutdown,
// Close), with the same meaning, so the two can be swapped.
package httploop

import (
	"errors"
	"log"
	"net/http"
	"time"
)

// Server answers HTTP/1.1 requests. Set its fields before Serve.
type Server struct {
	// Inline answers requests for InlinePaths (exact paths, no escapes)
	// that are GET or HEAD over HTTP/1.1 without a body, on the event loop
	// itself. It must not block and must not keep the request or any string
	// from it after returning: the request is reused, and its query string
	// may be a view of the loop's read buffer. The request carries Method,
	// Proto and URL.Path and URL.RawQuery only (no headers, no RemoteAddr).
	Inline      http.Handler
	InlinePaths []string

	// Handler answers every other request, each on its own goroutine, with
	// a request parsed by http.ReadRequest. Its response is buffered whole
	// before it is sent.
	Handler http.Handler

	// As in http.Server; zero means no limit. IdleTimeout zero means
	// ReadTimeout.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes bounds the request line and headers (default 1 MB,
	// plus 4 KB of slack, as net/http allows).
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body (default 1 MB); a larger one
	// gets 413.
	MaxBodyBytes int

	// NewLocal, when set, makes one value per event loop. An Inline
	// handler finds its loop's value with LocalOf and may change it
	// without locks, as a loop runs one handler at a time; VisitLocals
	// reads them all. It is how per-request bookkeeping (counters, say)
	// stays free of atomic operations and shared cache lines.
	NewLocal func() any

	// Loops is the number of event loops (default GOMAXPROCS). Fewer loops
	// than GOMAXPROCS leaves a spare P for everything else (the Handler's
	// goroutines, timers, the garbage collector), and then a busy loop
	// waits for events without handing its P back to the scheduler, which
	// saves a context switch per wait on the loop's core: one loop per
	// core and GOMAXPROCS one higher is the fastest setting.
	Loops int

	// ErrorLog receives accept errors and handler panics (default: the
	// log package's standard logger).
	ErrorLog *log.Logger

	impl
}

// ErrUnsupported is returned by Serve where there is no epoll.
var ErrUnsupported = errors.New("httploop: needs Linux (epoll)")

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// LocalOf returns the value NewLocal made for the loop that runs the Inline
// handler w was given to, or nil for any other ResponseWriter (the
// Handler's goroutines get nil too: they run concurrently).
func LocalOf(w http.ResponseWriter) any {
	if rw, ok := w.(*responseWriter); ok {
		return rw.local
	}
	return nil
}

// Now returns the current time. For the ResponseWriter of an Inline
// handler it reads the clock once where time.Now reads it twice (wall and
// monotonic): it adds the monotonic time since the loop last read both,
// at most a few hundred microseconds before under load. On a busy core
// those reads are a good part of a small handler's cost.
func Now(w http.ResponseWriter) time.Time {
	if rw, ok := w.(*responseWriter); ok && rw.loopNow != nil {
		t := *rw.loopNow
		return t.Add(time.Since(t))
	}
	return time.Now()
}
