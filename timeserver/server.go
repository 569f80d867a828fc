package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whatsthetime/wtt/timeserver/internal/httploop"
	"github.com/whatsthetime/wtt/timeserver/internal/imds"
	"github.com/whatsthetime/wtt/timeserver/internal/tz"
)

// Response headers naming the instance that answered. They are written with
// exactly this spelling (the header map is indexed directly, bypassing Go's
// canonicalisation, which would send "X-Served-By-Az"); HTTP header names
// are case-insensitive anyway, and Go clients read them with Header.Get.
const (
	hdrInstance = "X-Served-By-Instance"
	hdrAZ       = "X-Served-By-AZ"
)

const unknownZoneHint = "list known zones with GET /api/zones"

// Header values shared by every response. A header map only reads them, and
// each has cap == len so an Add elsewhere could not write into it.
var (
	valJSON      = []string{"application/json"}
	valText      = []string{"text/plain; charset=utf-8"}
	valHTML      = []string{"text/html; charset=utf-8"}
	valNoStore   = []string{"no-store"}
	valZonesTTL  = []string{"public, max-age=3600"}
	valAnyOrigin = []string{"*"}
	valNosniff   = []string{"nosniff"}
	valGetHead   = []string{"GET, HEAD"}
)

// servedBy is what the server knows about where it runs, with everything a
// response needs precomputed. It is replaced whole, atomically, once the
// metadata service has answered.
type servedBy struct {
	id          imds.Identity
	instanceHdr []string // nil when unknown
	azHdr       []string // nil when unknown
	json        []byte   // `,"servedBy":{...}` or empty
	zonesBody   []byte   // the whole /api/zones answer
	zonesLen    []string // its Content-Length
}

type app struct {
	version string
	zones   *tz.DB
	metrics *metrics
	page    *page
	// now, when set (by tests, with setClock), replaces the request's
	// arrival time as the time to tell. Atomic because tests change it
	// while the server runs, and the event loop's raw reads and writes do
	// not tell the race detector that a request follows the change.
	now atomic.Pointer[func() time.Time]

	zonesPrefix []byte // /api/zones body without its closing brace
	served      atomic.Pointer[servedBy]
	draining    atomic.Bool
}

func newApp(version string) *app {
	a := &app{
		version: version,
		zones:   tz.New(),
		metrics: newMetrics(version),
		page:    newPage(),
	}
	names := a.zones.Names()
	b := []byte(`{"count":`)
	b = strconv.AppendInt(b, int64(len(names)), 10)
	b = append(b, `,"tzdataVersion":`...)
	b = appendJSONString(b, tz.DataVersion)
	b = append(b, `,"zones":[`...)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, n)
	}
	a.zonesPrefix = append(b, ']')
	a.setIdentity(imds.Identity{})
	a.metrics.ready.Set(1)
	return a
}

// setIdentity publishes where the server runs; safe to call at any time.
func (a *app) setIdentity(id imds.Identity) {
	sb := &servedBy{id: id}
	if id.InstanceID != "" {
		sb.instanceHdr = []string{id.InstanceID}
	}
	if id.AvailabilityZone != "" {
		sb.azHdr = []string{id.AvailabilityZone}
	}
	if id.Known() {
		j := []byte(`,"servedBy":{`)
		if id.InstanceID != "" {
			j = append(j, `"instanceId":`...)
			j = appendJSONString(j, id.InstanceID)
		}
		if id.AvailabilityZone != "" {
			if id.InstanceID != "" {
				j = append(j, ',')
			}
			j = append(j, `"availabilityZone":`...)
			j = appendJSONString(j, id.AvailabilityZone)
		}
		sb.json = append(j, '}')
		a.metrics.instance.Reset()
		a.metrics.instance.WithLabelValues(id.InstanceID, id.AvailabilityZone).Set(1)
	}
	body := make([]byte, 0, len(a.zonesPrefix)+len(sb.json)+1)
	body = append(append(append(body, a.zonesPrefix...), sb.json...), '}')
	sb.zonesBody = body
	sb.zonesLen = []string{strconv.Itoa(len(body))}
	a.served.Store(sb)
}

