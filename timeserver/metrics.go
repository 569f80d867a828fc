package main

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/whatsthetime/wtt/timeserver/internal/tz"
)

// route is the label a request is counted under: one per endpoint, and
// "other" for every unknown path, so scanners cannot blow up cardinality.
type route uint8

const (
	routeRoot route = iota
	routeTime
	routeZones
	routeHealthz
	routeReadyz
	routeMetrics
	routeOther
	numRoutes
)

var routeNames = [numRoutes]string{"/", "/api/time", "/api/zones", "/healthz", "/readyz", "/metrics", "other"}

// fastCodes are the status codes counted in a fixed array per route; any
// other code goes to a map.
var fastCodes = [...]int{200, 400, 404, 405, 500, 503}

func fastCodeIndex(code int) int {
	switch code {
	case 200:
		return 0
	case 400:
		return 1
	case 404:
		return 2
	case 405:
		return 3
	case 500:
		return 4
	case 503:
		return 5
	}
	return -1
}

// durationBuckets are the upper bounds of the request duration histogram.
var durationBuckets = [...]float64{
	25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 1,
}

// seriesCounts is one (route, code) series: requests, and their durations
// as a histogram.
type seriesCounts struct {
	count   uint64
	buckets [len(durationBuckets)]uint64 // per bucket, not cumulative; slower ones are in count only
	sum     float64
}

type seriesKey struct {
	route route
	code  int
}

// requestCounts is every series in plain fields. Each event loop keeps its
// own, changed by that loop only; the goroutines (net/http, and the event
// loop's hand-offs) share one under a lock. A scrape adds them up.
type requestCounts struct {
	fast  [numRoutes][len(fastCodes)]seriesCounts
	other map[seriesKey]*seriesCounts // codes outside fastCodes; rare
}

func (t *requestCounts) series(r route, code int) *seriesCounts {
	if i := fastCodeIndex(code); i >= 0 {
		return &t.fast[r][i]
	}
	k := seriesKey{r, code}
	s := t.other[k]
	if s == nil {
		if t.other == nil {
			t.other = make(map[seriesKey]*seriesCounts)
		}
		s = new(seriesCounts)
		t.other[k] = s
	}
	return s
}

func (t *requestCounts) observe(r route, code int, seconds float64) {
	s := t.series(r, code)
	s.count++
	s.sum += seconds
	for i, le := range durationBuckets {
		if seconds <= le {
			s.buckets[i]++
			break
		}
	}
}

// addTo adds t's counts into sum.
func (t *requestCounts) addTo(sum *requestCounts) {
	for r := range t.fast {
		for i := range t.fast[r] {
			sum.fast[r][i].add(&t.fast[r][i])
		}
	}
	for k, s := range t.other {
		sum.series(k.route, k.code).add(s)
	}
}

func (s *seriesCounts) add(o *seriesCounts) {
	s.count += o.count
	s.sum += o.sum
	for i := range s.buckets {
		s.buckets[i] += o.buckets[i]
	}
}

// requestCollector exposes the request counter and duration histogram. It
// writes them as a CounterVec and a HistogramVec with the same names, help
// and labels would, a series appearing once it has a request, but counting
// costs no atomic operation on the event loop, and no label hashing.
type requestCollector struct {
	requests, duration *prometheus.Desc

	mu     sync.Mutex
	shared requestCounts // requests answered on goroutines
	// visitLoops, when set, calls a function with each event loop's
	// *loopLocal, on its loop (httploop.Server.VisitLocals).
	visitLoops atomic.Pointer[func(func(any))]
}

func newRequestCollector() *requestCollector {
	return &requestCollector{
		requests: prometheus.NewDesc("wtt_timeserver_http_requests_total",
			"HTTP requests answered, by route and status code.", []string{"route", "code"}, nil),
		duration: prometheus.NewDesc("wtt_timeserver_http_request_duration_seconds",
			"Time spent in the handler, by route and status code.", []string{"route", "code"}, nil),
	}
}

func (c *requestCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.duration
}

func (c *requestCollector) Collect(ch chan<- prometheus.Metric) {
	var total requestCounts
	c.mu.Lock()
	c.shared.addTo(&total)
	c.mu.Unlock()
	if visit := c.visitLoops.Load(); visit != nil {
		(*visit)(func(v any) { v.(*loopLocal).requests.addTo(&total) })
	}
	emit := func(r route, code int, s *seriesCounts) {
		if s.count == 0 {
			return
		}
		labels := []string{routeNames[r], strconv.Itoa(code)}
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(s.count), labels...)
		buckets := make(map[float64]uint64, len(durationBuckets))
		var cum uint64
		for i, le := range durationBuckets {
			cum += s.buckets[i]
			buckets[le] = cum
		}
		ch <- prometheus.MustNewConstHistogram(c.duration, s.count, s.sum, buckets, labels...)
	}
	for r := range total.fast {
		for i, code := range fastCodes {
			emit(route(r), code, &total.fast[r][i])
		}
	}
	for k, s := range total.other {
		emit(k.route, k.code, s)
	}
}

// observeShared counts a request answered on a goroutine.
func (c *requestCollector) observeShared(r route, code int, seconds float64) {
	c.mu.Lock()
	c.shared.observe(r, code, seconds)
	c.mu.Unlock()
}

// loopLocal is what each event loop keeps for itself (httploop's
// NewLocal): its own request counts and formatted times.
type loopLocal struct {
	requests requestCounts
	times    timeCache
}

type metrics struct {
	reg      *prometheus.Registry
	requests *requestCollector
	inFlight prometheus.Gauge
	ready    prometheus.Gauge
	instance *prometheus.GaugeVec
	handler  http.Handler
}

func newMetrics(version string) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg:      reg,
		requests: newRequestCollector(),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wtt_timeserver_http_requests_in_flight",
			Help: "Requests being handled right now.",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wtt_timeserver_ready",
			Help: "1 while the server takes traffic, 0 once it drains for shutdown.",
		}),
		instance: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wtt_timeserver_instance_info",
			Help: "Always 1; labels say which EC2 instance and Availability Zone this is (absent off EC2).",
		}, []string{"instance_id", "availability_zone"}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "wtt_timeserver_build_info",
		Help: "Always 1; labels describe the build.",
		ConstLabels: prometheus.Labels{
			"version":   version,
			"goversion": runtime.Version(),
			"tzdata":    tz.DataVersion,
		},
	})
	buildInfo.Set(1)
	reg.MustRegister(m.requests, m.inFlight, m.ready, m.instance, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return m
}
