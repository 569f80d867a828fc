// Package probe measures the downtime users see while a plan runs: steady
// HTTP requests to the app's public entry point, resolved through a caching
// stub resolver that honours TTLs as a user's machine does, each request
// classified (answered right, refused, timed out, cut, 5xx, wrong answer,
// name not resolved), and the result held against what the plan said its
// steps would cost users. See docs/probe.md.
package probe

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/whatsthetime/wtt/pkg/plan"
)

// Limits that keep the probe a probe and not a load test.
const (
	DefaultRate = 10
	MaxRate     = 100
	// maxInFlight caps requests waiting for an answer; a tick that finds
	// the cap reached is skipped (and counted), not queued.
	maxInFlight = 64
)

// Config is how the probe behaves.
type Config struct {
	// Rate is requests per second (1 to MaxRate).
	Rate float64
	// Timeout is how long one request may take before it is a timeout.
	Timeout time.Duration
	// Tail is how long the probe goes on after the last step, so a
	// recovery (or an app that stays down) is seen.
	Tail time.Duration
	// Resolver is the DNS server (HOST:PORT); empty: the system's.
	Resolver string
	// Log, when set, hears about a wait after the run (following a cached
	// answer to its end), so a pause is never silent.
	Log io.Writer
}

func (c Config) withDefaults() Config {
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	c.Rate = min(c.Rate, MaxRate)
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.Tail <= 0 {
		c.Tail = max(time.Second, time.Duration(5*float64(time.Second)/c.Rate))
	}
	return c
}

func (c Config) interval() time.Duration { return time.Duration(float64(time.Second) / c.Rate) }

// Probe sends requests until stopped and keeps what became of each.
type Probe struct {
	cfg       Config
	target    Target
	resolver  *Resolver // nil when the target is addresses
	client    *http.Client
	checkTime bool
	now       func() time.Time

	mu      sync.Mutex
	started time.Time
	stopped time.Time
	results []result
	steps   []stepMark
	// published is what the app published at each observation, for a
	// target of bare addresses.
	published []publication
	next      uint64 // round-robin over the addresses
	// known is every address the probe has seen the app publish (its
	// answers, the published sets), for telling a newly published one.
	known     map[netip.Addr]bool
	skipped   int
	instances map[string]int
	azs       map[string]int
	fresh     freshAnswer

	inFlight chan struct{}
	quit     chan struct{}
	loopDone chan struct{}
	wg       sync.WaitGroup
}

type result struct {
	at    time.Time
	kind  Kind
	stale bool
	// fresh: failed at an address first published after a step that says
	// its new addresses may not answer yet began (stepMark.unreadyFor).
	fresh bool
	step  int        // index into steps; -1 before the first step
	addr  netip.Addr // where it was sent (zero when the name did not resolve)
}

// publication is the set of addresses the app published as of an
// observation.
type publication struct {
	at    time.Time
	addrs map[netip.Addr]bool
}

// stepMark is a step as it started, with what the plan said about it.
type stepMark struct {
	at       time.Time
	label    string
	downtime time.Duration
	// staleFor is the step's plan.Step.StaleFor: how long clients holding
	// an address it takes away may fail.
	staleFor time.Duration
	// unreadyFor is the step's plan.Step.UnreadyFor: how long an address
	// it newly publishes may refuse clients. publishedBefore is every
	// address the app published as the step began: the others are new.
	unreadyFor      time.Duration
	publishedBefore map[netip.Addr]bool
	note            string
}

// freshAnswer is the uncached answer for the name, kept a second so a burst
// of failures asks the server once.
type freshAnswer struct {
	at    time.Time
	addrs []netip.Addr
	err   error
}

type addrKey struct{}

// New prepares a probe of target; Start begins sending.
func New(cfg Config, target Target) (*Probe, error) {
	cfg = cfg.withDefaults()
	p := &Probe{
		cfg: cfg, target: target, now: time.Now,
		checkTime: target.URL.Path == "/api/time",
		instances: map[string]int{}, azs: map[string]int{}, known: map[netip.Addr]bool{},
		inFlight: make(chan struct{}, maxInFlight),
		quit:     make(chan struct{}), loopDone: make(chan struct{}),
	}
	if target.Name != "" {
		r, err := NewResolver(cfg.Resolver)
		if err != nil {
			return nil, err
		}
		p.resolver = r
	}
	p.SetPublished(target.Addresses)
	dialer := &net.Dialer{}
	p.client = &http.Client{
		Transport: &http.Transport{
			// Every request is a new user: a new connection, so a kept-alive
			// connection to an instance that is gone from DNS cannot hide it.
			DisableKeepAlives: true,
			Proxy:             nil, // straight to the app, as a user's browser would
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				a := ctx.Value(addrKey{}).(netip.Addr)
				return dialer.DialContext(ctx, "tcp4", net.JoinHostPort(a.String(), port))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, nil
}

// Start sends requests at the configured rate until Stop. A name is
// resolved first, before Start returns (and so before the first step
// runs): a user who was on the app before the change holds the answer from
// before it, and a probe whose first lookup raced the step's own DNS change
// would not be such a user. A failed lookup here is not fatal: the loop
// asks again and counts what fails.
func (p *Probe) Start() {
	if p.resolver != nil && p.target.Name != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _, _ = p.resolver.Lookup(ctx, p.target.Name)
		cancel()
	}
	p.mu.Lock()
	p.started = p.now()
	p.mu.Unlock()
	go p.loop()
}

func (p *Probe) loop() {
	defer close(p.loopDone)
	t := time.NewTicker(p.cfg.interval())
	defer t.Stop()
	for {
		p.fire()
		select {
		case <-p.quit:
			return
		case <-t.C:
		}
	}
}

func (p *Probe) fire() {
	select {
	case p.inFlight <- struct{}{}:
	default:
		p.mu.Lock()
		p.skipped++
		p.mu.Unlock()
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.inFlight }()
		p.one()
	}()
}

