// Package faultproxy is a reverse proxy that makes an AWS endpoint (the
// local emulator) behave like a throttled, flaky AWS: for a configurable
// fraction of requests it answers with the error AWS itself would send —
// shaped for the protocol of the service called, so the real SDK parses and
// classifies it as it would in production — or drops the connection, and it
// can add latency to every request.
//
// Faults happen before the request is forwarded: the emulator never sees a
// faulted request, so a retry is always safe. The optional AfterForward
// mode is the other realistic fault: the request reached the emulator (and
// any mutation was applied), then the answer was lost. That one tests
// idempotency, and is off unless asked for.
//
// The proxy is a test tool: it listens on 127.0.0.1 only, forwards only to a
// loopback target, and refuses requests from anywhere but loopback.
//
//	p, _ := faultproxy.New(faultproxy.Config{Target: emulatorURL, Seed: 1, Faults: faultproxy.Spread(0.15)})
//	url, _ := p.Start()
//	defer p.Close()
//	// point AWS_ENDPOINT_URL at url; read p.Counts() afterwards
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Kind is one way a request can fail.
type Kind string

const (
	// Throttle is the service's own throttling error (HTTP 400, or 503
	// SlowDown for S3).
	Throttle Kind = "throttle"
	// Internal is HTTP 500 InternalError.
	Internal Kind = "internal-error"
	// Unavailable is HTTP 503 ServiceUnavailable.
	Unavailable Kind = "unavailable"
	// Drop closes the connection before any response byte is sent.
	Drop Kind = "drop"
	// AfterForward marks faults injected after the emulator answered (its
	// answer is thrown away and replaced by a 500 or a dropped connection).
	AfterForward Kind = "after-forward"
)

// Kinds are the pre-forward kinds, in the order rates are drawn.
var Kinds = []Kind{Throttle, Internal, Unavailable, Drop}

// Rates are the fraction (0..1) of requests failing each way. Their sum is
// the overall fault rate and must not exceed 1.
type Rates map[Kind]float64

// Spread divides an overall fault rate evenly between the pre-forward kinds.
func Spread(total float64) Rates {
	r := Rates{}
	for _, k := range Kinds {
		r[k] = total / float64(len(Kinds))
	}
	return r
}

// Total is the overall pre-forward fault rate.
func (r Rates) Total() float64 {
	t := 0.0
	for _, k := range Kinds {
		t += r[k]
	}
	return t
}

// Config is what the proxy does.
type Config struct {
	// Target is the endpoint requests are forwarded to; it must be on
	// loopback (127.0.0.0/8, ::1 or localhost).
	Target string
	// Listen is the address to listen on; it must be a loopback IP.
	// Default 127.0.0.1:0 (a free port).
	Listen string
	// Seed makes the fault sequence reproducible: the same seed and the
	// same order of requests give the same faults.
	Seed uint64
	// Faults are the pre-forward fault rates.
	Faults Rates
	// AfterForward is the fraction of forwarded requests whose answer is
	// lost after the emulator applied them (half replaced by a 500, half
	// by a dropped connection). Off (0) by default: a retry of such a
	// request repeats a mutation, which only idempotent APIs survive.
	AfterForward float64
	// Latency is added to every request; Jitter adds a uniform random
	// extra in [0, Jitter).
	Latency, Jitter time.Duration
	// ClientTokens answers an EC2 request that repeats the ClientToken of
	// one already applied with the first answer, without forwarding it, as
	// EC2 does (the emulator ignores ClientToken). With AfterForward, it
	// tells the duplicates AWS would prevent from those it would not.
	ClientTokens bool
}

// Counts is what the proxy has seen so far.
type Counts struct {
	Requests  int          // every request to an AWS API
	Forwarded int          // requests the target received
	Replayed  int          // answered from an earlier request with the same ClientToken
	Faults    map[Kind]int // faults by kind
	// ByService counts faults by the service the request was signed for
	// (ec2, elasticloadbalancing, s3, ...).
	ByService map[string]int
}

// Total is the number of faults of every kind.
func (c Counts) Total() int {
	n := 0
	for _, v := range c.Faults {
		n += v
	}
	return n
}

// String reads like "412 requests, 61 faults (drop=15 internal-error=16 ...)".
func (c Counts) String() string {
	msg := fmt.Sprintf("%d requests, %d forwarded, %d faults (%s)", c.Requests, c.Forwarded, c.Total(), formatCounts(c.Faults))
	if c.Replayed > 0 {
		msg += fmt.Sprintf(", %d answered again by ClientToken", c.Replayed)
	}
	return msg
}

