package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whatsthetime/wtt/timeserver/internal/imds"
)

// get fetches path from srv and returns the response with its body read.
func get(t *testing.T, base, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", path, err)
	}
	return resp, string(b)
}

// testServer is where newTestApp's server listens.
type testServer struct{ URL string }

// newTestApp serves a new app on a loopback port with the HTTP server main
// uses by default (the event loop on Linux), so these tests check what
// clients really get.
func newTestApp(t *testing.T) (*app, testServer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := newApp("test")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, ln, a, a, config{shutdownTimeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return a, testServer{URL: "http://" + ln.Addr().String()}
}

type timeAnswer struct {
	Time          string `json:"time"`
	Zone          string `json:"zone"`
	Abbreviation  string `json:"abbreviation"`
	Offset        string `json:"offset"`
	OffsetSeconds int    `json:"offsetSeconds"`
	DST           bool   `json:"dst"`
	Unix          int64  `json:"unix"`
	UnixMillis    int64  `json:"unixMillis"`
	ServedBy      *struct {
		InstanceID       string `json:"instanceId"`
		AvailabilityZone string `json:"availabilityZone"`
	} `json:"servedBy"`
}

func decodeTime(t *testing.T, body string) timeAnswer {
	t.Helper()
	var v timeAnswer
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad JSON %q: %v", body, err)
	}
	return v
}

func TestAPITimeSeoul(t *testing.T) {
	_, srv := newTestApp(t)
	resp, body := get(t, srv.URL, "/api/time?tz=Asia/Seoul")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	v := decodeTime(t, body)
	if v.Offset != "+09:00" || v.OffsetSeconds != 9*3600 || v.Zone != "Asia/Seoul" || v.Abbreviation != "KST" {
		t.Errorf("got %+v", v)
	}
	if !strings.HasSuffix(v.Time, "+09:00") {
		t.Errorf("time %q does not end with +09:00", v.Time)
	}
	parsed, err := time.Parse(time.RFC3339, v.Time)
	if err != nil {
		t.Fatalf("time %q is not RFC 3339: %v", v.Time, err)
	}
	if parsed.Unix() != v.Unix || v.UnixMillis/1000 != v.Unix {
		t.Errorf("time %s, unix %d, unixMillis %d disagree", v.Time, v.Unix, v.UnixMillis)
	}
	if d := time.Since(parsed); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("time %s is %v away from now", v.Time, d)
	}
	if v.ServedBy != nil {
		t.Errorf("servedBy present without metadata: %+v", v.ServedBy)
	}
}

func TestAPITimeFixedClock(t *testing.T) {
	a, srv := newTestApp(t)
	a.setClock(func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) })
	for _, c := range []struct{ query, time, offset string }{
		{"?tz=Asia/Seoul", "2026-11-25T19:00:00+09:00", "+09:00"},
		{"", "2026-11-25T10:00:00+00:00", "+00:00"},
		{"?tz=", "2026-11-25T10:00:00+00:00", "+00:00"},
		{"?x=1&tz=America/New_York", "2026-11-25T05:00:00-05:00", "-05:00"},
		{"?tz=Asia%2FKathmandu", "2026-11-25T15:45:00+05:45", "+05:45"},
		{"?tz=Etc/GMT+5", "2026-11-25T05:00:00-05:00", "-05:00"},
		{"?tz=Etc%2FGMT%2B5", "2026-11-25T05:00:00-05:00", "-05:00"},
		{"?tz=europe/london", "2026-11-25T10:00:00+00:00", "+00:00"},
		{"?tz=Australia/Lord_Howe", "2026-11-25T21:00:00+11:00", "+11:00"},
	} {
		resp, body := get(t, srv.URL, "/api/time"+c.query)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d: %s", c.query, resp.StatusCode, body)
			continue
		}
		v := decodeTime(t, body)
		if v.Time != c.time || v.Offset != c.offset {
			t.Errorf("%s: got time %s offset %s, want %s %s", c.query, v.Time, v.Offset, c.time, c.offset)
		}
	}
	_, body := get(t, srv.URL, "/api/time?tz=europe/london")
	if v := decodeTime(t, body); v.Zone != "Europe/London" {
		t.Errorf("zone %q, want the canonical Europe/London", v.Zone)
	}
	// Summer in the south: Lord Howe's half-hour daylight saving time.
	a.setClock(func() time.Time { return time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC) })
	_, body = get(t, srv.URL, "/api/time?tz=Australia/Lord_Howe")
	if v := decodeTime(t, body); v.Offset != "+10:30" || v.DST {
		t.Errorf("Lord Howe in July: %+v", v)
	}
}