// StepStarted marks the start of a plan step: failures from now on are the
// step's, judged by what it said about downtime.
func (p *Probe) StepStarted(label string, s *plan.Step) {
	m := stepMark{at: p.now(), label: label, downtime: s.Downtime, staleFor: s.StaleFor, unreadyFor: s.UnreadyFor, note: s.DowntimeNote}
	if s.UnreadyFor > 0 {
		m.publishedBefore = p.publishedNow()
	}
	p.mu.Lock()
	p.steps = append(p.steps, m)
	p.mu.Unlock()
}

// publishedNow is every address the app publishes as of now, or has since
// the probe began: the name's uncached answer (when there is a name) and
// what the probe has seen before.
func (p *Probe) publishedNow() map[netip.Addr]bool {
	if p.resolver != nil && p.target.Name != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addrs, err := p.resolver.Fresh(ctx, p.target.Name)
		cancel()
		if err == nil {
			p.learn(addrs)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.known)
}

// learn adds addresses the app publishes to those the probe knows.
func (p *Probe) learn(addrs []netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range addrs {
		p.known[a] = true
	}
}

// isFresh reports whether addr was first published after the latest step
// at or before step that says new addresses may not answer yet began.
func (p *Probe) isFresh(addr netip.Addr, step int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for j := min(step, len(p.steps)-1); j >= 0; j-- {
		if p.steps[j].unreadyFor > 0 {
			return addr.IsValid() && !p.steps[j].publishedBefore[addr]
		}
	}
	return false
}

// SetPublished tells the probe which addresses the app publishes as of an
// observation (each step's, and one after the last), for a target of bare
// addresses: a failure at an address that the next observation no longer
// shows is a client holding an old address. Observations come only at step
// boundaries, so the failure is judged by the one after it.
func (p *Probe) SetPublished(addrs []netip.Addr) {
	pub := publication{at: p.now(), addrs: map[netip.Addr]bool{}}
	for _, a := range addrs {
		pub.addrs[a] = true
	}
	p.mu.Lock()
	p.published = append(p.published, pub)
	p.mu.Unlock()
	p.learn(addrs)
}

// maxFollow bounds how long Stop goes on after the run.
const maxFollow = 2 * time.Minute

// Stop probes a little longer (the tail), stops, waits for the requests in
// flight and returns what was measured. An outage still going on when the
// run ends is followed (at most maxFollow, said on Log) so the report
// measures what users see rather than where the run happened to end:
//   - requests failing at an address the app no longer publishes, held from
//     a cached DNS answer: until that answer expires;
//   - requests failing at the app's current address, when recover is set
//     (an instance the API calls running, whose server is still booting):
//     until it answers again.
//
// A client holding a bare address the app dropped never recovers, and
// `down` is meant to end in an outage: neither is followed.
func (p *Probe) Stop(recover bool) *Measurement {
	time.Sleep(p.cfg.Tail)
	failing, stale := p.lastFailure()
	switch {
	case p.resolver != nil && (failing && stale || p.holdsStaleAnswer()):
		if left := p.resolver.Expires(p.target.Name).Sub(p.now()); left > 0 {
			wait := min(left, maxFollow)
			p.logf("Probe: requests still fail at an address the app no longer publishes, from a cached DNS answer; probing %s more, until it expires.", wait.Round(time.Second))
			time.Sleep(wait + 2*p.cfg.interval())
		}
	case failing && !stale && recover:
		p.logf("Probe: the app is not answering yet; probing until it does (at most %s).", maxFollow)
		deadline := p.now().Add(maxFollow)
		for p.now().Before(deadline) {
			time.Sleep(p.cfg.interval())
			if f, _ := p.lastFailure(); !f {
				time.Sleep(2 * p.cfg.interval())
				break
			}
		}
	}
	close(p.quit)
	<-p.loopDone
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = p.now()
	return p.measurement()
}

