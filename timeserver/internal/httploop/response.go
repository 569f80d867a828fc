package httploop

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// responseWriter buffers a whole response: the handlers this server runs
// answer in a few hundred bytes (the zone list, the largest, in about 10 KB),
// so nothing is streamed. One is reused for every inline request of a loop.
type responseWriter struct {
	header http.Header
	set    []field // headers given with SetHeader
	code   int
	body   []byte
	fields []field // scratch for sorting the headers

	// heads remembers the last few status lines and header blocks made
	// from SetHeader alone: a handler that sets the same shared values
	// again (the time server's endpoints always do) gets them copied
	// instead of sorted, checked and written out again.
	heads    [4]head
	nextHead int

	local   any        // the loop's NewLocal value; nil off the loop
	loopNow *time.Time // the loop's last clock reading; nil off the loop
}

// head is a status line and header block as appendResponse wrote it, with
// what it was made from.
type head struct {
	code   int
	http10 bool
	set    []field // names, and value slices compared by identity
	found  headerFlags
	bytes  []byte
}

// headerFlags says which headers that the server would otherwise add the
// handler has set itself.
type headerFlags struct{ date, length, contentType, encoding bool }

// HeaderSetter is implemented by the ResponseWriter this server gives its
// handlers. SetHeader(name, values) means w.Header()[name] = values (name
// exactly as spelt, values not to be changed afterwards) but keeps the
// header in a short list instead of hashing it into a map, which on the
// hottest path costs about as much as the handler's own work.
type HeaderSetter interface {
	SetHeader(name string, values []string)
}

func (w *responseWriter) SetHeader(name string, values []string) {
	for i := range w.set {
		if w.set[i].name == name {
			w.set[i].values = values
			return
		}
	}
	w.set = append(w.set, field{name, values})
}

type field struct {
	name   string
	values []string
}

func newResponseWriter() *responseWriter {
	return &responseWriter{header: make(http.Header, 8), body: make([]byte, 0, 512)}
}

func (w *responseWriter) reset() {
	if len(w.header) > 0 {
		clear(w.header)
	}
	// The old fields are not cleared: their values are the handler's
	// shared slices, and clearing pointers costs write barriers.
	w.set = w.set[:0]
	w.code = 0
	w.body = w.body[:0]
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

// WriteString lets io.WriteString skip a conversion.
func (w *responseWriter) WriteString(s string) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.body = append(w.body, s...)
	return len(s), nil
}

// reqInfo is what framing a response needs to know about its request.
type reqInfo struct {
	head      bool // HEAD: headers only
	http10    bool // answer "HTTP/1.0", and close unless asked to keep alive
	keepAlive bool // the connection stays open after this response
}

// netHTTPChunkingSize is net/http's response buffer: a HEAD answer whose
// handler wrote more than this and declared no length gets no
// Content-Length from net/http, so none from here either.
const netHTTPChunkingSize = 2048

// appendResponse writes the status line, headers and body as net/http's
// server does for the same handler output, byte for byte apart from one
// thing: a body longer than 2 KB that the handler did not declare a length
// for is sent with Content-Length here, where net/http would chunk it.
//
// Order, as net/http: the handler's headers sorted by name, then Date and
// Content-Length unless the handler set them, then a sniffed Content-Type,
// then Connection.
func (w *responseWriter) appendResponse(b []byte, ri reqInfo, date []byte) []byte {
	code := w.code
	if code == 0 {
		code = http.StatusOK
	}
	var found headerFlags
	if h := w.cachedHead(code, ri.http10); h != nil {
		b = append(b, h.bytes...)
		found = h.found
	} else {
		start := len(b)
		b, found = w.appendHead(b, code, ri.http10)
		if len(w.header) == 0 {
			w.rememberHead(code, ri.http10, found, b[start:])
		}
	}
	bodyAllowed := code != http.StatusNoContent && code != http.StatusNotModified
	if !found.date {
		b = append(b, "Date: "...)
		b = append(b, date...)
		b = append(b, '\r', '\n')
	}
	if !found.length && bodyAllowed && (!ri.head || len(w.body) <= netHTTPChunkingSize) {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(w.body)), 10)
		b = append(b, '\r', '\n')
	}
	if !found.contentType && bodyAllowed && len(w.body) > 0 && !found.encoding {
		b = append(b, "Content-Type: "...)
		b = append(b, http.DetectContentType(w.body)...)
		b = append(b, '\r', '\n')
	}
	switch {
	case !ri.keepAlive && !ri.http10:
		b = append(b, "Connection: close\r\n"...)
	case ri.keepAlive && ri.http10:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, '\r', '\n')
	if bodyAllowed && !ri.head {
		b = append(b, w.body...)
	}
	return b
}

