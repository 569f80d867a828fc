package httploop

import (
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkInlineRequest is the loop's own work for one inline request,
// without the system calls: frame it, run a handler shaped like the time
// server's (six shared header values set with SetHeader, a 250-byte body),
// write the answer.
func BenchmarkInlineRequest(b *testing.B) {
	raw := []byte("GET /api/time?tz=Asia/Seoul HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
	vals := [][]string{{"*"}, {"no-store"}, {"application/json"}, {"nosniff"}, {"ap-northeast-2a"}, {"i-0123456789abcdef0"}}
	body := make([]byte, 250)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs := w.(HeaderSetter) // as the time server sets them
		hs.SetHeader("X-Served-By-Instance", vals[5])
		hs.SetHeader("X-Served-By-AZ", vals[4])
		hs.SetHeader("X-Content-Type-Options", vals[3])
		hs.SetHeader("Access-Control-Allow-Origin", vals[0])
		hs.SetHeader("Content-Type", vals[2])
		hs.SetHeader("Cache-Control", vals[1])
		w.WriteHeader(200)
		w.Write(body)
	})
	w := newResponseWriter()
	var u url.URL
	req := &http.Request{URL: &u}
	date := []byte("Sun, 29 Nov 2026 21:00:00 GMT")
	out := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		r, st := parseRequest(raw, 1<<20, 1<<20)
		if st != parsed || !r.inline {
			b.Fatal("not inline")
		}
		req.Method, u.Path, u.RawQuery = r.method, "/api/time", "tz=Asia/Seoul"
		w.reset()
		h.ServeHTTP(w, req)
		out = w.appendResponse(out[:0], reqInfo{keepAlive: true}, date)
	}
}
