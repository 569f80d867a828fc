package main

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The request collector writes what a CounterVec and a HistogramVec with
// the same names, help, labels and buckets would write for the same
// requests, whether they were counted on event loops or on goroutines.
func TestRequestCollectorWritesWhatVecsWould(t *testing.T) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wtt_timeserver_http_requests_total",
		Help: "HTTP requests answered, by route and status code.",
	}, []string{"route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wtt_timeserver_http_request_duration_seconds",
		Help:    "Time spent in the handler, by route and status code.",
		Buckets: durationBuckets[:],
	}, []string{"route", "code"})
	want := prometheus.NewRegistry()
	want.MustRegister(requests, duration)

	c := newRequestCollector()
	loops := []*loopLocal{new(loopLocal), new(loopLocal)}
	visit := func(f func(any)) {
		for _, l := range loops {
			f(l)
		}
	}
	c.visitLoops.Store(&visit)
	got := prometheus.NewRegistry()
	got.MustRegister(c)

	// Powers of two, so the sums add up exactly in any order: one on a
	// bucket's bound (1 s), one beyond the last.
	seconds := []float64{1.0 / 65536, 1.0 / 8192, 1.0 / 1024, 1, 2, 0.5}
	i := 0
	for r := route(0); r < numRoutes; r++ {
		for _, code := range []int{200, 400, 404, 503, 418, 500} {
			if (int(r)+code)%3 == 0 {
				continue // a series never seen must not appear
			}
			for n := 0; n <= int(r)%3; n++ {
				s := seconds[i%len(seconds)]
				i++
				requests.WithLabelValues(routeNames[r], strconv.Itoa(code)).Inc()
				duration.WithLabelValues(routeNames[r], strconv.Itoa(code)).Observe(s)
				switch i % 3 {
				case 0:
					c.observeShared(r, code, s)
				default:
					loops[i%3-1].requests.observe(r, code, s)
				}
			}
		}
	}
	text := func(reg *prometheus.Registry) string {
		rec := httptest.NewRecorder()
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	w, g := text(want), text(got)
	if !strings.Contains(w, `code="418"`) || !strings.Contains(w, `le="+Inf"`) {
		t.Fatalf("the reference lacks what the test means to cover:\n%s", w)
	}
	if g != w {
		t.Errorf("collector writes\n%s\nvecs write\n%s", g, w)
	}
}