func formatCounts[K ~string](m map[K]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// Proxy is a running (or ready to run) fault proxy. It is an http.Handler,
// so tests may also mount it on an httptest.Server.
type Proxy struct {
	cfg     Config
	target  *url.URL
	forward *httputil.ReverseProxy
	srv     *http.Server
	ln      net.Listener

	mu      sync.Mutex
	rng     *rand.Rand
	counts  Counts
	answers map[string]*savedAnswer // by EC2 action and ClientToken
}

// New checks the configuration and builds the proxy; Start makes it listen.
func New(cfg Config) (*Proxy, error) {
	target, err := url.Parse(cfg.Target)
	if err != nil || target.Host == "" || (target.Scheme != "http" && target.Scheme != "https") {
		return nil, fmt.Errorf("faultproxy: target %q is not an http(s) URL", cfg.Target)
	}
	if !loopbackHost(target.Hostname()) {
		return nil, fmt.Errorf("faultproxy: target %s is not on loopback; the proxy only fronts a local emulator", target.Host)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen address %q: %w", cfg.Listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("faultproxy: listen address %q is not a loopback IP; the proxy never listens beyond this host", cfg.Listen)
	}
	for k, r := range cfg.Faults {
		if r < 0 || r > 1 || k == AfterForward {
			return nil, fmt.Errorf("faultproxy: rate %s=%v: want a pre-forward kind and a rate in 0..1", k, r)
		}
	}
	if cfg.Faults.Total() > 1 || cfg.AfterForward < 0 || cfg.AfterForward > 1 {
		return nil, fmt.Errorf("faultproxy: fault rates add up to more than 1")
	}
	p := &Proxy{
		cfg:     cfg,
		target:  target,
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0xfa017)),
		counts:  Counts{Faults: map[Kind]int{}, ByService: map[string]int{}},
		answers: map[string]*savedAnswer{},
	}
	p.forward = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// The SDK signed the Host it sent to; keep it so the
			// signature still matches what the target receives.
			r.Out.Host = r.In.Host
		},
		// Never through an HTTP(S)_PROXY from the environment.
		Transport:      &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		ModifyResponse: p.afterForward,
		ErrorHandler:   p.forwardError,
	}
	return p, nil
}

// Start listens on the configured loopback address and serves in the
// background; it returns the URL to point AWS_ENDPOINT_URL at.
func (p *Proxy) Start() (string, error) {
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return "", fmt.Errorf("faultproxy: %w", err)
	}
	p.ln = ln
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	if p.srv == nil {
		return nil
	}
	return p.srv.Close()
}

// Counts returns a snapshot of the counters.
func (p *Proxy) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := Counts{Requests: p.counts.Requests, Forwarded: p.counts.Forwarded, Replayed: p.counts.Replayed, Faults: map[Kind]int{}, ByService: map[string]int{}}
	for k, v := range p.counts.Faults {
		c.Faults[k] = v
	}
	for k, v := range p.counts.ByService {
		c.ByService[k] = v
	}
	return c
}

type ctxKey struct{}

// ServeHTTP decides the request's fate: latency, then a pre-forward fault
// or forwarding (and possibly losing the answer).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopbackRemote(r.RemoteAddr) {
		http.Error(w, "faultproxy serves loopback clients only", http.StatusForbidden)
		return
	}
	// The emulator's own control API (reset, state) is not AWS: never
	// faulted, never counted.
	if strings.HasPrefix(r.URL.Path, "/moto-api") {
		p.forward.ServeHTTP(w, r)
		return
	}
	kind, lose, delay := p.decide()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	svc := serviceOf(r)
	if kind != "" {
		p.count(kind, svc, false)
		fail(w, r, kind, svc)
		return
	}
	token := ""
	if p.cfg.ClientTokens && svc == "ec2" {
		token = clientTokenKey(r)
		if a := p.savedAnswer(token); a != nil {
			a.write(w)
			return
		}
	}
	p.count("", svc, true)
	if lose != "" || token != "" {
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, forwarded{lose: lose, service: svc, token: token}))
	}
	p.forward.ServeHTTP(w, r)
}

// decide draws the request's fate from the seeded source, all at once, so
// the sequence of fates depends only on the seed and the request order.
func (p *Proxy) decide() (kind Kind, lose Kind, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts.Requests++
	x := p.rng.Float64()
	acc := 0.0
	for _, k := range Kinds {
		acc += p.cfg.Faults[k]
		if x < acc {
			kind = k
			break
		}
	}
	if kind == "" && p.cfg.AfterForward > 0 && p.rng.Float64() < p.cfg.AfterForward {
		lose = Internal
		if p.rng.IntN(2) == 0 {
			lose = Drop
		}
	}
	delay = p.cfg.Latency
	if p.cfg.Jitter > 0 {
		delay += time.Duration(p.rng.Int64N(int64(p.cfg.Jitter)))
	}
	return kind, lose, delay
}

func (p *Proxy) count(kind Kind, service string, forwarded bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if forwarded {
		p.counts.Forwarded++
	}
	if kind != "" {
		p.counts.Faults[kind]++
		p.counts.ByService[service]++
	}
}

// forwarded rides in the context of a forwarded request whose answer the
// proxy saves (it carries a ClientToken) or throws away once the target has
// applied it (lose is the fault that replaces it).
type forwarded struct {
	lose    Kind
	service string
	token   string
}

var errLostAnswer = errors.New("faultproxy: answer lost after forwarding")

func (p *Proxy) afterForward(resp *http.Response) error {
	f, ok := resp.Request.Context().Value(ctxKey{}).(forwarded)
	if !ok {
		return nil
	}
	if f.token != "" && resp.StatusCode < 300 {
		if err := p.saveAnswer(f.token, resp); err != nil {
			return err
		}
	}
	if f.lose != "" {
		return errLostAnswer // the reverse proxy closes the body and calls forwardError
	}
	return nil
}

func (p *Proxy) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	if f, ok := r.Context().Value(ctxKey{}).(forwarded); ok && errors.Is(err, errLostAnswer) {
		p.count(AfterForward, f.service, false)
		fail(w, r, f.lose, f.service)
		return
	}
	// The target is down or broke the connection: say so as a gateway would.
	w.WriteHeader(http.StatusBadGateway)
	fmt.Fprintf(w, "faultproxy: forwarding to the target failed: %v\n", err)
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func loopbackRemote(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