func TestAPITimeUnknownZone(t *testing.T) {
	_, srv := newTestApp(t)
	for _, tz := range []string{"Mars/Olympus", "Local", "../../etc/passwd", "<script>"} {
		resp, body := get(t, srv.URL, "/api/time?tz="+url.QueryEscape(tz))
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d", tz, resp.StatusCode)
		}
		var v map[string]string
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%s: bad JSON %q: %v", tz, body, err)
		}
		if want := `unknown time zone "` + tz + `"`; v["error"] != want {
			t.Errorf("error %q, want %q", v["error"], want)
		}
		if v["hint"] != "list known zones with GET /api/zones" {
			t.Errorf("hint %q", v["hint"])
		}
		if strings.Contains(body, "<") {
			t.Errorf("unescaped < in %q", body)
		}
	}
	_, body := get(t, srv.URL, "/api/time?tz=Mars/Olympus")
	if want := `{"error":"unknown time zone \"Mars/Olympus\"","hint":"list known zones with GET /api/zones"}`; strings.TrimSpace(body) != want {
		t.Errorf("body %s, want %s", body, want)
	}
}

func TestZones(t *testing.T) {
	a, srv := newTestApp(t)
	resp, body := get(t, srv.URL, "/api/zones")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var v struct {
		Count         int      `json:"count"`
		TZDataVersion string   `json:"tzdataVersion"`
		Zones         []string `json:"zones"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.Count != len(v.Zones) || v.Count != len(a.zones.Names()) || v.Count < 400 {
		t.Errorf("count %d, %d zones", v.Count, len(v.Zones))
	}
	for _, z := range []string{"Asia/Seoul", "Europe/London", "UTC"} {
		if !slices.Contains(v.Zones, z) {
			t.Errorf("%s missing", z)
		}
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d, body %d", resp.ContentLength, len(body))
	}
}

func TestHealthAndReady(t *testing.T) {
	a, srv := newTestApp(t)
	if resp, body := get(t, srv.URL, "/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, srv.URL, "/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz: %d", resp.StatusCode)
	}
	a.startDraining()
	if resp, _ := get(t, srv.URL, "/readyz"); resp.StatusCode != 503 {
		t.Errorf("readyz while draining: %d", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL, "/healthz"); resp.StatusCode != 200 {
		t.Errorf("healthz while draining: %d", resp.StatusCode)
	}
}

func TestMethodsAndUnknownPaths(t *testing.T) {
	_, srv := newTestApp(t)
	resp, err := http.Post(srv.URL+"/api/time", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/api/time?tz=Asia/Seoul", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("HEAD: %v %v", resp, err)
	}
	if resp, _ := get(t, srv.URL, "/nope"); resp.StatusCode != 404 {
		t.Errorf("/nope: %d", resp.StatusCode)
	}
	if resp, body := get(t, srv.URL, "/api/nope"); resp.StatusCode != 404 || !strings.Contains(body, `"error"`) {
		t.Errorf("/api/nope: %d %s", resp.StatusCode, body)
	}
}

func TestPage(t *testing.T) {
	a, srv := newTestApp(t)
	a.setClock(func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) })
	resp, body := get(t, srv.URL, "/?tz=Asia/Seoul")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"19:00:00", "Wednesday, 25 November 2026", "Asia/Seoul", "KST", "UTC+09:00", `<form`} {
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"http://", "https://", "<link rel=\"stylesheet\"", "src="} {
		if strings.Contains(body, bad) {
			t.Errorf("page is not self-contained: has %q", bad)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") {
		t.Errorf("CSP %q", csp)
	}
	if resp, body := get(t, srv.URL, "/"); resp.StatusCode != 200 || !strings.Contains(body, "10:00:00") {
		t.Errorf("default page: %d", resp.StatusCode)
	}

	evil := `"><script>alert(1)</script>`
	resp, body = get(t, srv.URL, "/?tz="+url.QueryEscape(evil))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown zone page: status %d", resp.StatusCode)
	}
	if strings.Contains(body, "<script>alert") || !strings.Contains(body, `value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`) {
		t.Errorf("user input not escaped:\n%s", body)
	}
	if !strings.Contains(body, "unknown time zone") {
		t.Error("no error message on the page")
	}
}