func (p *Probe) logf(format string, args ...any) {
	if p.cfg.Log != nil {
		fmt.Fprintf(p.cfg.Log, format+"\n", args...)
	}
}

// one sends one request and records what became of it.
func (p *Probe) one() {
	start := p.now()
	p.mu.Lock()
	step := len(p.steps) - 1
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	addr, err := p.pick(ctx)
	if err != nil {
		p.record(result{at: start, kind: classifyError(err), step: step}, "", "")
		return
	}
	req, _ := http.NewRequestWithContext(context.WithValue(ctx, addrKey{}, addr), http.MethodGet, p.target.URL.String(), nil)
	req.Header.Set("User-Agent", "wtt-probe")
	kind, inst, az := OK, "", ""
	resp, err := p.client.Do(req)
	if err != nil {
		kind = classifyError(err)
	} else {
		body, rerr := readBody(resp.Body)
		resp.Body.Close()
		inst, az = resp.Header.Get("X-Served-By-Instance"), resp.Header.Get("X-Served-By-AZ")
		if rerr != nil {
			kind = classifyError(rerr)
		} else {
			kind = classifyResponse(resp, body, p.checkTime, p.now())
		}
	}
	r := result{at: start, kind: kind, step: step, addr: addr}
	if kind != OK && p.resolver != nil {
		r.stale = p.isStale(addr)
	}
	if kind != OK && !r.stale {
		r.fresh = p.isFresh(addr, step)
	}
	p.record(r, inst, az)
}

// pick chooses the address of the next request as a simple client does:
// resolve (through the cache), then take the answer's addresses in turn,
// one per request, with no retry at another address. Browsers that fall
// back to the next address would see fewer failures; many HTTP libraries
// and devices do not.
func (p *Probe) pick(ctx context.Context) (netip.Addr, error) {
	addrs := p.target.Addresses
	if p.resolver != nil {
		var err error
		if addrs, _, err = p.resolver.Lookup(ctx, p.target.Name); err != nil {
			return netip.Addr{}, err
		}
		p.learn(addrs)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, &DNSError{Name: p.target.Name, Reason: "no address"}
	}
	p.mu.Lock()
	n := p.next
	p.next++
	p.mu.Unlock()
	return addrs[n%uint64(len(addrs))], nil
}

// holdsStaleAnswer reports whether the cached answer still lists an
// address the app no longer publishes: requests take its addresses in
// turn, so the last one may have succeeded while the next will fail.
func (p *Probe) holdsStaleAnswer() bool {
	if p.resolver.Expires(p.target.Name).Before(p.now()) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	addrs, _, err := p.resolver.Lookup(ctx, p.target.Name)
	cancel()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if p.isStale(a) {
			return true
		}
	}
	return false
}

// isStale reports whether addr is no longer where the app is published:
// not in the name's current (uncached) answer, or not among the instances'
// addresses as last observed.
func (p *Probe) isStale(addr netip.Addr) bool {
	p.mu.Lock()
	f := p.fresh
	p.mu.Unlock()
	if p.now().Sub(f.at) > time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addrs, err := p.resolver.Fresh(ctx, p.target.Name)
		cancel()
		f = freshAnswer{at: p.now(), addrs: addrs, err: err}
		p.mu.Lock()
		p.fresh = f
		p.mu.Unlock()
	}
	if f.err != nil {
		return false // the name itself is gone: not a cached address
	}
	for _, a := range f.addrs {
		if a == addr {
			return false
		}
	}
	return true
}

// lastFailure reports whether the latest request failed, and whether at an
// address the app no longer publishes (by the name's fresh answer, or by
// the latest observation for bare addresses).
func (p *Probe) lastFailure() (failing, stale bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var last *result
	for i := range p.results {
		if last == nil || p.results[i].at.After(last.at) {
			last = &p.results[i]
		}
	}
	if last == nil || last.kind == OK {
		return false, false
	}
	if p.resolver != nil {
		return true, last.stale
	}
	if n := len(p.published); n > 0 && len(p.published[n-1].addrs) > 0 {
		return true, !p.published[n-1].addrs[last.addr]
	}
	return true, false
}

func (p *Probe) record(r result, instance, az string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.results = append(p.results, r)
	if r.kind == OK {
		if instance != "" {
			p.instances[instance]++
		}
		if az != "" {
			p.azs[az]++
		}
	}
}

// Describe says what is probed, for the line printed when the probe starts.
func (p *Probe) Describe() string {
	s := fmt.Sprintf("%s at %s, %g request(s)/s", p.target.URL, p.target.What, p.cfg.Rate)
	if p.resolver != nil {
		s += ", resolved through " + p.resolver.Server + " (answers cached for their TTL)"
	}
	return s
}
