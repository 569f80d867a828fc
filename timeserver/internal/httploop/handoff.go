//go:build linux

package httploop

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

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