func TestMetrics(t *testing.T) {
	_, srv := newTestApp(t)
	get(t, srv.URL, "/api/time?tz=Asia/Seoul")
	get(t, srv.URL, "/api/time?tz=Mars/Olympus")
	get(t, srv.URL, "/wp-login.php")
	resp, body := get(t, srv.URL, "/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`wtt_timeserver_http_requests_total{code="200",route="/api/time"} 1`,
		`wtt_timeserver_http_requests_total{code="400",route="/api/time"} 1`,
		`wtt_timeserver_http_requests_total{code="404",route="other"} 1`,
		`wtt_timeserver_http_request_duration_seconds_bucket{code="200",route="/api/time",le="+Inf"} 1`,
		`wtt_timeserver_http_request_duration_seconds_count{code="400",route="/api/time"} 1`,
		"wtt_timeserver_http_requests_in_flight 1", // the /metrics request itself
		"wtt_timeserver_ready 1",
		`wtt_timeserver_build_info{goversion="`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "wp-login") {
		t.Error("unknown path leaked into a label")
	}
	_, body = get(t, srv.URL, "/metrics")
	if !strings.Contains(body, `wtt_timeserver_http_requests_total{code="200",route="/metrics"} 1`) {
		t.Error("/metrics requests are not counted")
	}
}

func TestServedByKnown(t *testing.T) {
	a, srv := newTestApp(t)
	a.setIdentity(imds.Identity{InstanceID: "i-0abc", AvailabilityZone: "ap-northeast-2a"})
	for _, path := range []string{"/api/time?tz=Asia/Seoul", "/api/zones", "/healthz", "/", "/metrics", "/api/time?tz=Nowhere"} {
		resp, body := get(t, srv.URL, path)
		if resp.Header.Get(hdrInstance) != "i-0abc" || resp.Header.Get(hdrAZ) != "ap-northeast-2a" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
		if strings.HasPrefix(path, "/api/") &&
			!strings.Contains(body, `"servedBy":{"instanceId":"i-0abc","availabilityZone":"ap-northeast-2a"}`) {
			t.Errorf("%s: body lacks servedBy: %s", path, body)
		}
	}
	_, body := get(t, srv.URL, "/api/time?tz=Asia/Seoul")
	v := decodeTime(t, body)
	if v.ServedBy == nil || v.ServedBy.InstanceID != "i-0abc" {
		t.Errorf("servedBy %+v", v.ServedBy)
	}
	_, body = get(t, srv.URL, "/metrics")
	if !strings.Contains(body, `wtt_timeserver_instance_info{availability_zone="ap-northeast-2a",instance_id="i-0abc"} 1`) {
		t.Error("no instance_info metric")
	}
}