// startDraining makes /readyz answer 503 so the load balancer stops sending
// new requests.
func (a *app) startDraining() {
	a.draining.Store(true)
	a.metrics.ready.Set(0)
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := httploop.Now(w) // time.Now, cheaper on the event loop
	m := a.metrics
	// On an event loop, counts go to the loop's own plain fields. The
	// in-flight gauge is for requests on goroutines: the loop's handlers
	// finish before the loop does anything else, a scrape included.
	ll, _ := httploop.LocalOf(w).(*loopLocal)
	if ll == nil {
		m.inFlight.Inc()
	}
	sb := a.served.Load()
	h := headersOf(w)
	if sb.instanceHdr != nil {
		h.set(hdrInstance, sb.instanceHdr)
	}
	if sb.azHdr != nil {
		h.set(hdrAZ, sb.azHdr)
	}
	h.set("X-Content-Type-Options", valNosniff)

	var rt route
	var code int
	switch r.URL.Path {
	case "/api/time":
		rt = routeTime
		code = a.apiTime(w, r, sb, start, ll)
	case "/":
		rt = routeRoot
		code = a.root(w, r, sb, start)
	case "/api/zones":
		rt = routeZones
		code = a.apiZones(w, r, sb)
	case "/healthz":
		rt = routeHealthz
		code = a.healthz(w, r)
	case "/readyz":
		rt = routeReadyz
		code = a.readyz(w, r)
	case "/metrics":
		rt = routeMetrics
		code = a.metricsPage(w, r)
	default:
		rt = routeOther
		code = a.notFound(w, r, sb)
	}
	seconds := time.Since(start).Seconds()
	if ll != nil {
		ll.requests.observe(rt, code, seconds)
	} else {
		m.requests.observeShared(rt, code, seconds)
		m.inFlight.Dec()
	}
}

// setClock makes the server tell the time now gives (tests only).
func (a *app) setClock(now func() time.Time) { a.now.Store(&now) }

// clock is the time to tell: the request's arrival, read once per request
// (reading the clock is a good part of the cost of a request).
func (a *app) clock(arrival time.Time) time.Time {
	if now := a.now.Load(); now != nil {
		return (*now)()
	}
	return arrival
}

// headers sets response headers the quickest way the writer allows: the
// event loop's writer keeps them in a short list (httploop.HeaderSetter),
// which saves hashing them into a map and reading them back out; any other
// writer gets them in its header map, spelt exactly as given.
type headers struct {
	w    http.ResponseWriter
	fast httploop.HeaderSetter
}

func headersOf(w http.ResponseWriter) headers {
	fast, _ := w.(httploop.HeaderSetter)
	return headers{w, fast}
}

func (h headers) set(name string, values []string) {
	if h.fast != nil {
		h.fast.SetHeader(name, values)
	} else {
		h.w.Header()[name] = values
	}
}

func readOnly(r *http.Request) bool { return r.Method == http.MethodGet || r.Method == http.MethodHead }

