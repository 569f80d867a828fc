package httploop

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

func TestParseRequest(t *testing.T) {
	for _, c := range []struct {
		raw       string
		st        parseStatus
		inline    bool
		keepAlive bool
		n         int
	}{
		{"GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n", parsed, true, true, 32},
		{"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b", parsed, true, true, 28},
		{"GET /a HTTP/1.1\r\nHost: x\r\n", needMore, false, false, 0},
		{"HEAD /a HTTP/1.1\r\nhost: x\r\nConnection: keep-alive, Close\r\n\r\n", parsed, true, false, 60},
		{"GET /a HTTP/1.0\r\n\r\n", parsed, false, false, 19},
		{"GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", parsed, false, true, 43},
		{"GET /a HTTP/1.1\r\n\r\n", parsed, false, true, 19},
		{"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", parsed, false, true, 37},
		{"GET /a%2F HTTP/1.1\r\nHost: x\r\n\r\n", parsed, false, true, 31},
		{"GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n", parsed, false, true, 36},
		{"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET", parsed, false, true, 51},
		{"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nab", needMore, false, false, 0},
		{"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n", contentTooLarge, false, false, 0},
		{"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", parsed, false, true, 49},
		{"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET", parsed, false, false, 73},
		{"GET /a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", parsed, false, true, 37},
		{"GET /a HTTP/1.1\nHost: x\n\n", parsed, false, true, 25},
		{"GET /a HTTP/1.1\r\nHost: x\r\nX: " + string(bytes.Repeat([]byte("a"), 200)) + "\r\n\r\n", headerTooLarge, false, false, 0},
		{string(bytes.Repeat([]byte("a"), 201)), headerTooLarge, false, false, 0},
	} {
		r, st := parseRequest([]byte(c.raw), 200, 100)
		if st != c.st || st == parsed && (r.inline != c.inline || r.keepAlive != c.keepAlive || r.n != c.n) {
			t.Errorf("%q: status %d inline %v keepAlive %v n %d; want %d %v %v %d",
				c.raw, st, r.inline, r.keepAlive, r.n, c.st, c.inline, c.keepAlive, c.n)
		}
	}
}

// FuzzParseRequest: no input makes the framer panic or overrun, and what it
// answers inline, net/http reads the same way.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET /api/time?tz=Asia/Seoul HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab",
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, st := parseRequest(b, 4096, 4096)
		if st != parsed {
			return
		}
		if r.n <= 0 || r.n > len(b) {
			t.Fatalf("n %d for %d bytes", r.n, len(b))
		}
		if !r.inline {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:r.n])))
		if err != nil {
			t.Fatalf("inline, but net/http says %v", err)
		}
		if req.Method != r.method || req.URL.Path != string(r.path) || req.URL.RawQuery != string(r.query) {
			t.Fatalf("inline %s %q %q; net/http %s %q %q", r.method, r.path, r.query, req.Method, req.URL.Path, req.URL.RawQuery)
		}
		if req.ContentLength > 0 || req.Close == r.keepAlive {
			t.Fatalf("inline with length %d, close %v (keepAlive %v)", req.ContentLength, req.Close, r.keepAlive)
		}
	})
}
