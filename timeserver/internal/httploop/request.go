package httploop

import (
	"bytes"
)

// parseStatus says what parseRequest made of the start of a buffer.
type parseStatus uint8

const (
	parsed          parseStatus = iota
	needMore                    // the request is not all there yet
	headerTooLarge              // more header bytes than allowed
	contentTooLarge             // a declared body longer than allowed
)

// request is one request framed out of the input: where it ends, and just
// enough about it to answer it inline or hand it to net/http's parser.
type request struct {
	n         int    // bytes it takes in the buffer, headers and body
	method    string // "GET" or "HEAD" when inline; empty otherwise
	path      []byte
	query     []byte
	inline    bool // simple enough to answer on the loop
	keepAlive bool // the client did not ask to close
	unframed  bool // a body whose end is not known here: answer, then close
	hosts     int  // Host headers seen
}

// parseRequest frames the first request in b. It answers the common case
// (GET or HEAD, HTTP/1.1, one Host header, no body) itself and marks it
// inline; anything else is framed only (headers, and a Content-Length body)
// and left for net/http's http.ReadRequest to parse and judge, on a
// goroutine.
func parseRequest(b []byte, maxHeader, maxBody int) (request, parseStatus) {
	var r request
	end := bytes.Index(b, crlfcrlf)
	headerLen := end + 4
	bareLF := false
	if end < 0 {
		// Bare LF line ends, which net/http also accepts.
		if end = bytes.Index(b, lflf); end < 0 {
			if len(b) > maxHeader {
				return r, headerTooLarge
			}
			return r, needMore
		}
		headerLen, bareLF = end+2, true
	}
	if headerLen > maxHeader {
		return r, headerTooLarge
	}
	head := b[:headerLen]

	// Request line: METHOD SP target SP HTTP/1.1
	lineEnd := bytes.IndexByte(head, '\n')
	line := trimCR(head[:lineEnd])
	simple := !bareLF
	var method, target, proto []byte
	if sp := bytes.IndexByte(line, ' '); sp > 0 {
		method, line = line[:sp], line[sp+1:]
		if sp := bytes.IndexByte(line, ' '); sp > 0 {
			target, proto = line[:sp], line[sp+1:]
		}
	}
	switch {
	case string(method) == "GET":
		r.method = "GET"
	case string(method) == "HEAD":
		r.method = "HEAD"
	default:
		simple = false
	}
	http10 := false
	switch string(proto) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		http10, simple = true, false
	default:
		simple = false
	}
	if len(target) == 0 || target[0] != '/' {
		simple = false
	} else {
		r.path = target
		if q := bytes.IndexByte(target, '?'); q >= 0 {
			r.path, r.query = target[:q], target[q+1:]
		}
		if bytes.IndexByte(r.path, '%') >= 0 || hasCTL(target) {
			simple = false // net/http would unescape it, or refuse it
		}
	}

	// Headers: only those that change framing or keep-alive are read.
	hosts, lengths := 0, 0
	bodyLen := 0
	closeAsked, keepAliveAsked := false, false
	for rest := head[lineEnd+1:]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		line := trimCR(rest[:i])
		rest = rest[i+1:]
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			simple = false // obsolete line folding
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			simple = false
			continue
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		if !isToken(name) || hasCTL(value) {
			simple = false // net/http refuses these
			continue
		}
		switch len(name) {
		case 4:
			if equalFold(name, "host") {
				hosts++
			}
		case 6:
			if equalFold(name, "expect") {
				r.unframed, simple = true, false
			}
		case 10:
			if equalFold(name, "connection") {
				closeAsked = closeAsked || hasToken(value, "close")
				keepAliveAsked = keepAliveAsked || hasToken(value, "keep-alive")
			}
		case 14:
			if equalFold(name, "content-length") {
				lengths++
				n, ok := atoi(value, maxBody)
				switch {
				case !ok && len(value) > 0 && allDigits(value):
					return r, contentTooLarge
				case !ok:
					simple = false
				default:
					bodyLen = n
				}
			}
		case 17:
			if equalFold(name, "transfer-encoding") {
				r.unframed, simple = true, false
			}
		}
	}
	r.hosts = hosts
	if hosts != 1 || lengths > 1 || bodyLen > 0 {
		simple = false
	}
	if http10 {
		r.keepAlive = keepAliveAsked && !closeAsked
	} else {
		r.keepAlive = !closeAsked
	}
	r.n = headerLen + bodyLen
	if r.unframed {
		// The body's end cannot be found without decoding it: take what
		// has arrived, answer, and close the connection.
		r.n, r.keepAlive = len(b), false
	} else if r.n > len(b) {
		return r, needMore
	}
	r.inline = simple
	if !simple {
		r.method = ""
	}
	return r, parsed
}

var (
	crlfcrlf = []byte("\r\n\r\n")
	lflf     = []byte("\n\n")
)

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// equalFold reports whether b equals the lower-case ASCII word s, ignoring
// case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i]|0x20 != s[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token (lower
// case), ignoring case and spaces.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if equalFold(bytes.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// atoi reads a decimal no greater than max.
func atoi(b []byte, max int) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= max
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isToken reports whether b is a header field name as RFC 9110 allows.
func isToken(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return len(b) > 0
}

var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// hasCTL reports whether b holds a control byte other than a tab.
func hasCTL(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