func methodNotAllowed(w http.ResponseWriter) int {
	h := headersOf(w)
	h.set("Allow", valGetHead)
	h.set("Content-Type", valText)
	w.WriteHeader(http.StatusMethodNotAllowed)
	w.Write([]byte("method not allowed\n"))
	return http.StatusMethodNotAllowed
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// apiTime answers GET /api/time?tz=Zone/Name with a body appended by hand:
// no reflection, no map, and in the common case no allocation of its own.
// On an event loop (ll set) the part of the body that changes once a second
// comes from the loop's cache.
func (a *app) apiTime(w http.ResponseWriter, r *http.Request, sb *servedBy, arrival time.Time, ll *loopLocal) int {
	if !readOnly(r) {
		return methodNotAllowed(w)
	}
	h := headersOf(w)
	h.set("Access-Control-Allow-Origin", valAnyOrigin)
	name := queryValue(r.URL.RawQuery, "tz")
	if name == "" {
		name = "UTC"
	}
	loc, zone, ok := a.zones.Lookup(name)
	if !ok {
		return unknownZone(w, name, sb)
	}
	t := a.clock(arrival)
	h.set("Content-Type", valJSON)
	h.set("Cache-Control", valNoStore)
	w.WriteHeader(http.StatusOK)
	if ll != nil {
		w.Write(ll.times.body(t, loc, zone, sb))
		return http.StatusOK
	}
	bp := bufPool.Get().(*[]byte)
	b := appendTimeSecond((*bp)[:0], t, loc, zone)
	b = appendTimeRest(b, t, sb)
	w.Write(b) // net/http copies it; small bodies get a Content-Length
	*bp = b
	bufPool.Put(bp)
	return http.StatusOK
}

// appendTimeRest ends the /api/time answer that appendTimeSecond began.
func appendTimeRest(b []byte, t time.Time, sb *servedBy) []byte {
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	b = append(b, sb.json...)
	return append(b, '}', '\n')
}

// appendTimeSecond writes the /api/time answer up to its milliseconds:
// everything in it changes once a second at most (zone transitions fall on
// whole seconds).
func appendTimeSecond(b []byte, t time.Time, loc *time.Location, zone string) []byte {
	t = t.In(loc)
	abbr, off := t.Zone()
	b = append(b, `{"time":"`...)
	b = appendRFC3339(b, t, off)
	b = append(b, `","zone":`...)
	b = appendJSONString(b, zone)
	b = append(b, `,"abbreviation":`...)
	b = appendJSONString(b, abbr)
	b = append(b, `,"offset":"`...)
	b = appendOffset(b, off)
	b = append(b, `","offsetSeconds":`...)
	b = strconv.AppendInt(b, int64(off), 10)
	b = append(b, `,"dst":`...)
	b = strconv.AppendBool(b, t.IsDST())
	b = append(b, `,"unix":`...)
	b = strconv.AppendInt(b, t.Unix(), 10)
	return append(b, `,"unixMillis":`...)
}

// timeCache keeps, per zone, the /api/time answer up to its milliseconds
// for the last second asked: under load, most requests for a zone fall in
// a second already formatted. One per event loop, so it needs no lock.
type timeCache struct {
	zones map[*time.Location]*zoneSecond
	buf   []byte
}

type zoneSecond struct {
	unix   int64
	prefix []byte // appendTimeSecond's output for that second
}

// maxCachedZones bounds the cache; there are about 600 zones.
const maxCachedZones = 1024

// body returns the answer for t in loc, valid until the next call.
func (c *timeCache) body(t time.Time, loc *time.Location, zone string, sb *servedBy) []byte {
	e := c.zones[loc]
	if e == nil {
		if c.zones == nil || len(c.zones) >= maxCachedZones {
			c.zones = make(map[*time.Location]*zoneSecond)
		}
		e = &zoneSecond{}
		c.zones[loc] = e
	}
	if sec := t.Unix(); e.prefix == nil || e.unix != sec {
		e.unix = sec
		e.prefix = appendTimeSecond(e.prefix[:0], t, loc, zone)
	}
	c.buf = appendTimeRest(append(c.buf[:0], e.prefix...), t, sb)
	return c.buf
}

// appendRFC3339 writes t as RFC 3339 with whole seconds and always the
// numeric offset (off, seconds east of UTC, as t.Zone gives it), so UTC
// reads "+00:00" like every other zone rather than "Z". It is what
// t.AppendFormat(b, "2006-01-02T15:04:05-07:00") writes for years 0 to
// 9999, in less than half the time. An offset with seconds (some zones before
// 1900) is cut to minutes there, as RFC 3339 has none.
func appendRFC3339(b []byte, t time.Time, off int) []byte {
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05-07:00")
	}
	b = append2(b, year/100)
	b = append2(b, year%100)
	b = append(b, '-')
	b = append2(b, int(month))
	b = append(b, '-')
	b = append2(b, day)
	b = append(b, 'T')
	b = append2(b, hour)
	b = append(b, ':')
	b = append2(b, min)
	b = append(b, ':')
	b = append2(b, sec)
	return appendOffset(b, off-off%60)
}

// appendOffset writes seconds east of UTC as "+09:00" (or "+05:45",
// and "+00:00:12"-style seconds for the odd historical zone).
func appendOffset(b []byte, off int) []byte {
	sign := byte('+')
	if off < 0 {
		sign = '-'
		off = -off
	}
	b = append(b, sign)
	b = append2(b, off/3600)
	b = append(b, ':')
	b = append2(b, off/60%60)
	if s := off % 60; s != 0 {
		b = append(b, ':')
		b = append2(b, s)
	}
	return b
}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10%10), byte('0'+n%10))
}