func TestQueryValue(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"", ""},
		{"tz=Asia/Seoul", "Asia/Seoul"},
		{"a=b&tz=Europe/London&tz=UTC", "Europe/London"},
		{"tzx=1&tz=UTC", "UTC"},
		{"tz", ""},
		{"tz=Asia%2FSeoul", "Asia/Seoul"},
		{"tz=Etc/GMT+5", "Etc/GMT+5"},
		{"tz=%zz", "%zz"},
	} {
		if got := queryValue(c.raw, "tz"); got != c.want {
			t.Errorf("queryValue(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "Asia/Seoul", `a"b\c`, "x\n\r\t\x00\x1f<>&", "héllo"} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%q -> %s -> %q, %v", s, b, back, err)
		}
	}
}

func TestAppendOffset(t *testing.T) {
	for _, c := range []struct {
		off  int
		want string
	}{{0, "+00:00"}, {32400, "+09:00"}, {-18000, "-05:00"}, {20700, "+05:45"}, {-9000, "-02:30"}, {50400, "+14:00"}, {-(3600 + 30), "-01:00:30"}} {
		if got := string(appendOffset(nil, c.off)); got != c.want {
			t.Errorf("appendOffset(%d) = %s, want %s", c.off, got, c.want)
		}
	}
}

// discardWriter is a ResponseWriter that keeps nothing, reused across calls.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

func TestAPITimeHandlerDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	a := newApp("test")
	a.setIdentity(imds.Identity{InstanceID: "i-0abc", AvailabilityZone: "ap-northeast-2a"})
	req := httptest.NewRequest(http.MethodGet, "/api/time?tz=Asia/Seoul", nil)
	w := &discardWriter{h: make(http.Header)}
	a.ServeHTTP(w, req) // fill the metric and buffer caches
	allocs := testing.AllocsPerRun(200, func() {
		clear(w.h)
		a.ServeHTTP(w, req)
	})
	if w.code != 200 {
		t.Fatalf("status %d", w.code)
	}
	if allocs != 0 {
		t.Errorf("GET /api/time allocates %v times in the handler", allocs)
	}
}

func TestAppendRFC3339MatchesTimeFormat(t *testing.T) {
	zones := []string{"UTC", "Asia/Seoul", "America/St_Johns", "Asia/Kathmandu", "Pacific/Kiritimati", "Europe/Dublin"}
	times := []time.Time{
		time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2000, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(9999, 12, 31, 12, 0, 0, 0, time.UTC),
		time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(),
	}
	for _, z := range zones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			t.Fatal(err)
		}
		for _, tm := range times {
			tm = tm.In(loc)
			_, off := tm.Zone()
			got := string(appendRFC3339(nil, tm, off))
			want := tm.Format("2006-01-02T15:04:05-07:00")
			if got != want {
				t.Errorf("%s %v: got %s, want %s", z, tm, got, want)
			}
		}
	}
}

// The event loop's per-second cache of /api/time answers gives what
// formatting each answer afresh gives, across seconds, zones, a daylight
// saving change and a change of identity.
func TestTimeCacheMatchesFreshAnswers(t *testing.T) {
	a := newApp("test")
	var c timeCache
	change := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC) // 2 am EST becomes 3 am EDT
	times := []time.Time{
		change.Add(-time.Millisecond), change, change.Add(time.Millisecond),
		change.Add(999 * time.Millisecond), change.Add(1500 * time.Millisecond),
		time.Date(1969, 12, 31, 23, 59, 59, 500e6, time.UTC), time.Now(),
	}
	for _, id := range []imds.Identity{{}, {InstanceID: "i-0abc", AvailabilityZone: "us-east-1a"}} {
		a.setIdentity(id)
		sb := a.served.Load()
		for _, name := range []string{"America/New_York", "UTC", "Asia/Kathmandu", "america/new_york"} {
			loc, zone, ok := a.zones.Lookup(name)
			if !ok {
				t.Fatalf("no zone %s", name)
			}
			for _, tm := range times {
				want := string(appendTimeRest(appendTimeSecond(nil, tm, loc, zone), tm, sb))
				if got := string(c.body(tm, loc, zone, sb)); got != want {
					t.Errorf("%s at %v:\n got %s\nwant %s", name, tm, got, want)
				}
			}
		}
	}
}

// The identity found after the server has started shows in the very next
// answers of a loop that has already answered without it (and has its
// header block and the second's answer cached).
func TestIdentityArrivingWhileServing(t *testing.T) {
	a, srv := newTestApp(t)
	for i := 0; i < 3; i++ {
		resp, body := get(t, srv.URL, "/api/time?tz=Asia/Seoul")
		if resp.Header.Get(hdrInstance) != "" || strings.Contains(body, "servedBy") {
			t.Fatalf("identity before it is known: %v %s", resp.Header, body)
		}
	}
	a.setIdentity(imds.Identity{InstanceID: "i-0abc", AvailabilityZone: "ap-northeast-2a"})
	for _, path := range []string{"/api/time?tz=Asia/Seoul", "/healthz"} {
		resp, body := get(t, srv.URL, path)
		if resp.Header.Get(hdrInstance) != "i-0abc" || resp.Header.Get(hdrAZ) != "ap-northeast-2a" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
		if strings.HasPrefix(path, "/api/") && !strings.Contains(body, `"servedBy":{"instanceId":"i-0abc","availabilityZone":"ap-northeast-2a"}}`) {
			t.Errorf("%s: body %s", path, body)
		}
	}
}