// cachedHead returns the head made before from the same code, protocol
// and SetHeader fields (the same names and the very same value slices),
// or nil.
func (w *responseWriter) cachedHead(code int, http10 bool) *head {
	if len(w.header) > 0 {
		return nil
	}
next:
	for i := range w.heads {
		h := &w.heads[i]
		if h.bytes == nil || h.code != code || h.http10 != http10 || len(h.set) != len(w.set) {
			continue
		}
		for j, f := range w.set {
			g := h.set[j]
			if f.name != g.name || len(f.values) != len(g.values) ||
				len(f.values) > 0 && &f.values[0] != &g.values[0] {
				continue next
			}
		}
		return h
	}
	return nil
}

func (w *responseWriter) rememberHead(code int, http10 bool, found headerFlags, bytes []byte) {
	h := &w.heads[w.nextHead]
	w.nextHead = (w.nextHead + 1) % len(w.heads)
	h.code, h.http10, h.found = code, http10, found
	h.set = append(h.set[:0], w.set...)
	h.bytes = append(h.bytes[:0], bytes...)
}

// appendHead writes the status line and the handler's headers.
func (w *responseWriter) appendHead(b []byte, code int, http10 bool) ([]byte, headerFlags) {
	if http10 {
		b = append(b, "HTTP/1.0 "...)
	} else {
		b = append(b, "HTTP/1.1 "...)
	}
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	b = append(b, '\r', '\n')

	// The headers from SetHeader, then the map's (which win over a
	// SetHeader of the same name), then an insertion sort: a handful of
	// headers, no map lookups.
	fields := append(w.fields[:0], w.set...)
	if len(w.header) > 0 {
	next:
		for k, v := range w.header {
			for i := range fields {
				if fields[i].name == k {
					fields[i].values = v
					continue next
				}
			}
			fields = append(fields, field{k, v})
		}
	}
	var found headerFlags
	n := 0
	for _, f := range fields {
		switch f.name {
		case "Connection", "Transfer-Encoding":
			continue // framing is this server's business
		case "Date":
			found.date = true
		case "Content-Length":
			found.length = true
		case "Content-Type":
			found.contentType = true
		case "Content-Encoding":
			found.encoding = len(f.values) > 0
		}
		fields[n] = f
		n++
	}
	fields = fields[:n]
	for i := 1; i < len(fields); i++ {
		for j := i; j > 0 && fields[j].name < fields[j-1].name; j-- {
			fields[j], fields[j-1] = fields[j-1], fields[j]
		}
	}
	for _, f := range fields {
		for _, v := range f.values {
			b = append(b, f.name...)
			b = append(b, ':', ' ')
			b = appendHeaderValue(b, v)
			b = append(b, '\r', '\n')
		}
	}
	if len(w.header) > 0 {
		clear(fields) // values from the map may be the request's own
	}
	w.fields = fields[:0]
	return b, found
}

// appendHeaderValue copies v, turning CR and LF into spaces as net/http
// does, so no handler can split a response.
func appendHeaderValue(b []byte, v string) []byte {
	if strings.IndexByte(v, '\r') < 0 && strings.IndexByte(v, '\n') < 0 {
		return append(b, v...)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' {
			b = append(b, ' ')
		} else {
			b = append(b, c)
		}
	}
	return b
}

// Answers sent without running a handler, spelt as net/http spells them.
const (
	badRequest       = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"
	missingHost      = "HTTP/1.1 400 Bad Request: missing required Host header\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: missing required Host header"
	tooManyHosts     = "HTTP/1.1 400 Bad Request: too many Host headers\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: too many Host headers"
	headersTooLarge  = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large"
	bodyTooLarge     = "HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n413 Request Entity Too Large"
	internalError    = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n500 Internal Server Error"
	unsupportedProto = "HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n505 HTTP Version Not Supported: unsupported protocol version"
	notImplementedTE = "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nUnsupported transfer encoding"
)