func (a *app) apiZones(w http.ResponseWriter, r *http.Request, sb *servedBy) int {
	if !readOnly(r) {
		return methodNotAllowed(w)
	}
	h := headersOf(w)
	h.set("Access-Control-Allow-Origin", valAnyOrigin)
	h.set("Content-Type", valJSON)
	h.set("Cache-Control", valZonesTTL)
	h.set("Content-Length", sb.zonesLen)
	w.WriteHeader(http.StatusOK)
	w.Write(sb.zonesBody)
	return http.StatusOK
}

func (a *app) healthz(w http.ResponseWriter, r *http.Request) int {
	if !readOnly(r) {
		return methodNotAllowed(w)
	}
	h := headersOf(w)
	h.set("Content-Type", valText)
	h.set("Cache-Control", valNoStore)
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("ok\n"))
	return http.StatusOK
}

func (a *app) readyz(w http.ResponseWriter, r *http.Request) int {
	if !readOnly(r) {
		return methodNotAllowed(w)
	}
	h := headersOf(w)
	h.set("Content-Type", valText)
	h.set("Cache-Control", valNoStore)
	if a.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("draining\n"))
		return http.StatusServiceUnavailable
	}
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("ready\n"))
	return http.StatusOK
}

// statusRecorder learns the code promhttp answers with.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (a *app) metricsPage(w http.ResponseWriter, r *http.Request) int {
	if !readOnly(r) {
		return methodNotAllowed(w)
	}
	rec := &statusRecorder{ResponseWriter: w}
	a.metrics.handler.ServeHTTP(rec, r)
	if rec.code == 0 {
		return http.StatusOK
	}
	return rec.code
}

func (a *app) notFound(w http.ResponseWriter, r *http.Request, sb *servedBy) int {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSONError(w, http.StatusNotFound, "no such endpoint",
			"endpoints are GET /api/time?tz=Area/City and GET /api/zones", sb)
		return http.StatusNotFound
	}
	h := headersOf(w)
	h.set("Content-Type", valText)
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte("404 page not found\n"))
	return http.StatusNotFound
}

func unknownZone(w http.ResponseWriter, name string, sb *servedBy) int {
	writeJSONError(w, http.StatusBadRequest, unknownZoneMessage(name), unknownZoneHint, sb)
	return http.StatusBadRequest
}

func unknownZoneMessage(name string) string {
	const max = 100
	if len(name) > max {
		name = name[:max] + "..."
	}
	return fmt.Sprintf("unknown time zone %q", name)
}

// writeJSONError is off the hot path, so it uses encoding/json, which
// escapes whatever the client sent.
func writeJSONError(w http.ResponseWriter, code int, msg, hint string, sb *servedBy) {
	type served struct {
		InstanceID       string `json:"instanceId,omitempty"`
		AvailabilityZone string `json:"availabilityZone,omitempty"`
	}
	body := struct {
		Error    string  `json:"error"`
		Hint     string  `json:"hint,omitempty"`
		ServedBy *served `json:"servedBy,omitempty"`
	}{Error: msg, Hint: hint}
	if sb.id.Known() {
		body.ServedBy = &served{sb.id.InstanceID, sb.id.AvailabilityZone}
	}
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(body)
	h := headersOf(w)
	h.set("Content-Type", valJSON)
	h.set("Cache-Control", valNoStore)
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// queryValue returns the first value of key in a raw query string without
// building url.Values. '+' is kept as a plus sign (zone names such as
// "Etc/GMT+5" have no spaces, so that is the reading people mean).
func queryValue(raw, key string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != key {
			continue
		}
		if strings.IndexByte(v, '%') < 0 {
			return v
		}
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
		return v // undecodable: reported back as an unknown zone
	}
	return ""
}

// appendJSONString appends s as a JSON string, escaping quotes, backslashes,
// control bytes and <, >, & (so a body is also safe to inline in HTML).
// Bytes from 0x80 up are copied as they are: s must be valid UTF-8, which
// zone names, zone abbreviations and metadata values (all ASCII) are.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
