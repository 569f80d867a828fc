package httploop

import (
	"strings"
	"testing"
)

// The header block remembered from one answer is reused only for the same
// status, protocol and very same header value slices.
func TestRememberedHeadsFollowTheHandler(t *testing.T) {
	a, b := []string{"one"}, []string{"two"}
	sameTextAsA := []string{"one"}
	date := []byte("Sun, 29 Nov 2026 21:00:00 GMT")
	w := newResponseWriter()
	answer := func(code int, http10 bool, v []string, viaMap bool) string {
		w.reset()
		w.SetHeader("Content-Type", []string{"text/plain"}[:1:1])
		if viaMap {
			w.Header()["X-Value"] = v
		} else {
			w.SetHeader("X-Value", v)
		}
		w.WriteHeader(code)
		w.Write([]byte("body"))
		return string(w.appendResponse(nil, reqInfo{http10: http10, keepAlive: !http10}, date))
	}
	for i, c := range []struct {
		code   int
		http10 bool
		v      []string
		viaMap bool
		want   string
	}{
		{200, false, a, false, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Value: one\r\n"},
		{200, false, a, false, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Value: one\r\n"},
		{200, false, b, false, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Value: two\r\n"},
		{200, false, a, false, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Value: one\r\n"},
		{200, false, sameTextAsA, false, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Value: one\r\n"},
		{503, false, a, false, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nX-Value: one\r\n"},
		{200, true, a, false, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nX-Value: one\r\n"},
		{200, false, b, true, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Value: two\r\n"},
		{200, false, a, false, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Value: one\r\n"},
	} {
		got := answer(c.code, c.http10, c.v, c.viaMap)
		if !strings.HasPrefix(got, c.want+"Date: ") || !strings.HasSuffix(got, "\r\n\r\nbody") {
			t.Errorf("answer %d: got %q, want it to start %q", i, got, c.want)
		}
	}
}
