package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Resolver is a caching stub resolver, as a user's machine has: it asks one
// DNS server and keeps each answer for exactly the TTL the server gave, so
// the probe holds an address as long as a real client would, and no longer.
// That is what makes the story's problem measurable: after a record changes,
// a client keeps the old addresses until their TTL runs out.
type Resolver struct {
	// Server is the DNS server, HOST:PORT.
	Server string
	now    func() time.Time
	client *dns.Client

	mu    sync.Mutex
	cache map[string]cached
	// queries counts questions sent to the server (tests check the cache).
	queries int
}

type cached struct {
	addrs   []netip.Addr
	err     error // a negative answer (NXDOMAIN, no A record), cached too
	ttl     time.Duration
	expires time.Time
}

// negativeTTL is how long a negative answer is kept when the server sends
// no SOA to say (RFC 2308 takes the SOA's minimum).
const negativeTTL = 5 * time.Second

// maxCNAMEs bounds a chain of CNAMEs, as resolvers do against loops.
const maxCNAMEs = 8

// NewResolver queries server (HOST:PORT); an empty server means the
// system's first name server from /etc/resolv.conf.
func NewResolver(server string) (*Resolver, error) {
	if server == "" {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("reading the system's DNS server from /etc/resolv.conf: %w; pass --probe-resolver HOST:PORT", err)
		}
		if len(conf.Servers) == 0 {
			return nil, errors.New("/etc/resolv.conf names no DNS server; pass --probe-resolver HOST:PORT")
		}
		server = net.JoinHostPort(conf.Servers[0], conf.Port)
	}
	return &Resolver{
		Server: server,
		now:    time.Now,
		client: &dns.Client{Net: "udp", Timeout: time.Second},
		cache:  map[string]cached{},
	}, nil
}

// DNSError is a failed resolution: the name does not exist, has no
// address, or the server did not answer.
type DNSError struct {
	Name   string
	Reason string
}

func (e *DNSError) Error() string { return fmt.Sprintf("resolving %s: %s", e.Name, e.Reason) }

// Lookup returns the IPv4 addresses of name, from the cache while its TTL
// lasts. A server that does not answer is not cached: the next request
// asks again, as a stub resolver retries.
func (r *Resolver) Lookup(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	key := dns.Fqdn(strings.ToLower(name))
	r.mu.Lock()
	defer r.mu.Unlock() // one question at a time: concurrent requests share the answer
	if c, ok := r.cache[key]; ok && r.now().Before(c.expires) {
		return c.addrs, c.ttl, c.err
	}
	c, err := r.query(ctx, key)
	if err != nil {
		delete(r.cache, key)
		return nil, 0, err
	}
	if c.ttl > 0 {
		c.expires = r.now().Add(c.ttl)
		r.cache[key] = c
	}
	return c.addrs, c.ttl, c.err
}

// Fresh asks the server without the cache: what the name resolves to now.
// The probe uses it to tell a failure at an address the app no longer
// publishes from a failure of the app itself.
func (r *Resolver) Fresh(ctx context.Context, name string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.query(ctx, dns.Fqdn(strings.ToLower(name)))
	if err != nil {
		return nil, err
	}
	return c.addrs, c.err
}

// Expires is when the cached answer for name runs out (zero if none).
func (r *Resolver) Expires(name string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cache[dns.Fqdn(strings.ToLower(name))].expires
}

// Queries is how many questions went to the server.
func (r *Resolver) Queries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queries
}

// query asks for name's A records, following CNAMEs (in the same answer or
// by asking again). The answer's TTL is the smallest in the chain.
func (r *Resolver) query(ctx context.Context, name string) (cached, error) {
	target := name
	ttl := time.Duration(-1)
	keep := func(sec uint32) {
		if d := time.Duration(sec) * time.Second; ttl < 0 || d < ttl {
			ttl = d
		}
	}
	for hop := 0; hop <= maxCNAMEs; hop++ {
		m := new(dns.Msg)
		m.SetQuestion(target, dns.TypeA)
		m.RecursionDesired = true
		r.queries++
		in, _, err := r.client.ExchangeContext(ctx, m, r.Server)
		if err != nil {
			return cached{}, &DNSError{Name: strings.TrimSuffix(name, "."), Reason: "no answer from " + r.Server + ": " + err.Error()}
		}
		if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
			return cached{}, &DNSError{Name: strings.TrimSuffix(name, "."), Reason: dns.RcodeToString[in.Rcode] + " from " + r.Server}
		}
		// Walk the answer along the chain: target, then its CNAME's target...
		var addrs []netip.Addr
		followed := false
		for walk := 0; walk <= maxCNAMEs && len(addrs) == 0; walk++ {
			alias := ""
			for _, rr := range in.Answer {
				if !strings.EqualFold(rr.Header().Name, target) {
					continue
				}
				switch v := rr.(type) {
				case *dns.A:
					if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
						addrs = append(addrs, a)
						keep(v.Hdr.Ttl)
					}
				case *dns.CNAME:
					alias = strings.ToLower(v.Target)
					keep(v.Hdr.Ttl)
				}
			}
			if len(addrs) > 0 || alias == "" {
				break
			}
			target, followed = alias, true
		}
		if len(addrs) > 0 {
			slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
			return cached{addrs: slices.Compact(addrs), ttl: max(ttl, 0)}, nil
		}
		if followed && in.Rcode == dns.RcodeSuccess {
			continue // a CNAME whose target the server did not add: ask for it
		}
		reason := "no A record"
		if in.Rcode == dns.RcodeNameError {
			reason = "no such name (NXDOMAIN)"
		}
		neg := negativeTTL
		for _, rr := range in.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				neg = time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
			}
		}
		return cached{err: &DNSError{Name: strings.TrimSuffix(name, "."), Reason: reason}, ttl: neg}, nil
	}
	return cached{}, &DNSError{Name: strings.TrimSuffix(name, "."), Reason: "too many CNAMEs"}
}
