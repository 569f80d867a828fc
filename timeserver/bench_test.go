package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/whatsthetime/wtt/timeserver/internal/imds"
)

// BenchmarkAPITime measures the handler alone for GET /api/time?tz=Asia/Seoul
// (routing, zone lookup, formatting, identity headers, metrics), with a
// reused ResponseWriter: what the server itself adds per request.
func BenchmarkAPITime(b *testing.B) {
	a := newApp("bench")
	a.setIdentity(imds.Identity{InstanceID: "i-0123456789abcdef0", AvailabilityZone: "us-east-1a"})
	req := httptest.NewRequest(http.MethodGet, "/api/time?tz=Asia/Seoul", nil)
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		a.ServeHTTP(w, req)
	}
	if w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
}

// BenchmarkAPITimeHTTP goes through net/http over loopback with keep-alive
// connections from parallel clients: an end-to-end figure that includes the
// HTTP stack on both sides (client and server share this machine's CPUs).
func BenchmarkAPITimeHTTP(b *testing.B) {
	a := newApp("bench")
	srv := httptest.NewServer(a)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := srv.URL + "/api/time?tz=Asia/Seoul"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
