package main

import (
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

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

// fastCodes are the status codes whose series are cached per route, so the
// hot path does no label hashing and no strconv allocation.
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

type series struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	ready    prometheus.Gauge
	instance *prometheus.GaugeVec
	handler  http.Handler

	// cache[route][fastCodeIndex] is filled on first use, so only the
	// series actually seen appear in /metrics.
	cache [numRoutes][len(fastCodes)]atomic.Pointer[series]
}

func newMetrics(version string) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wtt_timeserver_http_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wtt_timeserver_http_request_duration_seconds",
			Help: "Time spent in the handler, by route and status code.",
			Buckets: []float64{
				25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
				1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 1,
			},
		}, []string{"route", "code"}),
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
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.ready, m.instance, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return m
}

// observe counts one answered request.
func (m *metrics) observe(r route, code int, d time.Duration) {
	i := fastCodeIndex(code)
	if i < 0 {
		c := strconv.Itoa(code)
		m.requests.WithLabelValues(routeNames[r], c).Inc()
		m.duration.WithLabelValues(routeNames[r], c).Observe(d.Seconds())
		return
	}
	s := m.cache[r][i].Load()
	if s == nil {
		c := strconv.Itoa(code)
		s = &series{
			count:    m.requests.WithLabelValues(routeNames[r], c),
			duration: m.duration.WithLabelValues(routeNames[r], c),
		}
		m.cache[r][i].Store(s) // a racing writer stores the same series
	}
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}
